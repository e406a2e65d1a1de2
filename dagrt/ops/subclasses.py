"""Subclasses of ``dagrt.ndarray``, with NumPy's protocol for them.

A user's ``class Named(np.ndarray)`` (``import dagrt as np``) behaves as in
NumPy: the explicit constructor (``super().__new__(cls, shape, ...)``), view
casting (``x.view(Named)``) and new-from-template (slices, copies, method
results) call its ``__array_finalize__``; a ufunc's results go through the
``__array_wrap__`` of the input with the highest ``__array_priority__``;
overrides of ``__array_ufunc__`` and ``__array_function__`` are called as
NumPy calls them (NumPy's own dispatch does it); functions return the
subclass where NumPy's do (``DROPS``: those that return base arrays).

How: ops never see a subclass's instance. Where one enters (its methods and
operators, a ufunc, a function), it is replaced by a *plain alias*
(``operands.plain``: an exact ``ndarray`` view of the same storage, sharing
its buffer state, so hazards, views and in-place writes are unchanged); the
op runs as for any dagrt array, and its results take the subclass. A
subclass's methods come from ``SubclassBase``, which ``subclass`` puts
between the user's class and ``ndarray`` when the class is made, so a
user's override calling ``super().__getitem__(key)`` still gets the subclass.

Imports: the array layer, ``ops.args``, ``ops.elementwise``, ``ops.methods``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..array.methods import register
from ..array.ndarray import ndarray, stands_for_scalar, wrap
from ..array.operands import as_type, is_sub, plain
from .args import eager_call, overrides
from .elementwise import defers, elementwise
from .methods import UFUNCS
from .table import ROWS

# NumPy 2's functions that return base-class arrays given a subclass's
# instance (they call ``asarray``; probed, and checked by tests/test_subclasses.py).
DROPS = frozenset("""
    tensordot outer broadcast_arrays broadcast_to concatenate stack vstack hstack dstack
    column_stack concat block tril triu sinc unwrap sort_complex nonzero flatnonzero argwhere
    intersect1d union1d setxor1d isin histogram histogram2d histogramdd histogram_bin_edges
    digitize searchsorted vander convolve cross lexsort cov corrcoef pad iscomplex
    tril_indices_from triu_indices_from diag_indices_from poly polymul polyder polyint roots
    is_busday einsum interp select bincount unravel_index ravel_multi_index packbits
    unpackbits where copy array asarray ascontiguousarray asfortranarray append resize
    eigvals eigvalsh svdvals norm tensorinv matrix_norm vector_norm cond matrix_rank det slogdet
""".split())
# Those that join arrays (NumPy's ``concatenate``): they keep the class of the
# input with the highest ``__array_priority__`` where it is above ndarray's (0).
_JOINS = frozenset("""
    concatenate concat stack vstack hstack dstack column_stack append resize block
""".split())
# ``numpy.linalg``'s results that take the input's class, by position (the others:
# eigenvalues, singular values...), where a function returns several.
_LINALG_KEEPS = {"eig": (False, True), "eigh": (False, True), "svd": (True, False, True),
                 "lstsq": (True, True, False, False), "qr": (True, True)}
_LINALG_FROM_B = frozenset(("solve", "lstsq"))  # (NumPy wraps with ``b``'s ``__array_wrap__``)
# Functions and methods that reach a 0-d result through a ufunc: NumPy's is
# then a 0-d instance of the subclass, not a scalar (``sub.sum()``).
_ZERO_D = frozenset("""
    sum prod mean std var min max amin amax any all nansum nanprod nanmean nanstd nanvar
    nanmin nanmax ptp median average nanmedian round around clip conj conjugate cumsum cumprod
    fix isposinf isneginf
""".split())
# Methods whose NumPy version is a ufunc call (its results: ``__array_wrap__``).
_UFUNC_METHODS = frozenset("""
    sum prod max min mean var std all any cumsum cumprod round clip conj conjugate
