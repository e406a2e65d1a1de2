"""Fused elementwise chains and chunked ops (``dagrt.array.fusion``) against NumPy.

Programs of elementwise expressions whose Python temporaries die (the case
fusion exists for), with rebinding, in-place operators on views, ``out=``
into views, broadcasting, mixed dtypes and F-order arrays, run under NumPy
and under every engine configuration ("fused" holds every elementwise op and
cuts it into 64-byte blocks): results must be equal to the bit.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy
import pytest
from conftest import ENGINES, engine_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dagrt
from dagrt.array import fusion
from dagrt.array.ndarray import var_of

UFUNC2 = ["add", "subtract", "multiply", "maximum", "true_divide", "hypot", "arctan2"]
UFUNC1 = ["sin", "exp", "negative", "sqrt", "absolute", "square", "log1p"]
SHAPE = (12, 10)
EXAMPLES = int(os.environ.get("DAGRT_PROGRAMS", "40"))  # programs per configuration

# A step: (kind, a, b, c, k) with a, b, c picking variables and k a constant/choice.
step = st.tuples(st.sampled_from(["assign", "chain", "inplace", "view_inplace", "out_view",
                                  "transposed", "broadcast", "cast", "rebind"]),
                 st.integers(0, 5), st.integers(0, 5), st.integers(0, 5), st.integers(0, 20))


def _start(xp: Any) -> list[Any]:
    base = numpy.linspace(-3, 3, SHAPE[0] * SHAPE[1]).reshape(SHAPE)
    return [xp.asarray(base.copy()), xp.asarray(base[::-1].copy()) * 0.5,
            xp.asfortranarray(xp.asarray(base)) + 1, xp.asarray(base.astype(numpy.float32)),
            xp.asarray((base * 10).astype(numpy.int64)), xp.asarray(base[0].copy())]


def run(xp: Any, program: list[tuple[Any, ...]]) -> list[Any]:
    v = _start(xp)
    with xp.errstate(all="ignore"):
        for kind, i, j, m, k in program:
            i %= 5  # v[5], 1-d, stays as it is (the broadcast operand)
            a, b, c = v[i], v[j], v[m]
            f2 = getattr(xp, UFUNC2[k % len(UFUNC2)])
            f1 = getattr(xp, UFUNC1[k % len(UFUNC1)])
            if kind == "assign":  # temporaries die inside one expression
                v[i] = f2(a * 1.5 + b, c - k) * 0.25
            elif kind == "chain":  # x = f(x) * s + t, several times
                x = a
                for _ in range(1 + k % 4):
                    x = f1(x) * 1.0001 + 0.5
                v[i] = x
            elif kind == "inplace" and a.dtype.kind == "f":
                a *= 0.5
                a += f1(b) if b.shape == a.shape or b.ndim == 1 else 1.0
            elif kind == "view_inplace" and a.ndim == 2 and a.dtype.kind == "f":
                view = a[1 + k % 3:, ::2]
                view -= f2(view, 2.0)
            elif kind == "out_view" and a.ndim == 2 and a.dtype.kind == "f":
                if numpy.result_type(b.dtype, 3.0) == a.dtype:
                    f2(b, 3.0, out=a[::-1])
            elif kind == "transposed" and a.ndim == 2:
                v[i] = f1(a.T * 2 + 1).T - a
            elif kind == "broadcast":
                v[i] = f2(a, v[5]) + v[5] * k
            elif kind == "cast":
                v[i] = (a.astype(numpy.float32) * numpy.float32(1.1) + k).astype(float) - b
            elif kind == "rebind":
                t = a + b
                u = t[::-1]  # a view keeps its temporary alive
                del t
                v[i] = u * 2
    return v


def _same(expected: list[Any], got: list[Any]) -> None:
    for e, g in zip(expected, got, strict=True):
        have = numpy.asarray(g)
        assert have.dtype == e.dtype and have.shape == e.shape
        numpy.testing.assert_array_equal(have, e)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_fused_programs_match_numpy_bitwise(engine_name: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(step, min_size=1, max_size=8))
    def check(program: list[tuple[Any, ...]]) -> None:
        try:
            expected = run(numpy, program)
        except (ValueError, TypeError) as exc:  # NumPy refuses: so must dagrt
            with engine_config(engine_name), pytest.raises(type(exc)):
                dagrt.waitall()
                run(dagrt, program)
                dagrt.waitall()
            return
        with engine_config(engine_name):
            got = run(dagrt, program)
            _same(expected, got)
            dagrt.waitall()

    check()


def test_chain_is_one_kernel_with_dead_temporaries() -> None:
    x0 = numpy.random.default_rng(0).random(5000)
    before = dict(fusion.STATS)
    with engine_config("fused"):
        x = dagrt.asarray(x0)
        for _ in range(5):
            x = dagrt.sin(x) * 1.0001 + 0.5
        got = x.asnumpy()
    expected = x0
    for _ in range(5):
        expected = numpy.sin(expected) * 1.0001 + 0.5
    numpy.testing.assert_array_equal(got, expected)
    assert fusion.STATS["groups"] - before["groups"] == 1
    assert fusion.STATS["ops"] - before["ops"] == 15
    # every result but the last (x) is a temporary nothing sees: never written
    # (arrays this small are not elided: each op has its own result)
    assert fusion.STATS["dead"] - before["dead"] == 14
    # a dead temporary's scratch block is free again after its last reader:
    # the whole chain passes through two blocks, whatever its length
    assert fusion.STATS["scratch"] - before["scratch"] == 2


def test_independent_chains_are_kernels_of_their_own() -> None:
    """Chains recorded interleaved that share only what they read become one
    kernel each (run side by side on the workers), with NumPy's values."""
    x0 = numpy.random.default_rng(1).random(5000)

    def program(xp: Any) -> list[Any]:
        x = xp.asarray(x0)
        a, b, c = x + 1, x * 2, xp.sqrt(x)
        for _ in range(3):  # three chains, one step of each in turn
            a = xp.exp(a) * 0.5
            b = xp.sin(b) - 0.25
            c = xp.cos(c) + x
        return [a, b, c]

    expected = program(numpy)
    before = dict(fusion.STATS)
    with engine_config("fused"):
        got = [y.asnumpy() for y in program(dagrt)]
    for e, g in zip(expected, got):
        numpy.testing.assert_array_equal(g, e)
    assert fusion.STATS["groups"] - before["groups"] == 3
    assert fusion.STATS["ops"] - before["ops"] == 21


