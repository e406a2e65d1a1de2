"""Elementwise ops: ufuncs, ufunc-like functions, ``where``, ``clip``, and the
``ndarray`` operators (``+`` is ``add``...).

Running now, NumPy computes the result itself; deferred, the output shape is
the broadcast of the operands' shapes and its dtype comes from the function
applied to zero-length arrays (``ops.rules``).

Imports: the array layer, ``ops.rules``, ``ops.args``.
"""

from __future__ import annotations

import math
import operator as _operator
from sys import getrefcount
from typing import Any

import numpy as np

from ..array.flags import writeable
from ..array.ndarray import _NP, NATIVE, Recorded, ndarray, wrap
from ..array.operands import PASS, new_array, placement, plain, shape_of
from ..array.record import NO_KWARGS, now, record
from ..devices.registry import DEFAULT_DEVICE
from . import rules
from .args import as_dagrt, eager_call, foreign, operand


def _meta(x: Any) -> Any:
    if type(x) is ndarray or type(x) is np.ndarray:
        return rules.empty0(x.dtype)
    return x


def _normalize_out(out: Any, nout: int) -> tuple[Any, ...] | None:
    if out is None:
        return None
    if type(out) is not tuple:
        if nout > 1:
            raise TypeError("'out' must be a tuple of arrays")
        out = (out,)
    if len(out) != nout:
        raise ValueError(f"The 'out' tuple must have exactly {nout} entries: one per "
                         f"ufunc output")
    if all(o is None for o in out):
        return None
    return out


def _work(args: tuple[Any, ...]) -> int:
    """Bytes of the broadcast result (estimated with the widest operand's
    itemsize); 0 if no operand is an array."""
    nbytes = 0
    shape = None
    same = True
    for a in args:
        t = type(a)
        if t is ndarray:
            a = a._data
        elif t is not _NP:
            continue
        n = a.nbytes
        if n > nbytes:
            nbytes = n
        if shape is None:
            shape = a.shape
        elif same and a.shape != shape:
            same = False
    if same:
        return nbytes
    arrays = [a._data if type(a) is ndarray else a for a in args
              if type(a) is ndarray or type(a) is _NP]
    try:
        return math.prod(np.broadcast_shapes(*[a.shape for a in arrays])) * max(
            a.itemsize for a in arrays)
    except ValueError:
        return nbytes


def elementwise(func: Any, args: tuple[Any, ...], out: Any = None,
                kwargs: dict[str, Any] | None = None, use_out: bool = True,
                elide: ndarray | None = None) -> Any:
    """Record an elementwise (broadcasting) call of ``func``.

    ``elide`` is a temporary operand nobody else references: if the result
    has its shape and dtype, it is written in place there (NumPy's temporary
    elision), saving an allocation.
    """
    nout = func.nout if type(func) is np.ufunc else 1
    kwargs = kwargs or {}
    if elide is not None and elide._data.nbytes < rules.ELIDE_BYTES:
        elide = None
    if out is not None:
        out = _normalize_out(out, nout)
        if out is not None and not all(type(o) is ndarray or o is None for o in out):
            if type(func) is np.ufunc and any(map(foreign, (*args, *out))):
                # NEP 13 (an override, or a subclass's instance): NumPy dispatches
                return func(*args, out=out, **kwargs)
            if not all(isinstance(o, ndarray) or o is None for o in out):
                result = eager_call(func, args, dict(kwargs, out=out))  # NumPy's out=
                return result[0] if nout == 1 else result
            elementwise(func, args, tuple(map(plain, out)), kwargs, use_out)
            return out[0] if nout == 1 else out  # (a subclass's, to a function that is no ufunc)
    where = kwargs.get("where") if kwargs else None
    if where is not None and type(where) is not ndarray and type(func) is np.ufunc and \
            foreign(where):  # (NumPy's dispatch looks at ``where=`` too)
        return func(*args, **kwargs) if out is None else func(*args, out=out, **kwargs)
    for a in args:
        if type(a) not in PASS:
            if type(func) is np.ufunc and any(map(foreign, args)):
                # NEP 13: an operand overrides ufuncs (``__array_ufunc__``):
                # NumPy's ufunc dispatches to it (dagrt's arrays then defer)
                return func(*args, **kwargs) if out is None else func(*args, out=out,
                                                                       **kwargs)
            args = tuple(map(operand, args))
            break

    def plan() -> list[ndarray]:
        return _plan(func, args, out, kwargs, use_out, elide, nout)

    outs = None
    if out is not None:
        outs = list(out) if all(o is not None for o in out) else plan()
    elif elide is not None:
        outs = plan()  # the temporary may take the result
    work = _work(args)
    outs = record(getattr(func, "__name__", "elementwise"), func, args, kwargs, plan, outs,
                  use_out and (work > 0 or _has_array(args)), work)
    return outs[0] if nout == 1 else tuple(outs)


