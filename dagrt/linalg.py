"""``dagrt.linalg``: NumPy's linear algebra.

Functions whose output shape follows from their inputs are recorded lazily
(errors such as ``LinAlgError`` for a singular matrix surface at the next sync
point that depends on them); the rest evaluate their inputs and call NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _fallback
from ._ndarray import ndarray, wrap
from ._ops import _record, as_dagrt

LinAlgError = np.linalg.LinAlgError


def _square(a: ndarray, name: str) -> None:
    if a.ndim < 2:
        raise LinAlgError(f"{a.ndim}-dimensional array given. Array must be at least "
                          f"two-dimensional")
    if a.shape[-1] != a.shape[-2]:
        raise LinAlgError("Last 2 dimensions of the array must be square")


def _lazy(name: str, func: Any, args: tuple[Any, ...], shape: tuple[int, ...],
          dtype: Any, kwargs: dict[str, Any] | None = None) -> ndarray:
    out = wrap(np.empty(shape, dtype))
    _record(f"linalg.{name}", func, args, kwargs or {}, [out], use_out=False,
            cost=out.nbytes * (args[0].shape[-1] if args[0].ndim else 1))
    return out


def _float_type(dtype: np.dtype) -> np.dtype:
    return np.result_type(dtype, np.float64) if dtype.kind in "biu" else dtype


def inv(a: Any) -> ndarray:
    """Implementation of numpy.linalg.inv (lazy)."""
    a = as_dagrt(a)
    _square(a, "inv")
    return _lazy("inv", np.linalg.inv, (a,), a.shape, _float_type(a.dtype))


def solve(a: Any, b: Any) -> ndarray:
    """Implementation of numpy.linalg.solve (lazy)."""
    a, b = as_dagrt(a), as_dagrt(b)
    _square(a, "solve")
    meta = np.linalg.solve(np.eye(a.shape[-1] or 1, dtype=a.dtype)[..., :a.shape[-1], :a.shape[-1]]
                           * np.ones(a.shape[:-2] + (1, 1), a.dtype),
                           np.zeros(b.shape, b.dtype)) if a.shape[-1] else None
    shape = meta.shape if meta is not None else b.shape
    dtype = meta.dtype if meta is not None else np.result_type(a.dtype, b.dtype, np.float64)
    return _lazy("solve", np.linalg.solve, (a, b), shape, dtype)


def det(a: Any) -> ndarray:
    """Implementation of numpy.linalg.det (lazy)."""
    a = as_dagrt(a)
    _square(a, "det")
    return _lazy("det", np.linalg.det, (a,), a.shape[:-2], _float_type(a.dtype))


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> ndarray:
    """Implementation of numpy.linalg.norm (lazy)."""
    x = as_dagrt(x)
    meta = np.linalg.norm(np.ones(tuple(min(d, 2) for d in x.shape), x.dtype), ord, axis,
                          keepdims)
    from ._rules import reduced_shape
    if axis is None and not keepdims:
        shape: tuple[int, ...] = ()
    elif axis is None:
        shape = (1,) * x.ndim
    else:
        shape = reduced_shape(x.shape, axis, keepdims)
    return _lazy("norm", np.linalg.norm, (x, ord, axis, keepdims), shape,
                 np.asarray(meta).dtype)


def __getattr__(name: str) -> Any:
    value = _fallback.resolve(np.linalg, ".linalg", name)
    globals()[name] = value
    return value
