"""Hypothesis: every binary ufunc of the op table, on random broadcastable (and
non-broadcastable) shapes and mixed dtypes, gives NumPy's values, shapes,
dtypes and exception types; also with Python scalars (NEP 50 promotion)."""

from __future__ import annotations

import warnings

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dagrt
from dagrt.ops import table as _ops

BINARY = sorted(d.name for d in _ops.OPS if d.kind == "elementwise"
                and isinstance(d.func, numpy.ufunc) and d.func.nin == 2
                and d.func.nout == 1 and d.func.signature is None)
DTYPES = [numpy.bool_, numpy.int8, numpy.int64, numpy.uint8, numpy.float32,
          numpy.float64, numpy.complex128]


def values(dtype: type, shape: tuple[int, ...]) -> st.SearchStrategy[numpy.ndarray]:
    elements = None
    if numpy.dtype(dtype).kind in "fc":
        elements = st.floats(-100, 100, width=32)
    elif numpy.dtype(dtype).kind in "iu":
        info = numpy.iinfo(dtype)
        elements = st.integers(max(info.min, -50), min(info.max, 50))
    return hnp.arrays(dtype, shape, elements=elements)


@st.composite
def operands(draw: st.DrawFn) -> tuple[numpy.ndarray, numpy.ndarray]:
    if draw(st.booleans()):
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3,
                                                        max_side=4)).input_shapes
    else:  # anything, broadcastable or not
        shapes = (draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)),
                  draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
    return (draw(values(draw(st.sampled_from(DTYPES)), shapes[0])),
            draw(values(draw(st.sampled_from(DTYPES)), shapes[1])))


def outcome(fn):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings(), numpy.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = fn()
            return numpy.asarray(result)
        except Exception as exc:  # noqa: BLE001 - comparing exception types
            return type(exc)


def same(expected, got) -> None:  # type: ignore[no-untyped-def]
    if isinstance(expected, type):
        assert got is expected or (isinstance(got, type) and issubclass(got, expected)), \
            (expected, got)
        return
    assert not isinstance(got, type), got
    assert got.dtype == expected.dtype and got.shape == expected.shape
    numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("inline_bytes", [65536, 0], ids=["default", "scheduled"])
@pytest.mark.parametrize("name", BINARY)
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=operands(), scalar=st.sampled_from([None, 3, -2, 2.5, True]))
def test_binary_ufunc_matches_numpy(name: str, inline_bytes: int, pair, scalar) -> None:
    a, b = pair
    if scalar is not None:
        b = scalar
    expected = outcome(lambda: getattr(numpy, name)(a, b))
    with dagrt.config(inline_bytes=inline_bytes):
        got = outcome(lambda: getattr(dagrt, name)(
            dagrt.asarray(a), dagrt.asarray(b) if isinstance(b, numpy.ndarray) else b))
        dagrt.waitall()
    same(expected, got)
