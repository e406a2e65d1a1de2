"""The GPU path on CuPy's test double (``dagrt.devices.cupy_double``): the real
``CupyBackend`` and stream executor, with device arrays that are not NumPy
arrays and kernels that run later on stream threads.

Each defect found by reading the GPU path against CuPy's source has a test
here: results against NumPy, errors at the recording line, failure paths that
must not hang, and the executor's overlap (own look-ahead, completions out of
order, events without timing, staging outside the lock).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy
import pytest

import dagrt
from dagrt.devices import cupy_double
from dagrt.devices import gpu as _gpu
from dagrt.devices import registry as _registry
from dagrt.devices.cupy_double import cuda as dcuda
from dagrt.engine.scheduler import ENGINE

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def double():
    settings = dict(dcuda.SETTINGS)
    dcuda.SETTINGS.update(devices=2)
    old = _gpu.use_backend(_gpu.CupyBackend(cupy_double))
    _registry.reset()
    dcuda.LOG.clear()
    dcuda.LOGGING[0] = True
    yield _gpu.backend()
    dcuda.SETTINGS.update(settings)
    ENGINE.waitall(raise_errors=False)
    dcuda.LOGGING[0] = False
    _registry.reset()
    _gpu.use_backend(old)


def finishes(fn, timeout: float = 20.0):
    """``fn()`` in a thread: its result, or a failure (not a hung suite)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "hung"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


# -- the double is CuPy, not NumPy ---------------------------------------------------


def test_the_double_refuses_what_cupy_refuses() -> None:
    cp = cupy_double
    x = cp.arange(6.0)
    with pytest.raises(TypeError, match="Implicit conversion"):
        numpy.asarray(x)
    assert not hasattr(x.flags, "writeable") and x.flags.c_contiguous and x.flags.owndata
    assert not isinstance(x, numpy.ndarray)
    with pytest.raises(TypeError, match="Unsupported type"):
        x + numpy.ones(6)
    with pytest.raises(TypeError, match="Wrong arguments"):
        cp.add(x, 1, out=cp.empty(6), where=x > 2)
    with pytest.raises(TypeError):
        cp.sum(x, initial=1.0)
    with pytest.raises(ValueError, match="kind"):
        x.sort(kind="quicksort")
    with pytest.raises(ValueError, match="Unsupported dtype"):
        cp.empty(3, object)
    assert not hasattr(cp, "matvec") and not hasattr(cp.linalg, "multi_dot")
    plain = cp.cuda.Event(disable_timing=True)
    plain.record()
    plain.synchronize()
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError):
        cp.cuda.get_elapsed_time(plain, plain)
    assert cp.linalg.inv(cp.zeros((2, 2))).get().tolist() == [[numpy.nan] * 2] * 2 or \
        numpy.isnan(cp.linalg.inv(cp.zeros((2, 2))).get()).all()
    assert x[[0, 7]].get().tolist() == [0.0, 1.0]  # out of bounds wraps, unchecked


def test_the_double_runs_kernels_later_on_their_stream() -> None:
    cp = cupy_double
    x = cp.zeros(4)
    cp.cuda.Stream.null.synchronize()
    s1, s2 = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    dcuda.SETTINGS["kernel_delay"] = 0.3  # (read at the launch)
    with s1:
        x += 1  # pending on s1 for 0.3 s
    dcuda.SETTINGS["kernel_delay"] = 0.0
    with s2:
        y = x * 2  # s2 does not wait for s1: reads the old value (a race)
    assert y.get(stream=s2).tolist() == [0.0] * 4
    s1.synchronize()
    assert x.get().tolist() == [1.0] * 4
    event = s1.record()  # ordered: s2 waits for s1's event
    with s2:
        s2.wait_event(event)
        z = x * 2
    assert z.get(stream=s2).tolist() == [2.0] * 4


# -- results against NumPy -----------------------------------------------------------

