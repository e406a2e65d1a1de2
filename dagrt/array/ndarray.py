"""The lazy array: ``ndarray``, and how new arrays and views are made.

Every dagrt array owns real storage from the moment it is recorded: a NumPy
array (``_data``) that pending operations will fill, and the scheduling state
of its root buffer (``_var``), shared by every view of that buffer. Shape,
dtype and strides are therefore known at once, views are NumPy views of the
storage (so they alias exactly as in NumPy), and a kernel is simply a NumPy
call writing into preallocated storage.

The class holds the storage, its metadata, the sync points (``asnumpy``,
``float``, ``print``...) and element access; its operators and methods come
from the op table through the ``Methods`` mixin (``array.methods``). Its
fields live in a compiled base class (``array/_native.c``) whose slots run
the small ready case of operators, indexing and iteration in C and call the
Python code here (and the mixin's operators) for every other case.

Imports: the engine, the devices, the mixin.
"""

from __future__ import annotations

import operator
import threading
import types
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import _config
from ..devices.device import CPU, Device
from ..engine.graph import FRESH, ForeignVar, Var
from ..engine.policy import POLICY
from ..engine.scheduler import ENGINE
from ..ops.table import adopt
from . import display
from .flags import DeviceFlags, HostFlags, buffer_exact, writeable
from .methods import IMPL, Methods


class _Fields:
    """An array's fields, in Python: where ``array/_native.c`` is off or not built."""

    __slots__ = ("_data", "_var", "_base", "__weakref__")


try:
    if not _config.get("native"):
        raise ImportError("DAGRT_NATIVE=0")
    from ._native import Array as _Base
    from ._native import Recorded, observe_with, run_now, view_now
    from ._native import configure as _configure
    from ._native import view_of as _native_view_of
    NATIVE = True
except ImportError:
    _Base, Recorded, NATIVE = _Fields, object, False  # type: ignore[misc]
    run_now = observe_with = view_now = None
_new = _Base.__new__
_NP = np.ndarray
_REAL, _IMAG = operator.attrgetter("real"), operator.attrgetter("imag")  # (views, in C)
_SCALARS = (int, float, complex, np.generic)
_PLAIN = {int, float, bool, complex}
# 0-d arrays standing for the NumPy scalar an op returns (``x.sum()`` still
# pending), by id: they show as that scalar. Other 0-d arrays show as ``array(1.)``.
_STANDINS: dict[int, weakref.ref[Any]] = {}


def stand_for_scalars(arrays: list[Any]) -> None:
    """Mark new 0-d ``arrays`` as standing for NumPy scalars (see ``repr``)."""
    for a in arrays:
        key = id(a)
        _STANDINS[key] = weakref.ref(a, lambda _, key=key: _STANDINS.pop(key, None))


def stands_for_scalar(a: Any) -> bool:
    """``a`` is a 0-d array standing for the NumPy scalar an op returns."""
    ref = _STANDINS.get(id(a))
    return ref is not None and ref() is a


