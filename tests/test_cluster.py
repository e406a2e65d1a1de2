"""The cluster device (``dagrt.cluster()``): NumPy's semantics on Dask workers.

One embedded cluster (two worker processes) serves the whole module. The
random programs of ``test_programs`` run on it against NumPy, with views,
in-place ops, ``out=``, setitem and masks; then errors, backpressure,
batching, transfers, and an unguarded script in a fresh process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy
import pytest
from conftest import assert_same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dagrt
from dagrt.engine.scheduler import ENGINE

pytest.importorskip("distributed")
# (Hypothesis warns when the global ``random`` state changes while it draws an
# example: the Dask client's thread picks workers with ``random.choice`` when
# it gathers a result, at any time.)
pytestmark = pytest.mark.filterwarnings("ignore::dagrt.FallbackWarning",
                                        "ignore::DeprecationWarning",
                                        "ignore::ResourceWarning",
                                        "ignore::hypothesis.errors.HypothesisDeprecationWarning")
ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = int(os.environ.get("DAGRT_CLUSTER_PROGRAMS", "200"))


@pytest.fixture(scope="module")
def cluster() -> Any:
    device = dagrt.cluster()
    yield device
    dagrt.waitall()
    device.close()  # its processes must not slow down the rest of the suite


@pytest.fixture
def on(cluster: Any) -> Any:
    """Arrays are created on the cluster (``config(device=...)``)."""
    with dagrt.config(device=cluster):
        yield cluster


# -- semantics, against NumPy ------------------------------------------------------------

def _programs(xp: Any) -> list[Any]:
    out = []
    x = xp.arange(12.0).reshape(3, 4)
    v = x[1:, ::2]
    v += 100                      # a view's in-place op writes through
    t = x.T
    x[0] = -1                     # a view taken before sees the write
    out += [x.copy(), t.copy()]
    a = xp.arange(10.0)
    a[1:] += a[:-1]               # NumPy's overlap rule
    b = a[::-1]
    b *= 2                        # negative strides
    out.append(a)
    y = a * 2
    a += 1                        # y keeps its value
    alias = a
    alias += 1                    # an alias is the same array
    out += [y, a]
    m = xp.zeros((4, 4))
    m[xp.array([0, 2]), 1] = 7    # fancy setitem
    m[m > 5] += 1                 # a mask
    out.append(m)
    out.append(m[m > 5])          # data-dependent shape: a sync point
    o = xp.empty((2, 2))
    xp.matmul(xp.ones((2, 2)), xp.full((2, 2), 3.0), o)   # out= positional
    xp.add(o, 1, out=o)
    out.append(o)
    out.append(xp.cumsum(xp.arange(6.0).reshape(2, 3), axis=1))
    out.append(xp.linalg.inv(xp.array([[2.0, 1.0], [1.0, 3.0]])))
    out.append(x.sum(axis=0))
    out.append(x.max())
    return out


def test_semantics_match_numpy(on: Any) -> None:
    expected = _programs(numpy)
    got = _programs(dagrt)
    assert all(g.device == on for g in got if isinstance(g, dagrt.ndarray))
    assert_same(expected, got)


def test_random_draws_are_numpys_in_order(on: Any) -> None:
    dagrt.random.seed(3)
    numpy.random.seed(3)
    a, b = dagrt.random.normal(size=5), dagrt.random.uniform(size=(2, 2))
    assert a.device == on
    assert_same([numpy.random.normal(size=5), numpy.random.uniform(size=(2, 2))], [a, b])


def test_random_programs_match_numpy(on: Any) -> None:
    """At least 200 random programs (views, in-place ops, out=, setitem, masks)."""
    import test_programs as tp

    @settings(max_examples=PROGRAMS, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(tp.step.filter(tp.on_a_device), min_size=1, max_size=14))
    def check(program: list[tuple[Any, ...]]) -> None:
        expected_pool, expected_results = tp.run(numpy, program)
        pool, results = tp.run(dagrt, program)
        tp._compare(expected_pool + expected_results, pool + results)
        dagrt.waitall()

    check()


# -- large arrays in row blocks -------------------------------------------------------

CHUNK = 4096  # bytes (counting 8 an element): 512 elements a block


def _blocks(cluster: Any, x: Any) -> list[Any]:
    backend = cluster.backend
    return backend.root_of(x._data).pieces or []


def test_large_arrays_are_cut_into_row_blocks_across_workers(on: Any) -> None:
    """Elementwise ops, products with a whole matrix and reductions within rows
    run block by block where the blocks are (several workers hold them),
    reductions across rows go to dask.array, anything else gathers the array
    first: every value is NumPy's."""
    def program(xp: Any) -> list[Any]:
        x = xp.arange(10_000.0)
        y = xp.ones(10_000, dtype=xp.float32)
        z = 2 * x + y                    # blocks: both cut alike (by elements)
        z += xp.sin(x)
        w = xp.where(z > 5000, z, 0.0)
        m = xp.ones((3000, 7)) * xp.arange(7.0)   # a row broadcast along the blocks
        m /= 3
        out = [z.sum(), z.mean(), z.max(), z.argmax(), w.std(), m.sum(axis=0),
               m.mean(axis=1), m.min(axis=0, keepdims=True), xp.nansum(w), z[4990:5030],
               z[::-997], float(z[7777]),
               m @ xp.arange(21.0).reshape(7, 3), m.sum(axis=1), m.argmax(axis=1),
               (m @ xp.ones(7)).max()]    # blocks times a matrix; within rows
        z[1:] += z[:-1]                  # NumPy's overlap rule: gathered, then whole
        out += [z, w, m, y]
        return out

    runs = dict(on.executor.runs)
    with dagrt.config(cluster_chunk_bytes=CHUNK):
        got = program(dagrt)
        z = dagrt.arange(10_000.0) + 1
        blocks = _blocks(on, z)
        assert len(blocks) == 20
        dagrt.waitall()
        holders = on.backend.client.who_has([b.version[0] for b in blocks])
        assert {w for ws in holders.values() for w in ws}  # (where Dask kept them:
        # the placement is a hint that work stealing may override)
    assert len([w for w in on.executor.homes if w is not None]) == 2  # both workers asked
    runs = {k: v - runs[k] for k, v in on.executor.runs.items()}
    assert runs["split"] >= 10 and runs["reduce"] >= 8 and runs["gather"] >= 1, runs
    assert_same(program(numpy), got, rtol=1e-12)


