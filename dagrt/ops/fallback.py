"""Fallback: any public NumPy name that the op table does not record lazily.

Functions evaluate their dagrt arguments, call NumPy and wrap what comes back,
warning once per function with :class:`FallbackWarning`. Types, constants and
submodules are NumPy's own objects. ``DAGRT_REPORT_FALLBACK=1`` prints at exit
which functions fell back and how often.
"""

from __future__ import annotations

import atexit
import functools
import sys
import types
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

from .. import _config
from ..array.ndarray import ndarray
from ..array.record import evaluate, wrap_result
from ..array.transfer import on_device
from .args import NOT_RUN, eager_now, host_arguments, write_back
from .table import public


class FallbackWarning(UserWarning):
    """A NumPy function ran eagerly: dagrt waited for its inputs and called NumPy."""


COUNTS: Counter[str] = Counter()
_warned: set[str] = set()


def eager_function(qualname: str, func: Callable[..., Any], warn: bool = True
                   ) -> Callable[..., Any]:
    """``func`` on evaluated inputs, returning dagrt arrays."""

    frames = "gdict" in getattr(getattr(func, "__code__", None), "co_varnames", ())

    @functools.wraps(func)
    def fallback(*args: Any, **kwargs: Any) -> Any:
        if frames and len(args) < 2 and "ldict" not in kwargs:  # ``np.bmat("A, B")``
            caller = sys._getframe(1)  # (NumPy reads the names in its caller's frame: ours)
            kwargs = dict(kwargs, ldict=caller.f_locals, gdict=caller.f_globals)
        COUNTS[qualname] += 1
        if warn and qualname not in _warned:
            _warned.add(qualname)
            warnings.warn(f"dagrt: {qualname} is not recorded lazily yet; it waits for "
                          f"its inputs and runs NumPy eagerly", FallbackWarning,
                          stacklevel=2)
        if (result := eager_now(func, args, kwargs)) is not NOT_RUN:
            return result
        out = kwargs.get("out")
        copies: list[tuple[ndarray, Any, Any]] = []
        result = func(*host_arguments(args, copies),
                      **{k: host_arguments(v, copies) for k, v in kwargs.items()})
        write_back(copies)  # np.copyto(d, ...), np.put(d, ...) on a device
        if isinstance(out, ndarray):
            return out
        return wrap_result(result, (args, kwargs)) if not copies else \
            on_device(wrap_result(result), copies[0][0]._var.device)

    if warn:
        fallback.__dagrt_fallback__ = True  # type: ignore[attr-defined]
    else:  # eager by design (a data-dependent result, reviewed), as the table's
        fallback.__dagrt_eager__ = True  # type: ignore[attr-defined]
    return fallback


def resolve(module: types.ModuleType, prefix: str, name: str) -> Any:
    """The dagrt object for ``<numpy module>.name``."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        obj = getattr(module, name)
    except AttributeError as error:
        message = str(error)  # NumPy's own, where it says more (`np.string_`: use `np.bytes_`)
        if message == f"module {module.__name__!r} has no attribute {name!r}":
            message = f"module 'dagrt{prefix}' has no attribute {name!r} (nor has numpy{prefix})"
        raise AttributeError(message, name=name, obj=module) from None
    if isinstance(obj, (type, types.ModuleType)) or not callable(obj) \
            or type(obj).__name__ == "PytestTester":
        return obj
    return public(eager_function(f"numpy{prefix}.{name}", obj), obj, f"dagrt{prefix}", name)


def _report() -> None:
    if COUNTS and _config.get("report_fallback"):
        print("dagrt: functions that fell back to eager NumPy:", file=sys.stderr)
        for name, count in COUNTS.most_common():
            print(f"  {name}: {count}", file=sys.stderr)


atexit.register(_report)
__all__ = ["FallbackWarning", "eager_function", "resolve", "evaluate"]
