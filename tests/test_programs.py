"""Random short programs, run under NumPy and under dagrt in every engine
configuration: every live array and every value read must end up equal.
Creation, elementwise ops, reductions, views, in-place updates, ``out=``
(keyword and positional), setitem, read-only views, arrays the user owns as
NumPy arrays, ``frompyfunc`` kernels and configuration changes all touch a
few shared buffers, so read/write hazards are everywhere.

``DAGRT_PROGRAMS`` sets how many programs each configuration runs (default
60; a nightly run uses 10000: ``DAGRT_PROGRAMS=10000 pytest tests/test_programs.py``).
``DAGRT_STRESS_S`` sets how long the threaded stress test runs (default 3 s).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from typing import Any

import numpy
import pytest
from conftest import ENGINES, engine_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import dagrt

pytestmark = pytest.mark.filterwarnings("ignore::dagrt.FallbackWarning")  # frompyfunc

N = 96  # (N, N) float64: 72 KiB, above the default inline threshold as well
PROGRAMS = int(os.environ.get("DAGRT_PROGRAMS", "60"))

CREATE = [lambda xp, v: xp.zeros((N, N)), lambda xp, v: xp.ones((N, N)) * v,
          lambda xp, v: xp.arange(float(N * N)).reshape(N, N) / (N * N),
          lambda xp, v: xp.full((N, N), v),
          # storage the user owns as a NumPy array (dagrt must never write it behind them)
          lambda xp, v: xp.asarray(numpy.full((N, N), v)) + 1,
          lambda xp, v: xp.asfortranarray(xp.ones((N, N)) * v),
          # an instance of a user's subclass (its views, results and in-place ops)
          lambda xp, v: (xp.ones((N, N)) * v).view(_tagged(xp))]
BINARY = [lambda xp, a, b: a + b, lambda xp, a, b: a - b, lambda xp, a, b: a * b,
          lambda xp, a, b: xp.maximum(a, b), lambda xp, a, b: xp.where(a > b, a, b),
          lambda xp, a, b: (a @ b) / N]
UNARY = [lambda xp, a: xp.sin(a), lambda xp, a: xp.abs(a), lambda xp, a: -a,
         lambda xp, a: xp.clip(a, -1, 1), lambda xp, a: a.copy(),
         lambda xp, a: xp.cumsum(a, axis=0) / N,
         lambda xp, a: xp.frompyfunc(lambda v: v * 2.0, 1, 1)(a).astype(float)]
VIEWS = [lambda a: a.T, lambda a: a[::-1], lambda a: a[:, ::-1], lambda a: a.reshape(N, N),
         lambda a: a[...], lambda a: a.T[::-1],
         lambda a: a[::-1].view(_tagged(numpy if isinstance(a, numpy.ndarray) else dagrt)),
         lambda a: _readonly(a[::-1])]  # (last: tests/test_gpu_fidelity.py skips it)
REDUCE = [lambda a: a.sum(), lambda a: a.max(axis=0), lambda a: a.mean(axis=1),
          lambda a: a[3:40].std(), lambda a: a.argmax(axis=1)]
# Writes into ``a`` (skipped when ``a`` is read-only, as NumPy would raise).
INPLACE = [lambda xp, a, b: a.__iadd__(b), lambda xp, a, b: a.__isub__(b),
           lambda xp, a, b: a.__imul__(0.5),
           lambda xp, a, b: xp.multiply(a, b, out=a),
           lambda xp, a, b: xp.add(a, b, a),                     # out= positional
           lambda xp, a, b: xp.matmul(b / N, b, a[:N, :N]),      # contraction, out= positional
           lambda xp, a, b: xp.cumsum(b, axis=0, out=a),         # keyword out= of a shaped op
           lambda xp, a, b: xp.round(b, 1, a),                   # positional out= of a shaped op
           lambda xp, a, b: xp.copyto(a, b),
           lambda xp, a, b: a.__setitem__(slice(None), b.T)]

# Indexing NumPy takes as it is (run now in C on ready arrays, recorded on pending
# ones): list keys, index arrays beside other indices, NumPy integers, NumPy
# arrays as operands and values, sequences as values. Gathers go to the results.
FANCY = [lambda xp, a, i, j: a[[i, j, i]], lambda xp, a, i, j: a[:, [j, i]],
         lambda xp, a, i, j: a[xp.asarray([i, j]), j],
         lambda xp, a, i, j: a[numpy.int64(i)] + numpy.ones(N),
         lambda xp, a, i, j: numpy.full(N, 0.5) * a[i]]
FANCY_SET = [lambda xp, a, i, j, v: a.__setitem__([i, j], v),
             lambda xp, a, i, j, v: a.__setitem__((slice(None), [j, i]), [v, -v]),
             lambda xp, a, i, j, v: a.__setitem__(numpy.int64(i), numpy.full(N, v)),
             lambda xp, a, i, j, v: a.__setitem__((xp.asarray([i, j]), j), (v, 2 * v))]

def on_a_device(s: tuple[Any, ...]) -> bool:
    """Step ``s`` takes no NumPy array: on a device (a GPU, a cluster) a host
    operand raises at its line, by design."""
    return not (s[0] == "fancy" and s[3] % len(FANCY) >= 3 or
                s[0] == "fancy_set" and s[3] % len(FANCY_SET) == 2)


step = st.tuples(st.sampled_from(["create", "binary", "unary", "view", "reduce", "inplace",
                                  "setitem", "setitem_mask", "sync", "config", "fancy",
                                  "fancy_set"]),
                 st.integers(0, 100), st.integers(0, 100), st.integers(0, 100),
                 st.integers(0, N), st.integers(0, N))


_TAGGED: dict[Any, type] = {}


def _tagged(xp: Any) -> type:
    """A user's subclass of ``xp.ndarray`` (one per module)."""
    if xp not in _TAGGED:
        class Tagged(xp.ndarray):
            def __array_finalize__(self, obj: Any) -> None:
                self.tag = getattr(obj, "tag", "tagged")
        _TAGGED[xp] = Tagged
    return _TAGGED[xp]