def test_products_factorizations_and_row_functions_of_row_blocks(on: Any) -> None:
    """``X.T @ X``, ``qr``, ``svd`` and ``norm`` of a matrix in row blocks are
    dask.array's blocked algorithms (no worker gathers the matrix); FFTs,
    sorts and cumulative sums along the other axes run block by block.
    Values are NumPy's (to rounding; factors up to the signs LAPACK leaves
    free)."""
    h = numpy.random.default_rng(0).standard_normal((3000, 7))
    with dagrt.config(cluster_chunk_bytes=CHUNK):
        x = dagrt.asarray(h)
        assert len(_blocks(on, x)) > 1
        dagrt.waitall()
        runs = dict(on.executor.runs)
        gram, dot = x.T @ x, dagrt.dot(x.T, x)
        q, r = dagrt.linalg.qr(x)
        u, s, vt = dagrt.linalg.svd(x, full_matrices=False)
        norm = dagrt.linalg.norm(x)
        rows = [dagrt.fft.fft(x, axis=1), dagrt.fft.rfft(x), dagrt.sort(x, axis=1),
                dagrt.argsort(x), dagrt.cumsum(x, axis=1)]
        got = [a.asnumpy() for a in (gram, dot, q, r, u, s, vt, norm)]
    runs = {k: v - runs[k] for k, v in on.executor.runs.items()}
    assert runs["reduce"] == 5 and runs["split"] == 5 and runs["gather"] == 0, runs
    numpy.testing.assert_allclose(got[0], h.T @ h, rtol=1e-12)
    numpy.testing.assert_allclose(got[1], h.T @ h, rtol=1e-12)
    q, r, u, s, vt, norm = got[2:8]
    numpy.testing.assert_allclose(q @ r, h, atol=1e-12)
    numpy.testing.assert_allclose(q.T @ q, numpy.eye(7), atol=1e-12)
    numpy.testing.assert_allclose(numpy.abs(r), numpy.abs(numpy.linalg.qr(h)[1]), atol=1e-10)
    numpy.testing.assert_allclose(s, numpy.linalg.svd(h, compute_uv=False), rtol=1e-12)
    numpy.testing.assert_allclose((u * s) @ vt, h, atol=1e-12)
    numpy.testing.assert_allclose(norm, numpy.linalg.norm(h), rtol=1e-12)
    want = [numpy.fft.fft(h, axis=1), numpy.fft.rfft(h), numpy.sort(h, axis=1),
            numpy.argsort(h), numpy.cumsum(h, axis=1)]
    for a, b in zip(rows, want):
        assert_same(b, a)


