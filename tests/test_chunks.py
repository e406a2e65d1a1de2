"""Chunked reductions and gathers (``dagrt.array.chunks``) against NumPy.

Deferred with tiny blocks (``chunk_bytes=64``: every large-enough reduction
and gather is cut into blocks of two rows), under every engine configuration:
values, dtypes and shapes equal to the bit, NumPy's warnings once from the
recording line, NumPy's errors at the sync point.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy
import pytest
from conftest import ENGINES, engine_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dagrt
from dagrt.array import chunks

TINY = {"inline_bytes": 0, "chunk_bytes": 64}


def _same(expected: Any, got: Any) -> None:
    got = numpy.asarray(got)
    expected = numpy.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    numpy.testing.assert_array_equal(got, expected, strict=True)


REDUCTIONS = ["sum", "prod", "mean", "std", "var", "min", "max", "argmin", "argmax", "any",
              "all"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(REDUCTIONS),
       shape=st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
       axis=st.one_of(st.none(), st.integers(-3, 2)),
       keepdims=st.booleans(),
       order=st.sampled_from("CF"),
       dtype=st.sampled_from(["float64", "float32", "int32", "complex128", "bool"]),
       transpose=st.booleans(), seed=st.integers(0, 99))
def test_reductions_match_numpy_bitwise(name: str, shape: tuple[int, ...], axis: Any,
                                        keepdims: bool, order: str, dtype: str,
                                        transpose: bool, seed: int) -> None:
    if axis is not None and not -len(shape) <= axis < len(shape):
        axis = None
    if name in ("argmin", "argmax") and keepdims and axis is None:
        keepdims = False
    rng = numpy.random.default_rng(seed)
    a0 = numpy.asarray(rng.standard_normal((4, *shape)) * 100, order=order).astype(dtype)
    if transpose:
        a0 = a0.T
    if dtype.startswith("float") and seed % 3 == 0:
        a0.flat[seed % a0.size] = numpy.nan
    kw = {"axis": axis} if name in ("argmin", "argmax") and not keepdims else \
        {"axis": axis, "keepdims": keepdims}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = getattr(a0, name)(**kw)
        with dagrt.config(**TINY):
            got = getattr(dagrt.asarray(a0), name)(**kw)
            _same(expected, got)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_cut_under_every_engine(engine_name: str) -> None:
    m0 = numpy.random.default_rng(1).random((64, 33))
    idx0 = numpy.random.default_rng(2).integers(-64, 64, 300)
    before = chunks.STATS["ops"]
    with engine_config(engine_name), dagrt.config(chunk_bytes=64):
        m = dagrt.asarray(m0)
        idx = dagrt.asarray(idx0)
        results = [m.sum(axis=1), m.std(axis=-1, keepdims=True), m.argmax(axis=1), m.max(),
                   (m > 0.5).any(), m[idx], m.T[idx % 33]]
        expected = [m0.sum(axis=1), m0.std(axis=-1, keepdims=True), m0.argmax(axis=1),
                    m0.max(), (m0 > 0.5).any(), m0[idx0], m0.T[idx0 % 33]]
        for e, g in zip(expected, results):
            _same(e, g)
    if engine_name in ("threaded-noinline", "fused"):  # deferred: cut
        assert chunks.STATS["ops"] > before


def test_sums_over_the_cut_axis_are_not_cut() -> None:
    """A float sum over axis 0 or everything would round differently."""
    m0 = numpy.random.default_rng(3).random((300, 7))
    before = chunks.STATS["ops"]
    with dagrt.config(**TINY):
        m = dagrt.asarray(m0)
        _same(m0.sum(axis=0), m.sum(axis=0))
        _same(m0.sum(), m.sum())
        _same(m0.mean(), m.mean())
    assert chunks.STATS["ops"] == before


def test_gather_errors_are_numpys_at_the_sync_point() -> None:
    """An index computed by a pending op is checked when the gather runs."""
    x0 = numpy.arange(100.0)
    idx0 = numpy.arange(200) % 150  # 100..149 are out of bounds
    with pytest.raises(IndexError) as expected:
        x0[idx0]
    with dagrt.config(**TINY):
        before = chunks.STATS["whole"]
        y = dagrt.asarray(x0)[dagrt.asarray(idx0) * 1]  # (the index is pending)
        with pytest.raises(IndexError) as got:
            y.asnumpy()
    assert str(got.value) == str(expected.value)
    assert "test_chunks.py" in "".join(getattr(got.value, "__notes__", []))
    assert chunks.STATS["whole"] == before + 1


def test_warnings_once_and_errstate_raise() -> None:
    m0 = numpy.full((50, 4), 1e308)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = m0.sum(axis=1)
    numpy_messages = [(str(w.message), w.filename) for w in caught]  # (NumPy's _methods.py)
    before = dict(chunks.STATS)
    with dagrt.config(**TINY):
        m = dagrt.asarray(m0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s = m.sum(axis=1)
            _same(expected, s)
        assert [(str(w.message), w.filename) for w in caught] == numpy_messages
        with dagrt.errstate(over="raise"):
            t = m.sum(axis=1)
        with pytest.raises(FloatingPointError):
            t.asnumpy()
        with dagrt.errstate(over="ignore"):
            _same(expected, m.sum(axis=1))
    assert chunks.STATS["whole"] - before["whole"] == 2  # the two that met overflow
    assert chunks.STATS["ops"] - before["ops"] == 3


def test_views_and_in_place_writes_around_cut_ops() -> None:
    """Cut ops read the version their recording saw, and writes after them
    wait for them (hazards are per op, whatever its blocks)."""
    def program(xp: Any) -> list[Any]:
        a = xp.asarray(numpy.arange(600.0).reshape(100, 6))
        v = a[::2]
        s = v.sum(axis=1)
        a[...] = -1.0  # after s: s must not see it
        g = a[xp.asarray(numpy.arange(99, -1, -3))]
        a[::3] *= 2.0
        return [s, g, a.max(), a]

    with dagrt.config(**TINY):
        for e, g in zip(program(numpy), program(dagrt)):
            _same(e, g)


def test_an_out_overlapping_the_input_is_not_cut() -> None:
    """``m.sum(axis=1, out=m[::-1, 0])``: NumPy buffers the whole output; blocks
    would write rows that other blocks still read."""
    def program(xp: Any) -> Any:
        m = xp.asarray(numpy.arange(400.0).reshape(100, 4))
        m.sum(axis=1, out=m[::-1, 0])
        m.max(axis=1, out=m[::-1, 1])
        return m

    with dagrt.config(**TINY):
        _same(program(numpy), program(dagrt))
