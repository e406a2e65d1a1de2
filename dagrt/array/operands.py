"""Operands and new storage: what the recording path's callers need before
they record (``operand``, ``shape_of``, ``nbytes_of``), the device an op
runs on (``placement``, which raises NumPy-style at the recording line for
mixed devices) and the storage of a deferred op's outputs (``new_array``).

Imports: the engine, the devices, ``array.ndarray``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..devices.device import CPU, Device
from ..engine.graph import FRESH, Op, Var, recording_site
from ..engine.scheduler import ENGINE
from .ndarray import _NP, _new, ndarray, var_of, view_of, wrap

# Operands that pass ``operand`` unchanged (by exact type: the common case).
PASS = (ndarray, _NP, int, float, bool, complex)


def operand(x: Any) -> Any:
    """Scalars and arrays pass (a subclass's instance as a plain alias); lists
    and other array-likes become NumPy arrays."""
    if x is None or type(x) in PASS or isinstance(x, (int, float, complex, np.generic, str)):
        return x
    if isinstance(x, ndarray):
        return plain(x)
    return from_array_method(x)


# -- subclasses of ndarray (their protocol: ``ops.subclasses``) ----------------------

def is_sub(x: Any) -> bool:
    """``x`` is an instance of a user's subclass of ``ndarray``."""
    return type(x) is not ndarray and isinstance(x, ndarray)


def masked(x: Any) -> bool:
    """``x`` is one of NumPy's masked arrays (``numpy.ma``, not imported here):
    NumPy's functions and ufuncs then run, on the values of dagrt's arrays."""
    ma = sys.modules.get("numpy.ma")
    return ma is not None and isinstance(x, ma.MaskedArray)


def plain(x: Any) -> Any:
    """A subclass's instance as an exact ``ndarray`` on the same storage and
    buffer state (a view of it: ops never see subclasses); anything else as is."""
    return view_of(x, x._data) if is_sub(x) else x


def as_type(result: ndarray, cls: type, obj: Any) -> Any:
    """``result``'s storage as a new instance of ``cls`` made from ``obj``
    (NumPy's view casting and new-from-template: ``__array_finalize__``)."""
    if cls is ndarray:
        return plain(result)
    new = _new(cls)
    new._data, new._var = result._data, var_of(result)
    if result._base is None:  # a new result: a view of it, as NumPy's ``__array_wrap__``
        new._base = result  # makes (the fused engine takes a buffer whose arrays are
        # all gone for a scratch one)
    elif isinstance(obj, ndarray) and obj._var is new._var:  # a view of ``obj``: its base
        while obj._base is not None and type(obj._base) is cls:  # is ``obj``, or the first
            obj = obj._base  # array of another class down its bases (NumPy's collapse)
        new._base = obj
    else:
        new._base = result._base
    hook = cls.__array_finalize__
    if hook is not _FINALIZE:
        hook(new, obj)
    return new


_FINALIZE = ndarray.__array_finalize__


def from_array_method(x: Any) -> Any:
    """``np.asarray(x)``, except that an object whose ``__array__`` returns a
    dagrt array (user code written with ``import dagrt as np``) gives that
    array: NumPy refuses an ``__array__`` that returns no NumPy array."""
    if array_like(x):
        result = x.__array__()
        if isinstance(result, ndarray):
            return result
    return np.asarray(x)


def array_like(x: Any) -> bool:
    """``x`` is a user's array-like with an ``__array__`` method (no array of
    NumPy's or dagrt's, no NumPy scalar)."""
    t = type(x)
    return t is not _NP and t is not ndarray and not isinstance(x, np.generic) and hasattr(
        t, "__array__")


def shape_of(x: Any) -> tuple[int, ...]:
    """``np.shape(x)`` without syncing a dagrt array (NumPy's function would
    dispatch to ``__array_function__`` and wait for the value)."""
    return x.shape if isinstance(x, (ndarray, _NP)) else np.shape(x)


def nbytes_of(args: Sequence[Any]) -> int:
    """The bytes of the arrays among ``args`` (one level of lists): the work
    estimate of ops whose cost follows their inputs."""
    total = 0
    for a in args:
        t = type(a)
        if t is ndarray:
            total += a._data.nbytes
        elif t is _NP:
            total += a.nbytes
        elif t is list or t is tuple:
            total += nbytes_of(a)
    return total


# -- new storage ------------------------------------------------------------------

def placement(args: Any) -> Device | None:
    """The device of the dagrt arrays among ``args`` (one level of lists):
    None for host memory. Arrays on two devices in one op are an error."""
    nested = False
    for a in args:
        if type(a) is list or type(a) is tuple:
            nested = True
            break
    device: Device | None = None
    host = False
    for a in _arrays(args) if nested else args:  # (most ops' arguments are flat)
        if type(a) is ndarray or isinstance(a, ndarray):
            d = a._var.device
        elif isinstance(a, np.ndarray):
            d = None  # a NumPy array: host
        else:
            continue
        if d is None:
            host = True
        elif device is None:
            device = d
        elif d is not device:
            _mixed(device, d)
    if device is not None and host:
        _mixed(CPU, device)
    return device


def _arrays(args: Any) -> Iterator[Any]:
    for a in args:
        if isinstance(a, (ndarray, np.ndarray)):
            yield a
        elif type(a) is list or type(a) is tuple:
            yield from _arrays(a)


def _mixed(a: Device, b: Device) -> None:
    raise ValueError(f"operands are on different devices, {a!r} and {b!r}: copy one first, "
                     f"e.g. x.copyto(dagrt.{b!r}) or x.copyto(dagrt.cpu())")


def new_array(shape: Any, dtype: Any, like: Any = (),
              order: str | tuple[int, ...] | None = "C",
              device: Device | None = None) -> ndarray:
    """A new array whose storage a pending operation will fill, on the device
    of the arrays in ``like`` (or on ``device``). ``order``: "C", "F", or the
    axes from outermost to innermost in memory (``rules.k_order``; None: C)."""
    if device is None and like:
        device = placement(like)
    if device is None:
        return wrap(_in_order(np.empty, shape, dtype, order))
    backend = device.backend
    if backend is None:
        from ..devices.registry import num_gpus

        raise RuntimeError(
            f"no {device!r}: dagrt sees {num_gpus()} GPU(s) (CuPy missing or no CUDA "
            f"device). Install dagrt[cuda12] on a machine with a GPU, or use dagrt.cpu().")
    error, order = None, order if device.kind == "gpu" else None  # (a cluster's: C)
    empty = functools.partial(backend.empty, device.id)
    try:
        data = backend.empty(device.id, shape, dtype) if order is None else \
            _in_order(empty, shape, dtype, order)
    except backend.OutOfMemoryError:  # free the device pool's cached blocks, retry once
        backend.free_cached(device.id)
        try:
            data = _in_order(empty, shape, dtype, order)
        except backend.OutOfMemoryError as exc:  # surfaces at the next sync point
            data, error = backend.placeholder(device.id, shape, dtype), exc
    a = _new(ndarray)
    a._data = data
    a._var = Var(device)
    a._base = None
    if error is not None:  # (the op meant to fill ``a`` reports its own error instead)
        error.allocation = a._var  # type: ignore[attr-defined]
        ENGINE.fail(Op(None, (), (a._var,), "allocate", recording_site(),  # type: ignore[arg-type]
                       device=device), error)
    return a


def _in_order(empty: Callable[..., Any], shape: Any, dtype: Any,
              order: str | tuple[int, ...] | None) -> Any:
    """``empty(shape, dtype[, "C" or "F"])`` in ``order`` (another axis order
    is a transposed view of a C allocation: NumPy and CuPy allocate C or F)."""
    if type(order) is tuple:
        if order == tuple(range(len(order) - 1, -1, -1)):
            return empty(shape, dtype, "F")
        data = empty([shape[i] for i in order], dtype)
        return data.transpose(tuple(np.argsort(order)))
    return empty(shape, dtype, order) if order else empty(shape, dtype)


def whole(a: ndarray) -> bool:
    """``a`` spans its whole root buffer, contiguously (the root itself, or a
    reshaped, transposed or retyped view of all of it; not the zero-stride
    placeholder of an allocation that failed, which stays poisoned)."""
    data = a._data
    if not (data.flags.c_contiguous or data.flags.f_contiguous):
        return False
    base = a._base
    return base is None or data.nbytes == base._data.nbytes


def resolve(x: Any, reads: list[Var], snapshot: bool) -> Any:
    """Replace dagrt arrays in an argument by their storage (noting the buffers
    read); snapshot NumPy arrays the user could still mutate."""
    t = type(x)
    if t is ndarray:
        reads.append(var_of(x))
        return x._data
    if t is _NP:
        return x.copy() if snapshot and x.flags.writeable else x
    if t is list or t is tuple:
        values = []
        for v in x:  # (a loop, not a generator: the arguments of every deferred op)
            tv = type(v)
            if tv is ndarray:
                var = v._var
                reads.append(var if var is not FRESH else var_of(v))
                values.append(v._data)
            else:
                values.append(v if tv is int or tv is float else resolve(v, reads, snapshot))
        return values if t is list else tuple(values)
    return x