""".split())
# Methods left as ``ndarray``'s: they act on the instance itself or return no array.
_OWN = frozenset("""
    view resize copyto wait_to_read asnumpy tolist item tobytes tofile dump dumps
    setflags fill put itemset sort partition
""".split())
_WRAP = ndarray.__array_wrap__
_NP_CORE = getattr(np, "_core", None) or np.core  # type: ignore[attr-defined]
_NP_METHODS = _NP_CORE._methods
# NumPy's methods that are one ufunc reduction (a subclass's ``__array_ufunc__`` sees it)
_REDUCING = {"sum": _NP_METHODS._sum, "prod": _NP_METHODS._prod, "max": _NP_METHODS._amax,
             "min": _NP_METHODS._amin, "all": _NP_METHODS._all, "any": _NP_METHODS._any}


def _fromnumeric() -> frozenset[str]:
    """NumPy's functions that call the method of the same name on anything
    but NumPy's own ndarray (``np.sum(x)`` is ``x.sum()``): on a subclass,
    so does dagrt's (the method then runs, a user's override included)."""
    names = set()
    for name, f in vars(_NP_CORE.fromnumeric).items():
        code = getattr(getattr(f, "_implementation", None), "__code__", None)
        if code is None:
            continue
        called = set(code.co_names)
        if called & {"_wrapfunc", "_wrapreduction", "_wrapreduction_any_all"} or (
                "ndarray" in called and name in called):
            names.add(name)
    return frozenset(names)


_FORWARDS = _fromnumeric()


# -- results -----------------------------------------------------------------------

def keep(result: Any, template: Any, scalars: bool = True) -> Any:
    """Array results as instances of ``template``'s class, made from it; a 0-d
    array standing for a NumPy scalar stays one where ``scalars``."""
    t = type(result)
    if not scalars and isinstance(result, np.generic):
        result, t = wrap(np.asarray(result)), ndarray
    if t is ndarray:
        if scalars and stands_for_scalar(result):
            return result
        return as_type(result, type(template), template)
    if t is tuple or t is list:
        return t(keep(r, template, scalars) for r in result)
    return result


def wrap_with(wrapper: Any, result: Any, context: Any = None) -> Any:
    """A ufunc's result through ``wrapper``'s ``__array_wrap__`` (NumPy's
    default: an instance of its class; for a subclass even a 0-d result)."""
    if isinstance(result, np.generic):
        result = wrap(np.asarray(result))
    if type(result) is not ndarray:
        return result
    if type(wrapper).__array_wrap__ is _WRAP:
        return as_type(result, type(wrapper), wrapper)
    return wrapper.__array_wrap__(result, context, result.ndim == 0)


def default_wrap(self: Any, array: Any) -> Any:
    """``ndarray.__array_wrap__`` of a subclass's instance: ``array`` as one."""
    if not isinstance(array, ndarray):
        array = wrap(np.asarray(array))
    return array if type(array) is type(self) else as_type(plain(array), type(self), self)


def _template(args: Any) -> Any:
    """The subclass instance among ``args`` (one level of lists) with the
    highest ``__array_priority__``; the first of equals (NumPy's rule)."""
    best, priority = None, 0.0
    for a in args:
        for x in (a if type(a) is list or type(a) is tuple else (a,)):
            if is_sub(x):
                p = float(getattr(x, "__array_priority__", 0.0))
                if best is None or p > priority:
                    best, priority = x, p
    return best


