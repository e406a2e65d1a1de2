"""Views, reshapes and data movement: ``transpose split squeeze`` (views of
the input's storage, made at once), ``reshape ravel``, ``concatenate stack
tile append block`` (copies into a new shape), ``sort cumsum round tril``
(shaped as the input), ``astype copy``.

Deferred, shapes come from the function applied to zero-byte arrays
(``np.dtype([])``), which NumPy shapes and checks without touching memory.

Imports: the array layer, ``ops.rules``, ``ops.args``, ``ops.reductions``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..array.ndarray import ndarray, view_of, wrap
from ..array.operands import nbytes_of, new_array
from ..array.record import NO_KWARGS, evaluate, host_values, now, now_view, record
from ..devices.replay import identity
from . import rules
from .args import PY_SCALARS, as_dagrt, bind, eager_call
from .reductions import is_view_of
from .table import ROWS, Row, check_keywords

_NP = np.ndarray

# views whose NumPy function only calls the array's method (a Python frame less)
_VIEW_METHODS = {name: getattr(np.ndarray, name) for name in ("swapaxes", "squeeze", "diagonal")}
_MANY_VIEWS = {"atleast_1d", "atleast_2d", "atleast_3d", "broadcast_arrays"}  # f(*arrays)
_CONCATENATE = next(r for r in ROWS if r.name == "concatenate")
_STACK = next(r for r in ROWS if r.name == "stack")


def view(row: Row, a: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Views are NumPy views of the input's storage, made at once."""
    done = now_view(_VIEW_METHODS.get(row.name, row.func), a, args, kwargs,
                    False)  # (a view of pending storage too)
    if done is not None:
        return done
    if isinstance(a, PY_SCALARS) and not args and not kwargs:
        result = row.func(a)
        if not isinstance(result, np.ndarray):  # np.real(1 + 1j) is a Python float
            return result
    a = as_dagrt(a)
    if row.name in _MANY_VIEWS and args:  # atleast_1d(a, b), broadcast_arrays(a, b)
        arrays = [a] + [as_dagrt(x) for x in args]
        results = row.func(*[x._data for x in arrays], **kwargs)
        return type(results)(_as_view(x, r, row, (), kwargs) for x, r in zip(arrays, results))
    args = tuple(evaluate(args))  # split points, axes: np.hsplit(x, np.array([3, 6]))
    device = a._var.device
    func = row.func if device is None else device.backend.translate(row.func)
    result = func(a._data, *args, **kwargs)
    if isinstance(result, (list, tuple)):
        return type(result)(_as_view(a, r, row, args, kwargs) for r in result)
    return _as_view(a, result, row, args, kwargs)


def _as_view(a: ndarray, result: Any, row: Row, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> ndarray:
    if result is a._data:  # NumPy returned its input: np.atleast_1d(x) is x
        return a
    if is_view_of(result, a._data):
        return view_of(a, result)
    if host_values((a,)) is not None:  # (np.flip of a 0-d array: NumPy's scalar)
        return result if isinstance(result, np.generic) else wrap(result)
    # NumPy made a copy (e.g. imag of a real array) from storage still pending:
    # compute it again once the input is ready.
    out = record(row.name, row.func, (a, *args), kwargs,
                 lambda: [new_array(result.shape, result.dtype, (a,))],
                 use_out=False, work=result.nbytes)[0]
    if getattr(result.flags, "writeable", True) or not isinstance(out, ndarray):
        return out
    data = out._data.view()  # read-only as NumPy's (the kernel writes the storage)
    data.flags.writeable = False
    return view_of(out, data)


def reshape(a: Any, shape: Any, order: str = "C", *, copy: bool | None = None,
            newshape: Any = None) -> ndarray:
    """Implementation of numpy.reshape: a view when NumPy gives one."""
    if copy is None and newshape is None:
        done = now_view(_NP.reshape, a, (shape,), {"order": order} if order != "C" else {})
        if done is not None:
            return done
    a = as_dagrt(a)
    if newshape is not None:
        shape = newshape
    try:
        result = np.reshape(a._data, shape, order=order, copy=False)
    except ValueError as exc:
        if "copy" not in str(exc):
            raise
        if copy is False:
            raise
    else:
        return copy_array(view_of(a, result)) if copy else view_of(a, result)
    target = np.reshape(rules.zero_bytes(a.shape), shape, order=order).shape
    return record("reshape", np.reshape, (a, target), {"order": order},
                  lambda: [new_array(target, a.dtype, (a,))], use_out=False,
                  work=a._data.nbytes)[0]


def ravel(a: Any, order: str = "C") -> ndarray:
    """Implementation of numpy.ravel."""
    done = now_view(_NP.ravel, a, (order,))
    if done is not None:
        return done
    if order == "K":  # memory order: axes by decreasing stride, then C order
        a = as_dagrt(a)
        axes = sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))
        a, order = view_of(a, a._data.transpose(axes)), "C"
    return reshape(a, (-1,), order=order)


