"""``ndarray``'s operators and methods: a mixin generated from the op table.

``Methods`` has one attribute per table row marked ``method`` (operators
included). A generated method forwards to the implementation registered
under the row's name: the ops layer (``ops.namespace``) registers them when
the package is imported, into :data:`IMPL` (looked up by the few hand-written
slow paths of ``ndarray``: indexing, ``flat``, ``real``...) and into each
method's slot (read without a dictionary lookup: methods and operators are
the hottest calls). The registry is how the array layer calls the layer above
it without importing it: imports go one way.

Imports: the op table (data) only, NumPy (its ``ndarray``'s attribute names),
the configuration and the compiled run-now case (``_native.run_now``).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _config
from ..ops.table import ROWS, Row, adopt

try:  # the run-now case of any other numpy.ndarray method (``tobytes``...), in C
    if not _config.get("native"):
        raise ImportError("DAGRT_NATIVE=0")
    from ._native import run_now as _run_now
except ImportError:
    _run_now = None
_NOW_IDLE = 1 | 2 | 64  # run_now's TUPLES | STRICT | IDLE
_PLAIN = frozenset((bytes, str, int, float, complex, bool, type(None)))
# name -> implementation (operators and method-only rows: by their method name).
IMPL: dict[str, Callable[..., Any]] = {}


def register(functions: dict[str, Callable[..., Any]]) -> None:
    """Install implementations (by table name) for the generated methods.
    An implementation that is a Python function takes the generated method's
    place on the mixin, under its name, doc and signature (an operator's
    itself; a method's a copy, as the namespace function may be the same
    object): ``x + y`` and ``x.sum()`` are then one call less, on the hottest
    paths there are."""
    IMPL.update(functions)
    for name, function in functions.items():
        slot = _Slot.slots.get(name)
        if slot is None:
            continue
        slot.call = function
        if type(function) is not types.FunctionType:
            continue
        for attr in _ATTRS.get(name, ()):
            method = function if attr in _OPERATORS else types.FunctionType(
                function.__code__, function.__globals__, attr, function.__defaults__,
                function.__closure__)
            if method is not function:
                method.__kwdefaults__ = function.__kwdefaults__
            generated = vars(Methods)[attr]
            for meta in ("__name__", "__qualname__", "__doc__", "__signature__"):
                if hasattr(generated, meta):
                    setattr(method, meta, getattr(generated, meta))
            setattr(Methods, attr, method)


def _forward(row: Row) -> Callable[..., Any]:
    impl = _Slot(row.name if row.function else f"ndarray.{row.name}")

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return impl.call(self, *args, **kwargs)
    return method


def _operator(row: Row) -> Callable[..., Any]:
    impl = _Slot(row.name)
    if row.func.nin == 1:
        def unary(self: Any) -> Any:
            return impl.call(self)
        return unary

    def binary(self: Any, other: Any) -> Any:
        return impl.call(self, other)
    return binary


class _Slot:
    """A method's implementation, filled in by :func:`register` (no dictionary
    lookup per call: operators and methods are the hottest calls)."""

    __slots__ = ("name", "call")
    slots: dict[str, _Slot] = {}

    def __new__(cls, name: str) -> _Slot:  # one slot per name (a function and its method)
        slot = cls.slots.get(name)
        if slot is None:
            slot = cls.slots[name] = super().__new__(cls)
            slot.name = name
            slot.call = _unregistered(name)
        return slot


def _unregistered(name: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        raise NotImplementedError(f"ndarray.{name}: no implementation registered")
    return call


def _numpy_attribute(name: str) -> Any:
    """Any other ``numpy.ndarray`` attribute (``tobytes``, ``partition``,
    ``ctypes``...): NumPy's own, on the storage (``ndarray.__getattr__`` of
    ``ops.methods``). Generated, not a ``__getattr__`` on the class: a class
    with ``__getattr__`` makes every attribute access slower, ``x._data``
    included."""
    func = getattr(np.ndarray, name)
    if callable(func):
        impl = _Slot("ndarray.__numpy_method__")

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            done = _run_now(func, (self, *args), kwargs, 0, (), None, _NOW_IDLE) \
                if _run_now is not None and "out" not in kwargs else None  # (in C)
            if type(done) is list or (type(done) is tuple and type(done[0]) in _PLAIN):
                return done[0]  # (a new array, or bytes, a number, None: nothing to wrap)
            return impl.call(self, func, name, args, kwargs, done)
        method.__name__ = method.__qualname__ = name
        method.__doc__ = f"numpy.ndarray.{name}, run on the value."
        return adopt(method, getattr(np.ndarray, name))
    return property(lambda self: IMPL["ndarray.__getattr__"](self, name),
                    doc=f"numpy.ndarray.{name}, of the value.")


def _mixin() -> type:
    attrs: dict[str, Any] = {"__slots__": ()}
    for row in ROWS:
        if row.method:
            method = _operator(row) if row.kind == "operator" else _forward(row)
            method.__name__ = method.__qualname__ = row.name
            doc = getattr(row.func, "__doc__", None) if row.func is not None else None
            method.__doc__ = (doc.split("\n\n")[0].strip() if doc else None) or \
                f"Implementation of numpy.ndarray.{row.name}."
            attrs[row.name] = adopt(method, getattr(np.ndarray, row.name, None))
    for name in dir(np.ndarray):  # ``ndarray``'s own attributes take precedence
        if name not in attrs and (not name.startswith("__") or name == "__array_interface__"):
            attrs[name] = _numpy_attribute(name)
    return type("Methods", (), attrs)


Methods = _mixin()
_OPERATORS = {row.name for row in ROWS if row.kind == "operator"}
_ATTRS: dict[str, list[str]] = {}  # slot -> the mixin's attributes it serves
for _row in ROWS:
    if _row.method:
        _ATTRS.setdefault(_row.name if _row.function or _row.kind == "operator"
                          else f"ndarray.{_row.name}", []).append(_row.name)
Methods.__doc__ = "The ndarray methods and operators of the op table (generated)."
