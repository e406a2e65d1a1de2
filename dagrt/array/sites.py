"""Running a deferred kernel as if from the user's recording line.

NumPy reports a warning (``RuntimeWarning: divide by zero encountered in
log``) at the line that called it, once per line under the default filter,
and filters it by the caller's module. A deferred kernel runs in a worker,
called from dagrt's own code, so the warning would name dagrt's line and
print once for every user line together. :func:`caller_at` gives a kernel a
calling function compiled at the user's file and line, whose globals are the
user's module's: the warning machinery sees the user's location, module and
warning registry, as for NumPy's own call.

Imports: the engine (the recording site).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from ..engine.graph import Site, site_location

Call = Callable[[Callable[..., Any], Any, dict[str, Any]], Any]


def _plain(call: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    return call(*args, **kwargs)


_SOURCE = "def _at(call, args, kwargs): return call(*args, **kwargs)"
_CALLERS: dict[tuple[int, int, int], tuple[Call, Any]] = {}
_LIMIT = 4096  # distinct recording lines kept


def caller_at(site: Site | None, module_globals: dict[str, Any] | None) -> Call:
    """``f(call, args, kwargs)`` calling ``call(*args, **kwargs)`` from the line
    of ``site``, in the module whose globals are ``module_globals``."""
    if site is None or module_globals is None:
        return _plain
    # (by identity: a code object's hash digests its whole bytecode each time;
    # the entry keeps the code alive, so that its id is not reused)
    key = (id(site[0]), site[1], id(module_globals))
    entry = _CALLERS.get(key)
    if entry is not None and entry[1] is site[0]:
        return entry[0]
    if len(_CALLERS) >= _LIMIT:
        _CALLERS.clear()
    location = site_location(site)
    assert location is not None
    filename, line, _ = location
    source = "\n" * (max(line, 1) - 1) + _SOURCE
    code = compile(source, filename, "exec", dont_inherit=True)
    function_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    caller = types.FunctionType(function_code, module_globals, "_at")
    _CALLERS[key] = (caller, site[0])
    return caller
