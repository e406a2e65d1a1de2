"""Indexing: ``__getitem__`` and ``__setitem__``.

Basic indices (integers, slices, ``None``, ``...``) make NumPy views of the
storage at once. Integer-array indices are recorded lazily; their output shape
comes from indexing a zero-byte meta array. Boolean-array indices in
``__getitem__`` have a data-dependent shape: the mask is evaluated first.
``__setitem__`` records a write of the root buffer. Both go through the
recording path (``array.record``); reading or writing one element of a ready
array never gets here (``ndarray.__getitem__``/``__setitem__`` do it at once).
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any

import numpy as np

from ..ops import rules
from .flags import writeable
from .ndarray import ndarray, view_of
from .operands import (
    array_like,
    from_array_method,
    nbytes_of,
    new_array,
    operand,
    placement,
    shape_of,
)
from .record import NO_KWARGS, evaluate, record

_BASIC = (int, slice, type(None), type(Ellipsis), np.integer)
_ALL = slice(None)


def _is_basic(key: tuple[Any, ...]) -> bool:
    return all(isinstance(k, _BASIC) and not isinstance(k, bool) for k in key)


def _convert(key: tuple[Any, ...], evaluate_masks: bool) -> tuple[Any, ...]:
    out = []
    for k in key:
        if array_like(k):  # (its ``__array__`` may give a dagrt array: NumPy refuses it)
            k = from_array_method(k)
        if type(k) is ndarray:
            kind = k._data.dtype.kind
            if kind == "b" and evaluate_masks:
                k = k._host()
            elif kind != "b" and kind not in "iu":
                raise IndexError("arrays used as indices must be of integer (or boolean) type")
        elif isinstance(k, (list, tuple)):
            k = np.asarray(evaluate(k) if any(isinstance(v, ndarray) for v in k) else k)
            if k.size == 0 and k.dtype == float:
                k = k.astype(np.intp)
        out.append(k)
    return tuple(out)


def _meta_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """The key for a zero-byte meta array: index arrays already computed are
    used as they are (so bounds are checked at the call, as in NumPy); pending
    ones become zero-stride zeros (or all-True masks)."""
    return tuple((k._data if _ready(k) else
                  np.broadcast_to(k.dtype.type(k.dtype == bool), k.shape))
                 if isinstance(k, ndarray) else k for k in key)


def _ready(k: ndarray) -> bool:
    var = k._var
    return not var.nw and var.error is None and var.device is None


def _index_array(key: Any) -> bool:
    """``key`` is one integer index array (``x[idx]``: the common fancy index)."""
    t = type(key)
    return (key._data.dtype.kind in "iu" if t is ndarray
            else t is np.ndarray and key.dtype.kind in "iu")


def getitem(self: ndarray, key: Any) -> ndarray:
    t = type(key)
    if (t is ndarray and key._data.dtype.kind in "iu") or (
            t is np.ndarray and key.dtype.kind in "iu"):
        return _gather(self, key)  # ``x[idx]``: the common fancy index
    if t is str or t is list and key and all(type(k) is str for k in key):
        return view_of(self, self._data[key])  # fields of a structured array: a view
    if t is not tuple:  # (a tuple subclass, a named tuple: NumPy's index of several axes)
        key = tuple(key) if isinstance(key, tuple) else (key,)
    if _is_basic(key):
        if self._data.dtype.kind == "O" and _element(self, key):
            return self._value()[key]  # an object array's element is the object itself
        data = self._data[key]
        if type(data) is np.ndarray or not (isinstance(data, np.generic) or (
                data.ndim == 0 and self._data.ndim)):
            return view_of(self, data)
        # every axis indexed by an integer: NumPy returns a scalar, a copy
    return _gather(self, _convert(key, evaluate_masks=True))


def getitem_array(self: ndarray, key: ndarray) -> Any:
    """``self[key]`` for a dagrt array ``key`` (``x[idx]``, ``x[mask]``)."""
    if key._data.dtype.kind in "iu":
        return _gather(self, key)
    return getitem(self, key)


def setitem_array(self: ndarray, key: ndarray, value: Any) -> None:
    """``self[key] = value`` for a dagrt array ``key``."""
    if key._data.dtype.kind in "iu" and self._data.dtype.kind != "O":
        return _scatter(self, key, value)
    return setitem(self, key, value)


def _gather(self: ndarray, key: Any) -> Any:
    """``self[key]`` with index arrays (or an all-integer key on pending storage)."""
    data = self._data
    t = type(key)
    # work: index elements (~ index bytes / 8) * bytes per row
    work = (key._data.size if t is ndarray else key.size if t is np.ndarray
            else nbytes_of(key) // 8) * (data.nbytes // data.shape[0]
                                         if data.ndim and data.shape[0] else 8)
    return record("getitem", operator.getitem, (self, key), NO_KWARGS,
                  functools.partial(_gather_plan, self, key), None, False, work)[0]


def _gather_plan(self: ndarray, key: Any) -> list[ndarray]:
    index = _ready_index(key)
    if index is not None and self.ndim:  # ``x[idx]``: its shape, its bounds checked
        _check_bounds(index, self.shape[0])
        shape = index.shape + self.shape[1:]
    else:
        shape = rules.zero_bytes(self.shape)[_meta_key(
            key if type(key) is tuple else (key,))].shape
    return [new_array(shape, self.dtype, (self, *_on_devices(key)))]


def _ready_index(key: Any) -> np.ndarray | None:
    """The storage of ``key`` if it is one ready integer index array."""
    if type(key) is ndarray and _ready(key):
        key = key._data
    return key if type(key) is np.ndarray and key.dtype.kind in "iu" else None


def _check_bounds(index: np.ndarray, n: int) -> None:
    """NumPy's IndexError for the first index out of ``[-n, n)``, found with
    two reductions (indexing a zero-byte stand-in, as for other keys, took
    17 ms for 4M indices in the recording thread, half of the gather)."""
    if index.size and (index.max() >= n or (index.dtype.kind == "i" and index.min() < -n)):
        flat = index.ravel()
        bad = flat[(flat >= n) | (flat < -n)][0]
        raise IndexError(f"index {bad} is out of bounds for axis 0 with size {n}")


def _same_memory(target: Any, value: Any, self: ndarray) -> bool:
    """``value`` is a view of exactly ``target`` (same buffer, layout, dtype)."""
    if not isinstance(value, ndarray) or value._var is not self._var:
        return False
    data = value._data
    return (type(data) is np.ndarray and type(target) is np.ndarray
            and data.dtype == target.dtype and data.shape == target.shape
            and data.strides == target.strides
            and data.__array_interface__["data"][0] == target.__array_interface__["data"][0])


def _setitem_kernel(key: Any, value: Any, *, out: np.ndarray) -> None:
    out[key] = value


def _element(self: ndarray, key: tuple[Any, ...]) -> bool:
    """``key`` (basic) selects one element of an object array."""
    return self._data.dtype.kind == "O" and len(key) == self._data.ndim and all(
        isinstance(k, (int, np.integer)) for k in key)


def setitem(self: ndarray, key: Any, value: Any) -> None:
    if isinstance(key, tuple) and type(key) is not tuple:
        key = tuple(key)  # (a tuple subclass, a named tuple: an index of several axes)
    if _index_array(key) and self._data.dtype.kind != "O":  # x[idx] = value
        return _scatter(self, key, value)
    if type(key) is str or type(key) is list and key and all(type(k) is str for k in key):
        return setitem(getitem(self, key), Ellipsis, value)  # fields of a structured array
    key = key if type(key) is tuple else (key,)
    if self._data.dtype.kind == "O" and _is_basic(key) and _element(self, key):
        # an object array's element stores the object itself: a list, an array
        record("setitem", _setitem_kernel, (key, value), {}, lambda: [self], [self],
               partial=True)
        return
    basic = _is_basic(key)
    if (type(value) is list or type(value) is tuple) and self.dtype.kind != "O":
        # NumPy converts a sequence to the destination's dtype (a tuple may be
        # one structured element; an int8 destination rejects 300)
        value = np.asarray(value, self.dtype)
    elif type(value) is list or type(value) is tuple:
        # an object destination: nested sequences below its dimensions are
        # elements (``objs[:] = [[1], [2]]`` stores two lists)
        key = key if basic else _convert(key, evaluate_masks=False)
        ndim = (self._data[key] if basic else rules.zero_bytes(self.shape)[_meta_key(key)]).ndim
        value = np.array(evaluate(value), dtype=object, ndmax=max(ndim, 1))
    else:
        value = operand(value)
    if basic:
        target = self._data[key]  # (one element: NumPy's scalar, or StringDType's str)
        if _same_memory(target, value, self):
            return  # ``a[i:j] += b`` ends with ``a[i:j] = <that view>``: nothing to copy
        work = target.nbytes if type(target) is np.ndarray else self._data.itemsize
    else:
        key = _convert(key, evaluate_masks=False)
        work = nbytes_of(key)
    record("setitem", _setitem_kernel, (key, value), {},
           lambda: _check(self, key, value), [self], work=work, partial=not all(
               k is Ellipsis or (type(k) is slice and k == _ALL) for k in key))


def _scatter(self: ndarray, key: Any, value: Any) -> None:
    """``self[idx] = value``, ``idx`` an integer index array."""
    t = type(value)
    if t is list or t is tuple:  # a sequence takes the destination's dtype, as in NumPy
        value = np.asarray(value, self.dtype)
    elif t is not float and t is not int and t is not ndarray:
        value = operand(value)
    record("setitem", _setitem_kernel, (key, value), NO_KWARGS,
           functools.partial(_check, self, (key,), value), [self], True,
           key._data.nbytes if type(key) is ndarray else key.nbytes, (), True)


def _on_devices(key: Any) -> list[ndarray]:
    """The index arrays in ``key`` that live on a device (host ones, NumPy's
    or dagrt's, index any array: CuPy copies them to the device)."""
    return [k for k in (key if type(key) is tuple else (key,))
            if isinstance(k, ndarray) and k._var.device is not None]


def _check(self: ndarray, key: tuple[Any, ...], value: Any) -> list[ndarray]:
    """NumPy's errors for ``self[key] = value`` from shapes and types alone."""
    if not writeable(self):
        raise ValueError("assignment destination is read-only")
    placement((self, *_on_devices(key), *_on_devices(value)))  # a device's value: same device
    if _is_basic(key):
        target = self._data[key]
    else:
        lazy_mask = any(isinstance(k, ndarray) and k.dtype == bool and not _ready(k)
                        for k in key)
        meta = rules.zero_bytes(self.shape)[_meta_key(key)]
        target = None if lazy_mask and math.prod(shape_of(value)) != 1 else meta
    if target is not None and isinstance(value, (ndarray, np.ndarray)):
        rules.zero_bytes(target.shape)[...] = rules.zero_bytes(value.shape)
    elif not isinstance(value, (ndarray, np.ndarray)):
        np.empty((), self.dtype)[()] = value  # bad values fail here, as in NumPy
    return [self]
