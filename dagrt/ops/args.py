"""Argument helpers shared by the op kinds.

Imports: the array layer.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..array.ndarray import _NP, ndarray, run_now, wrap, wrap_foreign
from ..array.operands import PASS, array_like, from_array_method, masked, operand, placement, plain
from ..array.record import wrap_result
from ..array.transfer import on_device
from .table import Row

PY_SCALARS = (int, float, bool, complex)
NOW_IDLE = 1 | 2 | 64  # run_now's TUPLES | STRICT | IDLE (array/_native.c)
# Longer lists go to NumPy as they are (no NumPy call takes more operands: its error).
_MAX_OPERANDS = np.iinfo(np.intc).max


def foreign(x: Any) -> bool:
    """``x``'s type overrides NumPy's ufuncs (NEP 13's ``__array_ufunc__``, or
    opts out with None) and is no array of NumPy's or dagrt's, or is a
    subclass of dagrt's ``ndarray`` or a masked array: NumPy's ufunc then
    dispatches (``ops.subclasses`` takes a subclass's default; a masked
    array gets NumPy's ufunc on the values)."""
    t = type(x)
    if t in PASS or isinstance(x, (np.generic, str)):
        return False
    override = getattr(t, "__array_ufunc__", _NP.__array_ufunc__)
    return override is not _NP.__array_ufunc__ or masked(x)


def overrides(x: Any) -> bool:
    """``x``'s type has its own ``__array_ufunc__`` (or None): neither NumPy's
    nor dagrt's (a subclass's default)."""
    override = getattr(type(x), "__array_ufunc__", _NP.__array_ufunc__)
    return override is not _NP.__array_ufunc__ and override is not ndarray.__array_ufunc__ \
        and not isinstance(x, (np.generic, str))


def as_dagrt(x: Any) -> ndarray:
    if type(x) is ndarray:
        return x
    if isinstance(x, ndarray):
        return plain(x)  # (a subclass's instance)
    held = not isinstance(x, (list, tuple, int, float, complex, bool, np.generic))
    x = from_array_method(x)
    if type(x) is ndarray:
        return x
    return wrap_foreign(x, True) if held and isinstance(x, np.ndarray) else wrap(x)


def bind(row: Row, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Positional arguments after the first, as keywords (``row.params``)."""
    if len(args) > len(row.params):
        raise TypeError(f"{row.name}() takes at most {len(row.params) + 1} positional "
                        f"arguments ({len(args) + 1} given)")
    for name, value in zip(row.params, args):
        if name in kwargs:
            raise TypeError(f"{row.name}() got multiple values for argument '{name}'")
        kwargs[name] = value
    return kwargs


NOT_RUN = object()  # ``eager_now``: not run (an eager call may return None)


def eager_now(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """An eager call's run-now case, in C: NumPy's call on host inputs no
    pending op uses (the call may write them) and plain arguments, of any
    size (it runs now either way), wrapped; else ``NOT_RUN``."""
    if run_now is None or "out" in kwargs:
        return NOT_RUN
    done = run_now(func, args, kwargs, 0, (), None, NOW_IDLE)
    if done is None:
        return NOT_RUN
    return done[0] if type(done) is list else wrap_result(done[0], (args, kwargs))


def eager_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Evaluate dagrt inputs, call NumPy, wrap what comes back (``out=``
    arrays are written in place, once no pending operation uses them)."""
    if any(type(a) is list and len(a) > _MAX_OPERANDS for a in args):
        return func(*args, **kwargs)  # (NumPy's error, before any copy of the list)
    if (result := eager_now(func, args, kwargs)) is not NOT_RUN:
        return result
    if (func is np.shares_memory or func is np.may_share_memory) and any(
            isinstance(a, ndarray) and a._var.device is not None for a in args[:2]):
        return _device_overlap(func, *args, **kwargs)
    out = kwargs.get("out")
    if out is Ellipsis:  # ``out=...``: NumPy returns arrays, not scalars
        out = None
    outs = out if isinstance(out, tuple) else (out,)
    if any(isinstance(o, ndarray) and o._var.device is not None for o in outs):
        # a device's out=: NumPy writes a host array, sent to it
        result = eager_call(func, args, {k: v for k, v in kwargs.items() if k != "out"})
        for o, r in zip(outs, result if isinstance(result, tuple) else (result,)):
            if o is not None:  # (``out=(a,)`` of a one-output function: ``result`` is one array)
                o[...] = r
        return out
    if out is not None:
        for o in outs:
            if isinstance(o, ndarray):
                o._quiet()
        kwargs = dict(kwargs, out=tuple(o._data if isinstance(o, ndarray) else o
                                        for o in outs) if isinstance(out, tuple)
                      else (out._data if isinstance(out, ndarray) else out))
    copies: list[tuple[ndarray, Any, Any]] = []
    result = func(*host_arguments(args, copies),
                  **{k: host_arguments(v, copies) for k, v in kwargs.items()})
    write_back(copies)
    if out is not None:
        return out
    device = placement(args)  # computed on the host; its results go back there
    if device is not None:
        return on_device(wrap_result(result), device)
    return wrap_result(result, (args, kwargs))


def _device_overlap(func: Any, a: Any, b: Any, **kwargs: Any) -> bool:
    """``np.shares_memory``/``may_share_memory`` of device arrays: NumPy's own,
    on stand-ins with the device addresses (which NumPy compares, never reads);
    an array on another device shares nothing."""
    if not (isinstance(a, ndarray) and isinstance(b, ndarray)) or \
            a._var.device is not b._var.device:
        return False
    return bool(func(_addresses(a._data), _addresses(b._data), **kwargs))


class _Addresses:
    def __init__(self, data: Any) -> None:
        self.__array_interface__ = {"data": (data.data.ptr, True), "shape": data.shape,
                                    "strides": data.strides, "typestr": data.dtype.str,
                                    "version": 3}


def _addresses(data: Any) -> np.ndarray:
    return np.asarray(_Addresses(data))


def host_arguments(x: Any, copies: list[tuple[ndarray, Any, Any]]) -> Any:
    """Dagrt arrays (in lists, tuples, dicts) as NumPy arrays for an eager
    NumPy call, once no pending op uses them (the call may write them:
    ``np.put``, ``np.copyto``). A device array's value is a host copy, noted
    in ``copies`` for :func:`write_back`."""
    if isinstance(x, ndarray):
        if x._var.device is None:
            return x._quiet()
        host = x._host()
        copies.append((x, host, host.copy()))
        return host
    if isinstance(x, (list, tuple)) and len(x) <= _MAX_OPERANDS and any(
            isinstance(v, (ndarray, list, tuple)) or array_like(v) for v in x):
        items = [host_arguments(v, copies) for v in x]  # (a named tuple: a tuple)
        return items if isinstance(x, list) else tuple(items)
    if isinstance(x, dict):
        return {k: host_arguments(v, copies) for k, v in x.items()}
    if array_like(x):
        result = x.__array__()  # (NumPy refuses an ``__array__`` giving a dagrt array)
        return host_arguments(result, copies) if isinstance(result, ndarray) else x
    return x


def write_back(copies: list[tuple[ndarray, Any, Any]]) -> None:
    """Device arrays whose host copy NumPy changed get the new value."""
    for array, host, before in copies:
        if not np.array_equal(host, before, equal_nan=host.dtype.kind in "fc"):
            array[...] = host


def evaluate_nested(obj: Any, depth: int = 0) -> Any:
    """``obj`` for NumPy's ``np.array``: dagrt arrays in it (in lists and
    tuples, named tuples too, or returned by an item's ``__array__``) become
    their values; what holds none (or only below NumPy's 64 dimensions: a
    list that holds itself) is returned as it is."""
    if isinstance(obj, ndarray):
        return obj._host()
    if isinstance(obj, (list, tuple)) and depth < 64:
        items = [evaluate_nested(x, depth + 1) for x in obj]
        if all(map(operator.is_, items, obj)):
            return obj
        return items if isinstance(obj, list) else tuple(items)
    if array_like(obj):
        result = obj.__array__()  # (NumPy refuses an ``__array__`` returning a dagrt array)
        return result._host() if isinstance(result, ndarray) else result
    return obj


__all__ = ["PY_SCALARS", "operand", "foreign", "as_dagrt", "bind", "eager_call",
           "evaluate_nested"]
