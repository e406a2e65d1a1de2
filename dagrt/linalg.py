"""``dagrt.linalg``: NumPy's linear algebra.

Functions whose output shape follows from their inputs are recorded lazily
(errors such as ``LinAlgError`` for a singular matrix surface at the next sync
point that depends on them); the rest evaluate their inputs and call NumPy.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .array.ndarray import ndarray
from .array.operands import new_array
from .array.record import now, record
from .ops import fallback as _fallback
from .ops import rules
from .ops import subclasses as _subclasses
from .ops.args import as_dagrt
from .ops.methods import IMPLEMENTATIONS
from .ops.namespace import FUNCTIONS
from .ops.rules import reduced_shape
from .ops.table import adopt_all, public

LinAlgError = np.linalg.LinAlgError


def _square(a: ndarray, name: str) -> None:
    if a.ndim < 2:
        raise LinAlgError(f"{a.ndim}-dimensional array given. Array must be at least "
                          f"two-dimensional")
    if a.shape[-1] != a.shape[-2]:
        raise LinAlgError("Last 2 dimensions of the array must be square")


def _lazy(name: str, func: Any, args: tuple[Any, ...], shape: Any,
          dtype: Any = None, kwargs: dict[str, Any] | None = None) -> ndarray:
    """Record ``func(*args)``; ``shape`` (and ``dtype``), or a function giving
    both, are needed only if the op is deferred."""
    def plan() -> list[ndarray]:
        s, d = shape() if callable(shape) else (shape, dtype)
        return [new_array(s, d, args)]
    a = args[0]._data
    return record(f"linalg.{name}", func, args, kwargs or {}, plan, use_out=False,
                  work=a.nbytes * (a.shape[-1] if a.ndim else 1))[0]


@functools.lru_cache(maxsize=256)
def _kept_probe(name: str, dtype: np.dtype, *args: Any) -> Any:
    return getattr(np.linalg, name)(np.eye(2, dtype=dtype), *args)


def _probe(name: str, dtype: np.dtype, *args: Any) -> Any:
    """NumPy's ``linalg.<name>`` of a 2x2 identity of ``dtype``: its result's
    dtypes (or its named tuple's type), kept (a probe costs as much as a small
    matrix's op: ``svd`` of a 4x3 one took four times NumPy's time with two)."""
    try:
        return _kept_probe(name, dtype, *args)
    except TypeError:  # (an argument no dict takes: ``matrix_power(a, n)``, ``n`` 0-d)
        return _kept_probe.__wrapped__(name, dtype, *args)


def _float_type(dtype: np.dtype) -> np.dtype:
    """The result type of NumPy's linalg for ``dtype`` (native byte order, as NumPy's)."""
    return np.result_type(dtype, np.float64) if dtype.kind in "biu" else \
        dtype.newbyteorder("=")


def inv(a: Any) -> ndarray:
    """Implementation of numpy.linalg.inv (lazy)."""
    a = as_dagrt(a)
    _square(a, "inv")
    return _lazy("inv", np.linalg.inv, (a,), a.shape, _float_type(a.dtype))


def solve(a: Any, b: Any) -> ndarray:
    """Implementation of numpy.linalg.solve (lazy)."""
    a, b = as_dagrt(a), as_dagrt(b)
    _square(a, "solve")

    def shape() -> tuple[tuple[int, ...], np.dtype]:
        if not a.shape[-1]:
            return b.shape, np.result_type(a.dtype, b.dtype, np.float64)
        meta = np.linalg.solve(
            np.eye(a.shape[-1], dtype=a.dtype) * np.ones(a.shape[:-2] + (1, 1), a.dtype),
            np.zeros(b.shape, b.dtype))
        return meta.shape, meta.dtype
    return _lazy("solve", np.linalg.solve, (a, b), shape)


def det(a: Any) -> ndarray:
    """Implementation of numpy.linalg.det (lazy)."""
    a = as_dagrt(a)
    _square(a, "det")
    return _lazy("det", np.linalg.det, (a,), a.shape[:-2], _float_type(a.dtype))


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> ndarray:
    """Implementation of numpy.linalg.norm (lazy)."""
    if type(x) in (ndarray, np.ndarray) and type(ord) is not ndarray:  # small, ready: now
        done = now(np.linalg.norm, (x, ord, axis, keepdims))
        if done is not None:
            return done
    x = as_dagrt(x)
    if x.dtype == object:  # (its elements may be arrays: the result's shape is theirs)
        return _EAGER["norm"](x, ord, axis, keepdims)
    meta = np.linalg.norm(np.ones(tuple(min(d, 2) for d in x.shape), x.dtype), ord, axis,
                          keepdims)
    if axis is None and not keepdims:
        shape: tuple[int, ...] = ()
    elif axis is None:
        shape = (1,) * x.ndim
    else:
        shape = reduced_shape(x.shape, axis, keepdims)
    return _lazy("norm", np.linalg.norm, (x, ord, axis, keepdims), shape,
                 np.asarray(meta).dtype)


def _multi(name: str, a: ndarray, outputs: list[tuple[tuple[int, ...], Any]],
           args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
    """A lazy call with several outputs, returned as NumPy's named tuple."""
    func = getattr(np.linalg, name)
    meta = _probe(name, _float_type(a.dtype), *args) if not kwargs else \
        func(np.eye(2, dtype=_float_type(a.dtype)), *args, **kwargs)
    outs = record(f"linalg.{name}", func, (a, *args), kwargs or {},
                  lambda: [new_array(shape, dtype, (a,)) for shape, dtype in outputs],
                  use_out=False, work=a._data.nbytes * (a.shape[-1] if a.ndim else 1))
    return type(meta)(*outs)