H = numpy.arange(12.0).reshape(3, 4)
CASES = {
    "elementwise": lambda xp, x: xp.sin(x) * 2 + x ** 2 - 1,
    "comparison": lambda xp, x: (x > 4) & (x < 9),
    "sum axis": lambda xp, x: x.sum(axis=0),
    "mean std": lambda xp, x: xp.stack([x.mean(axis=1), x.std(axis=1)]),
    "argmax": lambda xp, x: xp.argmax(x, axis=1),
    "sum where=": lambda xp, x: xp.sum(x, axis=1, where=x > 3),
    "max initial=": lambda xp, x: xp.max(x, axis=0, initial=5.0),
    "mean where=": lambda xp, x: xp.mean(x, where=x > 2),
    "sum initial= out=": lambda xp, x: xp.sum(x, axis=0, initial=1.0, out=xp.zeros(4)),
    "cumsum": lambda xp, x: xp.cumsum(x, axis=0),
    "matmul": lambda xp, x: x @ x.T,
    "einsum": lambda xp, x: xp.einsum("ij,kj->ik", x, x),
    "transpose": lambda xp, x: xp.transpose(x),
    "expand_dims": lambda xp, x: xp.expand_dims(x, 0),
    "reshape view": lambda xp, x: x.reshape(4, 3),
    "reshape copy": lambda xp, x: x.T.reshape(12),
    "reshape copy=True": lambda xp, x: x.reshape(12, copy=True),
    "swapaxes": lambda xp, x: xp.swapaxes(x, 0, 1)[1:],
    "bool mask": lambda xp, x: x[x > 4],
    "index array": lambda xp, x: x[xp.asarray([2, 0])],
    "index list": lambda xp, x: x[[2, 0], 1:],
    "scalar index": lambda xp, x: x[1, 2] + 0,
    "sort": lambda xp, x: xp.sort(-x, axis=1),
    "sort method kind": lambda xp, x: _sorted(-x, kind="quicksort"),
    "argsort": lambda xp, x: xp.argsort(-x, axis=0),
    "unique": lambda xp, x: xp.unique(x % 5),
    "diff": lambda xp, x: xp.diff(x, axis=1),
    "nonzero": lambda xp, x: xp.nonzero(x > 5)[1],
    "where=": lambda xp, x: xp.add(x, 1, out=xp.zeros((3, 4)), where=x > 3),
    "where3": lambda xp, x: xp.where(x > 3, x, -x),
    "clip": lambda xp, x: xp.clip(x, 2, 5),
    "concatenate": lambda xp, x: xp.concatenate([x, x[:1]]),
    "tril": lambda xp, x: xp.tril(x),
    "astype": lambda xp, x: x.astype(numpy.float32) / 3,
    "solve": lambda xp, x: xp.linalg.solve(x[:, :3] + xp.eye(3) * 10, x[:, 0]),
    "inv": lambda xp, x: xp.linalg.inv(x[:, :3] + xp.eye(3) * 10),
    "fft": lambda xp, x: xp.fft.fft(x),
    "maximum.reduce": lambda xp, x: xp.maximum.reduce(x, axis=0),
    "add.at": lambda xp, x: _add_at(xp, x),
    "setitem slice": lambda xp, x: _set(x, (slice(None), 1), 5.0),
    "setitem mask": lambda xp, x: _set(x, x > 6, -1.0),
    "setitem index": lambda xp, x: _set(x, ([0, 2],), 7.0),
    "view write": lambda xp, x: _through_view(xp, x),
    "in-place": lambda xp, x: _iadd(x),
    "broadcast_arrays": lambda xp, x: xp.broadcast_arrays(x, x[:1])[1] + xp.ones((3, 1))[0],
    "shape setter": lambda xp, x: _reshaped(x),
    "linspace retstep": lambda xp, x: xp.linspace(0, 1, 5, retstep=True)[0] + x[0, :1],
}


def _reshaped(x):
    y = x * 1
    v = y[:, :]
    v.shape = (4, 3)  # in place, a view still
    v[0] = -1
    return y


def _sorted(x, kind):
    y = x * 1
    y.sort(axis=1, kind=kind)
    return y


def _add_at(xp, x):
    y = x * 1
    xp.add.at(y, [0, 0, 2], 1.0)
    return y


def _set(x, key, value):
    y = x * 1
    y[key] = value
    return y


def _through_view(xp, x):
    y = x * 1          # pending
    v = xp.transpose(y)
    v[0, 1] = 100.0    # writes y[1, 0]
    y[2:, ::2] *= -1
    return y


def _iadd(x):
    y = x * 1
    y += y[::-1]
    return y


@pytest.mark.parametrize("name", list(CASES))
def test_ops_match_numpy_on_the_gpu(name) -> None:
    case = CASES[name]
    expected = case(numpy, H.copy())
    x = dagrt.asarray(H).copyto(dagrt.gpu(0))
    with dagrt.config(device=dagrt.gpu(0)):  # xp.zeros, xp.eye: on the GPU too
        got = case(dagrt, x)
    assert isinstance(got, dagrt.ndarray) and got.device == dagrt.gpu(0)
    assert isinstance(got._data, cupy_double.ndarray)
    host = got.asnumpy()
    assert host.shape == numpy.shape(expected) and host.dtype == numpy.asarray(expected).dtype
    numpy.testing.assert_allclose(host, expected, rtol=1e-6)


