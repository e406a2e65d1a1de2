"""``ndarray`` operators and methods, installed from the op table.

Operators map to ufuncs (``+`` is ``np.add`` ...); reflected operators swap
the operands and in-place ones pass ``out=self``. Methods are the op-table
functions flagged ``method=True`` with ``self`` as first argument, plus the
few that exist only as methods.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from sys import getrefcount
from typing import Any

import numpy as np

from ..ops import kinds as _ops
from . import transfer as _placement
from ..ops import rules
from ..engine.graph import Var
from .indexing import getitem, setitem
from .ndarray import _Policy, evaluate, ndarray, view_of, wrap_result
from ..engine.scheduler import ENGINE

BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
          "truediv": np.true_divide, "floordiv": np.floor_divide, "mod": np.remainder,
          "pow": np.power, "and": np.bitwise_and, "or": np.bitwise_or,
          "xor": np.bitwise_xor, "lshift": np.left_shift, "rshift": np.right_shift,
          "divmod": np.divmod}
COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
               "gt": np.greater, "ge": np.greater_equal}
UNARY = {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}


_ELIDE_ELEMS = 1 << 15  # NumPy elides temporaries from 256 KiB (of float64) on


def _keeps_dtype(ufunc: np.ufunc, dtype: np.dtype, value: Any) -> bool:
    """Whether ``ufunc(array of dtype, value)`` has ``dtype`` (so it may be
    written into the array)."""
    meta = rules.empty0(value.dtype) if isinstance(value, np.ndarray) else value
    return rules.elementwise_dtypes(ufunc, [rules.empty0(dtype), meta], {}) == [dtype]


def _operator(ufunc: np.ufunc, reflected: bool = False,
              inplace: bool = False) -> Callable[[ndarray, Any], Any]:
    """``self <op> other``. The hot path of small-array code: when both operands
    are ready, small and of equal shape, NumPy runs right here."""
    elementwise = _ops.elementwise
    policy = _Policy
    new = object.__new__
    host = np.ndarray
    costs = ENGINE.costs
    name = ufunc.__name__

    def method(self: ndarray, other: Any) -> Any:
        var = self._var
        data = self._data
        # ``inline_elems`` is 0 while inlining is off (profiles, graphs); mid-size
        # ops run here too when the cost model predicts they are cheap.
        if not var.nw and var.error is None and type(data) is host and (
                data.size <= policy.inline_elems
                or (policy.inline_elems and costs.cheap(name, data.nbytes))):
            kind = type(other)
            value: Any = None
            if kind is float or kind is int:
                value = other
            elif kind is ndarray:
                other_var = other._var
                value = other._data
                if other_var.nw or other_var.error is not None or type(value) is not host \
                        or value.shape != data.shape:
                    value = None
            if value is not None:
                try:
                    if not inplace:
                        if (data.size >= _ELIDE_ELEMS and not var.n and self._base is None
                                and getrefcount(self) <= 3
                                and _keeps_dtype(ufunc, data.dtype, value)):
                            # A temporary nobody else holds takes the result (as
                            # NumPy elides temporaries).
                            ufunc(value, data, out=data) if reflected else \
                                ufunc(data, value, out=data)
                            return self
                        result = ufunc(value, data) if reflected else ufunc(data, value)
                        if type(result) is not host:
                            result = np.asarray(result)
                        array = new(ndarray)  # _ndarray.wrap, inlined: the hottest path
                        array._data = result
                        array._var = Var()
                        array._base = None
                        return array
                    if not var.n:
                        ufunc(data, value, out=data)
                        return self
                except Exception:
                    pass  # the general path raises it where NumPy would
        if inplace:
            return elementwise(ufunc, (self, other), self)
        # A temporary (referenced only by the caller's stack, this frame and
        # getrefcount) can take the result, as NumPy elides temporaries.
        elide = self if getrefcount(self) <= 3 and self._base is None else None
        return elementwise(ufunc, (other, self) if reflected else (self, other),
                           elide=elide)
    return method


# ``a ** 2``, ``a ** -1``, ``a ** 0.5`` on float and complex arrays: NumPy calls
# square, reciprocal, sqrt (whose results differ from power's for complex).
_FAST_POWER = {(int, 2): np.square, (int, -1): np.reciprocal, (float, 0.5): np.sqrt}


def _power(inplace: bool = False) -> Callable[[ndarray, Any], Any]:
    """``self ** other`` and ``self **= other`` (NumPy's fast scalar powers)."""
    general = _operator(np.power, inplace=inplace)

    def method(self: ndarray, other: Any) -> Any:
        kind = type(other)
        if (kind is int or kind is float) and self.dtype.kind in "fc":
            fast = _FAST_POWER.get((kind, other))
            if fast is not None:
                return _ops.elementwise(fast, (self,), self if inplace else None)
        return general(self, other)
    return method


def _unary(ufunc: np.ufunc) -> Callable[[ndarray], Any]:
    def method(self: ndarray) -> Any:
        return _ops.elementwise(ufunc, (self,))
    return method


def _method(func: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: ndarray, *args: Any, **kwargs: Any) -> Any:
        return func(self, *args, **kwargs)
    method.__name__ = func.__name__
    method.__doc__ = func.__doc__
    return method


def _shape_args(args: tuple[Any, ...]) -> Any:
    return args[0] if len(args) == 1 and not isinstance(args[0], (int, np.integer)) else args


def reshape(self: ndarray, *shape: Any, order: str = "C", copy: bool | None = None) -> ndarray:
    """Returns an array containing the same data with a new shape."""
    return _ops.reshape(self, _shape_args(shape), order=order, copy=copy)


def transpose(self: ndarray, *axes: Any) -> ndarray:
    """Returns a view with axes transposed."""
    return view_of(self, self._data.transpose(*axes))


def _copy(self: ndarray, order: str = "C") -> ndarray:
    """Return a copy of the array (C order by default, unlike ``numpy.copy``)."""
    return _ops.copy_array(self, order)


def flatten(self: ndarray, order: str = "C") -> ndarray:
    """A copy of the array collapsed into one dimension."""
    return _ops.copy_array(_ops.ravel(self, order))


def view(self: ndarray, dtype: Any = None, type: Any = None) -> ndarray:
    """A new view of the same data (optionally with another dtype)."""
    if isinstance(dtype, builtins.type) and issubclass(dtype, (ndarray, np.ndarray)):
        dtype, type = None, dtype  # ``x.view(np.ndarray)``: NumPy reads it as ``type=``
    if type is not None and type is not ndarray and type is not np.ndarray:
        raise TypeError(f"view(type={type.__name__}): subclasses of dagrt.ndarray are "
                        f"not supported")
    return view_of(self, self._data.view() if dtype is None else self._data.view(dtype))


def fill(self: ndarray, value: Any) -> None:
    """Fill the array with a scalar value (in place)."""
    if self.dtype.kind == "O":  # every element is the object itself, even an array
        _ops._record("fill", _fill_kernel, (value,), {}, [self])
    else:
        setitem(self, Ellipsis, value)


def _fill_kernel(value: Any, *, out: Any) -> None:
    out.fill(value)


def _flat(self: ndarray) -> Any:
    """NumPy's flat iterator over the storage, once no pending op uses it."""
    return self._quiet().flat


def _set_flat(self: ndarray, value: Any) -> None:
    _ops._record("flat", _set_flat_kernel, (_ops.operand(value),), {}, [self])


def _set_flat_kernel(value: Any, *, out: Any) -> None:
    out.flat = value


def resize(self: ndarray, *new_shape: Any, refcheck: bool = True) -> None:
    """Change the shape and size in place (NumPy's checks: no views of it)."""
    self._quiet().resize(*new_shape, refcheck=refcheck)


def sort(self: ndarray, axis: int = -1, kind: Any = None, order: Any = None, *,
         stable: Any = None) -> None:
    """Sort the array in place (recorded: runs when its inputs are ready)."""
    kwargs = {"axis": axis, "kind": kind, "order": order, "stable": stable}
    _ops.elementwise  # noqa: B018  (keeps the import order explicit)
    _ops._record("sort", _sort_kernel, (), kwargs, [self])


def _sort_kernel(*, out: Any, **kwargs: Any) -> None:
    out.sort(**kwargs)


def _getattr(self: ndarray, name: str) -> Any:
    """Any other numpy.ndarray method or attribute: run NumPy's on the storage
    once no pending operation uses it (in-place methods mutate, as in NumPy)."""
    if name == "__array_interface__" and self._var.device is None:
        return self._quiet().__array_interface__  # np.lib.array_utils.byte_bounds(x)
    if name.startswith("__") or not hasattr(np.ndarray, name):
        raise AttributeError(f"'dagrt.ndarray' object has no attribute {name!r}")
    if not callable(getattr(np.ndarray, name)):
        return getattr(self._quiet(), name)

    def method(*args: Any, **kwargs: Any) -> Any:
        data = self._quiet()
        result = getattr(data, name)(*evaluate(args, quiet=True),
                                     **{k: evaluate(v, quiet=True) for k, v in kwargs.items()})
        if isinstance(result, np.ndarray) and np.may_share_memory(result, data):
            return view_of(self, result)
        return wrap_result(result)
    method.__name__ = name
    return method


def _real(self: ndarray) -> ndarray:
    """The real part (a view for complex arrays)."""
    return _ops.namespace_cache["real"](self)


def _imag(self: ndarray) -> ndarray:
    """The imaginary part (a view for complex arrays)."""
    return _ops.namespace_cache["imag"](self)


def _set_real(self: ndarray, value: Any) -> None:
    setitem(_real(self), Ellipsis, value)


def _set_imag(self: ndarray, value: Any) -> None:
    if not np.iscomplexobj(self._data):
        raise TypeError("array does not have imaginary part to set")
    setitem(_imag(self), Ellipsis, value)


def _array_namespace(self: ndarray, *, api_version: Any = None) -> Any:
    import dagrt
    return dagrt


def _dlpack(self: ndarray, **kwargs: Any) -> Any:
    return self._quiet().__dlpack__(**kwargs)


def _dlpack_device(self: ndarray) -> Any:
    return self._data.__dlpack_device__()


def _ufunc_method(self: ndarray, ufunc: np.ufunc, method: str, *inputs: Any,
                  **kwargs: Any) -> Any:
    if method == "__call__":
        return _ops.elementwise(ufunc, inputs, kwargs.pop("out", None), kwargs)
    return _ops._eager(getattr(ufunc, method), inputs, kwargs)


def _array_function(self: ndarray, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    impl = _IMPLEMENTATIONS.get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    return wrap_result(func(*evaluate(args), **{k: evaluate(v) for k, v in kwargs.items()}))


_IMPLEMENTATIONS: dict[Any, Callable[..., Any]] = {}


def install(functions: dict[str, Callable[..., Any]]) -> None:
    """Attach operators and methods to ``ndarray``; map NumPy functions to
    dagrt ones for ``__array_function__``."""
    for name, ufunc in BINARY.items():
        if name == "divmod":
            ndarray.__divmod__ = lambda self, other: _ops.elementwise(np.divmod, (self, other))
            ndarray.__rdivmod__ = lambda self, other: _ops.elementwise(np.divmod, (other, self))
            continue
        setattr(ndarray, f"__{name}__", _operator(ufunc))
        setattr(ndarray, f"__r{name}__", _operator(ufunc, reflected=True))
        setattr(ndarray, f"__i{name}__", _operator(ufunc, inplace=True))
    ndarray.__pow__, ndarray.__ipow__ = _power(), _power(inplace=True)
    for name, ufunc in COMPARISONS.items():
        setattr(ndarray, f"__{name}__", _operator(ufunc))
    for name, ufunc in UNARY.items():
        setattr(ndarray, f"__{name}__", _unary(ufunc))
    ndarray.__matmul__ = lambda self, other: functions["matmul"](self, other)
    ndarray.__rmatmul__ = lambda self, other: functions["matmul"](other, self)

    def imatmul(self: ndarray, other: Any) -> ndarray:
        # NumPy's rules for a @= b: same_kind casting, then an unchanged shape
        meta = np.zeros((1,) * self.ndim, self.dtype)
        np.matmul(meta, np.zeros((1,) * other.ndim, other.dtype)
                  if isinstance(other, (ndarray, np.ndarray)) else other, out=meta)
        result = functions["matmul"](self, other)
        if result.shape != self.shape:
            raise ValueError(f"matmul: in-place result has shape {result.shape}, not "
                             f"{self.shape}")
        setitem(self, Ellipsis, result)
        return self
    ndarray.__imatmul__ = imatmul
    ndarray.__getitem__ = getitem
    ndarray.__setitem__ = setitem
    for d in _ops.OPS:
        if d.method:
            setattr(ndarray, d.name, _method(functions[d.name]))
    for name in ("astype", "copy", "ravel", "clip"):
        setattr(ndarray, name, _method(functions[name]))
    ndarray.copy = _copy
    ndarray.conj = ndarray.conjugate = _unary(np.conjugate)
    ndarray.reshape = reshape
    ndarray.transpose = transpose
    ndarray.flatten = flatten
    ndarray.view = view
    ndarray.fill = fill
    ndarray.flat = property(_flat, _set_flat)
    ndarray.resize = resize
    ndarray.sort = sort
    ndarray.__getattr__ = _getattr
    ndarray.real = property(_real, _set_real)
    ndarray.imag = property(_imag, _set_imag)
    ndarray.__array_namespace__ = _array_namespace
    ndarray.copyto = _placement.copyto
    ndarray.to_device = ndarray.as_in_context = ndarray.as_in_ctx = _placement.to_device_method
    ndarray.__dlpack__ = _dlpack
    ndarray.__dlpack_device__ = _dlpack_device
    _ops.namespace_cache.update(functions)
    ndarray.__array_ufunc__ = _ufunc_method
    ndarray.__array_function__ = _array_function
    for name, impl in functions.items():
        numpy_func = getattr(np, name, None)
        if callable(numpy_func) and not isinstance(numpy_func, (np.ufunc, type)):
            _IMPLEMENTATIONS[numpy_func] = impl