_MAX_ARRAYS = int(np.iinfo(np.intc).max)


_SEQUENCES = {"stack", "vstack", "hstack", "dstack", "column_stack", "row_stack"}


def movement(row: Row, first: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Functions that copy their data into a new shape: the shape comes from a
    zero-byte meta call, the dtype from promotion."""
    many = type(first) is list or type(first) is tuple
    if not many and row.name in _SEQUENCES and not hasattr(first, "__getitem__"):
        raise TypeError('arrays to stack must be passed as a "sequence" type such as '
                        'list or tuple.')  # (a generator: NumPy's error)
    if not many and row.name in ("concatenate", "concat") and not hasattr(first, "__len__"):
        raise TypeError("The first input argument needs to be a sequence")
    if many and len(first) > _MAX_ARRAYS:
        raise ValueError(f"concatenate() only supports up to {_MAX_ARRAYS} arrays but "
                         f"got {len(first)}.")
    data = [x if type(x) is ndarray else as_dagrt(x) for x in first] if many \
        else [as_dagrt(first)]
    if args:  # positional parameters by name: np.concatenate(xs, 0, out)
        kwargs, args = bind(row, args, dict(kwargs)), ()
    out = kwargs.pop("out", None)
    if kwargs:
        kwargs = {k: evaluate(v) for k, v in kwargs.items()}
    if out is not None and not row.out:
        raise TypeError(f"{row.name}() got an unexpected keyword argument 'out'")
    if out is not None and not isinstance(out, ndarray):
        return eager_call(row.func, (first, *args), dict(kwargs, out=out))
    if out is not None and kwargs.get("dtype") is not None:
        raise TypeError("concatenate() only takes `out` or `dtype` as an argument, "
                        "but both were provided.")

    def plan() -> list[ndarray]:
        metas = [rules.zero_bytes(x.shape) for x in data]
        meta_kwargs = {k: v for k, v in kwargs.items() if k not in ("dtype", "casting")}
        shape = row.func(metas if many else metas[0], *args, **meta_kwargs).shape
        if out is not None or "dtype" in kwargs or "casting" in kwargs:
            dtype = _checked_dtype(row, data, many, args, kwargs, out)
        else:
            dtype = rules.result_dtype([x.dtype for x in data])
        if out is not None and out.shape != shape:
            raise ValueError("Output array is the wrong shape")
        order = rules.k_order(shape, [x._data for x in data]) if out is None and many and all(
            x.ndim == len(shape) for x in data) else None  # NumPy's layout (K order; one
        # array is split along its first axis: NumPy's pieces give C order)
        return [new_array(shape, dtype, data, order) if out is None else out]

    return record(row.name, row.func, (data if many else data[0], *args), kwargs, plan,
                  None if out is None else [out], work=nbytes_of(data) * _copies(row, kwargs),
                  use_out=row.out and "dtype" not in kwargs)[0]  # NumPy takes out= or dtype=


def _checked_dtype(row: Row, data: list[ndarray], many: bool, args: tuple[Any, ...],
                   kwargs: dict[str, Any], out: ndarray | None) -> np.dtype:
    """The result's dtype with ``dtype=`` or ``casting=`` (``'U'``: the size
    a cast needs), and NumPy's errors for them and for ``out``'s dtype, from
    the same call on empty arrays of the inputs' dtypes."""
    empties = [np.empty((0,) * x.ndim, x.dtype) for x in data]
    arrays = empties if many else empties[0]
    probe = row.func(arrays, *args, **kwargs)
    if out is not None:
        row.func(arrays, *args, **kwargs, out=np.empty(probe.shape, out.dtype))
    return probe.dtype


def _copies(row: Row, kwargs: dict[str, Any]) -> int:
    """How many times ``tile``/``repeat`` copy their input (1 otherwise)."""
    if row.name != "tile" and row.name != "repeat":
        return 1
    reps = kwargs.get("reps", kwargs.get("repeats"))
    return max(1, math.prod(np.atleast_1d(reps).tolist())) if isinstance(
        reps, (int, np.integer, tuple, list, np.ndarray)) else 1