def test_shares_memory_of_gpu_arrays() -> None:
    x = dagrt.arange(10.0, device=dagrt.gpu(0)) * 1
    assert dagrt.shares_memory(x, x[1:]) and not dagrt.shares_memory(x, x * 2)
    assert not dagrt.shares_memory(x[::2], x[1::2]) and dagrt.may_share_memory(x[::2], x[1::2])


def test_created_on_the_gpu() -> None:
    g = dagrt.gpu(0)
    for make, expected in [(lambda: dagrt.ones((2, 3), device=g), numpy.ones((2, 3))),
                           (lambda: dagrt.full(3, 7.0, device=g), numpy.full(3, 7.0)),
                           (lambda: dagrt.arange(5, device=g), numpy.arange(5)),
                           (lambda: dagrt.eye(3, device=g), numpy.eye(3))]:
        a = make()
        assert a.device == g
        numpy.testing.assert_array_equal(a.asnumpy(), expected)
    r = dagrt.random.uniform(size=(3, 4), device=g)
    assert r.device == g and r.shape == (3, 4) and 0 <= float(r.min()) <= float(r.max()) < 1


# -- errors at the recording line ----------------------------------------------------


def test_host_arrays_and_gpu_arrays_mix_only_by_copy() -> None:
    x = dagrt.ones(4, device=dagrt.gpu(0))
    with pytest.raises(ValueError, match=r"cpu\(0\) and gpu\(0\)"):
        x + numpy.ones(4)  # NumPy's array is on the host
    with pytest.raises(ValueError, match=r"different devices"):
        dagrt.add(x, 1, out=dagrt.zeros(4))
    with pytest.raises(ValueError, match=r"different devices"):
        dagrt.add(dagrt.ones(4), 1, out=dagrt.zeros(4), where=x > 0)
    c = dagrt.zeros(4)
    with pytest.raises(ValueError, match=r"different devices"):
        c[...] = x
    x[...] = numpy.arange(4.0)  # a host value into a GPU array: CuPy copies it over
    numpy.testing.assert_array_equal(x.asnumpy(), numpy.arange(4.0))
    assert float(x[dagrt.asarray([1, 2])].sum()) == 3.0  # a host index array: too


def test_singular_inverse_raises_linalgerror_at_the_sync_point() -> None:
    bad = dagrt.linalg.inv(dagrt.zeros((3, 3), device=dagrt.gpu(0)))
    with pytest.raises(numpy.linalg.LinAlgError, match="test_gpu_fidelity.py"):
        bad.asnumpy()


def test_seed_reproduces_gpu_draws() -> None:
    g = dagrt.gpu(0)
    dagrt.random.seed(7)
    a = dagrt.random.normal(size=50, device=g).asnumpy()
    dagrt.random.seed(7)
    b = dagrt.random.normal(size=50, device=g).asnumpy()
    numpy.testing.assert_array_equal(a, b)
    dagrt.random.seed(8)
    assert not numpy.array_equal(dagrt.random.normal(size=50, device=g).asnumpy(), a)


def test_generator_draws_on_the_gpu() -> None:
    assert not hasattr(cupy_double.random, "integers")  # CuPy's module: the legacy API
    with dagrt.config(device=dagrt.gpu(0)):
        rng = dagrt.random.default_rng(0)
        a = rng.random(5, dtype=numpy.float32)
        closed = rng.integers(0, 3, size=2000, endpoint=True).asnumpy()
        half_open = rng.integers(5, size=2000).asnumpy()
    assert a.device == dagrt.gpu(0) and a.dtype == numpy.float32 and a.shape == (5,)
    assert set(closed.tolist()) == {0, 1, 2, 3} and set(half_open.tolist()) == set(range(5))


def test_functions_cupy_lacks_fail_clearly() -> None:
    x = dagrt.ones((2, 2), device=dagrt.gpu(0))
    with pytest.raises(NotImplementedError, match="CuPy has no"):
        dagrt.matvec(x, dagrt.ones(2, device=dagrt.gpu(0))).asnumpy()


# -- failure paths -------------------------------------------------------------------