def cholesky(a: Any, /, *, upper: bool = False) -> ndarray:
    """Implementation of numpy.linalg.cholesky (lazy)."""
    a = as_dagrt(a)
    _square(a, "cholesky")
    return _lazy("cholesky", np.linalg.cholesky, (a,), a.shape, _float_type(a.dtype),
                 {"upper": upper} if upper else None)


def matrix_power(a: Any, n: int) -> ndarray:
    """Implementation of numpy.linalg.matrix_power (lazy)."""
    a = as_dagrt(a)
    _square(a, "matrix_power")
    dtype = _probe("matrix_power", a.dtype, n).dtype
    return _lazy("matrix_power", np.linalg.matrix_power, (a, n), a.shape, dtype)


def pinv(a: Any, rcond: Any = None, hermitian: bool = False, **kwargs: Any) -> ndarray:
    """Implementation of numpy.linalg.pinv (lazy)."""
    a = as_dagrt(a)
    if a.ndim < 2:
        raise LinAlgError(f"{a.ndim}-dimensional array given. Array must be at least "
                          f"two-dimensional")
    shape = a.shape[:-2] + (a.shape[-1], a.shape[-2])
    call = {"hermitian": hermitian, **kwargs}
    if rcond is not None:
        call["rcond"] = rcond
    return _lazy("pinv", np.linalg.pinv, (a,), shape, _float_type(a.dtype), call)


def _uplo(UPLO: str) -> str:  # noqa: N803 (NumPy's name)
    UPLO = UPLO.upper()  # noqa: N806  (NumPy takes "l" and "u" too)
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return UPLO


def eigvalsh(a: Any, UPLO: str = "L") -> ndarray:
    """Implementation of numpy.linalg.eigvalsh (lazy)."""
    UPLO = _uplo(UPLO)  # noqa: N806
    a = as_dagrt(a)
    _square(a, "eigvalsh")
    dtype = _probe("eigvalsh", a.dtype).dtype
    return _lazy("eigvalsh", np.linalg.eigvalsh, (a, UPLO), a.shape[:-1], dtype)


def eigh(a: Any, UPLO: str = "L") -> Any:
    """Implementation of numpy.linalg.eigh (lazy): (eigenvalues, eigenvectors)."""
    UPLO = _uplo(UPLO)  # noqa: N806
    a = as_dagrt(a)
    _square(a, "eigh")
    w, v = _probe("eigh", a.dtype)
    return _multi("eigh", a, [(a.shape[:-1], w.dtype), (a.shape, v.dtype)], (UPLO,))


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True,
        hermitian: bool = False) -> Any:
    """Implementation of numpy.linalg.svd (lazy)."""
    a = as_dagrt(a)
    if a.ndim < 2:
        raise LinAlgError(f"{a.ndim}-dimensional array given. Array must be at least "
                          f"two-dimensional")
    *batch, m, n = a.shape
    k = min(m, n)
    real = _probe("svd", a.dtype, True, False).dtype
    if not compute_uv:
        return _lazy("svd", np.linalg.svd, (a, full_matrices, False, hermitian),
                     tuple(batch) + (k,), real)
    vec = _float_type(a.dtype)
    u = tuple(batch) + ((m, m) if full_matrices else (m, k))
    vh = tuple(batch) + ((n, n) if full_matrices else (k, n))
    return _multi("svd", a, [(u, vec), (tuple(batch) + (k,), real), (vh, vec)],
                  (full_matrices, True, hermitian))


