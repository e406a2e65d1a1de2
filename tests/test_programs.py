"""Random short programs, run under NumPy and under dagrt (threaded engine,
every op on a worker thread): every live array must end up equal. Creation,
elementwise ops, reductions, views, in-place updates and setitem all touch a
few shared buffers, so read/write hazards are everywhere."""

from __future__ import annotations

from typing import Any

import numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dagrt

N = 96  # (N, N) float64: 72 KiB, above the default inline threshold as well

CREATE = [lambda xp, v: xp.zeros((N, N)), lambda xp, v: xp.ones((N, N)) * v,
          lambda xp, v: xp.arange(float(N * N)).reshape(N, N) / (N * N),
          lambda xp, v: xp.full((N, N), v)]
BINARY = [lambda xp, a, b: a + b, lambda xp, a, b: a - b, lambda xp, a, b: a * b,
          lambda xp, a, b: xp.maximum(a, b), lambda xp, a, b: xp.where(a > b, a, b),
          lambda xp, a, b: (a @ b) / N]
UNARY = [lambda xp, a: xp.sin(a), lambda xp, a: xp.abs(a), lambda xp, a: -a,
         lambda xp, a: xp.clip(a, -1, 1), lambda xp, a: a.copy()]
VIEWS = [lambda a: a.T, lambda a: a[::-1], lambda a: a[:, ::-1], lambda a: a.reshape(N, N),
         lambda a: a[...], lambda a: a.T[::-1]]
REDUCE = [lambda a: a.sum(), lambda a: a.max(axis=0), lambda a: a.mean(axis=1),
          lambda a: a[3:40].std(), lambda a: a.argmax(axis=1)]
INPLACE = [lambda a, b: a.__iadd__(b), lambda a, b: a.__isub__(b),
           lambda a, b: a.__imul__(0.5), lambda a, b: numpy.multiply(a, b, out=a)
           if isinstance(a, numpy.ndarray) else dagrt.multiply(a, b, out=a)]

step = st.tuples(st.sampled_from(["create", "binary", "unary", "view", "reduce", "inplace",
                                  "setitem", "setitem_mask", "sync"]),
                 st.integers(0, 100), st.integers(0, 100), st.integers(0, 100),
                 st.integers(0, N), st.integers(0, N))


def run(xp: Any, program: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
    pool = [CREATE[2](xp, 0), CREATE[1](xp, 2.0)]
    results: list[Any] = []
    with xp.errstate(all="ignore"):
        for kind, i, j, k, lo, hi in program:
            a, b = pool[i % len(pool)], pool[j % len(pool)]
            lo, hi = min(lo, hi), max(lo, hi)
            if kind == "create":
                pool.append(CREATE[k % len(CREATE)](xp, k / 10))
            elif kind == "binary":
                pool.append(BINARY[k % len(BINARY)](xp, a, b))
            elif kind == "unary":
                pool.append(UNARY[k % len(UNARY)](xp, a))
            elif kind == "view":
                pool.append(VIEWS[k % len(VIEWS)](a))
            elif kind == "reduce":
                results.append(REDUCE[k % len(REDUCE)](a))
            elif kind == "inplace":
                INPLACE[k % len(INPLACE)](a, b)
            elif kind == "setitem":
                a[lo:hi] = b[lo:hi] if k % 2 else k / 7
            elif kind == "setitem_mask":
                a[b > k / 100] = -k / 50
            else:
                results.append(float(a[lo % N].sum()))
    return pool, results


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(step, min_size=1, max_size=14))
def test_random_program_matches_numpy(program: list[tuple[Any, ...]]) -> None:
    expected_pool, expected_results = run(numpy, program)
    with dagrt.config(engine="threaded", inline_bytes=0):
        pool, results = run(dagrt, program)
        # compare in reverse order: the last arrays are the most likely pending
        for e, a in zip(reversed(expected_pool + expected_results),
                        reversed(pool + results), strict=True):
            got = numpy.asarray(a)
            want = numpy.asarray(e)
            assert got.dtype == want.dtype and got.shape == want.shape
            numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)
        dagrt.waitall()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(step, min_size=1, max_size=14))
def test_random_program_serial_and_inline(program: list[tuple[Any, ...]]) -> None:
    expected_pool, expected_results = run(numpy, program)
    for engine in ("serial", "threaded"):
        with dagrt.config(engine=engine):
            pool, results = run(dagrt, program)
            for e, a in zip(expected_pool + expected_results, pool + results, strict=True):
                numpy.testing.assert_allclose(numpy.asarray(a), e, rtol=1e-12,
                                              equal_nan=True)
