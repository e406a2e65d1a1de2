"""The op table: one row per NumPy function, ``ndarray`` method and operator
that dagrt records.

A :class:`Row` names a NumPy function (both the kernel and the reference the
tests compare against), its *kind*, which selects the implementation (one
module of ``ops/`` per kind), and where it appears: as a public function of
``dagrt``, as an ``ndarray`` method (``self`` first), or both.

==============  ==============================================================
elementwise     ufuncs and ufunc-like functions (broadcasting, ``out=``)
reduction       ``sum mean std ...``: ``axis``, ``keepdims``, ``dtype``, ``out``
contraction     ``matmul dot tensordot einsum inner outer vdot``
view            returns views of its input's storage, computed at once
movement        copies data into a new shape (concatenate, stack, tile...)
shaped          output shaped as the input or its flattening (sort, cumsum...)
creation        builds a new array from parameters (zeros, arange, eye...)
eager           data-dependent output shape: evaluates inputs, calls NumPy
custom          a hand-written implementation of the same name (reshape...)
operator        ``ndarray`` operators: ``+`` is ``add``, ``+=`` writes ``self``
method          methods that exist only on ``ndarray`` (``fill``, ``flatten``)
==============  ==============================================================

The namespace (``ops.namespace``), the ``ndarray`` methods (the mixin of
``array.methods``), the docstrings and the generated tests all come from
:data:`ROWS`. This module is data: it imports nothing from dagrt, so any
layer may read it.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the op table."""

    name: str
    kind: str
    func: Any = None
    out: bool = True          # the kernel accepts ``out=``
    method: bool = False      # also an ``ndarray`` method, ``self`` first
    function: bool = True     # a public function of the dagrt namespace
    variant: str = ""         # operators: "", "reflected" or "inplace"
    params: tuple[str, ...] = field(default=(), compare=False)  # positional, after the first