def test_default_thresholds_fuse_large_chains() -> None:
    """With the default configuration a chain on 4 MiB arrays is fused and
    chunked over the workers (each op is above ``fuse_bytes``)."""
    x0 = numpy.linspace(0, 1, 1 << 19)
    before = fusion.STATS["groups"]
    x = dagrt.asarray(x0)
    y = dagrt.exp(-x) * 2 + x * x - 1
    numpy.testing.assert_array_equal(y.asnumpy(), numpy.exp(-x0) * 2 + x0 * x0 - 1)
    assert fusion.STATS["groups"] > before


def test_fused_warnings_once_per_op_at_the_recording_line() -> None:
    a = numpy.zeros(4000)

    def program(xp: Any) -> list[tuple[str, int]]:
        x = xp.asarray(a)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = xp.log(x) * 2 - xp.log(x - 1)  # divide, then invalid
            numpy.asarray(y)
        return [(str(w.message), w.lineno) for w in caught]

    expected = program(numpy)
    with engine_config("fused"):
        got = program(dagrt)
    assert got == expected
    assert [m for m, _ in got] == ["divide by zero encountered in log",
                                   "invalid value encountered in log"]


def test_a_member_that_raises_fails_alone_with_what_reads_it() -> None:
    """``errstate(divide="raise")`` and warning filters set to "error": the op
    that raised fails (with its line), the ops that read it inherit the error,
    independent ops of the same fused group do not."""
    for setting in ("errstate", "filter"):
        with engine_config("fused"), warnings.catch_warnings():
            before = fusion.STATS["ops"]
            x = dagrt.zeros(4000)
            if setting == "filter":
                warnings.simplefilter("error")
                state = dagrt.errstate()
            else:
                state = dagrt.errstate(divide="raise")
            with state:
                fine = x + 2  # (one chain: every op uses what the first wrote)
                y = dagrt.log(fine - 2) + 1  # log raises; the sum reads it
                also_fine = fine * 3 - 6
            error = FloatingPointError if setting == "errstate" else RuntimeWarning
            with pytest.raises(error, match="divide by zero encountered in log") as info:
                y.asnumpy()
            assert fusion.STATS["ops"] - before == 6
            assert any("test_fusion.py" in note and str(y_line) in note
                       for note in info.value.__notes__)
            numpy.testing.assert_array_equal(fine.asnumpy(), numpy.full(4000, 2.0))
            numpy.testing.assert_array_equal(also_fine.asnumpy(), numpy.zeros(4000))
            dagrt.waitall()  # reported once, at the sync point
            assert float((dagrt.ones(4000) * 2).sum()) == 8000.0