def test_a_matrix_in_blocks_wider_than_tall_is_factorized_whole(on: Any) -> None:
    """dask's QR takes tall-and-skinny blocks only: blocks of 10 rows of a
    40 x 300 matrix are gathered and factorized by NumPy instead."""
    h = numpy.random.default_rng(1).standard_normal((40, 300))
    with dagrt.config(cluster_chunk_bytes=8 * 300 * 10):
        x = dagrt.asarray(h)
        assert len(_blocks(on, x)) == 4
        dagrt.waitall()
        runs = dict(on.executor.runs)
        q, r = dagrt.linalg.qr(x)
        assert_same(numpy.linalg.qr(h), (q, r), rtol=1e-12)
    assert on.executor.runs["gather"] - runs["gather"] == 1
    assert on.executor.runs["reduce"] == runs["reduce"]


def test_random_programs_on_row_blocks(on: Any) -> None:
    """The random programs with every (96, 96) array cut into row blocks."""
    import test_programs as tp

    @settings(max_examples=max(20, PROGRAMS // 4), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(tp.step.filter(tp.on_a_device), min_size=1, max_size=10))
    def check(program: list[tuple[Any, ...]]) -> None:
        expected_pool, expected_results = tp.run(numpy, program)
        with dagrt.config(cluster_chunk_bytes=24 * 96 * 8):  # 4 blocks of 24 rows
            pool, results = tp.run(dagrt, program)
        # dask.array reduces across the blocks in another order than NumPy's
        # pairwise sum: the std of a constant array is 1.3e-15, not 4.4e-16
        tp._compare(expected_pool + expected_results, pool + results, atol=1e-13)
        dagrt.waitall()

    check()


# -- errors ----------------------------------------------------------------------------

def test_worker_error_surfaces_at_the_sync_point_with_the_site(on: Any) -> None:
    singular = dagrt.linalg.inv(dagrt.zeros((2, 2)))  # RECORDED-HERE
    line = next(n for n, text in enumerate(Path(__file__).read_text().splitlines(), 1)
                if text.endswith("# RECORDED-HERE"))
    dependent = singular + 1
    with pytest.raises(numpy.linalg.LinAlgError) as info:
        dependent.asnumpy()
    assert str(info.value) == "Singular matrix"
    assert f"{__file__}:{line}" in info.value.__notes__[0]
    with pytest.raises(numpy.linalg.LinAlgError):
        float(singular[0, 0])
    dagrt.waitall()  # reported already: not again
    assert float((dagrt.ones(3) * 2).sum()) == 6.0  # the runtime goes on


def test_waitall_raises_a_worker_error_once(on: Any) -> None:
    dagrt.linalg.inv(dagrt.zeros((3, 3)))
    with pytest.raises(numpy.linalg.LinAlgError):
        dagrt.waitall()
    dagrt.waitall()


def test_a_worker_error_reaches_later_segments_and_a_whole_write_clears_it(on: Any) -> None:
    bad = dagrt.linalg.inv(dagrt.zeros((2, 2)))  # FAILS-HERE
    line = next(n for n, text in enumerate(Path(__file__).read_text().splitlines(), 1)
                if text.endswith("# FAILS-HERE"))
    with pytest.raises(numpy.linalg.LinAlgError):
        dagrt.waitall()  # (its segment is done: what follows is another one)
    later = bad * 2 + 1  # reads the poisoned buffer: its error, not one of its own
    with pytest.raises(numpy.linalg.LinAlgError) as info:
        later.asnumpy()
    assert f"{__file__}:{line}" in info.value.__notes__[0]
    numpy.multiply(dagrt.ones((2, 2)), 3.0, out=bad)  # overwritten whole: the poison is gone
    assert bad.asnumpy().tolist() == [[3.0, 3.0], [3.0, 3.0]]
    dagrt.waitall()  # each error once


@pytest.mark.parametrize("failing", ["pickle", "submit"])
def test_a_segment_that_cannot_be_sent_fails_each_of_its_ops(on: Any, monkeypatch: Any,
                                                              failing: str) -> None:
    """One error for the whole segment (it cannot be pickled, or Dask refuses
    the task): each op, batched or scheduled, carries it (an op that reads
    nothing another wrote too); it is raised once; nothing hangs."""
    from dagrt.devices.cluster import executor as module

    x, y = dagrt.ones(4), dagrt.ones(4)
    dagrt.waitall()
    monkeypatch.setattr(on.executor, "_worth_sending", lambda: False)  # (sent at the sync)

    def cannot(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cannot send")
    if failing == "pickle":
        monkeypatch.setattr(module, "_dumps", cannot)
    else:
        monkeypatch.setattr(on.backend.client, "submit", cannot)
    x += y  # batched
    with dagrt.profile():
        z = y * 2  # scheduled, in the same segment (it reads y too)
    with pytest.raises(RuntimeError, match="cannot send"):
        z.asnumpy()
    with pytest.raises(RuntimeError, match="cannot send"):
        x.asnumpy()
    monkeypatch.undo()
    dagrt.waitall()  # raised already: not again
    assert float((dagrt.ones(2) + 1).sum()) == 4.0


def test_a_delegated_op_dask_refuses_fails_without_a_hang(on: Any, monkeypatch: Any
                                                          ) -> None:
    from dagrt.devices.cluster import chunks as module

    with dagrt.config(cluster_chunk_bytes=CHUNK):
        x = dagrt.ones((64, 16))  # in row blocks
        dagrt.waitall()

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("dask refused")
        monkeypatch.setattr(module, "delegate", refuse)
        total = x.sum()
        with pytest.raises(RuntimeError, match="dask refused"):
            float(total)
        monkeypatch.undo()
        dagrt.waitall()
        assert float(x.sum()) == 64 * 16


def test_observed_and_batched_ops_keep_numpys_order(on: Any) -> None:
    """Ops recorded while a profile watches are scheduled ops; the others are
    batched (``engine.batches``), except on buffers a scheduled op still uses:
    mixed, they run in recording order."""
    def program(xp: Any, watch: Any) -> list[Any]:
        x = xp.arange(12.0)
        y = x * 2
        with watch:
            x += y
            v = x[2:8]
            v *= 3
            z = y[::2] + 1
        x += 1  # after scheduled ops on the same buffer
        y *= v[:1]
        w = xp.ones(12) * 7  # fresh buffers: batched
        w += x
        w[3:5] = z[:2]
        return [x, y, z, w, v.copy()]

    before = on.executor.segments
    got = program(dagrt, dagrt.profile())
    assert_same(program(numpy, contextlib.nullcontext()), got)
    assert on.executor.segments > before


def test_argument_errors_raise_at_the_call(on: Any) -> None:
    x = dagrt.ones((2, 3))
    with pytest.raises(ValueError, match="operands could not be broadcast"):
        x + dagrt.ones(4)
    with pytest.raises(ValueError, match="copyto"):  # mixed host and cluster operands
        x + dagrt.ones((2, 3), device="cpu")



def test_a_function_no_worker_can_receive_runs_on_the_host(on: Any) -> None:
    double = numpy.frompyfunc(lambda v: v * 2, 1, 1)  # cannot be pickled
    x = dagrt.arange(4.0)
    y = double(x)
    x += 1
    assert y.device == on
    assert y.asnumpy().tolist() == [0.0, 2.0, 4.0, 6.0]
    double(x, out=y)
    assert y.asnumpy().tolist() == [2.0, 4.0, 6.0, 8.0]


# -- the runtime -------------------------------------------------------------------------

def test_the_objects_alive_at_connection_are_frozen(on: Any) -> None:
    """``cluster_gc_freeze``: the collector's full passes skip Dask's objects."""
    import gc

    assert gc.get_freeze_count() > 10_000


def test_small_ops_are_batched_into_few_tasks(on: Any) -> None:
    executor = on.executor
    x, y = dagrt.ones(1024), dagrt.ones(1024)
    dagrt.waitall()
    before = executor.segments
    for _ in range(500):
        x += 2 * y
    assert float(x[0]) == 1001.0
    sent = executor.segments - before
    assert sent < 100, sent  # not one task per op


def test_backpressure_bounds_pending_ops(on: Any) -> None:
    seen = []

    class Watch:
        def on_push(self, op: Any) -> None:
            seen.append(ENGINE.pending)

        def on_ran(self, entry: Any) -> None:
            pass

        def on_span(self, *span: Any) -> None:
            pass

    ENGINE.observers.append(watch := Watch())
    try:
        with dagrt.config(max_pending=20):
            x = dagrt.ones(100)
            for _ in range(200):
                x = x + 1
            assert float(x[0]) == 201.0
    finally:
        ENGINE.observers.remove(watch)
    assert max(seen) <= 20


def test_at_the_look_ahead_bound_segments_stay_large(on: Any) -> None:
    """Four independent chains recorded faster than the cluster runs them:
    a backpressure stall waits for the tasks in flight, it does not send the
    open segment (sending at each stall sent one task per op: 2 ms an op)."""
    executor = on.executor
    with dagrt.config(max_pending=64):
        xs = [dagrt.ones(256) * (i + 1) for i in range(4)]
        dagrt.waitall()
        before = executor.segments
        for _ in range(150):
            xs = [dagrt.sin(x) * 1.0001 for x in xs]
        got = [x.asnumpy() for x in xs]
    want = [numpy.ones(256) * (i + 1) for i in range(4)]
    for _ in range(150):
        want = [numpy.sin(x) * 1.0001 for x in want]
    for a, b in zip(got, want):
        numpy.testing.assert_array_equal(a, b)
    ops = 4 * 150 * 2
    assert executor.segments - before <= ops / 8, executor.segments - before


def test_dead_temporaries_are_kept_on_no_worker(on: Any, monkeypatch: Any) -> None:
    """A segment returns (keeps on its worker) only the roots something can
    still read: the Python temporaries of ``((x*2 + 1)*3 - 4)/5`` die before
    it is sent and their buffers go with the task."""
    from dagrt.devices.cluster import executor as module

    sent: list[Any] = []
    dumps = module._dumps
    monkeypatch.setattr(module, "_dumps", lambda segment: (sent.append(segment),
                                                           dumps(segment))[1])
    x = dagrt.ones(1000)
    dagrt.waitall()
    sent.clear()
    monkeypatch.setattr(on.executor, "_worth_sending", lambda: False)  # (sent at the sync)
    y = ((x * 2 + 1) * 3 - 4) / 5
    view = y[::2]
    dagrt.waitall()
    assert [key for segment in sent for key in segment.written] == \
        [on.backend.root_of(y._data).key]
    numpy.testing.assert_array_equal(view.asnumpy(), numpy.ones(500))
    numpy.testing.assert_array_equal(y.asnumpy(), numpy.ones(1000))


def test_segment_results_stay_on_the_workers(on: Any, monkeypatch: Any) -> None:
    """The client takes a segment's summary (fetched values, errors) from the
    worker, never gathers its result (the new versions it wrote): only sync
    points move array bytes."""
    from distributed import Future

    gathered = []
    result = Future.result

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        gathered.append(str(self.key))
        return result(self, *args, **kwargs)

    monkeypatch.setattr(Future, "result", spy)
    x = dagrt.ones(100_000)
    for _ in range(20):
        x = x * 1.5 + 1
    with dagrt.config(cluster_chunk_bytes=CHUNK * 16):
        y = dagrt.ones(100_000) * 2  # row blocks too
    value = float(x[7]) + float(y.sum())
    assert value == numpy.float64(_chain_value()) + 200_000.0
    assert gathered and not [k for k in gathered if k.startswith("dagrt-segment")], gathered


def _chain_value() -> float:
    x = numpy.ones(1)
    for _ in range(20):
        x = x * 1.5 + 1
    return float(x[0])


def test_transfers_and_waitall(on: Any) -> None:
    host = numpy.arange(6.0).reshape(2, 3)
    x = dagrt.asarray(host)
    assert x.device == on
    back = (x * 2).copyto(dagrt.cpu())
    assert back.device == dagrt.cpu()
    numpy.testing.assert_array_equal(back.asnumpy(), host * 2)
    array = numpy.asarray(x)
    array[0, 0] = 99  # a copy: the cluster's value is unchanged
    assert float(x[0, 0]) == 0.0
    y = x.T.copy()
    dagrt.waitall()
    assert ENGINE.pending == 0
    numpy.testing.assert_array_equal(y.asnumpy(), host.T)


def test_a_copy_to_the_cluster_takes_the_value_of_its_line(on: Any) -> None:
    """The source, changed right after the copy (NumPy's, dagrt's on the host,
    ready or pending), is copied as it was."""
    numpy_source, host, pending = numpy.ones(3), dagrt.ones(3, device="cpu"), \
        dagrt.ones(1 << 20, device="cpu") * 3
    copies = [dagrt.asarray(numpy_source, device=on), host.to_device(on),
              pending.to_device(on)]
    numpy_source += 1
    host += 1
    pending += 1
    assert [float(c[0]) for c in copies] == [1.0, 1.0, 3.0]
    assert float(copies[2].sum()) == 3.0 * (1 << 20)


def test_a_lost_worker_is_survived(on: Any) -> None:
    """The worker holding the arrays' values dies: Dask recomputes them from
    the segments that wrote them (the last test on the module's cluster: it
    leaves one worker)."""
    x = dagrt.arange(1000.0)
    y = x * 2
    z = y + 1
    dagrt.waitall()
    client = on.backend.client
    holders: dict[str, int] = {}
    for workers in client.who_has().values():
        for w in workers:
            holders[w] = holders.get(w, 0) + 1
    victim = max(holders, key=holders.__getitem__)
    os.kill(client.run(os.getpid)[victim], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while victim in client.scheduler_info()["workers"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert victim not in client.scheduler_info()["workers"]
    expected = numpy.arange(1000.0) * 2
    numpy.testing.assert_array_equal((z * 3 + y).asnumpy(), (expected + 1) * 3 + expected)
    y += 1  # in place, after the loss
    numpy.testing.assert_array_equal(y.asnumpy(), expected + 1)
    assert float(z.sum()) == (expected + 1).sum()


# -- the embedded cluster in a script -----------------------------------------------------

_SCRIPT = """
import time
t0 = time.perf_counter()
import dagrt as np
c = np.cluster()
x = np.ones(10, device=c)
x[3:] += 1
print("value", float((x * 2).sum()))
start = time.perf_counter() - t0
t1 = time.perf_counter()
c.close()
print("start", start, "close", time.perf_counter() - t1)
"""


def _marked(marker: str) -> list[int]:
    """Processes whose environment carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc to find processes")
@pytest.mark.timeout(240)
def test_unguarded_script_starts_and_stops_the_embedded_cluster(tmp_path: Path) -> None:
    """No ``if __name__ == "__main__"`` guard; no process left behind."""
    script = tmp_path / "script.py"
    script.write_text(_SCRIPT)
    marker = f"DAGRT_TEST_MARK_{uuid.uuid4().hex}"
    env = {**os.environ, marker: "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=200, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "value 34.0" in proc.stdout, proc.stdout
    words = proc.stdout.split()
    start, close = float(words[words.index("start") + 1]), float(words[words.index("close") + 1])
    assert start < 120 and close < 30, proc.stdout
    deadline = time.monotonic() + 20
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _marked(marker) == []


@pytest.mark.timeout(240)
def test_dagrt_device_cluster_runs_an_unchanged_script(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text("import dagrt as np\nx = np.arange(5.0)\nx[1:] += x[:-1]\n"
                      "print(x.device, x.asnumpy().tolist())\n")
    env = {**os.environ, "DAGRT_DEVICE": "cluster", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=200, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cluster(0) [0.0, 1.0, 3.0, 5.0, 7.0]" in proc.stdout, proc.stdout
