"""The ``ndarray`` methods that are not functions of the namespace (rows of
kind ``method`` in the op table): ``reshape(*shape)``, ``transpose(*axes)``,
``view``, ``fill``, ``flat``, ``sort`` in place, the NumPy protocols
(``__array_ufunc__``, ``__array_function__``, DLPack) and any other
``numpy.ndarray`` attribute (``__getattr__``).

Imports: the array layer and the other op kinds.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..array import transfer
from ..array.flags import interface_readable
from ..array.indexing import setitem
from ..array.methods import IMPL
from ..array.ndarray import ndarray, run_now, view_of
from ..array.operands import as_type, is_sub, masked
from ..array.record import NO_KWARGS, evaluate, now_view, record, wrap_result
from . import shapes
from .args import NOW_IDLE, eager_call, foreign, operand
from .elementwise import clip_method, defers, elementwise
from .reductions import contraction
from .table import ROWS

_MATMUL = next(r for r in ROWS if r.name == "matmul")
_SCALARS = (int, float, complex, np.generic)
# NumPy function -> dagrt function, for ``__array_function__`` (ops.namespace fills it).
IMPLEMENTATIONS: dict[Any, Callable[..., Any]] = {}
# NumPy ufunc -> dagrt's (its call runs now in C), for ``__array_ufunc__`` (ops.namespace).
UFUNCS: dict[np.ufunc, Callable[..., Any]] = {}
_PLAIN = frozenset((ndarray, np.ndarray, int, float, complex, bool, *(
    np.dtype(code).type for code in np.typecodes["All"])))  # no override can claim them


def _shape_args(args: tuple[Any, ...]) -> Any:
    return args[0] if len(args) == 1 and not isinstance(args[0], (int, np.integer)) else args


def reshape(self: ndarray, *shape: Any, order: str = "C", copy: bool | None = None) -> ndarray:
    """Returns an array containing the same data with a new shape."""
    if order == "C" and copy is None:
        done = now_view(np.ndarray.reshape, self, shape, NO_KWARGS)
        if done is not None:
            return done
    return shapes.reshape(self, _shape_args(shape), order=order, copy=copy)


def transpose(self: ndarray, *axes: Any) -> ndarray:
    """Returns a view with axes transposed."""
    return view_of(self, self._data.transpose(*axes))


def _copy(self: ndarray, order: str = "C") -> ndarray:
    """Return a copy of the array (C order by default, unlike ``numpy.copy``)."""
    return shapes.copy_array(self, order)


def flatten(self: ndarray, order: str = "C") -> ndarray:
    """A copy of the array collapsed into one dimension."""
    done = now_view(np.ndarray.flatten, self, (order,))
    return done if done is not None else shapes.copy_array(shapes.ravel(self, order))


_type = builtins.type


def view(self: ndarray, dtype: Any = None, type: Any = None) -> ndarray:
    """A new view of the same data (optionally with another dtype)."""
    if isinstance(dtype, builtins.type) and issubclass(dtype, (ndarray, np.ndarray)):
        dtype, type = None, dtype  # ``x.view(np.ndarray)``: NumPy reads it as ``type=``
    view = view_of(self, self._data.view() if dtype is None else self._data.view(dtype))
    cls = type or _type(self)
    if cls is ndarray or cls is np.ndarray:
        return view
    if isinstance(cls, _type) and issubclass(cls, ndarray):
        return as_type(view, cls, self)  # view casting (``ops.subclasses``)
    if isinstance(cls, _type) and issubclass(cls, np.ndarray) and self._var.device is None:
        # NumPy's own class (a masked array, a matrix): NumPy's view of the storage,
        # once no pending op uses it, as ``np.asarray(x).view(cls)`` (NumPy's object)
        data = self._quiet()
        return data.view(cls) if dtype is None else data.view(dtype, cls)
    if isinstance(cls, _type) and issubclass(cls, np.ndarray):
        raise TypeError(f"view(type={cls.__name__}): a GPU array has no NumPy view; "
                        f"x.asnumpy().view({cls.__name__}) is a host copy's")
    raise TypeError("Cannot specify output type.")


def fill(self: ndarray, value: Any) -> None:
    """Fill the array with a scalar value (in place)."""
    if self.dtype.kind == "O":  # every element is the object itself, even an array
        record("fill", _fill_kernel, (value,), {}, lambda: [self], [self], work=self.nbytes)
    else:
        self[...] = value  # (in C when it runs now)


def _fill_kernel(value: Any, *, out: Any) -> None:
    out.fill(value)


def _flat(self: ndarray) -> Any:
    """NumPy's flat iterator over the storage, once no pending op uses it."""
    return FlatIter(self) if self._var.device is None else _storage(self).flat