y_line = test_a_member_that_raises_fails_alone_with_what_reads_it.__code__.co_firstlineno + 15


def test_a_failed_fused_kernel_fails_every_member_and_the_runtime_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, counter: Any) -> Any:
        raise MemoryError("no scratch memory")

    with engine_config("fused"):
        monkeypatch.setattr(fusion._Plan, "_blocks", broken)
        x = dagrt.ones(4000)
        y = x * 2
        z = dagrt.sqrt(y) + 1  # reads y: in the same group
        with pytest.raises(MemoryError):
            y.asnumpy()
        with pytest.raises(MemoryError):
            z.asnumpy()
        dagrt.waitall()  # (reported at the sync points)
        monkeypatch.undo()
        assert float((x * 3).sum()) == 12000.0


def test_overlapping_views_are_not_fused_together() -> None:
    a0 = numpy.arange(5000.0)

    def program(xp: Any) -> Any:
        a = xp.asarray(a0.copy())
        b = a * 2
        a[1:] += a[:-1]  # NumPy's overlap rule: as if the right side were copied
        return b + a

    with engine_config("fused"):
        numpy.testing.assert_array_equal(program(dagrt).asnumpy(), program(numpy))


def test_share_runs_on_idle_workers_and_reports_errors() -> None:
    import threading
    import time

    from dagrt.engine.scheduler import ENGINE

    pool = ENGINE.threaded
    seen: set[int] = set()
    want = min(pool.threads, 2)

    def kernel() -> None:
        def work() -> int:
            seen.add(threading.get_ident())
            deadline = time.monotonic() + 10
            while len(seen) < want and time.monotonic() < deadline:
                time.sleep(0.005)  # until a helper has joined in
            return 1

        assert sum(pool.share(work, pool.threads - 1)) == len(seen)

    ENGINE.push(_op(kernel))
    dagrt.waitall()
    assert len(seen) == want

    def failing() -> None:
        pool.share(lambda: 1 / 0, 1)

    ENGINE.push(_op(failing))
    with pytest.raises(ZeroDivisionError):
        dagrt.waitall()


def _op(kernel: Any) -> Any:
    from dagrt.engine.graph import Op, Var

    return Op(kernel, (), (Var(),), "kernel", None)


def test_held_ops_reach_other_threads_sync_points() -> None:
    """Ops one thread holds are sent on when another thread waits (for them,
    or for everything), while the recording thread sleeps."""
    import threading

    with engine_config("fused"):
        x = dagrt.ones(4000)
        y = dagrt.sqrt(x * 4)  # held: nothing else is recorded after it
        got: list[Any] = []
        reader = threading.Thread(target=lambda: got.append(y.asnumpy()))
        reader.start()
        reader.join(10)
        assert not reader.is_alive()
        numpy.testing.assert_array_equal(got[0], numpy.full(4000, 2.0))
        z = x + 1
        barrier = threading.Thread(target=dagrt.waitall)
        barrier.start()
        barrier.join(10)
        assert not barrier.is_alive()
        numpy.testing.assert_array_equal(z.asnumpy(), numpy.full(4000, 2.0))


