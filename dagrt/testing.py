"""``dagrt.testing``: ``numpy.testing``, accepting dagrt arrays.

NumPy's value assertions (``assert_equal``, ``assert_allclose``...) test
``isinstance(x, numpy.ndarray)``, which a dagrt array is not, so they would
compare two dagrt arrays as scalars. Here they first turn dagrt arrays (in
lists, tuples and dicts too) into NumPy's values: a 0-d array standing for a
scalar (``x.sum()`` still pending) into that scalar, any other array into a
NumPy array, once its pending writes are done. Everything else is NumPy's own.

    from dagrt.testing import assert_allclose   # instead of numpy.testing

Imports: the array layer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy.testing as _nt
from numpy.testing import *  # noqa: F403  (everything else is NumPy's)

from .array.ndarray import ndarray, stands_for_scalar

# NumPy's assertions that compare values; the others take callables and
# arguments to call them with (assert_raises...), which stay as given.
COMPARING = ["assert_equal", "assert_almost_equal", "assert_approx_equal",
             "assert_array_equal", "assert_array_less", "assert_string_equal",
             "assert_array_almost_equal", "assert_array_almost_equal_nulp",
             "assert_array_max_ulp", "assert_allclose", "assert_array_compare",
             "print_assert_equal"]


def as_numpy(x: Any) -> Any:
    """NumPy's value for ``x`` (dagrt arrays inside lists, tuples, dicts too)."""
    if isinstance(x, ndarray):
        value = x.asnumpy()
        return value[()] if value.ndim == 0 and stands_for_scalar(x) else value
    if type(x) is list or type(x) is tuple:
        return type(x)(as_numpy(v) for v in x)
    if type(x) is dict:
        return {k: as_numpy(v) for k, v in x.items()}
    return x


def _accepting(assertion: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(assertion)
    def check(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the caller's line
        return assertion(*map(as_numpy, args), **{k: as_numpy(v) for k, v in kwargs.items()})
    return check


globals().update({name: _accepting(getattr(_nt, name)) for name in COMPARING})
__all__ = list(_nt.__all__)


def __getattr__(name: str) -> Any:
    """Any other name of ``numpy.testing`` (its private helpers too)."""
    return getattr(_nt, name)