def _has_array(args: tuple[Any, ...]) -> bool:
    return any(type(a) is ndarray or type(a) is _NP for a in args)


def _plan(func: Any, args: tuple[Any, ...], out: tuple[Any, ...] | None,
          kwargs: dict[str, Any], use_out: bool, elide: ndarray | None,
          nout: int) -> list[ndarray]:
    """NumPy's checks from the arguments alone; the outputs' storage. What
    the checks found for the same function on operands of the same types,
    dtypes, shapes and strides (no keywords, no temporary to elide) is
    remembered: a loop of deferred ops plans each once."""
    key = _plan_key(func, args, out) if not kwargs and elide is None else None
    if key is not None:
        hit = _PLANS.get(key)
        if hit is not None:
            if out is not None:
                placement((*args, *out))  # (the devices: not in the key)
                return list(out)
            shape, dtypes, order = hit
            return [new_array(shape, dtype, args, order) for dtype in dtypes]
    outs = _plan_anew(func, args, out, kwargs, use_out, elide, nout)
    if key is not None:
        if len(_PLANS) >= 4096:
            _PLANS.clear()
        _PLANS[key] = (outs[0].shape, [o.dtype for o in outs],
                       rules.k_order(outs[0].shape, [o._data for o in outs[:1]]))
    return outs


_PLANS: dict[Any, Any] = {}


def _plan_key(func: Any, args: tuple[Any, ...], out: tuple[Any, ...] | None) -> Any:
    """What decides a plan, or None where more does: a Python int with an
    integer array (NumPy checks the int's value), object and structured
    dtypes, any other type of operand, an output left to NumPy."""
    key: list[Any] = [func, out is not None]
    ints = integers = False
    for a in (*args, *(out or ())):
        t = type(a)
        if t is ndarray or t is np.ndarray:
            data = a._data if t is ndarray else a
            dtype = data.dtype
            kind = dtype.kind
            if kind in "iu":
                integers = True
            elif kind == "O" or kind == "V":
                return None
            key.append((dtype, data.shape, data.strides))
        elif t is float or t is complex or t is bool:
            key.append(t)
        elif t is int:
            ints = True
            key.append(t)
        else:  # (None: an output NumPy allocates)
            return None
    return None if ints and integers else tuple(key)


def _plan_anew(func: Any, args: tuple[Any, ...], out: tuple[Any, ...] | None,
               kwargs: dict[str, Any], use_out: bool, elide: ndarray | None,
               nout: int) -> list[ndarray]:
    shapes = [a.shape for a in args if isinstance(a, (ndarray, np.ndarray))]
    meta_kwargs = {k: _meta(operand(v)) if k == "where" else v for k, v in kwargs.items()}
    where = kwargs.get("where")
    if where is not None and not isinstance(where, (bool, np.bool_)):
        shapes.append(shape_of(where))
    metas = [_meta(a) for a in args]
    gufunc = getattr(func, "signature", None) is not None  # vecdot, matvec: core dims
    if gufunc:
        shape = rules.gufunc_shape(func, [getattr(a, "shape", ()) for a in args])
        metas = [rules.gufunc_meta(func, i, a) for i, a in enumerate(args)]
    if out is not None:
        core = np.shape(func(*metas)) if gufunc else None
        meta_kwargs["out"] = tuple(
            None if o is None else rules.empty0(o.dtype) if core is None
            else np.empty(core, o.dtype) for o in out)
        if type(func) is not np.ufunc:  # isposinf, isneginf: one array
            meta_kwargs["out"] = meta_kwargs["out"][0]
    dtypes = rules.elementwise_dtypes(func, metas, meta_kwargs)
    if not gufunc:  # (NumPy resolves the loop's types, and casts to out=, before broadcasting)
        shape = rules.broadcast(shapes) if shapes else ()
    if (elide is not None and out is None and len(dtypes) == 1 and dtypes[0] == elide.dtype
            and shape == elide.shape and writeable(elide)):
        return [elide]
    if out is not None or where is not None:  # every operand on one device
        placement((*args, *(o for o in out or () if o is not None), where))
    outs = []
    order: Any = "C"
    for i, dtype in enumerate(dtypes):
        given = out[i] if out is not None else None
        if given is None:
            if order == "C":  # NumPy's layout for its own outputs (order="K")
                order = rules.k_order(shape, [x._data if type(x) is ndarray else x for x in (
                    *args, *(out or ())) if type(x) is ndarray or type(x) is np.ndarray])
            outs.append(new_array(shape, dtype, (*args, *(out or ())), order))
        else:
            if rules.broadcast([shape, given.shape]) != given.shape:
                raise ValueError(f"non-broadcastable output operand with shape "
                                 f"{given.shape} doesn't match the broadcast shape {shape}")
            outs.append(given)
    return outs


