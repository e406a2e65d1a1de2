"""A test double of CuPy: the ``cupy`` module as CuPy 14.2's source and
documentation describe it, on host memory and host threads.

dagrt's real ``CupyBackend`` runs on it in CI (``DAGRT_GPU_DOUBLE``, see
``docs/configuration.md``), so code that would crash on a GPU crashes here:

- ``ndarray`` is not a NumPy array: ``numpy.asarray(x)`` raises TypeError as
  CuPy's ``__array__`` does; NumPy arrays given to its functions raise
  TypeError; ``flags`` has only ``c_contiguous``, ``f_contiguous``,
  ``owndata``; dtypes are CuPy's (no object, string or datetime arrays).
- Every kernel runs later, on the thread of the current stream (``cuda``):
  a function returns at once with its result's shape and dtype, its values
  are there when the stream gets there. Reading on the host (``get``,
  ``float``, ``print``) synchronizes the stream. Functions whose result shape
  depends on values (``nonzero``, ``unique``, boolean masks) synchronize the
  current stream first, as CuPy's do.
- Signatures refuse what CuPy's refuse: ufuncs take only ``out``, ``dtype``,
  ``casting``; reductions no ``where``/``initial``; ``sort`` only
  ``kind=None|'stable'``; functions CuPy 14.2 lacks are absent (``NUMPY_ONLY``).
- Out-of-bounds integer indices wrap around (CuPy does not check them);
  ``linalg`` functions give NaN for singular input unless
  ``cupyx.errstate(linalg='raise')``; random numbers are not NumPy's.
- Memory comes from a stream-ordered pool with a limit, ``OutOfMemoryError``
  past it; pinned host memory from a pool that reuses blocks at once.

What it does not model: peer access between devices (using an array of
another device raises ValueError), CUDA graphs, custom kernels, timing.
"""

from __future__ import annotations

import builtins
import sys
import types
from typing import Any

import numpy

from . import cuda
from .core import _MODULES, _NS, _alloc, _dtype, _enqueue, ndarray
from .functions import NUMPY_ONLY, _function, cupyx, ufunc_

__all__ = ["cuda", "cupyx", "ndarray", "asnumpy", "array", "asarray"]

__version__ = "14.2.0"
ufunc = ufunc_


def _namespace(module: Any, target: dict[str, Any], skip: set[str], linalg: bool = False) -> None:
    """CuPy's functions for NumPy's in ``module``, less ``skip``."""
    for name in dir(module):
        value = getattr(module, name)
        if name.startswith("_") or name in skip or name in target:
            continue
        if isinstance(value, numpy.ufunc):
            target[name] = ufunc_(value)
        elif callable(value) and not isinstance(value, type) and \
                getattr(value, "__module__", "").startswith("numpy"):
            target[name] = _function(name, value, linalg=linalg)


def empty(shape: Any, dtype: Any = float, order: str = "C") -> ndarray:
    return ndarray(shape, dtype, order=order)


def empty_like(a: ndarray, dtype: Any = None, order: str = "K", subok: Any = None,
               shape: Any = None) -> ndarray:
    order = "F" if order in ("K", "A") and a._a.flags.f_contiguous and \
        not a._a.flags.c_contiguous else ("C" if order in ("K", "A") else order)
    return ndarray(a.shape if shape is None else shape, a.dtype if dtype is None else dtype,
                   order=order)


def array(obj: Any, dtype: Any = None, copy: bool = True, order: str = "K",
          subok: bool = False, ndmin: int = 0, *, blocking: bool = False) -> ndarray:
    if isinstance(obj, ndarray):
        if not copy and (dtype is None or numpy.dtype(dtype) == obj.dtype):
            return obj
        out = empty_like(obj, dtype=dtype, order=order)
        source, target = obj._a, out._a
        _enqueue("copy", lambda: numpy.copyto(target, source, casting="unsafe"))
        return out
    host = numpy.array(obj, dtype=dtype, order=order, ndmin=ndmin)
    out = _alloc(host.shape, _dtype(host.dtype),
                 "F" if host.flags.f_contiguous and not host.flags.c_contiguous else "C")
    out.set(host)
    return out


def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> ndarray:
    if isinstance(a, ndarray) and (dtype is None or numpy.dtype(dtype) == a.dtype):
        return a
    return array(a, dtype=dtype, copy=True, order=order or "K")


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, *,
            blocking: bool = True) -> numpy.ndarray:
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    result = numpy.asarray(a, order=order)
    if out is not None:
        out[...] = result
        return out
    return result


def get_default_memory_pool() -> cuda.MemoryPool:
    return cuda._default_pool


def get_array_module(*args: Any) -> Any:
    return sys.modules[__name__] if builtins.any(isinstance(a, ndarray) for a in args) \
        else numpy


_namespace(numpy, _NS, NUMPY_ONLY[""] | {"array", "asarray", "empty", "empty_like"})
_NS.update(array=array, asarray=asarray, empty=empty, empty_like=empty_like)
globals().update({k: v for k, v in _NS.items() if k not in globals()})
for _name in ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
              "uint64", "float16", "float32", "float64", "complex64", "complex128", "intp",
              "uintp", "dtype", "finfo", "iinfo", "newaxis", "pi", "e", "inf", "nan",
              "euler_gamma", "integer", "floating", "complexfloating", "number", "generic",
              "signedinteger", "unsignedinteger", "inexact"):
    globals()[_name] = getattr(numpy, _name)
linalg = types.ModuleType("cupy.linalg")
linalg.LinAlgError = numpy.linalg.LinAlgError  # type: ignore[attr-defined]
_namespace(numpy.linalg, linalg.__dict__, NUMPY_ONLY["linalg"], linalg=True)
fft = types.ModuleType("cupy.fft")
_namespace(numpy.fft, fft.__dict__, NUMPY_ONLY["fft"])
from . import random  # noqa: E402


def _as_strided(x: ndarray, shape: Any = None, strides: Any = None) -> ndarray:
    """``cupy.lib.stride_tricks.as_strided``: a view, unchecked, as NumPy's."""
    view = numpy.lib.stride_tricks.as_strided(x._a, shape, strides)
    return ndarray._view(view, x)


def _sliding_window_view(x: ndarray, window_shape: Any, axis: Any = None, *,
                         subok: bool = False, writeable: bool = False) -> ndarray:
    view = numpy.lib.stride_tricks.sliding_window_view(x._a, window_shape, axis,
                                                       writeable=True)
    return ndarray._view(view, x)


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
    as_strided=_as_strided, sliding_window_view=_sliding_window_view))

_MODULES.update({"": sys.modules[__name__], "linalg": linalg, "fft": fft, "random": random})
