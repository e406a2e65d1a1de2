"""The functions of the CuPy double: each checks its arguments now (shapes,
dtypes, what CuPy refuses) and runs NumPy's on the device memory later, on
the current stream; ufuncs and the ``ndarray`` operators and methods that
call them; ``cupyx.errstate``.
"""

from __future__ import annotations

import contextlib
import threading
import types
from collections.abc import Callable
from typing import Any

import numpy

from .core import (
    _NS,
    _alloc,
    _dtype,
    _enqueue,
    _from_host,
    _host,
    _meta,
    _sync,
    _walk,
    ndarray,
)

# NumPy names CuPy 14.2 does not have (from cupy/__init__.py, cupy/linalg,
# cupy/fft, cupy/random at tag v14.2.0)
NUMPY_ONLY = {
    "": {"asmatrix", "block", "bmat", "busday_count", "busday_offset", "busdaycalendar",
         "datetime_as_string", "datetime_data", "einsum_path", "frompyfunc", "fromregex",
         "geomspace", "histogram_bin_edges", "insert", "is_busday", "isnat", "matvec",
         "memmap", "nanpercentile", "nanquantile", "ndenumerate", "nditer", "nested_iters",
         "polyder", "polydiv", "polyint", "spacing", "unstack", "vecdot", "vecmat",
         "piecewise", "apply_along_axis", "apply_over_axes", "vectorize", "fromfunction",
         "fromiter", "frombuffer", "fromstring", "fromfile", "loadtxt", "genfromtxt"},
    "linalg": {"diagonal", "matrix_norm", "multi_dot", "outer", "svdvals", "tensordot",
               "trace", "vecdot", "vector_norm"},
    "fft": set(),
    "random": {"Generator", "MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64",
               "SeedSequence", "get_bit_generator", "get_state", "set_bit_generator",
               "set_state", "default_rng"},
}
_UFUNC_KW = {"out", "dtype", "casting"}
_REFUSED = {"where", "initial", "subok", "signature", "like", "device", "stable"}
_ACCEPTS = {"copyto": {"where"}}  # CuPy functions taking one of those
# Functions whose result's shape depends on the values: CuPy synchronizes.
_SYNC = {"nonzero", "flatnonzero", "argwhere", "unique", "extract", "compress", "bincount",
         "trim_zeros", "setdiff1d", "intersect1d", "union1d", "setxor1d", "repeat",
         "delete", "unique_all", "unique_counts", "unique_inverse", "unique_values",
         "histogram", "histogram2d", "histogramdd", "select"}
# Functions returning views (no kernel) when NumPy's do.
_VIEWS = {"reshape", "ravel", "transpose", "swapaxes", "moveaxis", "rollaxis", "squeeze",
          "expand_dims", "broadcast_to", "broadcast_arrays", "atleast_1d", "atleast_2d",
          "atleast_3d", "diagonal", "real", "imag", "split", "array_split", "hsplit",
          "vsplit", "dsplit", "flip", "fliplr", "flipud", "rot90", "matrix_transpose",
          "permute_dims", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray",
          "require"}
# Functions reading only shapes and dtypes (no kernel, no synchronize).
_INSPECT = {"shape", "ndim", "size", "result_type", "iscomplexobj", "isrealobj",
            "isfortran", "can_cast", "min_scalar_type", "common_type", "shares_memory",
            "may_share_memory", "isscalar", "broadcast_shapes", "iterable"}
# Functions writing into their first argument and returning None.
_IN_PLACE = {"copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis"}