# ``a ** 2``, ``a ** -1``, ``a ** 0.5`` on float and complex arrays: NumPy calls
# square, reciprocal, sqrt (whose results differ from power's for complex).
_FAST_POWER = {(int, 2): np.square, (int, -1): np.reciprocal, (float, 0.5): np.sqrt}
# References to a temporary operand inside an operator: the caller's stack,
# the operator's frame, getrefcount's argument (the operator is the method
# itself: ``array.methods.register``).
_TEMPORARY_REFS = 3


def defers(other: Any, inplace: bool) -> bool:
    """NumPy's ``binop_should_defer``: an operator returns NotImplemented (so
    that ``other``'s reflected operator runs, or Python's TypeError) when
    ``other`` opts out of NumPy's binops (NEP 13: ``__array_ufunc__ = None``)
    or, with no ``__array_ufunc__``, claims an ``__array_priority__`` above an
    ndarray's (0)."""
    attr = getattr(type(other), "__array_ufunc__", _MISSING)
    if attr is not _MISSING:
        return not inplace and attr is None
    priority = getattr(other, "__array_priority__", None)
    if priority is None or isinstance(other, (ndarray, np.generic)):
        return False
    try:
        return float(priority) > 0.0
    except Exception:  # (NumPy: a priority that is not a number is the default)
        return False


_MISSING = object()


def make_operator(ufunc: np.ufunc, variant: str) -> Any:
    """The ``ndarray`` operator for ``ufunc``: ``self <op> other`` (``variant``
    ""), ``other <op> self`` ("reflected"), ``self <op>= other`` ("inplace").
    The hottest path of small-array code, so the common case (a host array
    and a Python scalar or an array of the same shape) is spelled out here;
    it runs through the recording path like every op."""
    name = ufunc.__name__
    if ufunc.nin == 1:
        def unary(self: ndarray) -> Any:
            args = (self,)
            return record(name, ufunc, args, NO_KWARGS,
                          lambda: _plan(ufunc, args, None, NO_KWARGS, True, None, 1),
                          None, True, self._data.nbytes)[0]
        return unary
    reflected, inplace = variant == "reflected", variant == "inplace"
    power = ufunc is np.power
    elide_bytes = rules.ELIDE_BYTES

    def operator(self: ndarray, other: Any) -> Any:
        t = type(other)
        if power and not reflected and (t is int or t is float):  # fast_scalar_power
            fast = _FAST_POWER.get((t, other)) if self._data.dtype.kind in "fc" else \
                np.square if t is int and other == 2 else None  # bool ** 2: int8
            if fast is not None:
                return elementwise(fast, (self,), self if inplace else None)
        if t is not ndarray and t is not float and t is not int:
            if defers(other, inplace):  # (``+=``: CPython fills the sequence slot of
                # ``+=`` with ``__iadd__`` too and returns its NotImplemented: ``+``'s dispatch)
                return self + other if inplace and ufunc is np.add else NotImplemented
            return elementwise(ufunc, (other, self) if reflected else (self, other),
                               self if inplace else None)
        data = self._data
        if t is ndarray and other._data.shape != data.shape:
            return elementwise(ufunc, (other, self) if reflected else (self, other),
                               self if inplace else None)
        if inplace:
            args = (self, other)
            return record(name, ufunc, args, NO_KWARGS,
                          lambda: _plan(ufunc, args, args[:1], NO_KWARGS, True, None, 1),
                          [self], True, data.nbytes)[0]
        # A temporary (referenced only by the caller's stack, the frames of this
        # call and getrefcount's argument) can take the result, as NumPy elides
        # temporaries (no closure here may capture ``self``, only ``args``,
        # made after this test: a cell is a reference), if its storage is
        # dagrt's own (``data.base is None``): not a NumPy array the user holds
        # (``dagrt.asarray(a) + 1`` must not write ``a``: asarray wraps a view).
        if data.nbytes >= elide_bytes and getrefcount(self) <= _TEMPORARY_REFS \
                and self._base is None and data.base is None:
            return elementwise(ufunc, (other, self) if reflected else (self, other),
                               elide=self)
        args = (other, self) if reflected else (self, other)
        return record(name, ufunc, args, NO_KWARGS,
                      lambda: _plan(ufunc, args, None, NO_KWARGS, True, None, 1),
                      None, True, data.nbytes)[0]
    if ufunc is np.equal or ufunc is np.not_equal:
        return _equality(operator, _operator.eq if ufunc is np.equal else _operator.ne)
    return operator


