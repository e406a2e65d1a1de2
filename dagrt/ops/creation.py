"""Creation: ``zeros arange eye ...`` (NumPy allocates at once: they read no
dagrt data), ``full ones`` (large fills are ops), ``array asarray
ascontiguousarray asfortranarray``.

With ``device=gpu(i)`` (or MXNet's ``ctx=``) the result lives on that GPU.

Imports: the array layer, the device registry, ``ops.args``, ``ops.shapes``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..array.ndarray import ndarray, run_now, wrap, wrap_foreign
from ..array.operands import array_like, as_type, from_array_method, is_sub, new_array, plain
from ..array.record import NO_KWARGS, evaluate, record, wrap_result
from ..array.transfer import to_device
from ..devices.registry import DEFAULT_DEVICE, device_arg
from . import rules
from .args import evaluate_nested
from .shapes import _STACK, astype, copy_array, has_order, identity, movement, reshape
from .table import Row


def creation(row: Row, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ndarray:
    """Creation functions read no dagrt data: call NumPy now (cheap: allocation);
    with ``device=gpu(i)`` (or ``ctx=``) the result is copied there."""
    device = device_arg(kwargs.pop("device", None), kwargs.pop("ctx", None)) if kwargs \
        else device_arg()
    if row.name.endswith("_like"):  # reads only the prototype's shape and dtype
        if device is None and args and isinstance(args[0], ndarray):
            device = args[0]._var.device
        args = tuple(_prototype(x) if isinstance(x, ndarray) else
                     _prototype(from_array_method(x)) if array_like(x) else x for x in args)
    if _plain(args) and (not kwargs or _plain(kwargs.values())):  # np.zeros(3): no array
        result = row.func(*args, **kwargs)
        result = wrap(result) if type(result) is np.ndarray and result.base is None \
            else wrap_result(result)
    else:
        result = row.func(*evaluate(args), **{k: evaluate(v) for k, v in kwargs.items()})
        # frombuffer: NumPy's view of the user's buffer (read-only if it is),
        # which the user may change at any time: shared, not copied
        result = wrap_foreign(result, True) if row.name == "frombuffer" and \
            type(result) is np.ndarray else wrap_result(result)
    if device is None:
        return result
    if isinstance(result, tuple):  # linspace(retstep=True): (array, step)
        return tuple(to_device(r, device) if isinstance(r, ndarray) else r for r in result)
    return to_device(result, device)


_PLAIN = {int, float, bool, str, type(None), type}
_NUMBERS = {int, float, bool, complex}


def _elements(shape: Any) -> int:
    """The elements of an array of ``shape`` (an int or ints), or a number
    too large to run now (another shape: the slow path checks it)."""
    if type(shape) is int:
        return shape
    if type(shape) is tuple and all(type(n) is int for n in shape):
        return math.prod(shape)
    return 1 << 62


def _plain(values: Any) -> bool:
    """No dagrt array among creation arguments (numbers, shapes, dtypes)."""
    for v in values:
        t = type(v)
        if t is tuple:
            for e in v:
                if type(e) is not int:
                    return False
        elif t not in _PLAIN and not isinstance(v, np.dtype):
            return False
    return True


def _prototype(a: ndarray) -> np.ndarray:
    """A stand-in for ``a`` with its shape, dtype and strides (the layout
    ``order='K'`` follows) and no memory: ``*_like`` read nothing else."""
    return np.lib.stride_tricks.as_strided(np.empty(1, a.dtype), a.shape, a.strides)


def full(shape: Any, fill_value: Any, dtype: Any = None, order: str = "C", *,
         device: Any = None, ctx: Any = None, like: Any = None) -> ndarray:
    """Implementation of numpy.full: large fills run on a worker."""
    if device is None and ctx is None and like is None and type(fill_value) in _NUMBERS \
            and DEFAULT_DEVICE[0] == "cpu" and run_now is not None:
        done = run_now(np.full, (shape, fill_value, dtype, order), NO_KWARGS,
                       _elements(shape) * 8, (), None, 2)  # small: NumPy's, now, in C
        if done is not None:
            return done[0]
    if dtype is None:
        dtype = np.array(fill_value._host() if isinstance(fill_value, ndarray)
                         else fill_value).dtype
    return _fill(new_array(shape, dtype, order=order, device=device_arg(device, ctx)),
                 fill_value)


def _fill(out: ndarray, fill_value: Any) -> ndarray:
    """Record filling the new array ``out`` with ``fill_value``."""
    if isinstance(fill_value, ndarray):
        fill_value = fill_value._host()
    if np.ndim(fill_value) == 0:
        # NumPy fills with ``copyto(casting="unsafe")`` (``ones(2, "V3")`` holds
        # b"\x01\0\0", ``ones(2, "M8")`` the epoch's next day); its errors raise here
        value = np.empty((), out.dtype)
        np.copyto(value, fill_value, casting="unsafe")
        fill_value = value
    else:
        np.array(fill_value, dtype=out.dtype)  # NumPy's errors at the call ('abc' as float)
    return record("full", identity, (fill_value,), {}, lambda: [out], [out], use_out=False,
                  work=out.nbytes)[0]


def ones(shape: Any, dtype: Any = None, order: str = "C", *, device: Any = None,
         ctx: Any = None, like: Any = None) -> ndarray:
    """Implementation of numpy.ones."""
    return full(shape, 1, float if dtype is None else dtype, order, device=device, ctx=ctx)


def full_like(a: Any, fill_value: Any, dtype: Any = None, order: str = "K",
              subok: bool = True, shape: Any = None, *, device: Any = None) -> ndarray:
    """Implementation of numpy.full_like."""
    if type(a) is ndarray and device is None and type(fill_value) in _NUMBERS \
            and run_now is not None:  # a small ready prototype: NumPy's, now, in C
        done = run_now(np.full_like, (a, fill_value, dtype, order, subok, shape), NO_KWARGS,
                       -1, (), None, 2)
        if done is not None:
            return done[0]
    if array_like(a):
        a = from_array_method(a)
    if isinstance(a, ndarray):
        device = device if device is not None else a._var.device
        a = _prototype(a)
    data = np.empty_like(np.asarray(a), dtype=dtype, order=order, shape=shape)
    return _fill(wrap(data) if device is None else
                 new_array(data.shape, data.dtype, device=device), fill_value)


def ones_like(a: Any, dtype: Any = None, order: str = "K", subok: bool = True,
              shape: Any = None, *, device: Any = None) -> ndarray:
    """Implementation of numpy.ones_like."""
    return full_like(a, 1, dtype, order, subok, shape, device=device)


def array(object: Any, dtype: Any = None, *, copy: bool | None = True, order: str = "K",
          subok: bool = False, ndmin: int = 0, ndmax: Any = np._NoValue, like: Any = None,
          device: Any = None, ctx: Any = None) -> ndarray:
    """Implementation of numpy.array; dagrt arrays inside lists are evaluated."""
    if subok and is_sub(object):
        return as_type(array(object, dtype, copy=copy, order=order, ndmin=ndmin, device=device,
                             ctx=ctx), type(object), object)
    target = device_arg(device, ctx)
    if ndmax is not np._NoValue:  # NumPy >= 2.4: sequences below ndmax stay objects
        result = wrap(np.array(evaluate_nested(object), dtype=dtype, copy=copy, order=order,
                               ndmin=ndmin, ndmax=ndmax))
    elif _literal(object):  # ``np.array([1.0, 2.0])``: no array in it, NumPy's call as is
        result = wrap(np.array(object, dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    else:
        result = _array(object, dtype, copy, order, ndmin)
    return to_device(result, target) if target is not result._var.device else result


_ITEMS = {int, float, complex, bool, str, bytes, type(None)}


def _literal(obj: Any) -> bool:
    """``obj`` is a number, a string, or a list or tuple (two levels deep at
    most) of numbers and strings, NumPy's scalars included: nothing dagrt must
    evaluate or may share memory with."""
    t = type(obj)
    if t in _ITEMS or issubclass(t, np.generic):
        return True
    if t is not list and t is not tuple:
        return False
    for v in obj:
        t = type(v)
        if t in _ITEMS:
            continue
        if t is list or t is tuple:
            for w in v:
                u = type(w)
                if u not in _ITEMS and not issubclass(u, np.generic):
                    return False
        elif not issubclass(t, np.generic):
            return False
    return True


def _array(obj: Any, dtype: Any, copy: bool | None, order: str, ndmin: int) -> ndarray:
    if array_like(obj):
        obj = from_array_method(obj)  # (its ``__array__`` may return a dagrt array)
    if isinstance(obj, ndarray):
        if (copy is False or copy is None) and (dtype is None or obj.dtype == dtype) \
                and obj.ndim >= ndmin and has_order(obj, order):
            return obj
        result = astype(obj, obj.dtype if dtype is None else dtype, order=order or "K")
        return reshape(result, (1,) * (ndmin - result.ndim) + result.shape) \
            if ndmin > result.ndim else result
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(x, ndarray) for x in obj) \
            and len({x.shape for x in obj}) == 1 and ndmin <= obj[0].ndim + 1:
        result = movement(_STACK, list(obj), (), {})
        return astype(result, dtype) if dtype is not None else result
    data = np.array(evaluate_nested(obj), dtype=dtype, copy=copy, order=order, ndmin=ndmin)
    if copy is not True and isinstance(obj, np.ndarray) and np.may_share_memory(data, obj):
        return wrap_foreign(data.view(), False)  # (``copy=None``: the user's memory)
    return wrap(data)


def asarray(a: Any, dtype: Any = None, order: Any = None, *, copy: bool | None = None,
            device: Any = None, like: Any = None, ctx: Any = None) -> ndarray:
    """Implementation of numpy.asarray: shares memory with a NumPy input, as
    NumPy does (write to it through NumPy only when dagrt is not using it)."""
    if isinstance(a, ndarray) and (dtype is None or a.dtype == dtype) and not copy \
            and has_order(a, order):
        return a if type(a) is ndarray else plain(a)  # (a subclass's: a base-class view)
    if type(a) is list and dtype is None and order is None and copy is None and device is None \
            and ctx is None and like is None and DEFAULT_DEVICE[0] == "cpu" and run_now is not None:
        done = run_now(np.asarray, (a,), NO_KWARGS, -1, (), None, 2)  # np.asarray([1, 2]): in C
        if done is not None:
            return done[0] if type(done) is list else wrap_result(done[0])
    if type(a) is np.ndarray and not copy:
        # A view of the user's array: same memory, and ``data.base`` marks the
        # storage as not dagrt's own (temporaries never elide into it).
        data = wrap_foreign((a if dtype is None else a.astype(dtype, copy=False)).view(),
                            False)
        target = device_arg(device, ctx)
        return to_device(data, target) if target is not None else data
    return array(a, dtype, copy=True if copy else None, order=order or "K",
                 device=device, ctx=ctx)


def asanyarray(a: Any, dtype: Any = None, order: Any = None, *, device: Any = None,
               copy: bool | None = None, like: Any = None, ctx: Any = None) -> ndarray:
    """Implementation of numpy.asanyarray: ``asarray``, keeping a subclass."""
    result = asarray(a, dtype, order, copy=copy, device=device, like=like, ctx=ctx)
    if not is_sub(a):
        return result
    return a if result._data is a._data else as_type(result, type(a), a)


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


def shape(a: Any) -> tuple[int, ...]:
    """Implementation of numpy.shape: metadata, known without waiting."""
    return a.shape if isinstance(a, ndarray) else np.shape(a)


def ndim(a: Any) -> int:
    """Implementation of numpy.ndim: metadata, known without waiting."""
    return a.ndim if isinstance(a, ndarray) else np.ndim(a)


def _dtype_of(x: Any) -> Any:
    return x.dtype if isinstance(x, ndarray) else x


def result_type(*arrays_and_dtypes: Any) -> np.dtype:
    """Implementation of numpy.result_type: from the arrays' dtypes (NumPy 2
    reads no values, NEP 50), known without waiting."""
    return np.result_type(*map(_dtype_of, arrays_and_dtypes))


def can_cast(from_: Any, to: Any, casting: str = "safe") -> bool:
    """Implementation of numpy.can_cast: from the array's dtype, without waiting."""
    return np.can_cast(_dtype_of(from_), to, casting)


def common_type(*arrays: Any) -> type:
    """Implementation of numpy.common_type: from the arrays' dtypes, without waiting."""
    return np.common_type(*[np.empty(0, a.dtype) if isinstance(a, ndarray) else a
                            for a in arrays])


def iscomplexobj(x: Any) -> bool:
    """Implementation of numpy.iscomplexobj: from the dtype, without waiting."""
    return np.iscomplexobj(np.empty(0, x.dtype) if isinstance(x, ndarray) else x)


def isrealobj(x: Any) -> bool:
    """Implementation of numpy.isrealobj: from the dtype, without waiting."""
    return not iscomplexobj(x)


def size(a: Any, axis: Any = None) -> int:
    """Implementation of numpy.size: metadata, known without waiting."""
    if not isinstance(a, ndarray):
        return np.size(a, axis)
    return a.size if axis is None else np.size(rules.zero_bytes(a.shape), axis)