def append(arr: Any, values: Any, axis: Any = None) -> ndarray:
    """Implementation of numpy.append (NumPy's own definition, recorded lazily)."""
    if type(arr) is ndarray:  # small and ready: NumPy's own, now
        done = now(np.append, (arr, values, axis), NO_KWARGS)
        if done is not None:
            return done
    arr, values = as_dagrt(arr), as_dagrt(values)
    if axis is None:
        arr = arr if arr.ndim == 1 else ravel(arr)
        values, axis = ravel(values), arr.ndim - 1
    return movement(_CONCATENATE, (arr, values), (), {"axis": axis})


def _nested(x: Any, f: Callable[[Any], Any]) -> Any:
    return type(x)(_nested(v, f) for v in x) if isinstance(x, (list, tuple)) else f(x)


def block(arrays: Any) -> ndarray:
    """Implementation of numpy.block: nested lists of arrays, recorded lazily."""
    data = _nested(arrays, as_dagrt)
    shape = np.block(_nested(data, lambda x: rules.zero_bytes(x.shape))).shape
    dtypes: list[np.dtype] = []
    _nested(data, lambda x: dtypes.append(x.dtype))
    arrays: list[ndarray] = []
    _nested(data, arrays.append)
    return record("block", np.block, (data,), {},
                  lambda: [new_array(shape, np.result_type(*dtypes), arrays,
                                     _block_order(shape, arrays, _depth(data)))],
                  use_out=False, work=nbytes_of(arrays))[0]


def _depth(x: Any) -> int:
    return 1 + _depth(x[0]) if type(x) is list and x else 0


def _block_order(shape: tuple[int, ...], arrays: list[ndarray], depth: int) -> Any:
    """NumPy's layout for ``np.block``: large results are filled slice by slice
    into an F-ordered array if every block is F-contiguous and not all are C,
    else C; small ones are concatenated (order K of the blocks)."""
    datas = [x._data for x in arrays]
    if depth * math.prod(shape) > 2 * 512 * 512:
        f = all(d.flags.f_contiguous for d in datas)
        return "F" if f and not all(d.flags.c_contiguous for d in datas) else "C"
    return rules.k_order(shape, datas)


def shaped(row: Row, a: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Functions whose output has the input's shape (or its flattening):
    ``sort cumsum round tril``... Shape and dtype come from a small meta call."""
    check_keywords(row.func, (a, *args), kwargs)
    a = as_dagrt(a)
    if args:  # positional parameters by name: np.cumsum(a, 0, None, out)
        kwargs, args = bind(row, args, dict(kwargs)), ()
    out = kwargs.pop("out", None)
    kwargs = {k: evaluate(v) for k, v in kwargs.items()}
    if out is not None and not isinstance(out, ndarray):
        return eager_call(row.func, (a, *args), dict(kwargs, out=out))
    if out is None:  # NumPy allocates (and checks) when the op runs now
        return record(row.name, row.func, (a, *args), kwargs,
                      lambda: _shaped_plan(row, a, args, kwargs, None)[0],
                      use_out=False, work=a._data.nbytes)[0]
    outs, use_out = _shaped_plan(row, a, args, kwargs, out)
    return record(row.name, row.func, (a, *args), kwargs, lambda: outs, outs,
                  use_out=use_out, work=a._data.nbytes)[0]


def _shaped_plan(row: Row, a: ndarray, args: tuple[Any, ...], kwargs: dict[str, Any],
                 out: ndarray | None) -> tuple[list[ndarray], bool]:
    meta_in = rules.reduction_meta(a.shape, a.dtype)
    meta = np.asarray(row.func(meta_in, *args, **kwargs))
    if meta.shape == meta_in.shape:
        shape = a.shape
    elif meta.ndim == 1 and meta.size == meta_in.size:
        shape = (a.size,)
    elif meta.ndim == meta_in.ndim and [m - i for m, i in zip(meta.shape, meta_in.shape)
                                        if m != i] == [1]:
        # ``cumulative_sum(include_initial=True)``: one more along its axis
        shape = tuple(n + m - i for n, m, i in zip(a.shape, meta.shape, meta_in.shape))
    else:  # pragma: no cover - a parameter changed the shape
        raise ValueError(f"{row.name}: a parameter changed the output's shape")
    # NumPy computes some integer results differently when given out= (round
    # with decimals < 0 then fails): integer results are assigned, not out=.
    if out is not None and out.shape != shape:
        _check_out_shape(row.name, shape, out.shape)
    use_out = row.out and (out is not None or meta.dtype.kind in "fc")
    # NumPy's layout: its input's (order K), but C for argsort (a new C array);
    # tril/triu are ``where`` with a C-ordered mask of the last two axes
    operands: list[Any] = [a._data]
    if row.name in ("tril", "triu") and a.ndim >= 2:
        operands.append(rules.c_strides(a.shape[-2:], 1))
    order = rules.k_order(shape, operands) if shape == a.shape and row.name != "argsort" \
        else None
    return [new_array(shape, meta.dtype, (a,), order) if out is None else out], use_out


def _check_out_shape(name: str, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    """NumPy's error for an ``out`` of another shape than the result (a ufunc
    such as ``fix`` may broadcast into it)."""
    if "cum" in name:
        raise ValueError("provided out is the wrong size for the accumulation.")
    if name in ("round", "around"):
        raise ValueError("invalid output shape")
    try:
        if np.broadcast_shapes(shape, out_shape) == out_shape:
            return
    except ValueError:
        pass
    raise ValueError(f"operands could not be broadcast together with shapes "
                     f"{shape} {out_shape} ")


def _layout(data: Any, order: str) -> Any:
    """The layout of a copy of ``data`` in ``order``: "K" keeps the order of
    the axes in memory (``rules.k_order``), "A" a Fortran layout, as NumPy's."""
    if order not in ("K", "A") or data.ndim < 2 or data.flags.c_contiguous:
        return "C" if order in ("K", "A") else order
    if data.flags.f_contiguous:
        return "F"
    return rules.k_order(data.shape, [data]) if order == "K" else "C"