def _equality(compare: Any, python_op: Any) -> Any:
    """``==`` and ``!=``: where the ufunc has no loop for the operands' dtypes
    (a number array and a string, void arrays), NumPy's operator still
    answers (all False for ``==``; void arrays compared bytewise): run it."""
    def equality(self: ndarray, other: Any) -> Any:
        try:
            return compare(self, other)
        except TypeError:
            return eager_call(python_op, (self, other), {})
    return equality


def where(condition: Any, x: Any = np._NoValue, y: Any = np._NoValue, /) -> Any:
    """Implementation of numpy.where; the one-argument form is data-dependent."""
    if x is np._NoValue and y is np._NoValue:
        return eager_call(np.where, (condition,), {})
    if x is np._NoValue or y is np._NoValue:
        raise ValueError("either both or neither of x and y should be given")
    done = now(np.where, (condition, x, y))  # now, if it can
    return done if done is not None else elementwise(np.where, (condition, x, y),
                                                     use_out=False)


def clip(a: Any, a_min: Any = np._NoValue, a_max: Any = np._NoValue, out: Any = None, *,
         min: Any = np._NoValue, max: Any = np._NoValue, **kwargs: Any) -> Any:
    """Implementation of numpy.clip (elementwise), with NumPy's argument checks."""
    if a_min is np._NoValue and a_max is np._NoValue:
        a_min = None if min is np._NoValue else min
        a_max = None if max is np._NoValue else max
    elif a_min is np._NoValue:
        raise TypeError("clip() missing 1 required positional argument: 'a_min'")
    elif a_max is np._NoValue:
        raise TypeError("clip() missing 1 required positional argument: 'a_max'")
    elif min is not np._NoValue or max is not np._NoValue:
        raise ValueError("Passing `min` or `max` keyword argument when `a_min` and "
                         "`a_max` are provided is forbidden.")
    return elementwise(np.clip, (a, a_min, a_max), out, kwargs)


def clip_method(self: Any, min: Any = None, max: Any = None, out: Any = None,
                **kwargs: Any) -> Any:
    """Return an array whose values are limited to ``[min, max]``."""
    if out is None and not kwargs and type(self) is ndarray:  # small, ready: NumPy's method
        done = now(_NP.clip, (self, min, max), NO_KWARGS, None, self._data.nbytes)
        if done is not None:
            return done
    return elementwise(np.clip, (self, min, max), out, kwargs)


def _arrays(result: Any) -> Any:
    """``result`` (or each of a tuple) as an array: NumPy's scalar becomes a 0-d one."""
    if isinstance(result, tuple):
        return tuple(map(_arrays, result))
    return wrap(np.asarray(result)) if isinstance(result, np.generic) else result


class _UfuncType(type):
    """``isinstance(f, dagrt.ufunc)`` holds for NumPy's ufuncs and dagrt's."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, np.ufunc) or (
            type(obj) is Ufunc and type(obj.__wrapped_numpy__) is np.ufunc)

    def __subclasscheck__(cls, sub: Any) -> bool:
        return issubclass(sub, np.ufunc)

    def __getattr__(cls, name: str) -> Any:  # ``np.ufunc.reduce``: NumPy's descriptors
        return getattr(np.ufunc, name)


class ufunc(metaclass=_UfuncType):  # noqa: N801  (NumPy's name)
    """The type of ufuncs (``dagrt.ufunc``): NumPy's ufuncs and dagrt's
    recorded ones (``Ufunc``, but not those standing for NumPy functions that
    are no ufuncs, ``isposinf``) are instances of it, so ``isinstance(np.add,
    np.ufunc)`` holds with ``import dagrt as np``. Like NumPy's, it cannot be
    instantiated directly."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("cannot create 'dagrt.ufunc' instances")


ufunc.__module__ = "dagrt"


