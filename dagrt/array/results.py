"""What eager calls give back and take: dagrt arrays evaluated to their
storage (``evaluate``) and NumPy results wrapped as dagrt arrays
(``wrap_result``: a result that is an input's storage, or a view of it, is
that input or a view of it, as in NumPy).

Imports: ``array.ndarray``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .ndarray import ndarray, view_of, wrap, wrap_foreign


def evaluate(x: Any, quiet: bool = False) -> Any:
    """Replace dagrt arrays (in lists, tuples, dicts) by their storage once
    computed; with ``quiet``, once no pending operation uses them (so the
    caller may also write them, as NumPy functions like ``np.put`` do).
    Arrays on a device give a host copy of their value."""
    if isinstance(x, ndarray):
        if x._var.device is not None:
            return x._host()
        return x._quiet() if quiet else x._value()
    t = type(x)
    if t is list or t is tuple:
        return t(evaluate(v, quiet) for v in x)
    if t is dict:
        return {k: evaluate(v, quiet) for k, v in x.items()}
    return x


def wrap_result(result: Any, inputs: Any = ()) -> Any:
    """Wrap NumPy results of an eager call as dagrt arrays (recursively).
    ``inputs``: the call's arguments; a result that is an input's storage is
    that input (``np.require(a) is a``), one that shares its memory a view of
    it, as in NumPy (not a second, untracked array on the same buffer)."""
    if type(result) is np.ndarray and result.base is None and not inputs:
        return wrap(result)  # (the common case: a new array of NumPy's own)
    if isinstance(result, np.ndarray):
        if inputs:
            for a in _host_arrays(inputs, []):
                if result is a._data:
                    return a
                if np.may_share_memory(result, a._data):
                    return view_of(a, result)
        if isinstance(result, np.ma.MaskedArray):  # (``genfromtxt(usemask=True)``)
            return result  # NumPy's masked arrays are NumPy's (docs/coverage.md)
        if isinstance(result, np.memmap):  # a file's memory (``np.load(f, mmap_mode=...)``):
            return wrap_foreign(result.view(np.ndarray), False)  # writes reach it at their call
        # a view of NumPy's temporary: a copy, keeping its layout (unless nothing
        # else holds the temporary: ``np.tile``'s reshape of its own ``repeat``)
        return wrap(result if result.flags.owndata or _private(result)
                    else result.copy(order="K"))
    if not isinstance(result, (tuple, list)):
        return result
    if any(result is x or type(x) in (list, tuple) and any(result is y for y in x)
           for x in inputs):
        return result  # a list of the call's that NumPy returned as it is (``diff(x, n=0)``)
    if (views := _shared_views(result)) is not None:
        return type(result)(views)
    if isinstance(result, tuple):
        return type(result)(*(wrap_result(r, inputs) for r in result)) \
            if hasattr(result, "_fields") else tuple(wrap_result(r, inputs) for r in result)
    return [wrap_result(r, inputs) for r in result]


def _shared_views(results: tuple[Any, ...] | list[Any]) -> list[ndarray] | None:
    """Views of one new array that nothing else holds (``np.nonzero``'s rows
    of its ``(n, ndim)`` result): views of one dagrt array, NumPy's strides."""
    first = results[0] if len(results) > 1 else None
    base = first.base if type(first) is np.ndarray else None
    if type(base) is not np.ndarray or base.base is not None or not base.flags.owndata or \
            any(type(r) is not np.ndarray or r.base is not base for r in results) or \
            sys.getrefcount(base) != len(results) + 2:  # (``base``, getrefcount's own)
        return None
    owner = wrap(base)
    return [view_of(owner, r) for r in results]


def _private(result: np.ndarray) -> bool:
    """``result`` views a new array that nothing else holds (as
    ``private_view`` in ``_native.c``): references to it are ``result``'s,
    ``base`` and ``getrefcount``'s own."""
    base = result.base
    return type(base) is np.ndarray and base.base is None and base.flags.owndata and \
        sys.getrefcount(base) == 3


def _host_arrays(x: Any, found: list[ndarray]) -> list[ndarray]:
    """The host dagrt arrays in ``x`` (nested in lists, tuples, dicts)."""
    if type(x) is ndarray:
        if x._var.device is None:
            found.append(x)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _host_arrays(v, found)
    elif isinstance(x, dict):
        _host_arrays(list(x.values()), found)
    return found