def _slow_host_value() -> dagrt.ndarray:
    """A CPU array still being computed (~0.2 s) when the next lines record."""
    big = dagrt.asarray(numpy.random.default_rng(0).random((1200, 1200)))
    with dagrt.config(inline_bytes=0):
        slow = big @ big
        for _ in range(2):
            slow = slow @ big / 1200
    return slow[:3, :3] * 0 + dagrt.asarray(numpy.eye(3))


def test_a_failed_launch_fails_its_same_device_consumers() -> None:
    g = dagrt.gpu(0)
    source = _slow_host_value().copyto(g)     # waits for the CPU work
    inverse = dagrt.linalg.inv(source)        # same device: waits for the launch
    after = inverse + 1                       # same device: waits for that launch
    dcuda.SETTINGS["fail_mallocs"] = 2        # inv's launch: out of memory, twice
    with pytest.raises(MemoryError):
        finishes(after.asnumpy)
    finishes(lambda: ENGINE.waitall(raise_errors=False))
    dcuda.SETTINGS["fail_mallocs"] = 0
    assert float(finishes(lambda: (dagrt.ones(3, device=g) * 2).sum())) == 6.0


def test_launch_is_recorded_before_completion_is_observed(monkeypatch) -> None:
    real = ENGINE.launched

    def late(op):  # the poller gets every chance to see the op complete first
        time.sleep(0.05)
        return real(op)
    monkeypatch.setattr(ENGINE, "launched", late)
    source = _slow_host_value().copyto(dagrt.gpu(0))  # launched by a CPU worker, later
    y = source + 1                                    # waits for that launch
    for _ in range(3):
        y = y * 2
    numpy.testing.assert_array_equal(finishes(y.asnumpy), (numpy.eye(3) + 1) * 8)


def test_out_of_memory_frees_the_failing_devices_cache() -> None:
    g1 = dagrt.gpu(1)
    x = dagrt.eye(3, device=g1)
    x.wait_to_read()
    dcuda.LOG.clear()
    dcuda.SETTINGS["fail_mallocs"] = 1
    numpy.testing.assert_array_equal(dagrt.linalg.inv(x).asnumpy(), numpy.eye(3))
    freed = [e for e in dcuda.LOG if e[1] == "free_all_blocks"]
    assert freed and all(e[3] == 1 for e in freed)