class Ufunc(Recorded):  # type: ignore[misc, valid-type]
    """A NumPy ufunc (or ufunc-like function), recorded: called as it
    (positional outputs too), with its attributes and methods (``nin``,
    ``reduce``, ``outer``, ``at``...). It equals, and hashes as, the NumPy
    function it stands for, so code that looks ufuncs up in lists, sets and
    dicts (``ops.remove(np.add)``, ``ufunc in escape``) finds dagrt's too."""

    def __init__(self, func: Any) -> None:
        self.__wrapped_numpy__ = func
        self._nin = getattr(func, "nin", 1)
        # a call with operands only runs now in C (``array/_native.c``) when it can
        self._fast = type(func) is np.ufunc and func.nout == 1
        self._device = DEFAULT_DEVICE  # (numbers only, on the CPU: NumPy's scalar, in C)
        self.__module__ = "dagrt"  # pickled by name, as dagrt.<name>
        if type(func) is np.ufunc:
            _ufunc_methods(self, func)

    def _call(self, *args: Any, out: Any = None, **kwargs: Any) -> Any:
        """``f(*args, **kwargs)`` (the call of the compiled base class, when
        not run now there)."""
        if len(args) > self._nin:  # outputs given positionally: np.cos(x, out1)
            nout = getattr(self.__wrapped_numpy__, "nout", 1)
            if len(args) > self._nin + nout:
                raise TypeError(f"{self.__name__}() takes from {self._nin} to "
                                f"{self._nin + nout} positional arguments but "
                                f"{len(args)} were given")
            if out is not None:
                raise TypeError("cannot specify 'out' as both a positional and "
                                "keyword argument")
            args, out = args[:self._nin], args[self._nin:] + (None,) * (
                self._nin + nout - len(args))  # (np.modf(x, o): the second output new)
            if any(o is Ellipsis for o in out):
                raise TypeError("out=... is only allowed as a keyword argument.")
        elif out is Ellipsis:  # NumPy >= 2: arrays, never scalars
            return _arrays(elementwise(self.__wrapped_numpy__, args, None, kwargs))
        return elementwise(self.__wrapped_numpy__, args, out, kwargs)

    if not NATIVE:
        __call__ = _call

    def __getattr__(self, name: str) -> Any:
        """NumPy's other ufunc attributes (``resolve_dtypes``, ``signature``...):
        they take dtypes, not arrays."""
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__wrapped_numpy__, name)

    def __eq__(self, other: object) -> bool:
        func = self.__wrapped_numpy__
        return other is self or other is func or (
            isinstance(other, Ufunc) and other.__wrapped_numpy__ is func)

    def __hash__(self) -> int:
        return hash(self.__wrapped_numpy__)

    def __repr__(self) -> str:
        return f"<dagrt ufunc '{self.__name__}'>"

    def __reduce__(self) -> str:
        return self.__name__


def _ufunc_methods(wrapper: Any, func: np.ufunc) -> None:
    """A ufunc's methods on its wrapper (its other attributes come from
    ``Ufunc.__getattr__``): ``outer`` is recorded as the broadcast call it is;
    ``reduce accumulate reduceat at`` run NumPy's once no pending operation
    uses their inputs (``at`` writes its first argument in place)."""
    for name in ("reduce", "accumulate", "reduceat", "at"):
        method = getattr(func, name)

        def call(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            if any(map(foreign, args)):  # NEP 13: NumPy's method dispatches to the override
                return _method(*args, **kwargs)
            return eager_call(_method, args, kwargs)
        call.__name__ = call.__qualname__ = f"{func.__name__}.{name}"
        call.__doc__ = method.__doc__
        setattr(wrapper, name, call)

    def outer(a: Any, b: Any, /, out: Any = None, **kwargs: Any) -> Any:
        if foreign(a) or foreign(b):  # NEP 13 (or a subclass's instance): NumPy dispatches
            return func.outer(a, b, **kwargs, **({} if out is None else {"out": out}))
        if out is None and (done := now(func.outer, (a, b), kwargs)) is not None:
            return done  # (small ready operands: NumPy's, now)
        a, b = as_dagrt(a), as_dagrt(b)
        expanded = a.reshape(a.shape + (1,) * b.ndim)
        return elementwise(func, (expanded, b), out, kwargs)
    outer.__name__ = outer.__qualname__ = f"{func.__name__}.outer"
    outer.__doc__ = func.outer.__doc__
    wrapper.outer = outer


__all__ = ["Ufunc", "ufunc", "elementwise", "make_operator", "where", "clip", "clip_method"]