def _meta_out(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Stand-ins of keyword arguments; ``out`` writable (zero bytes)."""
    kw = _meta(kwargs)
    out = kwargs.get("out")
    if out is not None:
        kw["out"] = _walk(out, _writable_leaf)
    return kw


def _writable_leaf(a: Any) -> numpy.ndarray:
    """A writable zero-byte stand-in of ``a`` (a device array or a stand-in)."""
    return numpy.lib.stride_tricks.as_strided(numpy.zeros(1, a.dtype), a.shape,
                                              (0,) * a.ndim)


def _writable(args: Any, name: str) -> Any:
    """The stand-in written by an in-place function (its first) made writable."""
    if name not in _IN_PLACE or not args:
        return args
    return (_writable_leaf(args[0]), *args[1:])


def _outputs(meta: Any) -> Any:
    if isinstance(meta, tuple):
        return tuple(_outputs(m) for m in meta)
    if isinstance(meta, list):
        return [_outputs(m) for m in meta]
    meta = numpy.asarray(meta)
    return _alloc(meta.shape, _dtype(meta.dtype),
                  "F" if meta.flags.f_contiguous and not meta.flags.c_contiguous else "C")


def _assign(outs: Any, result: Any) -> None:
    if isinstance(outs, (tuple, list)):
        for o, r in zip(outs, result):
            _assign(o, r)
    else:
        numpy.copyto(outs._a, result, casting="unsafe")


_SHRUNK = {"matmul", "dot"}


def _shrunk(name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Stand-ins of a product with the contracted axis cut to one (same result
    shape; NumPy's product of zero-stride stand-ins would be slow)."""
    if name in _SHRUNK and len(args) >= 2 and all(
            isinstance(a, numpy.ndarray) and a.ndim for a in args[:2]):
        a, b = args[:2]
        k = min(a.shape[-1], 1)
        b = b[..., :k, :] if b.ndim >= 2 else b[:k]
        return (a[..., :k], b, *args[2:])
    return args


def _function(name: str, npfunc: Callable[..., Any], refused: set[str] = _REFUSED,
              linalg: bool = False) -> Callable[..., Any]:
    """The CuPy function for NumPy's ``npfunc``: checks now, a kernel later."""

    def call(*args: Any, **kwargs: Any) -> Any:
        bad = refused.intersection(kwargs) - _ACCEPTS.get(name, set())
        if bad:
            raise TypeError(f"{name}() got an unexpected keyword argument '{bad.pop()}'")
        if name in _INSPECT:
            return npfunc(*_host(args), **_host(kwargs))
        if name in _VIEWS:
            host = npfunc(*_host(args), **_host(kwargs))
            views = _as_views(host, [a for a in _flat(args) if isinstance(a, ndarray)])
            if views is not None:
                return views
        if name in _SYNC or (linalg and _config.linalg == "raise"):
            _sync()
            with numpy.errstate(all="ignore"):
                return _from_host(npfunc(*_host(args), **_host(kwargs)))
        hargs, hkw = _host(args), _host(kwargs)
        out = kwargs.get("out")
        with numpy.errstate(all="ignore"):  # CuPy checks arguments at the call
            meta_args = _shrunk(name, _meta(args)) if not linalg else _walk(args, _eye)
            if name in _SHRUNK and out is not None:  # a product's out: checked by shape
                meta = npfunc(*meta_args, **_meta({k: v for k, v in kwargs.items()
                                                   if k != "out"}))
                if isinstance(out, ndarray) and (out.shape, out.dtype) != (
                        numpy.shape(meta), numpy.result_type(meta)):
                    raise ValueError("output array is not acceptable (must have the right "
                                     "datatype, number of dimensions, and be a C-Array)")
            else:
                meta = npfunc(*_writable(meta_args, name), **_meta_out(kwargs))
        if out is not None or name in _IN_PLACE:
            _enqueue(name, lambda: npfunc(*hargs, **hkw))
            return out
        outs = _outputs(meta)

        def kernel() -> None:
            try:
                result = npfunc(*hargs, **hkw)
            except numpy.linalg.LinAlgError:  # cuSOLVER does not raise
                for o in _flat(outs):
                    o._a[...] = numpy.nan
                return
            _assign(outs, result)
        _enqueue(name, kernel)
        return outs

    call.__name__ = call.__qualname__ = name
    return call


def _eye(a: ndarray) -> numpy.ndarray:
    """A stand-in for linear algebra (invertible, positive definite)."""
    if a.ndim < 2:
        return numpy.ones(a.shape, a.dtype)
    return numpy.broadcast_to(numpy.eye(a.shape[-2], a.shape[-1], dtype=a.dtype), a.shape)


def _flat(obj: Any) -> list[Any]:
    if isinstance(obj, (tuple, list)):
        return [x for o in obj for x in _flat(o)]
    return [obj]


def _as_views(host: Any, owners: list[ndarray]) -> Any:
    """NumPy's views of the ``owners``' memory as device arrays (each of the
    owner whose allocation it lies in); None if NumPy copied (then the
    function runs as a kernel)."""
    if isinstance(host, (tuple, list)):
        views = [_as_views(h, owners) for h in host]
        return None if any(v is None for v in views) else type(host)(views)
    if not isinstance(host, numpy.ndarray):
        return None
    start = host.__array_interface__["data"][0]
    for owner in owners:
        if host is owner._a:
            return owner
        if owner._mem.ptr <= start < owner._mem.ptr + owner._mem.size or \
                not host.size and owners:
            return ndarray._view(host, owner)
    return None


class ufunc_:  # noqa: N801 - CuPy's ``cupy.ufunc``
    """A CuPy ufunc: ``out``, ``dtype`` and ``casting`` only."""

    def __init__(self, np_ufunc: numpy.ufunc) -> None:
        self._np = np_ufunc
        self.__name__ = np_ufunc.__name__
        self.nin, self.nout, self.nargs = np_ufunc.nin, np_ufunc.nout, np_ufunc.nargs
        self._call = _function(self.__name__, np_ufunc)
        for method in ("reduce", "accumulate", "outer", "at", "reduceat"):
            setattr(self, method, _function(f"{self.__name__}.{method}",
                                            getattr(np_ufunc, method)))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bad = set(kwargs) - _UFUNC_KW
        if bad:
            raise TypeError(f"Wrong arguments {kwargs}")
        if isinstance(kwargs.get("out"), tuple):
            kwargs["out"] = kwargs["out"][0] if len(kwargs["out"]) == 1 else kwargs["out"]
        if len(args) > self.nin:  # positional out
            kwargs["out"] = args[self.nin] if len(args) == self.nin + 1 else args[self.nin:]
            args = args[:self.nin]
        for a in args:
            if not isinstance(a, (ndarray, int, float, complex, bool, numpy.generic)):
                raise TypeError(f"Unsupported type {type(a)}")
        return self._call(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<ufunc '{self.__name__}'>"


ufunc = ufunc_


def _binary(name: str, reflected: bool = False, inplace: bool = False) -> Any:
    def op(self: ndarray, other: Any) -> Any:
        if not isinstance(other, (ndarray, int, float, complex, bool, numpy.generic)):
            if isinstance(other, numpy.ndarray):
                raise TypeError(f"Unsupported type {type(other)}")
            return NotImplemented
        func = _NS[name]
        if inplace:
            return func(self, other, out=self)
        return func(other, self) if reflected else func(self, other)
    return op


for _op, _name in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                   ("truediv", "true_divide"), ("floordiv", "floor_divide"),
                   ("mod", "remainder"), ("pow", "power"), ("matmul", "matmul"),
                   ("and", "bitwise_and"), ("or", "bitwise_or"), ("xor", "bitwise_xor"),
                   ("lshift", "left_shift"), ("rshift", "right_shift")]:
    setattr(ndarray, f"__{_op}__", _binary(_name))
    setattr(ndarray, f"__r{_op}__", _binary(_name, reflected=True))
    setattr(ndarray, f"__i{_op}__", _binary(_name, inplace=True))
for _op, _name in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                   ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")]:
    setattr(ndarray, f"__{_op}__", _binary(_name))
ndarray.__hash__ = None  # type: ignore[assignment]
for _op, _name in [("neg", "negative"), ("pos", "positive"), ("abs", "absolute"),
                   ("invert", "invert")]:
    setattr(ndarray, f"__{_op}__", lambda self, _n=_name: _NS[_n](self))
_METHODS = ["all", "any", "argmax", "argmin", "argpartition", "choose", "clip", "compress",
            "conj", "conjugate", "cumprod", "cumsum", "diagonal", "max", "mean", "min",
            "nonzero", "partition", "prod", "ptp", "put", "ravel", "repeat", "round", "squeeze",
            "std", "sum", "swapaxes", "take", "trace", "var"]
for _name in _METHODS:
    setattr(ndarray, _name, lambda self, *a, _n=_name, **k: _NS[_n](self, *a, **k))
ndarray.flatten = lambda self, order="C": _NS["array"](self, copy=True, order=order).ravel()


# -- the namespace ------------------------------------------------------------------


class _Config(threading.local):
    linalg = "ignore"


_config = _Config()


@contextlib.contextmanager
def _errstate(*, linalg: str | None = None) -> Any:
    """``cupyx.errstate``: ``linalg='raise'`` makes linear algebra check its
    input (synchronizing) and raise LinAlgError."""
    old = _config.linalg
    if linalg is not None:
        _config.linalg = linalg
    try:
        yield
    finally:
        _config.linalg = old


cupyx = types.SimpleNamespace(errstate=_errstate)


