"""The core of the CuPy double (``cupy_double``): ``ndarray``, ufuncs, and
the factory of its functions. The namespace is built in ``__init__``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy

from . import cuda
from .cuda import runtime

_NS: dict[str, Any] = {}  # the namespace (``__init__``): what methods call
_MODULES: dict[str, Any] = {}  # "", "linalg", "fft", "random" -> module

_DTYPES = set("?bhilqpBHILQPefdFD")


def _dtype(dtype: Any) -> numpy.dtype:
    dt = numpy.dtype(dtype)
    if dt.char not in _DTYPES:
        raise ValueError(f"Unsupported dtype {dt}")
    return dt


def _device() -> int:
    return runtime.getDevice()


def _enqueue(name: str, work: Callable[[], None]) -> None:
    cuda.get_current_stream().enqueue(work, name)


def _sync() -> None:
    cuda.get_current_stream().synchronize()


class Flags:
    """``cupy._core.flags.Flags``: three flags, nothing writeable."""

    def __init__(self, c_contiguous: bool, f_contiguous: bool, owndata: bool) -> None:
        self.c_contiguous, self.f_contiguous, self.owndata = c_contiguous, f_contiguous, owndata

    def __getitem__(self, name: str) -> bool:
        try:
            return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                    "OWNDATA": self.owndata}[name]
        except KeyError:
            raise KeyError(f"{name} is not defined for cupy.ndarray.flags") from None


class ndarray:  # noqa: N801 - CuPy's name
    """``cupy.ndarray``: device memory (host bytes here), a shape, strides."""

    __slots__ = ("_a", "_mem", "base", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None,
                 strides: Any = None, order: str = "C") -> None:
        dt = _dtype(dtype)
        shape = (shape,) if numpy.ndim(shape) == 0 else tuple(shape)
        if memptr is None:
            mem = cuda._pool(_device()).malloc(int(numpy.prod(shape)) * dt.itemsize)
            offset = 0
        else:
            mem, offset = memptr.mem, memptr.ptr - memptr.mem.ptr
        self._a = numpy.ndarray(shape, dt, buffer=mem.buffer, offset=offset,
                                strides=strides, order=order)
        self._mem = mem
        self.base = None

    @classmethod
    def _view(cls, a: numpy.ndarray, owner: ndarray) -> ndarray:
        view = object.__new__(cls)
        view._a, view._mem = a, owner._mem
        view.base = owner if owner.base is None else owner.base
        return view

    # -- attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    @shape.setter
    def shape(self, newshape: Any) -> None:  # in place, without a copy, as CuPy
        view = self._a.view()
        try:
            view.shape = newshape
        except AttributeError:
            raise AttributeError("Incompatible shape for in-place modification. Use "
                                 "`.reshape()` to make a copy with the desired shape.") from None
        self._a = view

    dtype = property(lambda self: self._a.dtype)
    strides = property(lambda self: self._a.strides)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    T = property(lambda self: self.transpose())
    mT = property(lambda self: _NS["swapaxes"](self, -1, -2))
    real = property(lambda self: _NS["real"](self))
    imag = property(lambda self: _NS["imag"](self))
    device = property(lambda self: cuda.Device(self._mem.device_id))
    data = property(lambda self: cuda.MemoryPointer(
        self._mem, self._a.__array_interface__["data"][0] - self._mem.ptr))

    @property
    def flags(self) -> Flags:
        return Flags(self._a.flags.c_contiguous, self._a.flags.f_contiguous, self.base is None)

    # -- host transfers
    def get(self, stream: Any = None, order: str = "C", out: Any = None,
            blocking: bool = True) -> numpy.ndarray:
        stream = cuda.get_current_stream() if stream is None else stream
        if out is not None:
            if not isinstance(out, numpy.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained fromcupy.ndarray")
            if self.dtype != out.dtype:
                raise TypeError(f"{out.dtype} array cannot be obtained from {self.dtype} array")
            if self.shape != out.shape:
                raise ValueError(f"Shape mismatch. Expected shape: {self.shape}, "
                                 f"actual shape: {out.shape}")
            if not (out.flags.c_contiguous or out.flags.f_contiguous):
                raise RuntimeError("`out` cannot be specified when copying to "
                                   "non-contiguous ndarray")
            host = out
        else:
            order = order.upper()
            host = numpy.empty(self.shape, self.dtype,
                               "F" if order == "F" or (order == "A" and self._a.flags.f_contiguous
                                                       and not self._a.flags.c_contiguous) else "C")
        source = self._a
        stream.enqueue(functools.partial(numpy.copyto, host, source), "copy_to_host")
        if blocking or not cuda.is_pinned(host):  # to pageable memory: synchronous
            stream.synchronize()
        return host

    def set(self, arr: Any, stream: Any = None) -> None:
        if not isinstance(arr, numpy.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self.dtype != arr.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if self.shape != arr.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        if not (self._a.flags.c_contiguous or self._a.flags.f_contiguous):
            raise RuntimeError("Cannot set to non-contiguous array")
        stream = cuda.get_current_stream() if stream is None else stream
        source = arr if cuda.is_pinned(arr) else arr.copy()  # pageable: staged now
        stream.enqueue(functools.partial(numpy.copyto, self._a, source), "copy_from_host")

    def __array__(self, dtype: Any = None, copy: Any = None) -> numpy.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def item(self) -> Any:
        return self.get().item()

    def tolist(self) -> Any:
        return self.get().tolist()

    def __int__(self) -> int:
        return int(self.get())

    def __float__(self) -> float:
        return float(self.get())

    def __complex__(self) -> complex:
        return complex(self.get())

    def __bool__(self) -> bool:
        return bool(self.get())

    def __repr__(self) -> str:
        return repr(self.get())

    def __str__(self) -> str:
        return str(self.get())

    def __format__(self, spec: str) -> str:
        return format(self.get(), spec)

    def __len__(self) -> int:
        if not self.ndim:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self) -> Any:
        if not self.ndim:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    # -- shape and memory
    def reshape(self, *shape: Any, order: str = "C", copy: Any = None) -> ndarray:
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        if copy:
            return _NS["reshape"](self.copy(order=order), shape, order=order)
        result = _NS["reshape"](self, shape, order=order)
        if copy is False and result._mem is not self._mem or copy is False and \
                result.base is None:
            raise ValueError("Unable to avoid copy while reshaping.")
        return result

    def transpose(self, *axes: Any) -> ndarray:
        return _NS["transpose"](self, axes[0] if len(axes) == 1 else (axes or None))

    def view(self, dtype: Any = None, type: Any = None) -> ndarray:  # noqa: A002
        return ndarray._view(self._a if dtype is None else self._a.view(_dtype(dtype)), self)

    def copy(self, order: str = "C") -> ndarray:
        return _NS["array"](self, copy=True, order=order)

    def astype(self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None,
               copy: bool = True) -> ndarray:
        dt = _dtype(dtype)
        if not copy and dt == self.dtype:
            return self
        out = _NS["empty_like"](self, dtype=dt, order=order)
        source, target = self._a, out._a
        _enqueue("astype", lambda: numpy.copyto(target, source, casting="unsafe"))
        return out

    def fill(self, value: Any) -> None:
        target = self._a
        _enqueue("fill", lambda: target.fill(value))

    def sort(self, axis: int = -1, kind: Any = None) -> None:
        if kind is not None and kind != "stable":
            raise ValueError("kind can only be None or 'stable'")
        target = self._a
        _enqueue("sort", lambda: target.sort(axis, kind="stable"))

    def argsort(self, axis: Any = -1, kind: Any = None) -> ndarray:
        if kind is not None and kind != "stable":
            raise ValueError("kind can only be None or 'stable'")
        return _NS["argsort"](self, axis)

    def dot(self, b: ndarray, out: Any = None) -> ndarray:
        return _NS["dot"](self, b, out=out)

    # -- indexing
    def __getitem__(self, key: Any) -> ndarray:
        if _is_basic(key):
            view = self._a[key if isinstance(key, tuple) else (key,)] if key != () else self._a
            if not isinstance(view, numpy.ndarray):  # every axis taken: a 0-d view
                view = self._a[(*key, Ellipsis) if isinstance(key, tuple) else (key, Ellipsis)]
            return ndarray._view(view, self)
        key = _key(key)
        if any(getattr(k, "dtype", None) == numpy.bool_ for k in _items(key)):
            _sync()  # the result's size is the number of True: CuPy synchronizes
            return _from_host(self._a[_key_host(key)])
        shape = _meta(self)[_key_meta(key)].shape
        out = _alloc(shape, self.dtype)
        source, target, hkey, shape = self._a, out._a, _key_host(key), self.shape
        _enqueue("take", lambda: numpy.copyto(target, source[_wrapped(hkey, shape)]))
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        target, shape = self._a, self.shape
        hkey = key if _is_basic(key) else _key_host(_key(key))
        _check_device(value)
        hvalue = value._a if isinstance(value, ndarray) else _stage(value)

        def store() -> None:  # (index arrays are read when the stream gets here)
            target[hkey if _is_basic(hkey) else _wrapped(hkey, shape)] = hvalue
        _enqueue("setitem", store)

    # -- NumPy protocols
    def __array_ufunc__(self, ufunc: numpy.ufunc, method: str, *inputs: Any,
                        **kwargs: Any) -> Any:
        func = _NS.get(ufunc.__name__)
        if func is None or not hasattr(func, "nin"):  # not a ufunc of ours
            return NotImplemented
        if "out" in kwargs:
            out = kwargs["out"]
            if len(out) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            kwargs["out"] = out[0]
        if method == "__call__":
            return func(*inputs, **kwargs)
        return getattr(func, method)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        parts = func.__module__.split(".")
        module = _MODULES.get(parts[-1] if parts[-1] in ("linalg", "fft", "random") else "")
        found = getattr(module, func.__name__, None)
        if found is None or found is func:
            return NotImplemented
        return found(*args, **kwargs)


def _is_basic(key: Any) -> bool:
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, numpy.integer))
               and not isinstance(k, bool) for k in items)


def _items(key: Any) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


def _key(key: Any) -> Any:
    """An index with its lists and NumPy arrays as arrays copied now (CuPy
    sends them to the device)."""
    items = tuple(numpy.array(k) if isinstance(k, (list, numpy.ndarray)) or type(k) is bool
                  else k for k in _items(key))
    return items if isinstance(key, tuple) else items[0]


def _key_host(key: Any) -> Any:
    items = tuple(_host_leaf(k) if isinstance(k, ndarray) else k for k in _items(key))
    return items if isinstance(key, tuple) else items[0]


def _key_meta(key: Any) -> Any:
    items = tuple(numpy.zeros(k.shape, k.dtype) if isinstance(k, (ndarray, numpy.ndarray))
                  else k for k in _items(key))
    return items if isinstance(key, tuple) else items[0]


def _wrapped(key: Any, shape: tuple[int, ...]) -> Any:
    """CuPy does not check integer index arrays: out of bounds wraps around."""
    items = key if isinstance(key, tuple) else (key,)
    consumed = sum(numpy.ndim(k) if getattr(k, "dtype", None) == numpy.bool_ else
                   0 if k is None or k is Ellipsis else 1 for k in items)
    out, axis = [], 0
    for k in items:
        if k is Ellipsis:
            axis += len(shape) - consumed
        elif isinstance(k, numpy.ndarray) and k.dtype.kind in "iu" and axis < len(shape) \
                and shape[axis]:
            k = numpy.mod(k, shape[axis])
        if k is not None and k is not Ellipsis:
            axis += numpy.ndim(k) if getattr(k, "dtype", None) == numpy.bool_ else 1
        out.append(k)
    return tuple(out) if isinstance(key, tuple) else out[0]


def _check_device(value: Any) -> None:
    if isinstance(value, ndarray) and value._mem.device_id != _device():
        raise ValueError(f"The device where the array resides ({value._mem.device_id}) is "
                         f"different from the current device ({_device()}). Peer access "
                         "is unavailable.")


def _walk(obj: Any, leaf: Callable[[Any], Any]) -> Any:
    """``obj`` with every array in it (in lists, tuples, dicts) replaced by ``leaf``."""
    if isinstance(obj, ndarray):
        return leaf(obj)
    if isinstance(obj, numpy.ndarray) and obj.dtype != object:
        raise TypeError(f"Unsupported type {type(obj)}")
    if type(obj) in (list, tuple):
        return type(obj)(_walk(o, leaf) for o in obj)
    if type(obj) is dict:
        return {k: _walk(v, leaf) for k, v in obj.items()}
    return obj


def _host_leaf(a: ndarray) -> numpy.ndarray:
    _check_device(a)
    return a._a


def _host(obj: Any) -> Any:
    """NumPy views of the device memory in ``obj``: for kernels to read later."""
    return _walk(obj, _host_leaf)


def _meta_leaf(a: ndarray) -> numpy.ndarray:
    return numpy.broadcast_to(numpy.zeros((), a.dtype), a.shape)


def _meta(obj: Any) -> Any:
    """Zero-byte stand-ins of the arrays in ``obj``: shapes and dtypes, no values."""
    return _walk(obj, _meta_leaf)


def _stage(value: Any) -> Any:
    """A host value as the device sees it: copied now (pageable memory is staged)."""
    if isinstance(value, numpy.ndarray):
        return value.copy()
    return value


def _alloc(shape: Any, dtype: Any, order: str = "C") -> ndarray:
    return ndarray(shape, dtype, order=order)


def _from_host(value: Any) -> Any:
    """A value computed on the host now, as a new device array."""
    if isinstance(value, tuple):
        return tuple(_from_host(v) for v in value)
    if isinstance(value, list):
        return [_from_host(v) for v in value]
    host = numpy.asarray(value)
    out = _alloc(host.shape, host.dtype)
    target = out._a
    _enqueue("copy_from_host", lambda: numpy.copyto(target, host))
    return out