def test_threads_recording_fused_chains_at_once() -> None:
    import threading

    base = numpy.linspace(0, 1, 6000)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            x, ref = dagrt.asarray(base + seed), base + seed
            for i in range(30):
                x = dagrt.sin(x) * 1.5 + seed
                ref = numpy.sin(ref) * 1.5 + seed
                if i % 7 == seed % 7:
                    numpy.testing.assert_array_equal(x.asnumpy(), ref)
                if i % 11 == 0:
                    x[::3] += 1.0
                    ref[::3] += 1.0
            numpy.testing.assert_array_equal(numpy.asarray(x), ref)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with engine_config("fused"):
        threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
    assert not errors, errors


def test_a_member_independent_of_a_failed_input_is_computed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A group whose first op inherits an error from outside the group (its
    input's op failed while the group waited) still runs its kernel: members
    that do not read the failed data get their values, the others the error."""
    import threading

    from dagrt.engine.graph import Op
    from dagrt.engine.scheduler import ENGINE

    with engine_config("fused"):
        bad = dagrt.ones(4000)
        good = dagrt.ones(4000)
        release = threading.Event()

        def fail() -> None:
            release.wait(5)
            raise ValueError("the input's op failed")

        ENGINE.push(Op(fail, (), (var_of(bad),), "failing", None))  # writes bad, later
        x = bad * 2        # the group's first op: waits for the failing op
        y = good + 1       # independent of it, same group
        z = x + y          # reads x: fails too
        release.set()
        numpy.testing.assert_array_equal(y.asnumpy(), numpy.full(4000, 2.0))
        with pytest.raises(ValueError, match="the input's op failed"):
            z.asnumpy()
        with pytest.raises(ValueError):
            x.asnumpy()
        dagrt.waitall()


def test_cancel_does_not_fuse_ops_recorded_after_it() -> None:
    with engine_config("fused"):
        x = dagrt.asarray(numpy.ones(4000))  # ready: nothing of it to cancel
        y = x * 2      # held, then cancelled before it ran
        dagrt.cancel()
        z = x + 5      # recorded after the cancel: runs
        numpy.testing.assert_array_equal(z.asnumpy(), numpy.full(4000, 6.0))
        try:
            y.asnumpy()
        except dagrt.CancelledError:
            pass  # cancelled before it started (it may also have run already)
        dagrt.waitall()


def test_self_overlapping_outputs_are_not_blocked() -> None:
    """``u += v`` into a broadcast view (two elements, one memory): NumPy
    reads every input before writing; blocks would read what earlier blocks
    wrote (NumPy's test_ufunc.py::TestUfunc::test_broadcast)."""
    def program(xp: Any) -> Any:
        a = xp.arange(3000.0)
        b = xp.arange(6000.0).reshape((2, 3000))
        u, v = xp.broadcast_arrays(a, b)
        with warnings.catch_warnings():  # (NumPy's deprecation of such writes)
            warnings.simplefilter("ignore")
            u += v
            u *= 1.5  # (a group of two: one add alone is not blocked)
            return numpy.asarray(a).copy()

    expected = program(numpy)
    with engine_config("fused"):
        numpy.testing.assert_array_equal(numpy.asarray(program(dagrt)), expected)


def test_a_group_never_waits_for_what_its_first_op_does_not() -> None:
    """Independent chains recorded interleaved (four heat plates, each
    waiting for its previous step) are separate kernels: a group that took an
    op waiting for an unrelated pending op would hold back all its members."""
    import threading

    from dagrt.engine.graph import Op

    gate = threading.Event()
    failsafe = threading.Timer(20, gate.set)
    failsafe.start()
    try:
        with engine_config("fused"):
            x = dagrt.asarray(numpy.arange(4000.0))
            g = dagrt.asarray(numpy.ones(4000))
            dagrt.waitall()
            from dagrt.engine.scheduler import ENGINE

            ENGINE.push(Op(gate.wait, (), (var_of(g),), "slow", None))  # g pending until the gate
            y = x * 2
            z = g + 1  # waits for the gate
            w = y + 3
            numpy.testing.assert_array_equal(w.asnumpy(), numpy.arange(4000.0) * 2 + 3)
            assert not gate.is_set()  # w did not wait for z's input
            gate.set()
            numpy.testing.assert_array_equal(z.asnumpy(), numpy.full(4000, 2.0))
    finally:
        gate.set()
        failsafe.cancel()