def astype(a: Any, dtype: Any, order: str = "K", casting: str = "unsafe",
           subok: bool = True, copy: bool = True) -> ndarray:
    """Implementation of ndarray.astype."""
    if copy is True and casting == "unsafe" and subok:
        done = now_view(_NP.astype, a, (dtype, order))
        if done is not None:
            return done
    if isinstance(copy, np._CopyMode):
        raise ValueError("_CopyMode enum is not allowed for astype function. "
                         "Use true/false instead.")
    a = as_dagrt(a)
    dtype = np.dtype(dtype)
    if not copy and dtype == a.dtype and has_order(a, order):
        return a
    if (dtype.itemsize == 0 and dtype.kind in "SUV" and a.dtype.kind == "O") or (
            dtype.kind in "mM" and a.dtype.kind in "SUO"
            and np.datetime_data(dtype)[0] == "generic"):
        # the size or unit comes from the values: NumPy's own, on them
        return eager_call(_astype_kernel, (a, dtype), {"casting": casting})
    if dtype.itemsize == 0 and dtype.kind in "SUV":  # 'U': the size the cast needs
        dtype = np.empty(0, a.dtype).astype(dtype).dtype
    if casting != "same_value" and not np.can_cast(a.dtype, dtype, casting):
        raise TypeError(f"Cannot cast array data from {a.dtype!r} to {dtype!r} "
                        f"according to the rule {casting!r}")
    out = new_array(a.shape, dtype, (a,), order=_layout(a._data, order))
    if casting == "same_value":  # NumPy >= 2.4: checks the values as it casts
        return record("astype", _astype_kernel, (a, dtype), {"casting": casting},
                      lambda: [out], [out], use_out=False, work=out.nbytes)[0]
    return record("astype", identity, (a,), {}, lambda: [out], [out], use_out=False,
                  work=out.nbytes)[0]


def has_order(a: ndarray, order: Any) -> bool:
    """``a`` is laid out as ``order`` asks (so ``np.array(a, copy=None)`` may return it)."""
    flags = a._data.flags
    return order in (None, "K", "A") or (flags.c_contiguous if order == "C"
                                         else flags.f_contiguous)


def astype_function(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
    """Implementation of numpy.astype (an array or a scalar, not a list)."""
    if not (isinstance(x, (ndarray, np.ndarray)) or np.isscalar(x)):
        raise TypeError(f"Input should be a NumPy array or scalar. It is a {type(x)} instead.")
    if not isinstance(x, (ndarray, np.ndarray)):
        return x.astype(dtype, copy=copy)  # NumPy's scalar (a Python one has none)
    result = astype(x, dtype, copy=copy)
    return result if device is None else result.to_device(device)


def _astype_kernel(a: Any, dtype: Any, **kwargs: Any) -> Any:
    return a.astype(dtype, **kwargs)


def copy_array(a: Any, order: str = "K", subok: bool = False) -> ndarray:
    """Implementation of numpy.copy / ndarray.copy."""
    done = now_view(_NP.copy, a, (order,))
    if done is not None:
        return done
    a = as_dagrt(a)
    return astype(a, a.dtype, order=order)