class ndarray(_Base, Methods):  # type: ignore[misc, valid-type]
    """A lazily evaluated N-dimensional array with NumPy's semantics.

    Operations return new arrays at once; values are computed by the scheduler.
    Reading a value (``print``, ``float``, ``asnumpy``, ``np.asarray``) waits for
    just what it needs. ``isinstance(x, dagrt.ndarray)`` holds for every dagrt
    array.
    """

    __slots__ = ()
    __module__ = "dagrt"  # (``type(x)`` shows ``dagrt.ndarray``, as NumPy's ``numpy.ndarray``)
    __array_priority__ = 100.0
    __hash__ = None  # type: ignore[assignment]

    def __new__(cls, shape: Any, dtype: Any = float, buffer: Any = None, offset: int = 0,
                strides: Any = None, order: Any = None) -> ndarray:
        self = _new(cls)
        self._data = np.ndarray(shape, dtype, buffer, offset, strides, order)
        self._var, self._base = Var(), None
        if cls is not ndarray:  # a subclass's explicit constructor: ``obj`` is None
            IMPL["finalize"](self, None)
        return self

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A user's subclass gets NumPy's subclass protocol (``ops.subclasses``)."""
        super().__init_subclass__(**kwargs)
        if "subclass" in IMPL:  # (not while ``ops.subclasses`` makes its own)
            IMPL["subclass"](cls)

    # -- metadata: known at once -------------------------------------------
    # (``attrgetter``: read in C, no Python call; ``x.shape`` is in many loops)
    shape = property(operator.attrgetter("_data.shape"), doc="Tuple of dimensions.")
    dtype = property(operator.attrgetter("_data.dtype"), doc="Data type of elements.")
    ndim = property(operator.attrgetter("_data.ndim"), doc="Number of dimensions.")
    size = property(operator.attrgetter("_data.size"), doc="Number of elements.")
    nbytes = property(operator.attrgetter("_data.nbytes"), doc="Bytes of the elements.")
    itemsize = property(operator.attrgetter("_data.itemsize"), doc="Bytes per element.")
    strides = property(operator.attrgetter("_data.strides"), doc="Bytes per step per axis.")
    base = property(operator.attrgetter("_base"), doc="The array this is a view of, or None.")

    @property
    def flags(self) -> Any:
        """Memory layout flags."""
        data = self._data
        return HostFlags(self) if type(data) is _NP else DeviceFlags(data.flags)

    @property
    def device(self) -> Device:
        """The device holding this array (``dagrt.cpu()`` or ``dagrt.gpu(i)``)."""
        return self._var.device or CPU

    @device.setter
    def device(self, value: Any) -> None:
        raise AttributeError("attribute 'device' of 'ndarray' objects is not writable")

    ctx = device
    context = device

    @property
    def flat(self) -> Any:
        """NumPy's flat iterator over the storage, once no pending op uses it;
        assigning to it writes the array (recorded)."""
        return IMPL["ndarray.flat"](self)

    @flat.setter
    def flat(self, value: Any) -> None:
        IMPL["ndarray.flat="](self, value)

    @property
    def real(self) -> ndarray:
        """The real part (a view for complex arrays)."""
        done = view_now(_REAL, self, (), {}, False) if view_now is not None else None
        return done if done is not None else IMPL["real"](self)  # (C: a view, or the array)

    @real.setter
    def real(self, value: Any) -> None:
        IMPL["ndarray.real="](self, value)

    @property
    def imag(self) -> ndarray:
        """The imaginary part (a view for complex arrays)."""
        if view_now is not None and self._data.dtype.kind == "c":  # (else a read-only copy)
            done = view_now(_IMAG, self, (), {}, False)
            if done is not None:
                return done
        return IMPL["imag"](self)

    @imag.setter
    def imag(self, value: Any) -> None:
        IMPL["ndarray.imag="](self, value)

    @shape.setter  # type: ignore[no-redef]
    def shape(self, value: Any) -> None:
        view = self._data.view()
        view.shape = value  # raises as NumPy does when a copy would be needed
        self._data = view

    @dtype.setter  # type: ignore[no-redef]
    def dtype(self, value: Any) -> None:
        view = self._data.view()
        view.dtype = value  # (the same memory read as another type: NumPy's checks)
        self._data = view

    @property
    def mT(self) -> ndarray:  # noqa: N802
        """The matrix transpose: the last two axes swapped (a view)."""
        if self._data.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return IMPL["matrix_transpose"](self)

    @property
    def T(self) -> ndarray:  # noqa: N802
        """The transposed array (a view)."""
        return view_of(self, self._data.T)

    # -- sync points ---------------------------------------------------------
    def wait_to_read(self) -> None:
        """Block until this array's value is computed (MXNet's ``wait_to_read``)."""
        var = self._var
        if var.nw or var.error is not None:
            ENGINE.wait(var)

    def _value(self) -> np.ndarray:
        """The storage, once every pending write to it is done."""
        var = self._var
        if var.nw or var.error is not None:
            ENGINE.wait(var)
        return self._data

    def _quiet(self) -> np.ndarray:
        """The storage, once every pending use of it is done (safe to write)."""
        var = self._var
        if var.n or var.error is not None:
            ENGINE.wait(var, writes_only=False)
        return self._data

    def _host(self) -> np.ndarray:
        """The value in host memory (a copy if the array lives on a GPU)."""
        var, data = self._var, self._data
        if (var is FRESH or not var.nw and var.error is None and var.device is None) \
                and type(data) is _NP:  # ready on the host: the common case, no call
            return data
        data = self._value()
        device = self._var.device
        if device is None:
            return data if type(data) is _NP else np.asarray(data)
        return device.backend.to_host(data)

    def asnumpy(self) -> np.ndarray:
        """A NumPy copy of the value (MXNet's ``asnumpy``)."""
        data = self._host()
        return data.copy() if self._var.device is None else data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self._quiet() if self._var.device is None else self._host()
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def item(self, *args: Any) -> Any:
        return self._host().item(*args)

    def tolist(self) -> Any:
        return self._host().tolist()

    def __float__(self) -> float:
        return float(self._host())

    def __int__(self) -> int:
        return int(self._host())

    def __complex__(self) -> complex:
        return complex(self._host())

    def __bool__(self) -> bool:
        return bool(self._host())

    def __index__(self) -> int:
        return operator.index(self._host())

    # -- element access: no op, no temporary when nothing is pending ----------
    # (``x[key]``, ``x[key] = v``, ``len(x)``: the compiled base's slots, which
    # run the cases below that need no Python call and call these for the rest.)
    def _getitem(self, key: Any) -> Any:
        """``x[key]``. Basic keys (integers, slices, ``None``, ``...``) make a
        view at once; an element of a ready host array is read at once (NumPy's
        scalar, as in NumPy); every other key goes to the recording path
        (``array.indexing``)."""
        t = type(key)
        if t is slice:
            return view_of(self, self._data[key])
        data = self._data
        if t is tuple:
            ints = True
            for k in key:
                if type(k) is not int:
                    if type(k) is not slice and k is not None and k is not Ellipsis:
                        return IMPL["getitem"](self, key)
                    ints = False
            if not ints or len(key) < data.ndim:  # basic: NumPy makes a view
                return view_of(self, data[key])
        elif t is ndarray:
            return IMPL["getitem ndarray"](self, key)  # x[idx]: no other test first
        elif t is not int:
            return IMPL["getitem"](self, key)
        elif data.ndim > 1:
            return view_of(self, data[key])
        var = self._var
        if var.nw or var.error is not None or var.device is not None:
            return IMPL["getitem"](self, key)
        return data[key]

    def _setitem(self, key: Any, value: Any) -> None:
        """``x[key] = value``. One element of an idle host array set to a scalar
        is written at once (unless a profile or graph recorder watches: then it
        is an op, for the graph's hazards); everything else is recorded
        (``array.indexing``)."""
        var = self._var
        t = type(key)
        if t is ndarray:
            return IMPL["setitem ndarray"](self, key, value)  # x[idx] = v: no other test first
        if (var is FRESH or not var.n and var.error is None and var.device is None) and (
                type(value) in _PLAIN or isinstance(value, _SCALARS)) and not ENGINE.observers:
            if t is int:
                if self._data.ndim == 1:
                    self._data[key] = value
                    return
            elif t is tuple and len(key) == self._data.ndim:
                for k in key:
                    if type(k) is not int:
                        break
                else:
                    self._data[key] = value
                    return
        IMPL["setitem"](self, key, value)

    def _iter(self) -> Iterator[Any]:
        data = self._data
        if not data.ndim:
            raise TypeError("iteration over a 0-d array")
        if self._var.device is not None:
            return (self[i] for i in range(data.shape[0]))
        if data.ndim > 1:  # rows: views, made at once
            return _rows(self, data)
        return _elements(self, data)

    def __contains__(self, value: Any) -> bool:
        return bool((self == value).any())

    def __repr__(self) -> str:
        data = self._host()
        if type(self) is not ndarray:
            return display.subclass_repr(data, type(self))
        return repr(data[()]) if data.ndim == 0 and stands_for_scalar(self) else repr(data)

    def __str__(self) -> str:
        return str(self._host())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        display.pretty(self, printer)

    def _repr_html_(self) -> str:
        return display.as_html(self)

    def __format__(self, spec: str) -> str:
        data = self._host()
        return format(data[()] if data.ndim == 0 else data, spec)

    def __reduce__(self) -> tuple[Any, ...]:  # (a copy, pickled as NumPy pickles the value:
        value = self._host()  # in-band if not contiguous, with protocol 5; dtypes such as S0)
        value = value.copy("K") if value.itemsize and value.flags.forc else value
        return (_from_numpy, (value,) if type(self) is ndarray else (value, type(self)))

    def __setstate__(self, state: Any, /) -> None:
        """Restore from the state of ``numpy.ndarray.__reduce__`` (a new root)."""
        data = np.ndarray((0,), np.int8)
        data.__setstate__(state)
        self._data, self._var, self._base = data, Var(), None

    def __deepcopy__(self, memo: dict[int, Any]) -> ndarray:
        import copy  # NumPy's deepcopy also copies the objects of an object array

        return wrap(copy.deepcopy(self._host(), memo))

    def __copy__(self) -> ndarray:
        return self.copy(order="K")

    def _exported(self) -> np.ndarray:
        """``memoryview(x)``'s: the storage once idle (a GPU's: a host copy), if NumPy reads it."""
        data = self._quiet() if self._var.device is None else self._host()
        if data.dtype.kind == "V" and not buffer_exact(data.dtype):
            memoryview(data).release()  # (NumPy's own error first, where it has one)
            raise BufferError(f"dagrt: no buffer for dtype {data.dtype} (numpy.asarray reads it)")
        return data

    if not NATIVE:  # (the compiled base fills the buffer slot on every Python)
        def __buffer__(self, flags: int, /) -> memoryview:
            """The buffer protocol on Python 3.12+ (PEP 688)."""
            return memoryview(self._exported())

    def _element(self, i: int) -> Any:
        """Element ``i`` of a 1-d host array, once nothing writes it (iteration)."""
        return self._value()[i]

    if not NATIVE:  # the Python base: these slots are the Python methods
        __getitem__, __setitem__, __iter__ = _getitem, _setitem, _iter

        def __len__(self) -> int:
            return len(self._data)  # a 0-d array: NumPy's TypeError

        def __delitem__(self, key: Any) -> None:
            raise ValueError("cannot delete array elements")

    def __array_wrap__(self, array: Any, context: Any = None,
                       return_scalar: bool = False) -> Any:
        """A NumPy result as a dagrt array (a scalar with ``return_scalar``);
        a subclass's: an instance of it (NumPy's default)."""
        if type(self) is not ndarray:
            return IMPL["wrap"](self, array)
        if return_scalar and np.ndim(array) == 0:
            return np.asarray(array)[()]
        return wrap(array)

    def __array_finalize__(self, obj: Any, /) -> None:
        """NumPy's hook: a subclass's new instance made from ``obj`` (or None)."""

    __class_getitem__ = classmethod(types.GenericAlias)  # ``ndarray[Any, np.dtype[...]]``


for _name, _attr in list(vars(ndarray).items()):  # NumPy's signatures (inspect.signature)
    if callable(_attr) and _name not in ("__new__", "__init_subclass__") and hasattr(_NP, _name):
        adopt(_attr, getattr(_NP, _name))


def _rows(a: ndarray, data: np.ndarray) -> Iterator[ndarray]:
    """The rows of a host array: views (``view_of``, inlined)."""
    var = var_of(a)
    base = a if a._base is None else a._base
    for row in data:
        if var.nw:  # (a kernel writing back may hold the read-only flag)
            yield view_of(a, row)
            continue
        view = _new(ndarray)
        view._data, view._var, view._base = row, var, base
        yield view


def _elements(a: ndarray, data: np.ndarray) -> Iterator[Any]:
    """The elements of a 1-d host array, each read once nothing writes it."""
    for i, value in enumerate(data):  # (NumPy's iterator reads as it goes)
        var = a._var  # (an op the loop records may give ``a`` its own)
        if var.nw or var.error is not None:
            ENGINE.wait(var)
            value = data[i]
        yield value


def _from_numpy(data: np.ndarray, cls: type | None = None) -> ndarray:
    """(A subclass's instance is rebuilt through its explicit constructor, as NumPy's.)"""
    return wrap(data) if cls is None else IMPL["as type"](wrap(data), cls, None)


def wrap(data: Any) -> ndarray:
    """A new root dagrt array around a NumPy array (or scalar) that is ready."""
    if type(data) is not _NP:
        data = np.asarray(data)
    a = _new(ndarray)
    a._data = data
    a._var = FRESH
    a._base = None
    return a


def wrap_foreign(data: np.ndarray, implicit: bool) -> ndarray:
    """A dagrt array on memory the user holds as a NumPy array (no copy);
    ``implicit``: not handed to dagrt by the user (see ``ForeignVar``)."""
    a = wrap(data)
    a._var = ForeignVar(implicit)
    return a


def var_of(a: ndarray) -> Var:
    """The state of ``a``'s root buffer, for an op that uses it: a new array
    shares ``FRESH`` until then (only roots do: ``view_of`` gives the base
    its own first). Once per array, under a lock: two threads recording ops
    on the same new array must give it one state, not one each."""
    var = a._var
    if var is FRESH:
        with _FRESH_LOCK:
            var = a._var
            if var is FRESH:
                var = a._var = Var()
    return var


_FRESH_LOCK = threading.Lock()
_config.renew_after_fork(globals(), "_FRESH_LOCK", threading.Lock)


def _view_of(base: ndarray, data: np.ndarray) -> ndarray:
    """A dagrt view: NumPy view ``data`` of ``base``'s storage, same buffer
    (``view_of``; in C where it was built, which calls this one while a
    kernel writes ``base``)."""
    if base._var.nw and type(data) is _NP and not data.flags.writeable \
            and not base._data.flags.writeable and writeable(base):
        data.flags.writeable = True  # read-only only while a kernel wrote back
    a = _new(ndarray)
    a._data = data
    var = base._var
    a._var = var if var is not FRESH else var_of(base)
    a._base = base if base._base is None else base._base
    return a


view_of = _view_of
if NATIVE:
    del ndarray.T, ndarray.mT  # (the compiled base class's: the same views, no Python call)
    _configure(ndarray, Methods, FRESH, Var, ENGINE, POLICY, _view_of, var_of)
    view_of = _native_view_of