def _readonly(a: Any) -> Any:
    a = a.view()
    a.flags.writeable = False
    return a


def run(xp: Any, program: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
    pool = [CREATE[2](xp, 0), CREATE[1](xp, 2.0)]
    results: list[Any] = []
    with xp.errstate(all="ignore"):
        for kind, i, j, k, lo, hi in program:
            a, b = pool[i % len(pool)], pool[j % len(pool)]
            lo, hi = min(lo, hi), max(lo, hi)
            writeable = a.flags.writeable
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
            elif kind == "inplace" and writeable:
                INPLACE[k % len(INPLACE)](xp, a, b)
            elif kind == "setitem" and writeable:
                a[lo:hi] = b[lo:hi] if k % 2 else k / 7
            elif kind == "setitem_mask" and writeable:
                a[b > k / 100] = -k / 50
            elif kind == "fancy":
                results.append(FANCY[k % len(FANCY)](xp, a, lo % N, hi % N))
            elif kind == "fancy_set" and writeable:
                FANCY_SET[k % len(FANCY_SET)](xp, a, lo % N, hi % N, k / 9)
            elif kind == "config" and xp is dagrt:  # a configuration change mid-program
                with dagrt.config(inter_op_threads=1 + k % 2):
                    results.append(float(a[lo % N].sum()))
            elif kind in ("sync", "config"):
                results.append(float(a[lo % N].sum()))
    return pool, results


def _compare(expected: list[Any], got: list[Any], atol: float = 0.0) -> None:
    # in reverse order: the last arrays are the most likely pending
    for e, a in zip(reversed(expected), reversed(got), strict=True):
        have, want = numpy.asarray(a), numpy.asarray(e)
        assert have.dtype == want.dtype and have.shape == want.shape
        assert (type(a).__name__ == "Tagged") == (type(e).__name__ == "Tagged")
        numpy.testing.assert_allclose(have, want, rtol=1e-12, atol=atol, equal_nan=True)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_random_program_matches_numpy(engine_name: str) -> None:
    @settings(max_examples=PROGRAMS, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(step, min_size=1, max_size=14))
    def check(program: list[tuple[Any, ...]]) -> None:
        expected_pool, expected_results = run(numpy, program)
        with engine_config(engine_name):
            pool, results = run(dagrt, program)
            _compare(expected_pool + expected_results, pool + results)
            dagrt.waitall()

    check()


def test_user_numpy_storage_is_never_written() -> None:
    """Temporary elision and deferred kernels never write an array the user
    passed in as NumPy storage."""
    for name in ENGINES:
        with engine_config(name):
            mine = numpy.arange(1e5)
            b = dagrt.asarray(mine) + 1
            c = dagrt.sin(dagrt.asarray(mine)) * 2 + 1
            assert float(b[0]) == 1.0 and float(c[0]) == 1.0
            assert mine[0] == 0.0 and mine[-1] == 1e5 - 1


def _recorder(seed: int, stop: threading.Event, failures: list[str]) -> None:
    rng = numpy.random.default_rng(seed)
    try:
        while not stop.is_set():
            program = [(str(rng.choice(["create", "binary", "unary", "view", "reduce",
                                        "inplace", "setitem", "sync"])),
                        *map(int, rng.integers(0, 100, 3)), *map(int, rng.integers(0, N, 2)))
                       for _ in range(10)]
            expected_pool, expected_results = run(numpy, program)
            pool, results = run(dagrt, program)
            _compare(expected_pool + expected_results, pool + results)
    except BaseException as exc:  # reported by the main thread
        failures.append(f"{type(exc).__name__}: {exc}")


def test_stress_threads_config_and_fork() -> None:
    """Four threads record random programs while one changes the
    configuration and one forks: every result matches NumPy and nothing
    hangs (the main thread bounds every wait)."""
    seconds = float(os.environ.get("DAGRT_STRESS_S", "3"))
    stop = threading.Event()
    failures: list[str] = []
    threads = [threading.Thread(target=_recorder, args=(seed, stop, failures))
               for seed in range(4)]

    def configure() -> None:
        i = 0
        while not stop.is_set():
            with dagrt.config(inter_op_threads=1 + i % 2, inline_bytes=(i % 3) * 32768):
                time.sleep(0.01)
            i += 1

    def fork() -> None:
        while not stop.is_set():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
                pid = os.fork()
            if pid == 0:  # the child computes with its own pool, then leaves
                ok = float((dagrt.ones((64, 64)) @ dagrt.ones((64, 64))).sum()) == 64 ** 3
                os._exit(0 if ok else 1)
            deadline = time.monotonic() + 30
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    if status != 0:
                        failures.append(f"forked child exited with {status}")
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    failures.append("forked child hung")
                    break
                time.sleep(0.01)
            time.sleep(0.2)

    threads += [threading.Thread(target=configure), threading.Thread(target=fork)]
    # One BLAS thread: OpenBLAS deadlocks in its fork handler when a thread forks
    # while another is inside a multithreaded BLAS call, with plain NumPy too
    # (a recorder's small matmul runs in its own thread, as NumPy's would).
    with dagrt.config(engine="threaded"), threadpool_limits(1):
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not failures, failures
    dagrt.waitall()