def _subok(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool | None:
    """The ``subok`` argument of a call, keyword or positional (None: none)."""
    if "subok" in kwargs:
        return bool(kwargs["subok"])
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    names = list(parameters)
    if "subok" not in names or names.index("subok") >= len(args):
        return None
    return bool(args[names.index("subok")])


def _plain_all(x: Any) -> Any:
    t = type(x)
    if t is list or t is tuple:
        return t(map(plain, x))
    return plain(x)


# -- ufuncs and functions ----------------------------------------------------------

def ufunc_call(ufunc: Any, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A ufunc (or one of its methods) with a subclass's instance among its
    operands and no override of ``__array_ufunc__``: run on plain aliases;
    outputs given are the result, others wrapped (``wrap_with``)."""
    out, where = kwargs.get("out"), kwargs.get("where")
    outs = out if type(out) is tuple else () if out is None else (out,)
    if any(map(overrides, (*inputs, *outs, where))):
        return NotImplemented
    if outs:
        kwargs = dict(kwargs, out=tuple(map(plain, outs)))
    if is_sub(where):
        kwargs = dict(kwargs, where=plain(where))
    wrapper = _template(inputs) if kwargs.get("subok", True) else None
    func = UFUNCS.get(ufunc)
    plain_inputs = tuple(map(plain, inputs))
    if func is not None:
        result = (func if method == "__call__" else getattr(func, method))(
            *plain_inputs, **kwargs)
    elif method == "__call__":  # (a ufunc of the user's: ``frompyfunc``'s)
        kwargs = dict(kwargs)
        result = elementwise(ufunc, plain_inputs, kwargs.pop("out", None), kwargs)
    else:
        result = eager_call(getattr(ufunc, method), plain_inputs, kwargs)
    if method == "at":
        return result
    results = result if type(result) is tuple else (result,)
    # (the context's arguments: the inputs, and the outputs where any is given)
    arguments = (*inputs, *outs) if any(o is not None for o in outs) else inputs
    done = []
    for i, r in enumerate(results):
        given = outs[i] if i < len(outs) else None
        if given is not None:  # NumPy's result is the output given (its own wrap, if any)
            r = given if not is_sub(given) or type(given).__array_wrap__ is _WRAP else \
                given.__array_wrap__(given, (ufunc, arguments, i), False)
        elif wrapper is not None:
            r = wrap_with(wrapper, r, (ufunc, arguments, i))
        done.append(r)
    return tuple(done) if type(result) is tuple else done[0]


def function_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  call: Callable[..., Any]) -> Any:
    """A NumPy function dispatched (NEP 18) to dagrt with a subclass's
    instance among its arguments: what NumPy's function does with it
    (``call``: dagrt's way to run ``func`` on plain arrays)."""
    name = func.__name__
    if name in _FORWARDS:  # NumPy's calls the method: so does this
        return func._implementation(*args, **kwargs)
    template = _template((*args, *kwargs.values()))
    out = kwargs.get("out")
    result = call(func, tuple(map(_plain_all, args)),
                  {k: _plain_all(v) for k, v in kwargs.items()})
    if out is not None:
        return out
    subok = _subok(func, args, kwargs)
    if template is None or subok is False or name in DROPS and not subok and not (
            name in _JOINS and float(template.__array_priority__) > 0.0):
        return result
    if name == "broadcast_arrays":  # (``subok=True``: each its input's class)
        return type(result)(as_type(r, type(x), x) if is_sub(x) else r
                            for r, x in zip(result, args))
    return keep(result, template, name not in _ZERO_D)


def linalg(func: Callable[..., Any]) -> Callable[..., Any]:
    """A ``dagrt.linalg`` function whose results take the class of its first
    argument (``solve``, ``lstsq``: of ``b``), a subclass's instance, as NumPy's
    do (its ``__array_wrap__``)."""
    name = func.__name__
    keeps, at = _LINALG_KEEPS.get(name), 1 if name in _LINALG_FROM_B else 0

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        source = args[at] if len(args) > at else kwargs.get("b")
        if type(source) is ndarray or source is None:  # (the common case: no subclass)
            return result
        template = _template((source,))
        if template is None or (
                type(result) is ndarray and stands_for_scalar(result)):
            return result
        if keeps is None:
            return wrap_with(template, result)
        if not isinstance(result, tuple):
            return result  # (``svd(a, compute_uv=False)``: the singular values)
        items = [wrap_with(template, r) if k else r for r, k in zip(result, keeps)]
        return type(result)(*items) if hasattr(result, "_fields") else tuple(items)
    return call


# -- the subclass's methods ----------------------------------------------------------

def _method(name: str, base: Callable[..., Any]) -> Callable[..., Any]:
    ufunc_like, scalars = name in _UFUNC_METHODS, name not in _ZERO_D
    reducing = _REDUCING.get(name)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if reducing is not None and overrides(self):  # NumPy's method: its ufunc's reduce,
            return reducing(self, *args, **kwargs)  # which calls the override
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = plain(out)
        result = base(plain(self), *args, **kwargs)
        if out is not None:
            return out
        if name == "nonzero" or name == "searchsorted":  # (NumPy's: base-class arrays)
            return result
        if ufunc_like:
            return wrap_with(self, result)
        return keep(result, self, scalars)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = base.__doc__
    return method


def _operator(ufunc: np.ufunc, variant: str) -> Callable[..., Any]:
    """A subclass's operator: NumPy's ufunc, whose dispatch calls the
    operands' ``__array_ufunc__`` (``ufunc_call`` by default), as NumPy's
    ndarray operators do."""
    if ufunc.nin == 1:
        return lambda self: ufunc(self)

    def operator(self: Any, other: Any) -> Any:
        if defers(other, variant == "inplace"):
            return NotImplemented
        if variant == "inplace":
            return ufunc(self, other, out=(self,))
        return ufunc(other, self) if variant == "reflected" else ufunc(self, other)
    return operator


def _getitem(self: Any, key: Any) -> Any:
    return keep(ndarray.__getitem__(plain(self), key), self)


def _setitem(self: Any, key: Any, value: Any) -> None:
    ndarray.__setitem__(plain(self), key, value)


def _iter(self: Any) -> Any:
    for item in ndarray.__iter__(plain(self)):
        yield keep(item, self)


def _property(name: str) -> property:
    base = getattr(ndarray, name)
    return property(lambda self: keep(base.__get__(plain(self)), self),
                    lambda self, value: base.__set__(self, value) if base.__set__ else None,
                    doc=base.__doc__)


def _attributes() -> dict[str, Any]:
    attrs: dict[str, Any] = {"__slots__": (), "__module__": "dagrt",
                             "__array_priority__": 0.0,  # (NumPy's ndarray's: dagrt's is
                             # 100, above NumPy's arrays; a subclass's is its own)
                             "__getitem__": _getitem, "__setitem__": _setitem,
                             "__iter__": _iter}
    for name in dir(ndarray):
        attr = getattr(ndarray, name, None)
        if name.startswith("_") and name not in ("__copy__", "__deepcopy__") or name in _OWN:
            continue
        if callable(attr) and not isinstance(attr, type):
            attrs[name] = _method(name, attr)
    for name in ("T", "mT", "real", "imag"):
        if hasattr(ndarray, name):
            attrs[name] = _property(name)
    for row in ROWS:
        if row.kind == "operator":
            attrs[row.name] = _operator(row.func, row.variant)
    for name, variant in (("__matmul__", ""), ("__rmatmul__", "reflected"),
                          ("__imatmul__", "inplace")):
        attrs[name] = _operator(np.matmul, variant)
    attrs["__divmod__"] = _operator(np.divmod, "")
    attrs["__rdivmod__"] = _operator(np.divmod, "reflected")
    return attrs


SubclassBase = type("SubclassBase", (ndarray,), _attributes())
SubclassBase.__doc__ = """What a user's subclass of ``dagrt.ndarray`` inherits
(``ops.subclasses``): NumPy's subclass behaviour for every method."""


def subclass(cls: type) -> None:
    """``ndarray.__init_subclass__``: ``SubclassBase`` takes ``ndarray``'s place
    among a user's class's bases."""
    if cls is SubclassBase or issubclass(cls, SubclassBase):
        return
    cls.__bases__ = tuple(SubclassBase if b is ndarray else b for b in cls.__bases__)


def finalize(self: Any, obj: Any) -> None:
    hook = type(self).__array_finalize__
    if hook is not ndarray.__array_finalize__:
        hook(self, obj)


register({"subclass": subclass, "finalize": finalize, "wrap": default_wrap,
          "as type": as_type, "subclass ufunc": ufunc_call, "subclass function": function_call})
