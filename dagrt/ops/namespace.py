"""The namespace: one public function per row of the op table, and the
implementations of the ``ndarray`` methods and operators.

:func:`build` makes each row's function from its kind, registers the
methods' implementations with the ``Methods`` mixin (``array.methods``) and
maps NumPy's functions to dagrt's for ``__array_function__``.

Imports: every op kind.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _config
from ..array import indexing
from ..array.methods import register
from ..array.ndarray import NATIVE, Recorded, ndarray, run_now
from ..array.operands import masked
from ..array.record import now
from ..array.results import wrap_result
from ..devices.registry import DEFAULT_DEVICE
from . import creation, elementwise, methods, reductions, shapes
from .args import eager_call
from .table import ROWS, Row, adopt, numpy_signature, out_position, public

_TUPLES, _STRICT = 1, 2  # run_now's flags (array/_native.c)
# a NowFunction's conditions (array/_native.c)
_FIRST_ARRAY, _NO_KWARGS, _FIRST_LIST, _AXIS_ONLY, _EAGER, _DISPATCH = 4, 8, 16, 32, 128, 256
_DISPATCH_ARRAYS = 512  # (NumPy's dispatches on its arrays: a subclass's instance too)
_PLACED = frozenset(("device", "ctx", "like"))  # creation keywords the slow path reads
# Eager functions of arrays tried in C first (NumPy's call on small ready inputs
# and plain arguments, run_now's ``_STRICT``; none writes its inputs).
_NOW_EAGER = frozenset((
    "nonzero", "flatnonzero", "argwhere", "count_nonzero", "unique", "unique_values",
    "unique_counts", "unique_inverse", "unique_all", "diff", "ediff1d", "searchsorted",
    "isin", "isclose", "allclose", "array_equal", "array_equiv", "median", "nanmedian",
    "percentile", "quantile", "average", "bincount", "digitize", "interp", "trace", "take",
    "cross", "diag", "meshgrid"))
# NumPy functions that only call ndarray's method (``fromnumeric``: a Python
# frame and keywords): the method is called on the storage instead, as NumPy's
# function would (a NowFunction's first argument is then a dagrt array's storage).
HOST_METHODS = {**reductions.HOST_METHODS, "around": np.ndarray.round, **{
    name: getattr(np.ndarray, name) for name in ("round", "cumsum", "cumprod", "argsort",
                                                 "repeat")}}
_EAGER_METHODS = frozenset(("nonzero", "take", "searchsorted", "trace"))  # (of _NOW_EAGER)
# Hand-written functions (rows of kind "custom"), by name.
CUSTOM: dict[str, Callable[..., Any]] = {
    "reshape": shapes.reshape, "ravel": shapes.ravel, "full": creation.full,
    "ones": creation.ones, "full_like": creation.full_like,
    "ones_like": creation.ones_like, "array": creation.array, "asarray": creation.asarray,
    "asanyarray": creation.asanyarray, "ascontiguousarray": creation.ascontiguousarray,
    "asfortranarray": creation.asfortranarray, "copy": shapes.copy_array,
    "astype": shapes.astype_function, "where": elementwise.where, "clip": elementwise.clip,
    "append": shapes.append, "block": shapes.block, "shape": creation.shape,
    "ndim": creation.ndim, "size": creation.size, "result_type": creation.result_type,
    "can_cast": creation.can_cast, "common_type": creation.common_type,
    "iscomplexobj": creation.iscomplexobj, "isrealobj": creation.isrealobj,
}


class NowFunction(Recorded):  # type: ignore[misc, valid-type]
    """A public function whose common call runs NumPy's own function now, in
    C (``Recorded``'s NOW case in ``array/_native.c``: ``run_now`` with the
    function's conditions met, no Python frame); any other call is its
    Python implementation, ``_call``, which tries the same case first. It
    pickles by its public name and binds as a method when stored on a class
    exactly when NumPy's function does (as ``table.Function``)."""

    def __init__(self, impl: Callable[..., Any], now: Any, flags: int, max_args: int = -1,
                 refuse: tuple[str, ...] = (), cpu_only: bool = False,
                 numpy_func: Any = None) -> None:
        functools.update_wrapper(self, impl)  # (name, doc, signature)
        self.__wrapped_numpy__ = numpy_func or getattr(impl, "__wrapped_numpy__", now)
        self.__module__, self.__qualname__ = "dagrt", impl.__name__
        self._call, self._now, self._nin = impl, now, max_args
        self._flags = flags | (_DISPATCH if numpy_func is not None else 0) | (
            _DISPATCH_ARRAYS if type(numpy_func) is _DISPATCHER else 0)
        self._refuse, self._wrap, self._fast = refuse, wrap_result, 0
        if cpu_only:
            self._device = DEFAULT_DEVICE
        self._bind = hasattr(type(self.__wrapped_numpy__), "__get__")
        if now is not None:  # (else only ``_call``, after NEP 18's test)
            self._fast = _now_case()
            _NOW_FUNCTIONS.append(self)
        # what methods and ``__array_function__`` call: no NEP 18 test (``x`` is dagrt's;
        # NumPy's own dispatch called it)
        self.__dagrt_inner__ = self if numpy_func is None else impl if now is None else \
            NowFunction(impl, now, flags, max_args, refuse, cpu_only)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None or not self._bind else types.MethodType(self, obj)

    def __reduce__(self) -> str:
        return self.__qualname__

    def __repr__(self) -> str:
        return f"<dagrt function {self.__qualname__}>"


_NOW_FUNCTIONS: list[NowFunction] = []


def _now_case() -> int:
    """``Recorded``'s NOW case, or 0 (always ``_call``) while plans are
    checked (``DAGRT_CHECK_PLANS``: ``record.now`` then runs nothing now)."""
    return 0 if _config.get("check_plans") else 3


def _refresh() -> None:
    for function in _NOW_FUNCTIONS:
        function._fast = _now_case()


_config.on_change(_refresh)


def _function(row: Row) -> Callable[..., Any]:
    """The public function of a row, from its kind; a ``NowFunction`` where
    its common call can run now in C, or where NumPy's function dispatches
    to duck arrays (NEP 18: a call with one is NumPy's, which dispatches)."""
    function = _python_function(row)
    signature = numpy_signature(row.func)
    dispatch = (type(row.func) is _DISPATCHER or signature is not None and
                "like" in signature.parameters) and row.name not in _METADATA
    if not NATIVE or run_now is None:
        return _dispatching(function, row.func) if dispatch else function
    case = _now_case_of(row)
    if case is None:
        return NowFunction(function, None, 0, numpy_func=row.func) if dispatch else function
    now, flags, max_args, refuse = case
    return NowFunction(function, now, flags, max_args, refuse, cpu_only=row.name == "array" or
                       row.kind == "creation", numpy_func=row.func if dispatch else None)


def _now_case_of(row: Row) -> tuple[Any, int, int, tuple[str, ...]] | None:
    """A row's case run now in C: NumPy's function (or method), the
    conditions, the most positional arguments, the keywords that refuse it."""
    if row.name == "array":  # np.array([1.0, 2.0]): NumPy's copy (copy=False: the Python code)
        return np.array, _STRICT | _TUPLES, 2, ("copy", "device", "ctx", "like")
    if row.kind in ("custom", "elementwise"):
        return None
    out_at = out_position(row.func)
    if row.name == "repeat":  # np.repeat(x, 2): an array first
        return HOST_METHODS[row.name], _STRICT | _FIRST_ARRAY, out_at, ()
    if row.kind == "movement":  # concatenate([a, b]), axis= at most
        return row.func, _STRICT | _FIRST_LIST | _AXIS_ONLY, 1, ()
    if row.kind == "reduction":
        return HOST_METHODS.get(row.name, row.func), _STRICT | _FIRST_ARRAY, out_at, (
            "out", "correction")
    if row.kind == "contraction":
        return row.func, _STRICT | _NO_KWARGS, out_at, ()
    if row.kind == "shaped":
        return HOST_METHODS.get(row.name, row.func), _STRICT | _FIRST_ARRAY, out_at, ("out",)
    if row.kind == "creation":
        return row.func, _STRICT, -1, tuple(_PLACED)
    if row.name in _EAGER_METHODS:  # x.take(i): ndarray's method, for a dagrt array first
        return getattr(np.ndarray, row.name), _STRICT | _TUPLES | _FIRST_ARRAY | _EAGER, \
            out_at, ("out",)
    if row.name in _NOW_EAGER and row.kind != "view":  # (eager: now, whatever the size)
        return row.func, _STRICT | _TUPLES | _EAGER, out_at, ("out",)
    return None


_DISPATCHER = type(np.concatenate)  # NumPy's functions that dispatch (NEP 18)
# (given anything but a dagrt array, these call NumPy's function, which dispatches)
_METADATA = frozenset(("shape", "ndim", "size", "result_type", "can_cast", "common_type",
                       "iscomplexobj", "isrealobj"))
_NUMPY_PROTOCOL = np.ndarray.__array_function__
_PLAIN = frozenset((ndarray, np.ndarray, int, float, bool, complex, str, type(None), slice,
                    np.dtype, type))


def _dispatching(function: Callable[..., Any], numpy_func: Any) -> Callable[..., Any]:
    """``function``, unless an argument is a duck array: NumPy's function then,
    which dispatches to it (NEP 18's ``__array_function__``; NEP 35's ``like=``)."""
    subs = type(numpy_func) is _DISPATCHER  # (on its arrays: a subclass's instance too)

    @functools.wraps(function)
    def dispatching(*args: Any, **kwargs: Any) -> Any:
        if _ducks(args, subs) or kwargs and (_ducks(kwargs.values(), subs) or
                                              _bad_like(kwargs)):
            return numpy_func(*args, **kwargs)
        return function(*args, **kwargs)
    dispatching.__dagrt_inner__ = function  # type: ignore[attr-defined]
    return dispatching


def _bad_like(kwargs: dict[str, Any]) -> bool:
    """``like=`` an object without ``__array_function__`` (NumPy's TypeError)."""
    like = kwargs.get("like")
    return like is not None and not hasattr(type(like), "__array_function__")


def _ducks(args: Any, subs: bool) -> bool:
    """An argument, or an item of a list or tuple argument (its first 64),
    whose type has its own ``__array_function__`` (dask, CuPy, sparse...),
    or, with ``subs``, is a subclass of dagrt's ndarray or a masked array
    (the compiled twin: ``ducks`` in ``array/_native.c``)."""
    for a in args:
        t = type(a)
        if t in _PLAIN:
            continue
        if t is list or t is tuple:
            if any(type(x) not in _PLAIN and _duck(x, subs) for x in a[:64]):
                return True
        elif _duck(a, subs):
            return True
    return False


def _duck(x: Any, subs: bool) -> bool:
    if isinstance(x, ndarray):
        return subs  # (not ``ndarray`` itself: ``_PLAIN``)
    if isinstance(x, np.ndarray):
        return subs and masked(x)  # (NumPy's function: masked arrays' rules)
    protocol = getattr(type(x), "__array_function__", None)
    return protocol is not None and protocol is not _NUMPY_PROTOCOL


def _python_function(row: Row) -> Callable[..., Any]:
    """The Python implementation of a row's function, from its kind."""
    kind = row.kind
    out_at = out_position(row.func)
    if kind == "custom":
        return adopt(CUSTOM[row.name], row.func)
    if kind == "elementwise":
        function = elementwise.Ufunc(row.func)
    elif kind == "reduction":
        def function(a: Any, *args: Any, **kwargs: Any) -> Any:
            return reductions.reduction(row, a, args, kwargs)
    elif kind == "contraction":
        def function(*args: Any, **kwargs: Any) -> Any:
            if not kwargs and len(args) <= out_at:
                done = now(row.func, args)  # np.dot(a, b) on small ready arrays
                if done is not None:
                    return done
            return reductions.contraction(row, args, kwargs)
    elif kind == "view":
        def function(a: Any, *args: Any, **kwargs: Any) -> Any:
            return shapes.view(row, a, args, kwargs)
    elif kind == "movement":
        def function(first: Any, *args: Any, **kwargs: Any) -> Any:
            if (type(first) is list or type(first) is tuple) and len(first) <= 4096 and \
                    not args and (not kwargs or len(kwargs) == 1 and "axis" in kwargs):
                done = now(row.func, (first,), kwargs,  # concatenate([a, b]): now, if it can
                           row.name if row.name != "tile" and row.name != "repeat" else None)
                if done is not None:
                    return done
            return shapes.movement(row, first, args, kwargs)
    elif kind == "shaped":
        def function(a: Any, *args: Any, **kwargs: Any) -> Any:
            if type(a) is ndarray and "out" not in kwargs and len(args) < out_at:
                done = now(row.func, (a, *args), kwargs, row.name,
                           a._data.nbytes)  # np.sort(x) on a ready x the policy admits
                if done is not None:
                    return done
            return shapes.shaped(row, a, args, kwargs)
    elif kind == "creation":
        def function(*args: Any, **kwargs: Any) -> Any:
            if DEFAULT_DEVICE[0] == "cpu" and (not kwargs or _PLACED.isdisjoint(kwargs)) \
                    and run_now is not None:  # np.zeros(3): now, in C
                done = run_now(row.func, args, kwargs, -1, (), None, _STRICT)
                if done is not None:
                    return done[0] if type(done) is list else wrap_result(done[0])
            return creation.creation(row, args, kwargs)
    elif row.name not in _NOW_EAGER:
        def function(*args: Any, **kwargs: Any) -> Any:
            return eager_call(row.func, args, kwargs)
    else:
        def function(*args: Any, **kwargs: Any) -> Any:
            if run_now is not None and (not kwargs or "out" not in kwargs) and \
                    len(args) <= out_at:
                done = run_now(row.func, args, kwargs, -1, (), None, _STRICT | _TUPLES)  # now
                if done is not None:
                    return done[0] if type(done) is list else wrap_result(done[0],
                                                                          (args, kwargs))
            return eager_call(row.func, args, kwargs)
    name = row.func.__name__ if type(row.func) is np.ufunc else row.name  # np.abs: absolute
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Implementation of numpy.{name} ({kind}).\n\nSee also numpy.{name}."
    function.__wrapped_numpy__ = row.func  # type: ignore[attr-defined]
    return adopt(function, row.func)


def build() -> dict[str, Callable[..., Any]]:
    """Every public function of the table, by name; installs the methods."""
    functions: dict[str, Callable[..., Any]] = {}
    made: dict[Any, Callable[..., Any]] = {}  # aliases stay aliases: np.conj is np.conjugate
    for row in ROWS:
        if row.function:
            key = (row.kind, row.func) if type(row.func) is np.ufunc else row.name
            if key not in made:
                made[key] = _function(row)
            functions[row.name] = made[key]
    register({name: getattr(f, "__dagrt_inner__", f) for name, f in functions.items()})
    register({f"ndarray.{name}": impl for name, impl in methods.METHODS.items()})
    register({row.name: elementwise.make_operator(row.func, row.variant)
              for row in ROWS if row.kind == "operator"})
    register({"getitem": indexing.getitem, "setitem": indexing.setitem,
              "getitem ndarray": indexing.getitem_array,
              "setitem ndarray": indexing.setitem_array})
    methods.UFUNCS.update((f.__wrapped_numpy__, f) for f in functions.values()
                          if type(f) is elementwise.Ufunc and type(f.__wrapped_numpy__) is np.ufunc)
    methods.UFUNCS[np.matmul] = functions["matmul"]  # (a gufunc: ``numpy_array @ x``)
    for name, impl in functions.items():
        numpy_func = getattr(np, name, None)
        if callable(numpy_func) and not isinstance(numpy_func, (np.ufunc, type)):
            methods.IMPLEMENTATIONS[numpy_func] = getattr(impl, "__dagrt_inner__", impl)
    return {name: public(f, getattr(np, name, None), "dagrt", name)
            if type(f) is types.FunctionType else f for name, f in functions.items()}


FUNCTIONS = build()
# (after ``build``: a subclass's methods wrap the installed ones)
from . import subclasses as subclasses  # noqa: E402