def _params(func: Callable[..., Any]) -> tuple[str, ...]:
    """Names of positional parameters after the first, for binding calls."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in list(sig.parameters.values())[1:]
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def numpy_signature(func: Any) -> inspect.Signature | None:
    """NumPy's signature of ``func`` (what ``inspect.signature`` shows for
    the dagrt function standing in for it), or None where NumPy has none."""
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


@functools.cache
def keywords(func: Any) -> frozenset[str] | None:
    """The keywords NumPy's ``func`` takes (None: any, or not known)."""
    sig = numpy_signature(func)
    if sig is None or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return frozenset(p.name for p in sig.parameters.values()
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def check_keywords(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """NumPy's own TypeError for a keyword its ``func`` does not take (``out=``
    to ``np.sort``), raised by calling it as given, before anything runs."""
    allowed = keywords(func)
    if kwargs and allowed is not None and not allowed.issuperset(kwargs):
        func(*args, **kwargs)


@functools.cache
def out_position(func: Any) -> int:
    """How many positional arguments a call of NumPy's ``func`` may have
    without one being ``out`` (which a run-now case must not write)."""
    sig = numpy_signature(func)
    names = [p.name for p in sig.parameters.values() if p.kind in (
        p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)] if sig is not None else []
    return names.index("out") if "out" in names else 1 << 30


def adopt(function: Callable[..., Any], numpy_func: Any) -> Callable[..., Any]:
    """Give ``function`` the signature of the NumPy function it stands for
    (``inspect.signature``, the array API tests and IDEs read it)."""
    sig = numpy_signature(numpy_func)
    if sig is not None:
        function.__signature__ = sig  # type: ignore[attr-defined]
    return function


def adopt_all(namespace: dict[str, Any], numpy_module: Any) -> None:
    """:func:`adopt` for every public function defined in a module
    (``namespace`` is its ``globals()``) that ``numpy_module`` also has, and
    make it a :class:`Function` there."""
    module = namespace["__name__"]
    for name, function in list(namespace.items()):
        if (not name.startswith("_") and type(function) is types.FunctionType
                and function.__module__ == module and hasattr(numpy_module, name)):
            numpy_func = getattr(numpy_module, name)
            namespace[name] = public(adopt(function, numpy_func), numpy_func, module, name)


def public(function: Callable[..., Any], numpy_func: Any, module: str, name: str) -> Any:
    """The public object for ``function``, exported as ``module.name`` in
    place of ``numpy_func``: it pickles by that name, and it binds as a
    method when stored on a class exactly when NumPy's does (NumPy's
    built-ins, ``np.array`` ``np.zeros``..., do not; its Python functions
    and array-function dispatchers, ``np.sum``..., do)."""
    if numpy_func is not None and not hasattr(type(numpy_func), "__get__"):
        return Function(function, module, name)
    function.__module__, function.__qualname__ = module, name
    return function


class Function(functools.partial):  # type: ignore[type-arg]
    """A public dagrt function standing for a NumPy built-in: called as the
    function it wraps, but not bound as a method when stored on a class
    (``class T: array = np.array`` then ``self.array(x)``), and pickled by
    its public name."""

    def __new__(cls, function: Callable[..., Any], module: str, name: str) -> Function:
        self = super().__new__(cls, function)
        self.__dict__.update({k: v for k, v in vars(function).items()})
        self.__name__, self.__qualname__, self.__module__ = name, name, module
        self.__doc__ = function.__doc__
        self.__wrapped__ = function
        return self

    def __repr__(self) -> str:
        return f"<function {self.__module__}.{self.__name__}>"

    def __reduce__(self) -> str:
        return self.__name__

    def __get__(self, obj: Any, objtype: Any = None) -> Function:
        """Never bound (Python 3.13's ``partial`` warns that it will be)."""
        return self


UFUNCS = sorted(name for name, obj in vars(np).items() if isinstance(obj, np.ufunc)) + [
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
_VIEW_METHODS = {"swapaxes", "squeeze", "diagonal"}
MOVEMENT = {"concatenate": True, "stack": True, "vstack": False, "hstack": False,
            "dstack": False, "column_stack": False, "row_stack": False,
            "tile": False, "repeat": False, "roll": False, "concat": True}
SHAPED = {"sort": False, "argsort": False, "cumsum": True, "cumprod": True,
          "nancumsum": True, "nancumprod": True, "round": True, "around": True,
          "tril": False, "triu": False, "sinc": False, "i0": False, "angle": False,
          "unwrap": False, "fix": True, "cumulative_sum": True, "cumulative_prod": True,
          "sort_complex": False}
_SHAPED_METHODS = {"argsort", "cumsum", "cumprod", "round"}
CREATION = ["zeros", "empty", "zeros_like", "empty_like", "arange", "linspace",
            "logspace", "geomspace", "eye", "identity", "tri", "fromfunction",
            "frombuffer", "fromiter", "fromstring", "loadtxt", "genfromtxt",
            "indices", "bartlett", "blackman", "hamming", "hanning", "kaiser",
            "tril_indices", "triu_indices", "diag_indices"]
EAGER = ["nonzero", "flatnonzero", "argwhere", "unique", "unique_values",
         "unique_counts", "unique_inverse", "unique_all", "extract", "compress",
         "trim_zeros", "setdiff1d", "intersect1d", "union1d", "setxor1d", "isin",
         "in1d", "histogram", "bincount", "digitize", "searchsorted", "diff", "take", "put",
         "allclose", "array_equal", "array_equiv", "isclose",
         "may_share_memory", "shares_memory", "average",
         "median", "nanmedian", "percentile", "quantile", "count_nonzero", "meshgrid",
         "diag", "diagflat", "vander", "partition", "argpartition", "nan_to_num",
         "real_if_close", "gradient", "trapezoid", "interp", "polyfit", "polyval",
         "convolve", "correlate", "cross", "kron", "trace", "lexsort", "cov", "corrcoef",
         "histogram2d", "histogramdd", "ediff1d", "pad", "select", "piecewise", "choose",
         "resize", "delete", "insert", "place", "putmask", "copyto", "fill_diagonal",
         "ravel_multi_index", "unravel_index", "apply_along_axis", "apply_over_axes",
         "array2string", "array_repr", "array_str", "format_float_positional",
         "format_float_scientific", "binary_repr", "base_repr", "isfortran",
         "min_scalar_type", "mintypecode", "typename", "info", "show_config", "show_runtime",
         "get_include", "save",
         "savez", "savez_compressed", "load", "savetxt", "iterable", "ndindex",
         "ndenumerate", "nditer", "asarray_chkfinite", "isreal", "iscomplex",
         "getbufsize", "setbufsize", "geterrcall", "seterrcall", "isdtype", "require",
         "ix_", "take_along_axis", "put_along_axis", "mask_indices",
         "tril_indices_from", "triu_indices_from", "diag_indices_from", "einsum_path",
         "histogram_bin_edges", "nanpercentile", "nanquantile", "packbits", "unpackbits",
         "poly", "polyadd", "polysub", "polymul", "polydiv", "polyder", "polyint", "roots",
         "busday_count", "busday_offset", "is_busday", "datetime_as_string", "datetime_data",
         "fromfile", "fromregex", "frompyfunc", "nested_iters"]
_EAGER_METHODS = {"nonzero", "searchsorted", "take", "put", "trace", "argpartition"}
# Hand-written functions (ops/<kind>.py defines one of the same name); the
# flag says whether it is also a method.
CUSTOM = {"reshape": False, "ravel": True, "full": False, "ones": False,
          "full_like": False, "ones_like": False, "array": False, "asarray": False,
          "asanyarray": False, "ascontiguousarray": False, "asfortranarray": False,
          "copy": False, "astype": False, "where": False, "clip": False, "append": False,
          "block": False, "shape": False, "ndim": False, "size": False,
          "result_type": False, "can_cast": False, "common_type": False,
          "iscomplexobj": False, "isrealobj": False}  # (metadata: known without waiting)
# ``ndarray`` methods with no function of the same meaning (``x.clip(2)`` is
# valid, ``np.clip(x, 2)`` is not; ``np.astype`` rejects lists): ops/methods.py.
METHODS = ["reshape", "transpose", "copy", "flatten", "view", "fill", "resize", "sort",
           "clip", "astype", "conj", "conjugate", "copyto", "to_device", "as_in_context",
           "as_in_ctx",
           "__matmul__", "__rmatmul__", "__imatmul__", "__divmod__", "__rdivmod__",
           "__array_ufunc__", "__array_function__", "__array_namespace__",
           "__dlpack__", "__dlpack_device__", "__sizeof__"]
# Operators: ``a + b`` is ``add(a, b)``, ``b + a`` the reflected call, ``a += b``
# writes ``a`` (``out=a``).
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
          "truediv": np.true_divide, "floordiv": np.floor_divide, "mod": np.remainder,
          "pow": np.power, "and": np.bitwise_and, "or": np.bitwise_or,
          "xor": np.bitwise_xor, "lshift": np.left_shift, "rshift": np.right_shift}
COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
               "gt": np.greater, "ge": np.greater_equal}
UNARY = {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}


def _rows() -> list[Row]:
    rows = [Row(n, "elementwise", getattr(np, n)) for n in UFUNCS]
    rows += [Row(n, "reduction", getattr(np, n), method=n in _REDUCTION_METHODS,
                 params=_params(getattr(np, n)))
             for n in REDUCTIONS if hasattr(np, n)]
    rows += [Row(n, "contraction", getattr(np, n), out=o, method=n == "dot",
                 params=_params(getattr(np, n)))
             for n, o in CONTRACTIONS.items()]
    rows += [Row(n, "view", getattr(np, n), method=n in _VIEW_METHODS)
             for n in VIEWS if hasattr(np, n)]
    rows += [Row(n, "movement", getattr(np, n), out=o, method=n == "repeat",
                 params=_params(getattr(np, n)))
             for n, o in MOVEMENT.items() if hasattr(np, n)]
    rows += [Row(n, "shaped", getattr(np, n), out=o, method=n in _SHAPED_METHODS,
                 params=_params(getattr(np, n)))
             for n, o in SHAPED.items()]
    rows += [Row(n, "creation", getattr(np, n)) for n in CREATION]
    rows += [Row(n, "eager", getattr(np, n), method=n in _EAGER_METHODS)
             for n in EAGER if hasattr(np, n) and n not in SHAPED]
    rows += [Row(n, "custom", getattr(np, n, None), method=m) for n, m in CUSTOM.items()]
    rows += [Row(n, "method", getattr(np.ndarray, n, None), method=True, function=False)
             for n in METHODS]
    for n, ufunc in BINARY.items():
        rows += [Row(f"__{n}__", "operator", ufunc, method=True, function=False),
                 Row(f"__r{n}__", "operator", ufunc, method=True, function=False,
                     variant="reflected"),
                 Row(f"__i{n}__", "operator", ufunc, method=True, function=False,
                     variant="inplace")]
    rows += [Row(f"__{n}__", "operator", ufunc, method=True, function=False)
             for n, ufunc in COMPARISONS.items()]
    rows += [Row(f"__{n}__", "operator", ufunc, method=True, function=False)
             for n, ufunc in UNARY.items()]
    return rows


ROWS: list[Row] = _rows()
# The public functions, in table order (the tests are generated from these).
OPS: list[Row] = [r for r in ROWS if r.function and r.kind != "custom"]
HAND_WRITTEN: list[str] = [r.name for r in ROWS if r.kind == "custom"]