def qr(a: Any, mode: str = "reduced") -> Any:
    """Implementation of numpy.linalg.qr (lazy for modes 'reduced' and 'complete')."""
    a = as_dagrt(a)
    if mode not in ("reduced", "complete") or a.ndim < 2:
        return _fallback.eager_function("numpy.linalg.qr", np.linalg.qr, warn=False)(a, mode)
    *batch, m, n = a.shape
    k = m if mode == "complete" else min(m, n)
    dtype = _float_type(a.dtype)
    return _multi("qr", a, [(tuple(batch) + (m, k), dtype), (tuple(batch) + (k, n), dtype)],
                  (mode,))


def slogdet(a: Any) -> Any:
    """Implementation of numpy.linalg.slogdet (lazy): (sign, logabsdet)."""
    a = as_dagrt(a)
    _square(a, "slogdet")
    sign, logdet = _probe("slogdet", a.dtype)
    return _multi("slogdet", a, [(a.shape[:-2], np.asarray(sign).dtype),
                                 (a.shape[:-2], np.asarray(logdet).dtype)])


def svdvals(x: Any, /) -> ndarray:
    """Implementation of numpy.linalg.svdvals (lazy)."""
    return svd(x, compute_uv=False)


def cond(x: Any, p: Any = None) -> ndarray:
    """Implementation of numpy.linalg.cond (lazy)."""
    x = as_dagrt(x)
    if x.ndim < 2:
        raise LinAlgError(f"{x.ndim}-dimensional array given. Array must be at least "
                          f"two-dimensional")
    dtype = _probe("cond", x.dtype, p).dtype
    return _lazy("cond", np.linalg.cond, (x, p), x.shape[:-2], dtype)


def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:
    """Implementation of numpy.linalg.matrix_rank (lazy for stacks of matrices)."""
    A = as_dagrt(A)
    if A.ndim < 2:  # NumPy's special case: any nonzero element means rank 1
        return _fallback.eager_function("numpy.linalg.matrix_rank", np.linalg.matrix_rank,
                                        warn=False)(A, tol, hermitian, rtol=rtol)
    dtype = np.asarray(_probe("matrix_rank", A.dtype)).dtype
    return _lazy("matrix_rank", np.linalg.matrix_rank, (A, tol, hermitian),
                 A.shape[:-2], dtype, {"rtol": rtol} if rtol is not None else None)


def diagonal(x: Any, /, *, offset: int = 0) -> ndarray:
    """Implementation of numpy.linalg.diagonal: a view of the last two axes."""
    return FUNCTIONS["diagonal"](x, offset, -2, -1)


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> ndarray:
    """Implementation of numpy.linalg.trace: over the last two axes (lazy)."""
    return diagonal(x, offset=offset).sum(-1, dtype=dtype)


def outer(x1: Any, x2: Any, /) -> ndarray:
    """Implementation of numpy.linalg.outer (1-D operands only, as NumPy's)."""
    x1, x2 = as_dagrt(x1), as_dagrt(x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"Input arrays must be one-dimensional, but they are "
                         f"x1.ndim={x1.ndim} and x2.ndim={x2.ndim}.")
    return FUNCTIONS["outer"](x1, x2)


def matmul(x1: Any, x2: Any, /) -> ndarray:
    """Implementation of numpy.linalg.matmul (the array API's: no ``out``)."""
    return FUNCTIONS["matmul"](x1, x2)


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> ndarray:
    """Implementation of numpy.linalg.tensordot (the array API's)."""
    return FUNCTIONS["tensordot"](x1, x2, axes=axes)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> ndarray:
    """Implementation of numpy.linalg.vecdot (the array API's)."""
    return FUNCTIONS["vecdot"](x1, x2, axis=axis)