def test_an_allocation_error_is_raised_once() -> None:
    g = dagrt.gpu(0)
    free, _ = cupy_double.cuda.runtime.memGetInfo()
    huge = dagrt.ones(int(free * 2) // 8, device=g)
    with pytest.raises(MemoryError):
        (huge + 1).asnumpy()
    dagrt.waitall()  # the line's one error was raised: not again
    del huge
    dagrt.ones(int(free * 2) // 8, device=g)
    with pytest.raises(MemoryError):  # not synchronized anywhere: waitall raises it
        dagrt.waitall()


# -- overlap ----------------------------------------------------------------------


def test_gpu_launches_are_not_held_back_by_queued_cpu_work() -> None:
    g = dagrt.gpu(0)
    gx = dagrt.ones((8, 8), device=g)
    gx.wait_to_read()
    big = dagrt.asarray(numpy.random.default_rng(0).random((500, 500)))
    with dagrt.config(inter_op_threads=1, inline_bytes=0, lookahead=1):
        cpu = [big @ big for _ in range(12)]  # queued behind one worker
        dcuda.LOG.clear()
        y = gx + 1
        launched = any(e[1] == "launch" and e[3] == "add" for e in dcuda.LOG)
        still_queued = cpu[-1]._var.nw > 0
        dagrt.waitall()
    assert still_queued and launched, "the GPU op waited for the CPU queue"
    assert y.asnumpy()[0, 0] == 2


def test_completions_are_observed_out_of_order() -> None:
    g = dagrt.gpu(0)
    a0 = dagrt.ones((64, 64), device=g)
    b0 = dagrt.ones(4, device=g)
    dagrt.waitall()

    def slow_matmul(stream, name) -> None:
        if name == "matmul":
            time.sleep(1.0)
    dcuda.SETTINGS["after_kernel"] = slow_matmul
    try:
        slow = a0 @ a0                 # one stream, a second
        fast = b0 * 2                  # another stream
        on_host = fast.copyto(dagrt.cpu()) + 1
        t0 = time.perf_counter()
        assert on_host.asnumpy()[0] == 3
        waited = time.perf_counter() - t0
        slow_pending = slow._var.nw > 0
    finally:
        dcuda.SETTINGS["after_kernel"] = None
    dagrt.waitall()
    assert slow_pending, f"the host consumer waited {waited:.2f} s for an unrelated kernel"


def test_sync_events_have_no_timing_unless_profiled() -> None:
    g = dagrt.gpu(0)
    x = dagrt.ones(4, device=g)
    ops = []
    real = g.executor._launch
    g.executor._launch = lambda op, stream: (ops.append(op), real(op, stream))[-1]
    try:
        (x + 1).wait_to_read()
        assert ops and all(op.event.disable_timing for op in ops)
        ops.clear()
        with dagrt.profile():
            (x + 2).wait_to_read()
        assert ops and not any(op.event.disable_timing for op in ops)
    finally:
        del g.executor._launch


def test_staging_runs_outside_the_executor_lock(double) -> None:
    g = dagrt.gpu(0)
    executor = g.executor
    held = []
    real = double.pinned_empty

    def pinned(shape, dtype):
        held.append(executor._lock.locked())
        return real(shape, dtype)
    double.pinned_empty = pinned
    try:
        y = dagrt.asarray(numpy.arange(5.0)).copyto(g)
        numpy.testing.assert_array_equal(y.asnumpy(), numpy.arange(5.0))
    finally:
        del double.pinned_empty
    assert held == [False]


# -- packaging -----------------------------------------------------------------------


def test_extras_require_a_cupy_dagrt_can_use() -> None:
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    for cuda in ("12", "13"):
        assert re.search(rf'"cupy-cuda{cuda}x\[ctk\]>=14\.2', text), cuda
    assert cupy_double.__version__ == "14.2.0"  # the double imitates the minimum


def test_out_tuple_of_a_one_output_eager_call_is_written_whole() -> None:
    """``np.matmul(b / n, b, out=(a,))`` on the GPU (what a subclass's ufunc
    override passes): the eager path paired ``a`` with the result's first row,
    so every row of ``a`` became it (found by the random programs)."""
    outs = []
    for xp in (numpy, dagrt):
        with dagrt.config(device=dagrt.gpu(0) if xp is dagrt else "cpu"):
            a = xp.arange(16.0).reshape(4, 4) / 16
            b = a[::-1]
            r = xp.matmul(b / 4, b, out=(a,))
            assert r is a
            outs.append(numpy.asarray(a) if xp is numpy else a.asnumpy())
    numpy.testing.assert_allclose(outs[1], outs[0])


# -- random programs -----------------------------------------------------------------


def test_random_programs_match_numpy_on_the_gpu() -> None:
    """Random programs (views, in-place ops, out=, setitem, masks) with every
    array on the GPU, against NumPy."""
    import test_programs as tp
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def on_a_gpu(s: tuple[object, ...]) -> bool:  # no read-only views, no object arrays
        return tp.on_a_device(s) and not (
            s[0] == "view" and s[3] % len(tp.VIEWS) == len(tp.VIEWS) - 1
            or s[0] == "unary" and s[3] % len(tp.UNARY) == len(tp.UNARY) - 1)

    @given(st.lists(tp.step.filter(on_a_gpu), min_size=1, max_size=14))
    def check(program: list[tuple[object, ...]]) -> None:
        expected_pool, expected_results = tp.run(numpy, program)
        with dagrt.config(device=dagrt.gpu(0)):
            pool, results = tp.run(dagrt, program)
        assert all(a.device == dagrt.gpu(0) for a in pool if isinstance(a, dagrt.ndarray))
        tp._compare(expected_pool + expected_results, pool + results)
        dagrt.waitall()

    check()


def test_pool_finalizers_may_run_inside_the_pools_own_locks() -> None:
    """A freed block's finalizer can run in a garbage collection that an
    allocation inside the pool's critical section starts: CuPy's pools lock
    with re-entrant locks (fastrlock), and so does the double (a plain lock
    hung the suite once, in ``free_all_blocks``)."""
    pool = dcuda.MemoryPool()
    pool._used[0] = pool._total[0] = 512  # (a block of device 0 in use)

    def inside() -> None:
        with pool._lock:  # (a collection here runs ``_release``)
            pool._release(numpy.empty(512, numpy.uint8), 0, 0)
        pool.free_all_blocks()
        with dcuda._pinned_lock:
            dcuda._give_back(numpy.empty(512, numpy.uint8))

    worker = threading.Thread(target=inside, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the pool's lock is not re-entrant"
    assert pool.used_bytes() == pool.total_bytes() == 0
