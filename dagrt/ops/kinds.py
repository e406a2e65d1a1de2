"""The op table: one entry per NumPy function dagrt records lazily.

Each :class:`OpDef` names a NumPy function (which is both the kernel and the
reference the tests compare against) and its *kind*, which selects the shape /
dtype rule and the wrapper:

==============  ==============================================================
elementwise     ufuncs and ufunc-like functions (broadcasting, ``out=``)
reduction       ``sum mean std ...``: ``axis``, ``keepdims``, ``dtype``, ``out``
contraction     ``matmul dot tensordot einsum inner outer vdot``
view            returns views of its input's storage, computed at once
movement        copies data into a new shape (concatenate, stack, tile...)
creation        builds a new array from parameters (zeros, arange, eye...)
eager           data-dependent output shape: evaluates inputs, calls NumPy
==============  ==============================================================

``namespace()`` builds the public functions from the table and ``METHODS``
lists which of them are also ``ndarray`` methods. Tests are generated from the
same table.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from loguru import logger

from . import rules
from ..engine.graph import Op, recording_site
from ..array.ndarray import (
    _Policy,
    check_writeable,
    evaluate,
    inputs_ready,
    ndarray,
    new_array,
    push,
    run_or_push,
    view_of,
    wrap,
    wrap_result,
)
from ..array.transfer import to_device
from ..devices.registry import device_arg
from ..engine.scheduler import ENGINE

_PY_SCALARS = (int, float, bool, complex)


@dataclass(frozen=True)
class OpDef:
    """One row of the op table."""

    name: str
    kind: str
    func: Callable[..., Any]
    out: bool = True          # the kernel accepts ``out=``
    method: bool = False      # also an ``ndarray`` method, ``self`` first
    params: tuple[str, ...] = field(default=(), compare=False)


def _params(func: Callable[..., Any]) -> tuple[str, ...]:
    """Names of positional parameters after the first, for binding calls."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in list(sig.parameters.values())[1:]
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _bind(d: OpDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    if len(args) > len(d.params):
        raise TypeError(f"{d.name}() takes at most {len(d.params) + 1} positional "
                        f"arguments ({len(args) + 1} given)")
    for name, value in zip(d.params, args):
        if name in kwargs:
            raise TypeError(f"{d.name}() got multiple values for argument '{name}'")
        kwargs[name] = value
    return kwargs


def operand(x: Any) -> Any:
    """Scalars and arrays pass; lists and other array-likes become NumPy arrays."""
    if (x is None or type(x) is ndarray or type(x) is np.ndarray
            or isinstance(x, _PY_SCALARS + (np.generic, str))):
        return x
    if isinstance(x, ndarray):
        return x
    return np.asarray(x)


def as_dagrt(x: Any) -> ndarray:
    return x if type(x) is ndarray else wrap(np.asarray(x))


def _fail_inline(name: str, exc: Exception, outs: list[ndarray]) -> None:
    """An inline kernel failed: poison its outputs; the error surfaces at the
    next sync point, as it would have from a worker."""
    op = Op(None, (), tuple(o._var for o in outs), name, recording_site())  # type: ignore[arg-type]
    ENGINE.fail(op, exc)


def _record(name: str, call: Callable[..., Any], args: tuple[Any, ...],
            kwargs: dict[str, Any], outs: list[ndarray], use_out: bool = True,
            cost: int | None = None) -> None:
    for out in outs:
        check_writeable(out)
    try:
        run_or_push(name, call, args, kwargs, outs, use_out, cost)
    except Exception as exc:  # only an inline kernel raises here
        _fail_inline(name, exc, outs)


# -- elementwise ----------------------------------------------------------------

def _meta(x: Any) -> Any:
    if type(x) is ndarray or type(x) is np.ndarray:
        return rules.empty0(x.dtype)
    return x


def _normalize_out(out: Any, nout: int) -> tuple[Any, ...] | None:
    if out is None:
        return None
    if type(out) is not tuple:
        out = (out,)
    if len(out) != nout:
        raise ValueError(f"The 'out' tuple must have exactly {nout} entries: one per "
                         f"ufunc output")
    if all(o is None for o in out):
        return None
    return out


def elementwise(func: Any, args: tuple[Any, ...], out: Any = None,
                kwargs: dict[str, Any] | None = None, use_out: bool = True,
                elide: ndarray | None = None) -> Any:
    """Record an elementwise (broadcasting) call of ``func``.

    ``elide`` is a temporary operand nobody else references: if the result
    has its shape and dtype, it is written in place there (NumPy's temporary
    elision), saving an allocation.
    """
    nout = getattr(func, "nout", 1)
    if not kwargs and out is None and nout == 1 and type(func) is np.ufunc \
            and func.signature is None:
        recorded = _record_ufunc(func, args, elide)
        if recorded is not None:
            return recorded
    if not kwargs and _Policy.inline:
        # Fast path: no options, equal shapes, ready inputs, small: run now.
        shape = None
        datas = []
        for a in args:
            t = type(a)
            if t is ndarray:
                var = a._var
                if var.nw or var.error is not None:
                    break
                d = a._data
                if type(d) is not np.ndarray:
                    break
                if shape is None:
                    shape = d.shape
                    size = d.size
                elif d.shape != shape:
                    break
                datas.append(d)
            elif t in _PY_SCALARS:
                datas.append(a)
            else:
                break
        else:
            if shape is not None and size <= _Policy.inline_elems:
                try:
                    if out is None:
                        result = func(*datas)
                        if nout == 1:
                            return wrap(result)
                        return tuple(map(wrap, result))
                    if type(out) is ndarray and nout == 1 and out._data.shape == shape:
                        var = out._var
                        if not var.n and var.error is None:
                            func(*datas, out=out._data)
                            return out
                except Exception:
                    pass  # the general path below raises it where NumPy would
    kwargs = dict(kwargs) if kwargs else {}
    out = _normalize_out(out, nout)
    if out is not None and not all(isinstance(o, ndarray) or o is None for o in out):
        return _eager(func, args, dict(kwargs, out=out))
    args = tuple(map(operand, args))
    shapes = [a.shape for a in args if isinstance(a, (ndarray, np.ndarray))]
    meta_kwargs = {k: _meta(operand(v)) if k == "where" else v for k, v in kwargs.items()}
    if "where" in kwargs and not isinstance(kwargs["where"], (bool, np.bool_)):
        kwargs["where"] = operand(kwargs["where"])
        shapes.append(kwargs["where"].shape)
    metas = [_meta(a) for a in args]
    gufunc = getattr(func, "signature", None) is not None  # vecdot, matvec: core dims
    if gufunc:
        shape = rules.gufunc_shape(func, [getattr(a, "shape", ()) for a in args])
        metas = [rules.gufunc_meta(func, i, a) for i, a in enumerate(args)]
    else:
        if out is None:  # NumPy resolves the loop's types before broadcasting
            rules.elementwise_dtypes(func, metas, meta_kwargs)
        shape = rules.broadcast(shapes) if shapes else ()
    if out is not None:
        core = np.shape(func(*metas)) if gufunc else None
        meta_kwargs["out"] = tuple(
            None if o is None else rules.empty0(o.dtype) if core is None
            else np.empty(core, o.dtype) for o in out)
        if type(func) is not np.ufunc:  # isposinf, isneginf: one array
            meta_kwargs["out"] = meta_kwargs["out"][0]
    dtypes = rules.elementwise_dtypes(func, metas, meta_kwargs)
    if (elide is not None and out is None and len(dtypes) == 1 and dtypes[0] == elide.dtype
            and shape == elide.shape and elide.nbytes > _Policy.inline_bytes
            and elide._data.flags.writeable):
        out = (elide,)
    outs = []
    for i, dtype in enumerate(dtypes):
        given = out[i] if out is not None else None
        if given is None:
            outs.append(new_array(shape, dtype, (*args, *(out or ()))))
        else:
            if rules.broadcast([shape, given.shape]) != given.shape:
                raise ValueError(f"non-broadcastable output operand with shape "
                                 f"{given.shape} doesn't match the broadcast shape {shape}")
            outs.append(given)
    _record(getattr(func, "__name__", "elementwise"), func, args, kwargs, outs,
            use_out and bool(shapes))
    return outs[0] if nout == 1 else tuple(outs)


def _record_ufunc(func: np.ufunc, args: tuple[Any, ...],
                  elide: ndarray | None) -> ndarray | None:
    """The common case, kept short: a plain ufunc on host dagrt arrays and
    Python scalars, no options. None if the general path must handle it."""
    shapes = []
    metas = []
    reads = []
    datas = []
    ready = True
    for a in args:
        t = type(a)
        if t is ndarray:
            var = a._var
            data = a._data
            if var.device is not None or var.error is not None:
                return None
            ready = ready and not var.nw
            shapes.append(data.shape)
            metas.append(rules.empty0(data.dtype))
            reads.append(var)
            datas.append(data)
        elif t is float or t is int or t is bool or t is complex:
            metas.append(a)
            datas.append(a)
        else:
            return None
    if not shapes:
        return None
    dtype = rules.elementwise_dtypes(func, metas, {})[0]  # NumPy checks types first
    shape = rules.broadcast(shapes)
    if (elide is not None and dtype == elide._data.dtype and shape == elide._data.shape
            and elide._data.nbytes > _Policy.inline_bytes and elide._data.flags.writeable):
        out = elide
    else:
        out = wrap(np.empty(shape, dtype))
    target = out._data
    name = func.__name__
    if ready and not out._var.n and _Policy.inline and (
            target.size <= _Policy.inline_elems or ENGINE.costs.cheap(name, target.nbytes)):
        t0 = time.perf_counter()
        try:
            func(*datas, out=target)
        except Exception as exc:
            _fail_inline(name, exc, [out])
        else:
            if target.size > _Policy.inline_elems:  # admitted by the cost model
                ENGINE.costs.observe(name, target.nbytes, time.perf_counter() - t0)
                if _Policy.debug:
                    logger.debug("{} ran inline: predicted cheaper than a hand-off", name)
        return out
    push(name, lambda: func(*datas, out=target), reads, [out._var], target.nbytes,
         {"shape": shape, "dtype": dtype} if ENGINE.observers else None)
    return out


# -- reductions -------------------------------------------------------------------

def reduction(d: OpDef, a: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    kwargs = _bind(d, args, kwargs)
    a = as_dagrt(a) if not isinstance(a, ndarray) else a
    out = kwargs.pop("out", None)
    data = a._data
    if (out is None and _Policy.inline and data.size <= _Policy.inline_elems
            and type(data) is np.ndarray
            and not a._var.nw and a._var.error is None
            and not any(isinstance(v, ndarray) for v in kwargs.values())):
        return wrap(d.func(data, **kwargs))
    meta_kwargs = {k: (rules.reduction_meta(np.shape(v), np.bool_) if k == "where"
                       else rules.reduction_meta(v.shape, v.dtype)  # std(mean=...)
                       if isinstance(v, (ndarray, np.ndarray)) else v)
                   for k, v in kwargs.items()}
    meta = d.func(rules.reduction_meta(data.shape, data.dtype), **meta_kwargs)
    shape = rules.reduced_shape(data.shape, kwargs.get("axis"), kwargs.get("keepdims", False))
    dtype = np.asarray(meta).dtype
    if out is None:
        out = new_array(shape, dtype, (a,))
    elif not isinstance(out, ndarray):
        return _eager(d.func, (a,), dict(kwargs, out=out))
    elif out.shape != shape:
        raise ValueError(f"output parameter for reduction operation {d.name} has the "
                         f"wrong number of dimensions" if out.ndim != len(shape)
                         else f"output parameter for reduction operation {d.name} has "
                         f"a non-reduced dimension")
    _record(d.name, d.func, (a,), kwargs, [out], cost=data.nbytes)
    return out


# -- contractions -------------------------------------------------------------------

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


def _einsum_view(subscripts: str, a: ndarray) -> ndarray | None:
    """``np.einsum('ii->i', a)``: one operand and nothing summed is a view in NumPy."""
    term, arrow, output = subscripts.replace(" ", "").partition("->")
    labels = term.replace(".", "")
    if not (set(labels) <= set(output) if arrow else len(set(labels)) == len(labels)):
        return None
    probe = np.broadcast_to(np.empty((), a.dtype), a.shape)  # reads no pending data
    if not _is_view_of(np.einsum(subscripts, probe), probe):
        return None
    return view_of(a, np.einsum(subscripts, a._data))


def contraction(d: OpDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    subscripts = None
    if d.name == "einsum":
        if not args or not isinstance(args[0], str):
            return _eager(d.func, args, kwargs)  # interleaved operand form
        subscripts, arrays = args[0], list(map(as_dagrt, args[1:]))
        if len(arrays) == 1 and not kwargs:
            result = _einsum_view(subscripts, arrays[0])
            if result is not None:
                return result
    else:
        if d.name == "tensordot" and len(args) > 2:
            kwargs = dict(kwargs, axes=args[2])
        arrays = [as_dagrt(x) for x in args[:2]]
    out = kwargs.pop("out", None)
    shapes = [a.shape for a in arrays]
    shape = _contraction_shape(d.name, shapes, kwargs, subscripts)
    dtype = kwargs.get("dtype")
    if dtype is None:
        if subscripts is not None:
            metas = [np.ones((1,) * a.ndim, a.dtype) for a in arrays]
            dtype = np.einsum(subscripts, *metas).dtype
        else:
            dtype = np.result_type(*[np.empty((), a.dtype) for a in arrays]) \
                if d.name in ("outer",) else \
                rules.contraction_dtype(np.matmul, [a.dtype for a in arrays])
    if out is None:
        out = new_array(shape, dtype, arrays)
    elif not isinstance(out, ndarray):
        return _eager(d.func, args, dict(kwargs, out=out))
    call_args = (subscripts, *arrays) if subscripts is not None else tuple(arrays)
    k = shapes[0][-1] if shapes[0] else 1
    _record(d.name, d.func, call_args, kwargs, [out],
            use_out=d.out and out.flags.c_contiguous, cost=out.nbytes * max(k, 1))
    return out


# -- views and data movement -----------------------------------------------------------

def _is_view_of(result: np.ndarray, storage: np.ndarray) -> bool:
    return isinstance(result, np.ndarray) and np.may_share_memory(result, storage)


def view(d: OpDef, a: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Views are NumPy views of the input's storage, made at once."""
    if isinstance(a, _PY_SCALARS) and not args and not kwargs:
        result = d.func(a)
        if not isinstance(result, np.ndarray):  # np.real(1 + 1j) is a Python float
            return result
    a = as_dagrt(a)
    if d.name in _MANY_VIEWS and args:  # atleast_1d(a, b), broadcast_arrays(a, b)
        arrays = [a] + [as_dagrt(x) for x in args]
        results = d.func(*[x._data for x in arrays], **kwargs)
        return type(results)(_as_view(x, r, d, (), kwargs) for x, r in zip(arrays, results))
    args = tuple(evaluate(args))  # split points, axes: np.hsplit(x, np.array([3, 6]))
    result = d.func(a._data, *args, **kwargs)
    if isinstance(result, (list, tuple)):
        return type(result)(_as_view(a, r, d, args, kwargs) for r in result)
    return _as_view(a, result, d, args, kwargs)


def _as_view(a: ndarray, result: Any, d: OpDef, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> ndarray:
    if result is a._data:  # NumPy returned its input: np.atleast_1d(x) is x
        return a
    if _is_view_of(result, a._data):
        return view_of(a, result)
    if inputs_ready((a,)):
        return wrap(result)
    # NumPy made a copy (e.g. imag of a real array) from storage still pending:
    # compute it again once the input is ready.
    out = new_array(result.shape, result.dtype, (a,))
    _record(d.name, d.func, (a, *args), kwargs, [out], use_out=False)
    return out


def reshape(a: Any, shape: Any, order: str = "C", *, copy: bool | None = None,
            newshape: Any = None) -> ndarray:
    """Implementation of numpy.reshape: a view when NumPy gives one."""
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
    out = new_array(target, a.dtype, (a,))
    _record("reshape", np.reshape, (a, target), {"order": order}, [out], use_out=False)
    return out


def ravel(a: Any, order: str = "C") -> ndarray:
    """Implementation of numpy.ravel."""
    if order == "K":  # memory order: axes by decreasing stride, then C order
        a = as_dagrt(a)
        axes = sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))
        a, order = view_of(a, a._data.transpose(axes)), "C"
    return reshape(a, (-1,), order=order)


def movement(d: OpDef, first: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Functions that copy their data into a new shape: the shape comes from a
    zero-byte meta call, the dtype from promotion."""
    many = isinstance(first, (list, tuple))
    data = [as_dagrt(x) for x in first] if many else [as_dagrt(first)]
    args = tuple(evaluate(args))
    out = kwargs.pop("out", None)
    kwargs = {k: evaluate(v) for k, v in kwargs.items()}
    metas = [rules.zero_bytes(x.shape) for x in data]
    meta_kwargs = {k: v for k, v in kwargs.items() if k not in ("dtype", "casting")}
    shape = d.func(metas if many else metas[0], *args, **meta_kwargs).shape
    dtype = rules.result_dtype([x.dtype for x in data], kwargs.get("dtype"))
    if out is None:
        out = new_array(shape, dtype, data)
    elif not isinstance(out, ndarray):
        return _eager(d.func, (first, *args), dict(kwargs, out=out))
    _record(d.name, d.func, (data if many else data[0], *args), kwargs, [out],
            use_out=d.out and "dtype" not in kwargs)  # NumPy takes out= or dtype=
    return out


def append(arr: Any, values: Any, axis: Any = None) -> ndarray:
    """Implementation of numpy.append (NumPy's own definition, recorded lazily)."""
    arr, values = as_dagrt(arr), as_dagrt(values)
    if axis is None:
        arr = arr if arr.ndim == 1 else ravel(arr)
        values, axis = ravel(values), arr.ndim - 1
    return movement(MOVEMENT["concatenate"], (arr, values), (), {"axis": axis})


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
    out = new_array(shape, np.result_type(*dtypes), arrays)
    _record("block", np.block, (data,), {}, [out], use_out=False)
    return out


def shaped(d: OpDef, a: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Functions whose output has the input's shape (or its flattening):
    ``sort cumsum round tril``... Shape and dtype come from a small meta call."""
    a = as_dagrt(a)
    args = tuple(evaluate(args))
    kwargs = {k: evaluate(v) for k, v in kwargs.items()}
    out = kwargs.pop("out", None)
    meta_in = rules.reduction_meta(a.shape, a.dtype)
    meta = np.asarray(d.func(meta_in, *args, **kwargs))
    if meta.shape == meta_in.shape:
        shape = a.shape
    elif meta.ndim == 1 and meta.size == meta_in.size:
        shape = (a.size,)
    else:  # pragma: no cover - a parameter changed the shape: let NumPy decide
        return _eager(d.func, (a, *args), dict(kwargs, out=out) if out is not None else kwargs)
    # NumPy computes some integer results differently when given out= (round
    # with decimals < 0 then fails): integer results are assigned, not out=.
    use_out = d.out and (out is not None or meta.dtype.kind in "fc")
    if out is None:
        out = new_array(shape, meta.dtype, (a,))
    elif not isinstance(out, ndarray):
        return _eager(d.func, (a, *args), dict(kwargs, out=out))
    _record(d.name, d.func, (a, *args), kwargs, [out], use_out=use_out)
    return out


# -- creation -----------------------------------------------------------------------

def creation(d: OpDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ndarray:
    """Creation functions read no dagrt data: call NumPy now (cheap: allocation);
    with ``device=gpu(i)`` (or ``ctx=``) the result is copied there."""
    device = device_arg(kwargs.pop("device", None), kwargs.pop("ctx", None))
    if d.name.endswith("_like"):  # reads only the prototype's shape and dtype
        if device is None and args and isinstance(args[0], ndarray):
            device = args[0]._var.device
        args = tuple(np.empty(x.shape, x.dtype) if isinstance(x, ndarray) else x
                     for x in args)
    result = wrap_result(d.func(*evaluate(args), **{k: evaluate(v) for k, v in kwargs.items()}))
    return to_device(result, device) if device is not None else result


def full(shape: Any, fill_value: Any, dtype: Any = None, order: str = "C", *,
         device: Any = None, ctx: Any = None, like: Any = None) -> ndarray:
    """Implementation of numpy.full: large fills run on a worker."""
    target = device_arg(device, ctx)
    if isinstance(fill_value, ndarray):
        fill_value = fill_value._host()
    if dtype is None:
        dtype = np.array(fill_value).dtype
    out = new_array(shape, dtype, order=order, device=target)
    _record("full", _identity, (fill_value,), {}, [out], use_out=False)
    return out


def ones(shape: Any, dtype: Any = None, order: str = "C", *, device: Any = None,
         ctx: Any = None, like: Any = None) -> ndarray:
    """Implementation of numpy.ones."""
    return full(shape, 1, float if dtype is None else dtype, order, device=device, ctx=ctx)


def full_like(a: Any, fill_value: Any, dtype: Any = None, order: str = "K",
              subok: bool = True, shape: Any = None, *, device: Any = None) -> ndarray:
    """Implementation of numpy.full_like."""
    if isinstance(a, ndarray):
        device = device if device is not None else a.device
        a = np.empty(a.shape, a.dtype)
    proto = np.empty_like(np.asarray(a), dtype=dtype, order=order, shape=shape)
    return full(proto.shape, fill_value, proto.dtype, device=device)


def ones_like(a: Any, dtype: Any = None, order: str = "K", subok: bool = True,
              shape: Any = None, *, device: Any = None) -> ndarray:
    """Implementation of numpy.ones_like."""
    return full_like(a, 1, dtype, order, subok, shape, device=device)


def _identity(x: Any) -> Any:
    return x


def array(obj: Any, dtype: Any = None, *, copy: bool | None = True, order: str = "K",
          subok: bool = True, ndmin: int = 0, ndmax: int = 0, like: Any = None,
          device: Any = None, ctx: Any = None) -> ndarray:
    """Implementation of numpy.array; dagrt arrays inside lists are evaluated."""
    target = device_arg(device, ctx)
    if ndmax:  # NumPy >= 2.4: nested sequences below ndmax stay objects
        result = wrap(np.array(evaluate_nested(obj), dtype=dtype, copy=copy, order=order,
                               ndmin=ndmin, ndmax=ndmax))
    else:
        result = _array(obj, dtype, copy, order, ndmin)
    return to_device(result, target) if target is not result._var.device else result


def _array(obj: Any, dtype: Any, copy: bool | None, order: str, ndmin: int) -> ndarray:
    if isinstance(obj, ndarray):
        if (copy is False or copy is None) and (dtype is None or obj.dtype == dtype) \
                and obj.ndim >= ndmin and _has_order(obj, order):
            return obj
        result = astype(obj, obj.dtype if dtype is None else dtype, order=order or "K")
        return reshape(result, (1,) * (ndmin - result.ndim) + result.shape) \
            if ndmin > result.ndim else result
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(x, ndarray) for x in obj) \
            and len({x.shape for x in obj}) == 1 and ndmin <= obj[0].ndim + 1:
        result = movement(MOVEMENT["stack"], list(obj), (), {})
        return astype(result, dtype) if dtype is not None else result
    return wrap(np.array(evaluate_nested(obj), dtype=dtype, copy=copy, order=order,
                         ndmin=ndmin))


def _has_order(a: ndarray, order: Any) -> bool:
    """``a`` is laid out as ``order`` asks (so ``np.array(a, copy=None)`` may return it)."""
    flags = a._data.flags
    return order in (None, "K", "A") or (flags.c_contiguous if order == "C"
                                         else flags.f_contiguous)


def _layout(data: Any, order: str) -> str:
    """The layout of a copy of ``data`` in ``order``: "K" and "A" keep a
    Fortran layout (transposes of C arrays), as NumPy does."""
    if order not in ("K", "A") or data.ndim < 2 or data.flags.c_contiguous:
        return "C" if order in ("K", "A") else order
    if data.flags.f_contiguous:
        return "F"
    strides = [abs(s) for s in data.strides]
    return "F" if order == "K" and strides == sorted(strides) else "C"


def evaluate_nested(obj: Any) -> Any:
    if isinstance(obj, ndarray):
        return obj._host()
    if isinstance(obj, (list, tuple)):
        return type(obj)(evaluate_nested(x) for x in obj)
    return obj


def asarray(obj: Any, dtype: Any = None, order: Any = None, *, copy: bool | None = None,
            device: Any = None, like: Any = None, ctx: Any = None) -> ndarray:
    """Implementation of numpy.asarray: shares memory with a NumPy input, as
    NumPy does (write to it through NumPy only when dagrt is not using it)."""
    if isinstance(obj, ndarray) and (dtype is None or obj.dtype == dtype) and not copy \
            and _has_order(obj, order):
        return obj
    if type(obj) is np.ndarray and not copy:
        data = wrap(obj if dtype is None else obj.astype(dtype, copy=False))
        target = device_arg(device, ctx)
        return to_device(data, target) if target is not None else data
    return array(obj, dtype, copy=True if copy else None, order=order or "K",
                 device=device, ctx=ctx)


def ascontiguousarray(a: Any, dtype: Any = None, *, like: Any = None) -> ndarray:
    """Implementation of numpy.ascontiguousarray: the input itself if it is
    C-contiguous (with at least one dimension), else a C-ordered copy."""
    a = asarray(a, dtype)
    a = a if a.ndim else reshape(a, (1,))
    return a if a.flags.c_contiguous else copy_array(a, order="C")


def asfortranarray(a: Any, dtype: Any = None, *, like: Any = None) -> ndarray:
    """Implementation of numpy.asfortranarray: the input itself if it is
    Fortran-contiguous (with at least one dimension), else an F-ordered copy."""
    a = asarray(a, dtype)
    a = a if a.ndim else reshape(a, (1,))
    return a if a.flags.f_contiguous else copy_array(a, order="F")


def astype(a: Any, dtype: Any, order: str = "K", casting: str = "unsafe",
           subok: bool = True, copy: bool = True) -> ndarray:
    """Implementation of ndarray.astype."""
    a = as_dagrt(a)
    dtype = np.dtype(dtype)
    if not copy and dtype == a.dtype:
        return a
    if casting != "same_value" and not np.can_cast(a.dtype, dtype, casting):
        raise TypeError(f"Cannot cast array data from {a.dtype!r} to {dtype!r} "
                        f"according to the rule {casting!r}")
    out = new_array(a.shape, dtype, (a,), order=_layout(a._data, order))
    if casting == "same_value":  # NumPy >= 2.4: checks the values as it casts
        _record("astype", _astype_kernel, (a, dtype), {"casting": casting}, [out],
                use_out=False)
    else:
        _record("astype", _identity, (a,), {}, [out], use_out=False)
    return out


def _astype_kernel(a: Any, dtype: Any, **kwargs: Any) -> Any:
    return a.astype(dtype, **kwargs)


def copy_array(a: Any, order: str = "K", subok: bool = False) -> ndarray:
    """Implementation of numpy.copy / ndarray.copy."""
    a = as_dagrt(a)
    return astype(a, a.dtype, order=order)


def _eager(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Evaluate dagrt inputs, call NumPy, wrap what comes back."""
    out = kwargs.get("out")
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if isinstance(o, ndarray):
                o._quiet()
        kwargs = dict(kwargs, out=tuple(o._data if isinstance(o, ndarray) else o
                                        for o in outs) if isinstance(out, tuple)
                      else (out._data if isinstance(out, ndarray) else out))
    result = func(*evaluate(args, quiet=True),
                  **{k: evaluate(v, quiet=True) for k, v in kwargs.items()})
    if out is not None:
        return out
    return wrap_result(result)


def eager(d: OpDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _eager(d.func, args, kwargs)


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """Implementation of numpy.where; the one-argument form is data-dependent."""
    if x is None and y is None:
        return _eager(np.where, (condition,), {})
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    return elementwise(np.where, (condition, x, y), use_out=False)


def clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, *,
         min: Any = None, max: Any = None, **kwargs: Any) -> Any:
    """Implementation of numpy.clip (elementwise)."""
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    if lo is None and hi is None:
        raise ValueError("One of max or min must be given")
    return elementwise(np.clip, (a, lo, hi), out, kwargs)


# -- the table ------------------------------------------------------------------------

UFUNCS = sorted(name for name in dir(np) if isinstance(getattr(np, name), np.ufunc)) + [
    "isposinf", "isneginf"]  # ufunc-like functions with ``out=``
REDUCTIONS = ["sum", "prod", "mean", "std", "var", "min", "max", "amin", "amax",
              "argmin", "argmax", "any", "all", "nansum", "nanprod", "nanmean",
              "nanstd", "nanvar", "nanmin", "nanmax", "ptp", "nanargmin", "nanargmax"]
_REDUCTION_METHODS = {"sum", "prod", "mean", "std", "var", "min", "max", "argmin",
                      "argmax", "any", "all"}  # NumPy 2 removed ndarray.ptp
CONTRACTIONS = {"matmul": True, "dot": True, "tensordot": False, "einsum": True,
                "inner": False, "outer": True, "vdot": False}
VIEWS = ["transpose", "swapaxes", "moveaxis", "squeeze", "expand_dims", "broadcast_to",
         "split", "array_split", "hsplit", "vsplit", "dsplit", "diagonal", "flip",
         "fliplr", "flipud", "rot90", "atleast_1d", "atleast_2d", "atleast_3d",
         "real", "imag", "rollaxis", "matrix_transpose", "permute_dims", "unstack",
         "broadcast_arrays"]
_VIEW_METHODS = {"transpose", "swapaxes", "squeeze", "diagonal"}
_MANY_VIEWS = {"atleast_1d", "atleast_2d", "atleast_3d", "broadcast_arrays"}  # f(*arrays)
MOVEMENT_FUNCS = {"concatenate": True, "stack": True, "vstack": False, "hstack": False,
                  "dstack": False, "column_stack": False, "row_stack": False,
                  "tile": False, "repeat": False, "roll": False, "concat": True,
                  "append": False, "block": False}
CREATION = ["zeros", "empty", "zeros_like", "empty_like", "arange", "linspace",
            "logspace", "geomspace", "eye", "identity", "tri", "fromfunction",
            "frombuffer", "fromiter", "fromstring", "loadtxt", "genfromtxt",
            "indices", "bartlett", "blackman", "hamming", "hanning", "kaiser",
            "tril_indices", "triu_indices", "diag_indices"]
SHAPED = {"sort": False, "argsort": False, "cumsum": True, "cumprod": True,
          "nancumsum": True, "nancumprod": True, "round": True, "around": True,
          "tril": False, "triu": False, "sinc": False, "i0": False, "angle": False,
          "unwrap": False, "fix": True, "cumulative_sum": True, "cumulative_prod": True,
          "sort_complex": False}
_SHAPED_METHODS = {"argsort", "cumsum", "cumprod", "round"}
EAGER = ["nonzero", "flatnonzero", "argwhere", "unique", "unique_values",
         "unique_counts", "unique_inverse", "unique_all", "extract", "compress",
         "trim_zeros", "setdiff1d", "intersect1d", "union1d", "setxor1d", "isin",
         "in1d", "histogram", "bincount", "digitize", "searchsorted", "diff", "take", "put",
         "allclose", "array_equal", "array_equiv", "isclose", "shape", "ndim", "size",
         "may_share_memory", "shares_memory", "result_type", "can_cast", "average",
         "median", "nanmedian", "percentile", "quantile", "count_nonzero", "meshgrid",
         "diag", "diagflat", "vander", "partition", "argpartition", "nan_to_num",
         "real_if_close", "gradient", "trapezoid", "interp", "polyfit", "polyval",
         "convolve", "correlate", "cross", "kron", "trace", "lexsort", "cov", "corrcoef",
         "histogram2d", "histogramdd", "ediff1d", "pad", "select", "piecewise", "choose",
         "resize", "delete", "insert", "place", "putmask", "copyto", "fill_diagonal",
         "ravel_multi_index", "unravel_index", "apply_along_axis", "apply_over_axes",
         "array2string", "array_repr", "array_str", "format_float_positional",
         "format_float_scientific", "binary_repr", "base_repr", "iscomplexobj",
         "isrealobj", "isfortran", "min_scalar_type", "common_type", "mintypecode",
         "typename", "info", "show_config", "show_runtime", "get_include", "save",
         "savez", "savez_compressed", "load", "savetxt", "iterable", "ndindex",
         "ndenumerate", "nditer", "asarray_chkfinite", "isreal", "iscomplex",
         "getbufsize", "setbufsize", "geterrcall", "seterrcall", "isdtype", "require",
         "ix_", "take_along_axis", "put_along_axis", "mask_indices",
         "tril_indices_from", "triu_indices_from", "diag_indices_from", "einsum_path",
         "histogram_bin_edges", "nanpercentile", "nanquantile", "packbits", "unpackbits"]
_EAGER_METHODS = {"nonzero", "searchsorted", "take", "put", "trace", "argpartition"}


def _table() -> list[OpDef]:
    ops = [OpDef(n, "elementwise", getattr(np, n)) for n in UFUNCS]
    ops += [OpDef(n, "reduction", getattr(np, n), method=n in _REDUCTION_METHODS,
                  params=_params(getattr(np, n)))
            for n in REDUCTIONS if hasattr(np, n)]
    ops += [OpDef(n, "contraction", getattr(np, n), out=o, method=n == "dot")
            for n, o in CONTRACTIONS.items()]
    ops += [OpDef(n, "view", getattr(np, n), method=n in _VIEW_METHODS)
            for n in VIEWS if hasattr(np, n)]
    ops += [OpDef(n, "movement", getattr(np, n), out=o, method=n in ("repeat",))
            for n, o in MOVEMENT_FUNCS.items() if hasattr(np, n)]
    ops += [OpDef(n, "shaped", getattr(np, n), out=o, method=n in _SHAPED_METHODS)
            for n, o in SHAPED.items()]
    ops += [OpDef(n, "creation", getattr(np, n)) for n in CREATION]
    ops += [OpDef(n, "eager", getattr(np, n), method=n in _EAGER_METHODS)
            for n in EAGER if hasattr(np, n) and n not in SHAPED]
    return ops


OPS: list[OpDef] = _table()
MOVEMENT = {d.name: d for d in OPS if d.kind == "movement"}


def _ufunc_methods(wrapper: Any, func: np.ufunc) -> None:
    """A ufunc's attributes and methods on its wrapper (``np.add.reduce``...):
    ``outer`` is recorded as the broadcast call it is; ``reduce accumulate
    reduceat at`` run NumPy's once no pending operation uses their inputs
    (``at`` writes its first argument in place)."""
    for attr in ("nin", "nout", "nargs", "ntypes", "types", "identity", "signature"):
        setattr(wrapper, attr, getattr(func, attr))
    for name in ("reduce", "accumulate", "reduceat", "at"):
        method = getattr(func, name)

        def call(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            return _eager(_method, args, kwargs)
        call.__name__ = call.__qualname__ = f"{func.__name__}.{name}"
        call.__doc__ = method.__doc__
        setattr(wrapper, name, call)

    def outer(a: Any, b: Any, /, out: Any = None, **kwargs: Any) -> Any:
        a, b = as_dagrt(a), as_dagrt(b)
        return elementwise(func, (reshape(a, a.shape + (1,) * b.ndim), b), out, kwargs)
    outer.__name__ = outer.__qualname__ = f"{func.__name__}.outer"
    outer.__doc__ = func.outer.__doc__
    wrapper.outer = outer


def _make(d: OpDef) -> Callable[..., Any]:
    if d.kind == "elementwise":
        func = d.func

        nin = getattr(func, "nin", 1)

        def wrapper(*args: Any, out: Any = None, **kwargs: Any) -> Any:
            if len(args) > nin:  # outputs given positionally: np.cos(x, out1)
                if out is not None:
                    raise TypeError("cannot specify 'out' as both a positional and "
                                    "keyword argument")
                args, out = args[:nin], args[nin:]
            return elementwise(func, args, out, kwargs)
        if type(func) is np.ufunc:
            _ufunc_methods(wrapper, func)
    elif d.kind == "reduction":
        def wrapper(a: Any, *args: Any, **kwargs: Any) -> Any:
            return reduction(d, a, args, kwargs)
    elif d.kind == "contraction":
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return contraction(d, args, kwargs)
    elif d.kind == "view":
        def wrapper(a: Any, *args: Any, **kwargs: Any) -> Any:
            return view(d, a, args, kwargs)
    elif d.kind == "movement":
        def wrapper(first: Any, *args: Any, **kwargs: Any) -> Any:
            return movement(d, first, args, kwargs)
    elif d.kind == "shaped":
        def wrapper(a: Any, *args: Any, **kwargs: Any) -> Any:
            return shaped(d, a, args, kwargs)
    elif d.kind == "creation":
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return creation(d, args, kwargs)
    else:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return eager(d, args, kwargs)
    name = d.func.__name__ if type(d.func) is np.ufunc else d.name  # np.abs: absolute
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = f"Implementation of numpy.{name} ({d.kind}).\n\nSee also numpy.{name}."
    wrapper.__wrapped_numpy__ = d.func  # type: ignore[attr-defined]
    return wrapper


HAND_WRITTEN: dict[str, Callable[..., Any]] = {
    "reshape": reshape, "ravel": ravel, "full": full, "ones": ones,
    "full_like": full_like, "ones_like": ones_like, "array": array, "asarray": asarray,
    "asanyarray": asarray, "ascontiguousarray": ascontiguousarray,
    "asfortranarray": asfortranarray, "copy": copy_array,
    "astype": astype, "where": where, "clip": clip, "append": append, "block": block,
}


namespace_cache: dict[str, Callable[..., Any]] = {}


def namespace() -> dict[str, Callable[..., Any]]:
    """Every function the op table defines, by public name."""
    funcs: dict[str, Callable[..., Any]] = {}
    made: dict[Any, Callable[..., Any]] = {}  # aliases stay aliases: np.conj is np.conjugate
    for d in OPS:
        key = (d.kind, d.func) if type(d.func) is np.ufunc else d.name
        if key not in made:
            made[key] = _make(d)
        funcs[d.name] = made[key]
    funcs.update(HAND_WRITTEN)
    return funcs