def matrix_transpose(x: Any, /) -> ndarray:
    """Implementation of numpy.linalg.matrix_transpose (the array API's)."""
    return FUNCTIONS["matrix_transpose"](x)


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2
                ) -> ndarray:
    """Implementation of numpy.linalg.vector_norm (lazy; CuPy has none: a
    device's array is copied to the host and back, as an eager function's)."""
    x = as_dagrt(x)
    if x._var.device is not None or x.dtype == object:
        return _EAGER["vector_norm"](x, axis=axis, keepdims=keepdims, ord=ord)
    meta = np.linalg.vector_norm(rules.reduction_meta(x.shape, x.dtype), axis=axis,
                                 keepdims=keepdims, ord=ord)  # (NumPy's errors)
    shape = rules.reduced_shape(x.shape, axis, keepdims)
    return _lazy("vector_norm", np.linalg.vector_norm, (x,), shape, np.asarray(meta).dtype,
                 {"axis": axis, "keepdims": keepdims, "ord": ord})


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> ndarray:
    """Implementation of numpy.linalg.matrix_norm (lazy; a device's array as
    ``vector_norm``'s)."""
    x = as_dagrt(x)
    if x._var.device is not None or x.dtype == object:
        return _EAGER["matrix_norm"](x, keepdims=keepdims, ord=ord)
    meta = np.linalg.matrix_norm(rules.reduction_meta(x.shape, x.dtype), keepdims=keepdims,
                                 ord=ord)  # (NumPy's errors)
    shape = x.shape[:-2] + ((1, 1) if keepdims else ())
    return _lazy("matrix_norm", np.linalg.matrix_norm, (x,), shape, np.asarray(meta).dtype,
                 {"keepdims": keepdims, "ord": ord})


def _multi_dot_kernel(*arrays: Any) -> Any:
    return np.linalg.multi_dot(arrays)


def multi_dot(arrays: Any, *, out: Any = None) -> Any:
    """Implementation of numpy.linalg.multi_dot (lazy: one op, NumPy's order
    of the products; with ``out=``, a device's arrays or shapes that do not
    line up, NumPy's call on evaluated inputs)."""
    arrays = [as_dagrt(a) for a in arrays]
    if len(arrays) == 2 and out is None:
        return FUNCTIONS["dot"](*arrays)
    shapes = [a.shape for a in arrays]
    if len(shapes) > 2:
        shapes[0] = shapes[0] if len(shapes[0]) != 1 else (1,) + shapes[0]
        shapes[-1] = shapes[-1] if len(shapes[-1]) != 1 else shapes[-1] + (1,)
    if out is not None or len(arrays) < 2 or any(a._var.device is not None for a in arrays) \
            or any(len(s) != 2 for s in shapes) \
            or any(a[1] != b[0] for a, b in zip(shapes, shapes[1:])):
        return _EAGER["multi_dot"](arrays, out=out)  # (NumPy's result or error)
    shape = (shapes[0][0],) * (arrays[0].ndim == 2) + (shapes[-1][1],) * (arrays[-1].ndim == 2)
    dtype = np.linalg.multi_dot([np.ones(s, a.dtype) for s, a in
                                 zip([(1, 1)] * len(arrays), arrays)]).dtype
    work = sum(a._data.nbytes for a in arrays) * max(max(s) for s in shapes)
    return record("linalg.multi_dot", _multi_dot_kernel, tuple(arrays), {},
                  lambda: [new_array(shape, dtype, tuple(arrays))], use_out=False,
                  work=work)[0]


# NumPy's call on evaluated inputs, without a warning: eager by design where a
# result's dtype or shape depends on the values (eig, eigvals, lstsq's
# residuals) or the function is rare; the lazy ones' cases CuPy cannot run.
_EAGER = {name: _fallback.eager_function(f"numpy.linalg.{name}", getattr(np.linalg, name),
                                         warn=False)
          for name in ("eig", "eigvals", "lstsq", "tensorinv", "tensorsolve", "cross",
                       "multi_dot", "vector_norm", "matrix_norm", "norm")}
for _name in ("eig", "eigvals", "lstsq", "tensorinv", "tensorsolve", "cross"):
    globals()[_name] = public(_EAGER[_name], getattr(np.linalg, _name), "dagrt.linalg", _name)

# A subclass's instance gives results of its class, as NumPy's (``ops.subclasses``).
for _name, _f in list(globals().items()):
    if not _name.startswith("_") and callable(_f) and getattr(_f, "__module__", "") == __name__ \
            and _name not in _subclasses.DROPS:  # (those: nothing to do)
        globals()[_name] = _subclasses.linalg(_f)

# numpy.linalg.inv(dagrt_array) stays lazy (``__array_function__``).
IMPLEMENTATIONS.update({getattr(np.linalg, name): globals()[name] for name in (
    "inv", "solve", "det", "norm", "cholesky", "matrix_power", "pinv", "eigvalsh", "eigh",
    "svd", "qr", "slogdet", "vector_norm", "matrix_norm", "multi_dot")})


adopt_all(globals(), np.linalg)  # NumPy's signatures (inspect.signature)


def __getattr__(name: str) -> Any:
    value = _fallback.resolve(np.linalg, ".linalg", name)
    globals()[name] = value
    return value
