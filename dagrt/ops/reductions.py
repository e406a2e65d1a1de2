"""Reductions (``sum mean std argmax ...``) and contractions (``matmul dot
tensordot einsum inner outer vdot``).

Deferred, a reduction's dtype comes from the function applied to an all-ones
array of at most 2 along each axis (which validates ``axis`` and ``dtype``
with NumPy's errors); contractions have explicit shape rules (``ops.rules``).

Imports: the array layer, ``ops.rules``, ``ops.args``.
"""

from __future__ import annotations

from types import GeneratorType
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from ..array.ndarray import ndarray, view_of
from ..array.operands import new_array, shape_of
from ..array.record import now, record
from . import rules
from .args import as_dagrt, bind, eager_call, foreign
from .table import Row, check_keywords, out_position


def reduction(row: Row, a: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if type(a) is ndarray and (not kwargs or "out" not in kwargs and "correction" not in kwargs) \
            and len(args) < out_position(row.func):
        done = now(HOST_METHODS.get(row.name, row.func), (a, *args), kwargs,
                   row.name, a._data.nbytes)  # x.sum(0)
        if done is not None:
            return done
    kwargs = bind(row, args, kwargs)
    if isinstance(a, GeneratorType) and row.name == "sum":
        return row.func(a, **kwargs)  # NumPy's TypeError (Python's sum is meant)
    a = a if type(a) is ndarray else as_dagrt(a)
    out = kwargs.pop("out", None)
    if (out is not None and not isinstance(out, ndarray)) or a.dtype == object:
        return eager_call(row.func, (a,), kwargs if out is None else dict(kwargs, out=out))

    def plan() -> list[ndarray]:
        return _reduction_plan(row, a, kwargs, out)

    # On the host, ndarray's own method is the kernel (np.sum(x) calls x.sum()
    # after a Python-level dispatch that costs more than a small sum); the
    # method does not take ``correction`` (the array API's name for ``ddof``).
    call = HOST_METHODS.get(row.name, row.func) \
        if a._var.device is None and "correction" not in kwargs else row.func
    # NumPy's mean of float16 sums in float32 but, given a float16 out=, in
    # float16 (overflowing past 65504): a deferred mean returns its result.
    use_out = out is not None or row.name != "mean" or a.dtype != np.float16
    return record(row.name, call, (a,), kwargs, plan, None if out is None else [out],
                  use_out, work=a._data.nbytes)[0]


HOST_METHODS = {name: getattr(np.ndarray, name) for name in (
    "sum", "prod", "mean", "std", "var", "min", "max", "argmin", "argmax", "any", "all")}


def _reduction_plan(row: Row, a: ndarray, kwargs: dict[str, Any],
                    out: ndarray | None) -> list[ndarray]:
    data = a._data
    meta_kwargs = {k: (rules.reduction_meta(shape_of(v), np.bool_) if k == "where"
                       else rules.reduction_meta(v.shape, v.dtype)  # std(mean=...)
                       if isinstance(v, (ndarray, np.ndarray)) else v)
                   for k, v in kwargs.items()}
    meta = row.func(rules.reduction_meta(data.shape, data.dtype), **meta_kwargs)
    shape = rules.reduced_shape(data.shape, kwargs.get("axis"), kwargs.get("keepdims", False))
    if out is None:
        dtype = meta.dtype if isinstance(meta, (np.ndarray, np.generic)) else np.dtype(object)
        order = None
        if len(shape) > 1:  # NumPy's layout: the input's order of the axes kept
            axis = kwargs.get("axis")
            axes = range(data.ndim) if axis is None else normalize_axis_tuple(axis, data.ndim)
            kept = list(range(data.ndim)) if kwargs.get("keepdims") else \
                [ax for ax in range(data.ndim) if ax not in axes]
            order = rules.k_order(data.shape, [data], kept)
        return [new_array(shape, dtype, (a,), order)]  # (object: a Python object)
    if out.shape != shape:
        raise ValueError(f"output parameter for reduction operation {row.name} has the "
                         f"wrong number of dimensions" if out.ndim != len(shape)
                         else f"output parameter for reduction operation {row.name} has "
                         f"a non-reduced dimension")
    return [out]


def _einsum_order(subscripts: str, arrays: list[ndarray], kwargs: dict[str, Any]
                  ) -> tuple[int, ...] | None:
    """The layout NumPy gives einsum's result (order K, from its iterator over
    every operand): NumPy's own einsum on stand-ins of at most 2 along each
    axis whose axes lie in memory in the operands' order."""
    if kwargs.get("optimize") or any(0 in a.shape for a in arrays):
        return None
    stand_ins = []
    for a in arrays:
        data = a._data
        perm = sorted(range(data.ndim), key=lambda i: -abs(data.strides[i]))
        small = [min(n, 2) for n in data.shape]
        stand_ins.append(np.zeros([small[i] for i in perm], np.int8)
                         .transpose(np.argsort(perm)))
    result = np.einsum(subscripts, *stand_ins, **{k: v for k, v in kwargs.items()
                                                  if k != "dtype"})
    order = tuple(sorted(range(result.ndim), key=lambda i: (-abs(result.strides[i]), i)))
    return None if order == tuple(range(result.ndim)) else order


def is_view_of(result: Any, storage: Any) -> bool:
    """``result`` views ``storage``'s memory (NumPy's, or a device array's:
    the same allocation, as CuPy's ``data.mem``)."""
    if isinstance(storage, np.ndarray):
        return isinstance(result, np.ndarray) and np.may_share_memory(result, storage)
    return type(result) is type(storage) and result.data.mem is storage.data.mem


def _contraction_shape(name: str, shapes: list[tuple[int, ...]], kwargs: dict[str, Any],
                       subscripts: str | None) -> tuple[int, ...]:
    if name == "matmul":
        return rules.matmul_shape(*shapes)
    if name == "dot":
        return rules.dot_shape(*shapes)
    if name == "inner":
        return rules.inner_shape(*shapes)
    if name == "outer":
        return (int(np.prod(shapes[0])), int(np.prod(shapes[1])))
    if name == "vdot":
        sizes = [int(np.prod(s)) for s in shapes]
        if sizes[0] != sizes[1]:
            raise ValueError(f"cannot reshape array of size {sizes[1]} into shape "
                             f"({sizes[0]},)")
        return ()
    if name == "tensordot":
        return rules.tensordot_shape(shapes[0], shapes[1], kwargs.get("axes", 2))
    assert subscripts is not None
    return rules.einsum_shape(subscripts, shapes)


def _einsum_view(subscripts: str, a: ndarray, kwargs: dict[str, Any]) -> ndarray | None:
    """``np.einsum('ii->i', a)``: one operand and nothing summed is a view in NumPy."""
    term, arrow, output = subscripts.replace(" ", "").partition("->")
    labels = term.replace(".", "")
    if not (set(labels) <= set(output) if arrow else len(set(labels)) == len(labels)):
        return None
    probe = np.broadcast_to(np.empty((), a.dtype), a.shape)  # reads no pending data
    if not is_view_of(np.einsum(subscripts, probe, **kwargs), probe):
        return None
    return view_of(a, np.einsum(subscripts, a._data, **kwargs))


def contraction(row: Row, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if type(row.func) is np.ufunc and any(map(foreign, (*args, *kwargs.values()))):
        return row.func(*args, **kwargs)  # NEP 13: NumPy's gufunc dispatches to the override
    check_keywords(row.func, args, kwargs)
    subscripts = None
    if row.name == "einsum":
        if len(args) < 2 or not isinstance(args[0], str):
            return eager_call(row.func, args, kwargs)  # interleaved operands, or NumPy's error
        subscripts, arrays = args[0], list(map(as_dagrt, args[1:]))
        if len(arrays) == 1 and kwargs.keys() <= {"optimize"}:
            result = _einsum_view(subscripts, arrays[0], kwargs)
            if result is not None:
                return result
    elif len(args) < 2:
        return eager_call(row.func, args, kwargs)  # NumPy's TypeError
    else:
        if len(args) > 2:  # np.matmul(a, b, out), np.tensordot(a, b, axes)
            kwargs = bind(row, args[1:], dict(kwargs))
            kwargs.pop(row.params[0], None)  # the second operand, kept positional
        a, b = args[0], args[1]
        arrays = [a if type(a) is ndarray else as_dagrt(a),
                  b if type(b) is ndarray else as_dagrt(b)]
    out = kwargs.pop("out", None)
    call_args = (subscripts, *arrays) if subscripts is not None else tuple(arrays)
    if (out is not None and not isinstance(out, ndarray)) or any(
            x.dtype == object for x in arrays):  # (object elements: the result's shape is theirs)
        result = eager_call(row.func, call_args, kwargs if out is None else dict(kwargs, out=out))
        return result[0] if type(out) is tuple and len(out) == 1 else result  # (NumPy's: c)
    if out is not None and row.name == "dot" and not out._data.flags.c_contiguous:
        raise ValueError(_DOT_OUT)

    def plan() -> list[ndarray]:
        return _plan(row, arrays, kwargs, subscripts, out)

    return record(row.name, row.func, call_args, kwargs, plan,
                  None if out is None else [out],
                  row.out and (out is None or out._data.flags.c_contiguous),
                  _contraction_work(row.name, arrays))[0]


_DOT_OUT = ("output array is not acceptable (must have the right datatype, number of "
            "dimensions, and be a C-Array)")


def _contraction_work(name: str, arrays: list[ndarray]) -> int:
    """Bytes of work of a contraction: for ``matmul`` and ``dot`` of (..., M,
    K) and (..., K, N), its multiply-adds times the itemsize (the larger of
    the first's bytes times N and the second's times M, as ``a @ b`` in
    ``array/_native.c``); else the larger operand times the output's last
    dimension."""
    if name in ("matmul", "dot") and len(arrays) == 2:
        a, b = arrays[0]._data, arrays[1]._data
        return max(a.nbytes * (b.shape[-1] if b.ndim > 1 else 1),
                   b.nbytes * (a.shape[-2] if a.ndim > 1 else 1))
    last = arrays[-1]._data.shape
    nbytes = 0
    for a in arrays:
        if a._data.nbytes > nbytes:
            nbytes = a._data.nbytes
    return nbytes * (last[-1] if len(last) > 1 else 1)


def _plan(row: Row, arrays: list[ndarray], kwargs: dict[str, Any], subscripts: str | None,
          out: ndarray | None) -> list[ndarray]:
    shapes = [a.shape for a in arrays]
    shape = _contraction_shape(row.name, shapes, kwargs, subscripts)
    dtype = kwargs.get("dtype")
    if subscripts is not None:  # NumPy's checks of order=, casting=, dtype=; the dtype
        metas = [np.ones((1,) * a.ndim, a.dtype) for a in arrays]
        meta = np.einsum(subscripts, *metas, **kwargs)
        if dtype is None:  # object sums are Python objects
            dtype = np.dtype(object) if any(a.dtype.kind == "O" for a in arrays) else \
                np.asarray(meta).dtype
    elif dtype is None:
        dtype = np.result_type(*[np.empty((), a.dtype) for a in arrays]) \
            if row.name in ("outer",) else \
            rules.contraction_dtype(np.matmul, [a.dtype for a in arrays])
    if out is None:
        order = _einsum_order(subscripts, arrays, kwargs) \
            if subscripts is not None and len(shape) > 1 else None
        return [new_array(shape, dtype, arrays, order)]
    if out.ndim != len(shape) or (row.name in ("dot", "vdot") and out.dtype != dtype):
        raise ValueError(_DOT_OUT)
    if out.shape != shape:
        raise ValueError("output array has wrong dimensions" if row.name == "dot" else _DOT_OUT)
    if not np.can_cast(dtype, out.dtype, "same_kind"):
        raise TypeError(f"Cannot cast {row.name} output from {np.dtype(dtype)!r} to "
                        f"{out.dtype!r} with casting rule 'same_kind'")
    return [out]