class FlatIter:
    """``x.flat``: NumPy's flat iterator over the storage (iteration state,
    ``index``, ``coords``), indexed and assigned with dagrt arrays too
    (``x.flat[mask] = v``), each access once no pending op uses the storage."""

    __slots__ = ("base", "_flat")

    def __init__(self, array: ndarray) -> None:
        self.base = array
        self._flat = array._quiet().flat

    def _it(self) -> Any:
        self.base._quiet()
        return self._flat

    def __getitem__(self, key: Any) -> Any:
        return wrap_result(self._it()[evaluate(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        it = self._it()
        it[evaluate(key)] = evaluate(value)

    def __iter__(self) -> FlatIter:
        return self

    def __next__(self) -> Any:
        return next(self._it())

    def __len__(self) -> int:
        return len(self._flat)

    def __delitem__(self, key: Any) -> None:
        raise TypeError("Cannot delete iterator elements")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self._it().__array__()  # (NumPy's: read-only for a read-only array)
        return data if dtype is None else data.astype(dtype, copy=False)

    def copy(self) -> ndarray:
        """A flattened copy of the array."""
        return wrap_result(self._it().copy())

    def __getattr__(self, name: str) -> Any:  # index, coords, dtype...
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._flat, name)


def _set_flat(self: ndarray, value: Any) -> None:
    record("flat", _set_flat_kernel, (operand(value),), {}, lambda: [self], [self],
           work=self.nbytes)


def _set_flat_kernel(value: Any, *, out: Any) -> None:
    out.flat = value


def resize(self: ndarray, *new_shape: Any, refcheck: bool = True) -> None:
    """Change the shape and size in place (NumPy's checks: no views of it)."""
    self._quiet().resize(*new_shape, refcheck=refcheck)


def sort(self: ndarray, axis: int = -1, kind: Any = None, order: Any = None, *,
         stable: Any = None) -> None:
    """Sort the array in place (recorded: runs when its inputs are ready)."""
    if run_now is not None and stable is None and run_now(  # small and idle: now, in C
            _NP_SORT, (self, axis, kind, order), NO_KWARGS, -1, (), None, NOW_IDLE):
        return None
    kwargs = {"axis": axis, "kind": kind, "order": order, "stable": stable}
    record("sort", _sort_kernel, (), kwargs, lambda: [self], [self], work=self.nbytes)


def _sort_kernel(*, out: Any, **kwargs: Any) -> None:
    if isinstance(out, np.ndarray):
        out.sort(**kwargs)
    else:  # CuPy's sort is stable and takes no kind or order: the values are the same
        out.sort(axis=kwargs["axis"])


def _getattr(self: ndarray, name: str) -> Any:
    """Any other numpy.ndarray method or attribute: run NumPy's on the storage
    once no pending operation uses it (in-place methods mutate, as in NumPy)."""
    if name == "__array_interface__" and self._var.device is None and \
            interface_readable(self.dtype):  # np.lib.array_utils.byte_bounds(x)
        return self._quiet().__array_interface__
    if name.startswith("__") or not hasattr(np.ndarray, name):
        raise AttributeError(f"'dagrt.ndarray' object has no attribute {name!r}")
    if not callable(getattr(np.ndarray, name)):
        return getattr(_storage(self), name)

    def method(*args: Any, **kwargs: Any) -> Any:
        data = _storage(self)
        result = getattr(data, name)(*evaluate(args, quiet=True),
                                     **{k: evaluate(v, quiet=True) for k, v in kwargs.items()})
        # ``x.choose(c, out=o)`` returns ``o``; a view of ``x`` is a view of it
        return wrap_result(result, (self, args, kwargs))
    method.__name__ = name
    return method


def _numpy_method(self: ndarray, func: Any, name: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any], done: Any = None) -> Any:
    """``x.name(*args, **kwargs)`` for any other numpy.ndarray method ``func``
    (``tobytes``, ``partition``...): ``done``, what the generated method ran in
    C (idle arrays of any size, as NumPy's method runs now either way, and
    plain arguments), wrapped; else as ``__getattr__`` gives it."""
    if done is not None:
        return done[0] if type(done) is list else wrap_result(done[0], (self, args, kwargs))
    return _getattr(self, name)(*args, **kwargs)


def _storage(self: ndarray) -> Any:
    """The storage once no pending op uses it; for a device array, a host copy
    (NumPy's in-place methods on it then change only that copy)."""
    return self._quiet() if self._var.device is None else self._host()


def _set_real(self: ndarray, value: Any) -> None:
    setitem(self.real, Ellipsis, value)


def _set_imag(self: ndarray, value: Any) -> None:
    if not np.iscomplexobj(self._data):
        raise TypeError("array does not have imaginary part to set")
    setitem(self.imag, Ellipsis, value)


def _array_namespace(self: ndarray, *, api_version: Any = None) -> Any:
    if api_version is not None:
        _EMPTY.__array_namespace__(api_version=api_version)  # NumPy's versions, NumPy's errors
    return sys.modules[__name__.partition(".")[0]]  # the dagrt package


def _dlpack(self: ndarray, **kwargs: Any) -> Any:
    return self._quiet().__dlpack__(**kwargs)


def _dlpack_device(self: ndarray) -> Any:
    return self._data.__dlpack_device__()


def _ufunc_method(self: ndarray, ufunc: np.ufunc, method: str, *inputs: Any,
                  **kwargs: Any) -> Any:
    if method == "__call__" and not kwargs and _PLAIN.issuperset(map(type, inputs)):
        fast = UFUNCS.get(ufunc)  # ``np.float64(2.0) * x``: dagrt's ufunc (its call in C)
        if fast is not None:
            return fast(*inputs)
    out = kwargs.get("out")
    operands = (*inputs, *(out if type(out) is tuple else (out,)), kwargs.get("where"))
    if any(map(foreign, operands)):
        if any(map(masked, operands)):  # NumPy's ufunc, on the values (NumPy's masked result)
            return eager_call(ufunc if method == "__call__" else getattr(ufunc, method),
                              inputs, kwargs)
        if any(map(is_sub, operands)):  # a subclass's, by default (``ops.subclasses``)
            return IMPL["subclass ufunc"](ufunc, method, inputs, kwargs)
        return NotImplemented  # NEP 13: another operand's override decides
    if method == "__call__":
        return elementwise(ufunc, inputs, kwargs.pop("out", None), kwargs)
    return eager_call(getattr(ufunc, method), inputs, kwargs)


def _array_function(self: ndarray, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    if not isinstance(args, tuple):
        raise TypeError("args must be a tuple.")
    if not isinstance(kwargs, dict):
        raise TypeError("kwargs must be a dict.")
    if not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
        return NotImplemented  # NEP 18: another argument's type decides
    if any(t is not ndarray and issubclass(t, ndarray) for t in types):
        return IMPL["subclass function"](func, args, kwargs, _function)  # (ops.subclasses)
    if any(masked(a) for a in (*args, *kwargs.values())) or any(
            masked(x) for a in args if type(a) is list or type(a) is tuple for x in a):
        return _numpys(func, args, kwargs)  # NumPy's, on the values: masked arrays' rules
    return _function(func, args, kwargs)


def _function(func: Any, args: Any, kwargs: Any) -> Any:
    """NumPy's function ``func`` for dagrt arrays: dagrt's, else NumPy's on the values."""
    impl = IMPLEMENTATIONS.get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    return _numpys(func, args, kwargs)


def _numpys(func: Any, args: Any, kwargs: Any) -> Any:
    return wrap_result(func(*evaluate(args), **{k: evaluate(v) for k, v in kwargs.items()}),
                       (args, kwargs))


def _matmul(self: ndarray, other: Any) -> Any:
    if defers(other, False):
        return NotImplemented  # (NumPy's operators' deferral: ``elementwise.defers``)
    if isinstance(other, _SCALARS):  # NumPy's error (converting ``other`` first)
        return eager_call(np.matmul, (self, other), {})
    return contraction(_MATMUL, (self, other), {})


def _rmatmul(self: ndarray, other: Any) -> Any:
    if defers(other, False):
        return NotImplemented
    if isinstance(other, _SCALARS):
        return eager_call(np.matmul, (other, self), {})
    return contraction(_MATMUL, (other, self), {})


def _imatmul(self: ndarray, other: Any) -> ndarray:
    """``a @= b``: NumPy's rules (same_kind casting, then an unchanged shape)."""
    meta = np.zeros((1,) * self.ndim, self.dtype)
    np.matmul(meta, np.zeros((1,) * other.ndim, other.dtype)
              if isinstance(other, (ndarray, np.ndarray)) else other, out=meta)
    result = _matmul(self, other)
    if result.shape != self.shape:
        raise ValueError(f"matmul: in-place result has shape {result.shape}, not "
                         f"{self.shape}")
    setitem(self, Ellipsis, result)
    return self


def _conj(self: ndarray, out: Any = None) -> Any:
    """The complex conjugate; a real array is its own (``a.conj() is a``, as
    NumPy's method: not a copy, unlike ``np.conj(a)``)."""
    kind = self.dtype.kind
    if kind in "cOV":
        return elementwise(np.conjugate, (self,), out)
    if kind not in "biuf":
        raise TypeError("cannot conjugate non-numeric dtype")
    if out is None:
        return self
    eager_call(np.copyto, (out, self), {})  # (NumPy assigns with same_kind casting)
    return out


def _sizeof(self: ndarray) -> int:
    """``sys.getsizeof(x)``, as NumPy's: the object, its shape and strides, and the
    memory it owns (a view: none)."""
    data = self._data
    owned = self._base is None and getattr(data, "base", None) is None
    return object.__sizeof__(self) + 16 * data.ndim + (data.nbytes if owned else 0)


METHODS: dict[str, Callable[..., Any]] = {
    "reshape": reshape, "transpose": transpose, "copy": _copy, "flatten": flatten,
    "view": view, "fill": fill, "resize": resize, "sort": sort, "clip": clip_method,
    "astype": shapes.astype,
    "conj": _conj,
    "conjugate": _conj, "flat": _flat, "flat=": _set_flat, "real=": _set_real,
    "imag=": _set_imag, "__getattr__": _getattr, "copyto": transfer.copyto,
    "to_device": transfer.to_device_method, "as_in_context": transfer.to_device_method,
    "as_in_ctx": transfer.to_device_method, "__matmul__": _matmul,
    "__rmatmul__": _rmatmul, "__imatmul__": _imatmul,
    "__divmod__": lambda self, other: NotImplemented if defers(other, False) else
    elementwise(np.divmod, (self, other)),
    "__rdivmod__": lambda self, other: NotImplemented if defers(other, False) else
    elementwise(np.divmod, (other, self)),
    "__array_ufunc__": _ufunc_method, "__array_function__": _array_function,
    "__array_namespace__": _array_namespace, "__dlpack__": _dlpack,
    "__dlpack_device__": _dlpack_device, "__numpy_method__": _numpy_method,
    "__sizeof__": _sizeof,
}
_NP_SORT = np.ndarray.sort
_EMPTY = np.empty(0)
