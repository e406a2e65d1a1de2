"""The GPU executor's scheduling logic, on a fake device (no GPU needed).

The fake backend runs each stream as a FIFO worker thread, events as flags,
and logs every launch, event record, event wait and kernel start/end, so these
tests check stream assignment, event dependencies, copy lanes, deferred frees,
CPU work not blocked by GPU work, out-of-memory retries and errors.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref

import numpy
import pytest

import dagrt
from dagrt.devices import cupy_double
from dagrt.devices import gpu as _gpu
from dagrt.devices import registry as _registry
from dagrt.devices.cupy_double import cuda as dcuda


@pytest.fixture
def fake():
    """The real CuPy backend on CuPy's test double: 2 devices, 20 ms kernels,
    every stream event logged."""
    settings = dict(dcuda.SETTINGS)
    dcuda.SETTINGS.update(devices=2, kernel_delay=0.02)
    backend = _gpu.CupyBackend(cupy_double)
    old = _gpu.use_backend(backend)
    _registry.reset()
    dcuda.LOG.clear()
    dcuda.LOGGING[0] = True
    yield backend
    dagrt.waitall()
    dcuda.LOGGING[0] = False
    _registry.reset()
    _gpu.use_backend(old)
    dcuda.SETTINGS.update(settings)
    cupy_double.get_default_memory_pool().set_limit(0)


def entries(fake, kind):
    return [e for e in dcuda.LOG if e[1] == kind]


def op_streams(fake):
    """Stream ids of kernel launches, in launch order (not the sync points'
    copies to the host, after the ops completed)."""
    return [e[2] for e in entries(fake, "launch") if e[3] != "copy_to_host" or e[2] != 0]


def test_naming_a_missing_gpu_is_allowed_using_it_is_not() -> None:
    old = _gpu.use_backend(False)  # no backend at all, as on a machine without CuPy
    _registry.reset()
    try:
        g = dagrt.gpu(0)
        assert repr(g) == "gpu(0)" and g == dagrt.gpu(0) and dagrt.num_gpus() == 0
        with pytest.raises(RuntimeError, match=r"no gpu\(0\).*dagrt.cpu\(\)"):
            dagrt.zeros(3, device=g)
        with pytest.raises(RuntimeError, match="no gpu"):
            dagrt.ones(3).copyto(g)
        with pytest.raises(RuntimeError, match="no gpu"):
            dagrt.random.uniform(size=3, device=g)
    finally:
        _gpu.use_backend(old)
        _registry.reset()


def test_devices_and_results_match_numpy(fake) -> None:
    g = dagrt.gpu(0)
    assert dagrt.num_gpus() == 2 and g.kind == "gpu" and dagrt.gpu(1).id == 1
    host = numpy.arange(12.0).reshape(3, 4)
    x = dagrt.asarray(host).copyto(g)
    assert x.device == g and isinstance(x._data, cupy_double.ndarray)
    y = (x * 2 + 1).sum(axis=0)
    assert y.device == g
    numpy.testing.assert_array_equal(y.asnumpy(), (host * 2 + 1).sum(axis=0))
    assert repr(y) == repr((host * 2 + 1).sum(axis=0))
    z = y.copyto(dagrt.cpu())
    assert z.device == dagrt.cpu() and type(z._data) is numpy.ndarray


def test_creation_on_device_and_ctx_alias(fake) -> None:
    g = dagrt.gpu(0)
    assert dagrt.zeros((2, 2), device=g).device == g
    assert dagrt.ones(3, ctx=g).device == g
    assert dagrt.full(3, 7.0, device="gpu:0").device == g
    assert dagrt.random.uniform(size=(4, 4), device=g).device == g
    assert dagrt.arange(5, device=g).to_device(dagrt.cpu()).device == dagrt.cpu()


def test_mixing_devices_is_an_error_at_the_call(fake) -> None:
    x = dagrt.ones(4, device=dagrt.gpu(0))
    with pytest.raises(ValueError, match=r"cpu\(0\) and gpu\(0\).*copyto"):
        x + dagrt.ones(4)
    with pytest.raises(ValueError, match=r"gpu\(0\) and gpu\(1\)"):
        x + dagrt.ones(4, device=dagrt.gpu(1))


def test_independent_ops_use_different_streams(fake) -> None:
    x = dagrt.ones((8, 8), device=dagrt.gpu(0))
    x.wait_to_read()
    dcuda.LOG.clear()
    ys = [x * i for i in range(4)]
    dagrt.waitall()
    assert len(set(op_streams(fake))) == 4
    for i, y in enumerate(ys):
        numpy.testing.assert_array_equal(y.asnumpy(), numpy.full((8, 8), i))


def test_a_chain_stays_on_one_stream_without_events(fake) -> None:
    x = dagrt.ones((8, 8), device=dagrt.gpu(0))
    x.wait_to_read()
    dcuda.LOG.clear()
    for _ in range(5):
        x = x + 1
    assert x.asnumpy()[0, 0] == 6
    assert len(set(op_streams(fake))) == 1
    assert entries(fake, "wait") == []


def test_cross_stream_dependency_is_an_event_wait_not_a_host_sync(fake) -> None:
    x = dagrt.ones((8, 8), device=dagrt.gpu(0))
    x.wait_to_read()
    dcuda.LOG.clear()
    a = x * 2          # stream A
    b = x * 3          # stream B (independent)
    c = a + b          # continues one stream, waits on the other's event
    assert c.asnumpy()[0, 0] == 5
    records = {e[3]: e[2] for e in entries(fake, "record")}   # event id -> stream
    waits = entries(fake, "wait")
    assert len(waits) == 1
    _, _, waiting_stream, event_id = waits[0]
    assert records[event_id] != waiting_stream
    # the consumer was launched before its producers finished: no host sync
    launches = entries(fake, "launch")
    first_end = min(e[0] for e in entries(fake, "end"))
    assert launches[2][0] < first_end


def test_copies_use_their_own_lanes(fake) -> None:
    g = dagrt.gpu(0)
    executor = g.executor
    host = dagrt.asarray(numpy.arange(6.0))
    dcuda.LOG.clear()
    on_gpu = host.copyto(g)
    back = (on_gpu * 2).copyto(dagrt.cpu())
    numpy.testing.assert_array_equal(back.asnumpy(), numpy.arange(6.0) * 2)
    streams = op_streams(fake)
    assert streams[0] == executor.lanes["h2d"].ptr
    assert streams[-1] == executor.lanes["d2h"].ptr
    assert dcuda.is_pinned(back._data)  # landing out in pinned memory


def test_copy_overlaps_the_next_kernel(fake) -> None:
    g = dagrt.gpu(0)
    x = dagrt.ones((16, 16), device=g)
    x.wait_to_read()
    dcuda.LOG.clear()
    ys = []
    for _ in range(3):  # a chain: each copy can run while the next product computes
        x = x * 2
        ys.append(x)
    copies = [y.copyto(dagrt.cpu()) for y in ys]
    dagrt.waitall()
    d2h = g.executor.lanes["d2h"].ptr
    spans: dict[int, list[tuple[float, float]]] = {}
    starts: dict[int, list[float]] = {}
    for t, kind, stream, *_ in list(dcuda.LOG):
        if kind == "start":
            starts.setdefault(stream, []).append(t)
        elif kind == "end":
            spans.setdefault(stream, []).append((starts[stream].pop(0), t))
    copy_spans = spans[d2h]
    kernel_spans = [s for stream, ss in spans.items() if stream != d2h for s in ss]
    assert any(c0 < k1 and k0 < c1 for c0, c1 in copy_spans for k0, k1 in kernel_spans)
    for i, c in enumerate(copies):
        numpy.testing.assert_array_equal(c.asnumpy(), numpy.full((16, 16), 2.0 ** (i + 1)))


def test_buffers_live_until_the_device_is_done_with_them(fake) -> None:
    dcuda.SETTINGS["kernel_delay"] = 0.2
    x = dagrt.ones((4, 4), device=dagrt.gpu(0))
    y = x * 2
    storage = weakref.ref(x._data)
    del x
    gc.collect()
    assert storage() is not None  # the pending kernel still uses it
    assert y.asnumpy()[0, 0] == 2
    dagrt.waitall()
    gc.collect()
    assert storage() is None  # released once the kernel completed


def test_cpu_work_is_not_blocked_by_gpu_work(fake) -> None:
    dcuda.SETTINGS["kernel_delay"] = 0.5
    with dagrt.config(inter_op_threads=1, inline_bytes=0):
        g = dagrt.ones((4, 4), device=dagrt.gpu(0)) * 2      # slow GPU op
        waiting = g.copyto(dagrt.cpu()) + 1                  # CPU op after it
        t0 = time.perf_counter()
        independent = dagrt.ones(1000) * 3                   # ready CPU work
        independent.wait_to_read()
        elapsed = time.perf_counter() - t0
        assert elapsed < 0.4, "the only CPU worker sat blocked behind the GPU"
        assert waiting.asnumpy()[0, 0] == 3


def test_out_of_memory_frees_the_cache_and_retries_once(fake) -> None:
    g = dagrt.gpu(0)
    x = dagrt.eye(4, device=g)
    x.wait_to_read()
    dcuda.SETTINGS["fail_mallocs"] = 1  # the kernel's workspace, at launch
    y = dagrt.linalg.inv(x)
    assert y.asnumpy()[0, 0] == 1
    assert entries(fake, "free_all_blocks")
    dcuda.SETTINGS["fail_mallocs"] = 2  # and again after freeing the cache
    z = dagrt.linalg.inv(x) + 1
    with pytest.raises(MemoryError):
        z.asnumpy()
    dagrt.waitall()  # raised at its sync point: not again
    assert (x + 3).asnumpy()[0, 0] == 4  # the runtime keeps working


def test_allocation_out_of_memory_surfaces_at_the_sync_point(fake) -> None:
    pool = cupy_double.get_default_memory_pool()
    x = dagrt.ones(100, device=dagrt.gpu(0))          # fits
    x.wait_to_read()
    pool.set_limit(pool.total_bytes() + 10_000)
    big = dagrt.ones(1_000_000, device=dagrt.gpu(0))  # does not, even after freeing
    assert big.shape == (1_000_000,)  # recorded; the error waits for a sync point
    y = big.sum()
    assert entries(fake, "free_all_blocks")
    with pytest.raises(MemoryError, match="test_gpu_scheduling.py"):
        y.asnumpy()
    assert float(x.sum()) == 100.0  # the runtime keeps working
    pool.set_limit(0)
    dagrt.waitall()  # raised at its sync point: not again


def test_kernel_errors_surface_at_the_sync_point(fake) -> None:
    x = dagrt.ones((3, 3), device=dagrt.gpu(0))
    bad = dagrt.linalg.inv(dagrt.zeros((3, 3), device=dagrt.gpu(0)))
    after = bad + x
    with pytest.raises(numpy.linalg.LinAlgError, match="test_gpu_scheduling.py"):
        after.asnumpy()
    dagrt.waitall()  # already raised at a sync point: not raised again
    bad2 = dagrt.linalg.inv(dagrt.zeros((3, 3), device=dagrt.gpu(0)))
    with pytest.raises(numpy.linalg.LinAlgError):
        dagrt.waitall()
    del bad2
    assert (x * 2).asnumpy()[0, 0] == 2


def test_views_and_setitem_on_device(fake) -> None:
    host = numpy.arange(12.0).reshape(3, 4)
    x = dagrt.asarray(host.copy()).copyto(dagrt.gpu(0))
    v = x[1:, ::2]
    v *= -1
    x[0] = 100
    expected = host.copy()
    expected[1:, ::2] *= -1
    expected[0] = 100
    numpy.testing.assert_array_equal(x.asnumpy(), expected)


def test_gpu_random_is_ordered_and_on_device(fake) -> None:
    g = dagrt.gpu(0)
    a = dagrt.random.normal(size=(100,), device=g)
    b = dagrt.random.normal(size=(100,), device=g)
    assert a.device == g and b.device == g
    assert not numpy.array_equal(a.asnumpy(), b.asnumpy())


def test_two_threads_use_the_gpu_at_once(fake) -> None:
    results = {}

    def work(k: int) -> None:
        x = dagrt.full((8, 8), float(k), device=dagrt.gpu(0))
        for _ in range(5):
            x = x + 1
        results[k] = x.asnumpy()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(results[k][0, 0] == k + 5 for k in range(3))


def test_profile_has_one_track_per_stream(fake, tmp_path) -> None:
    import json

    x = dagrt.ones((8, 8), device=dagrt.gpu(0))
    x.wait_to_read()
    path = tmp_path / "trace.json"
    with dagrt.profile(str(path)):
        ys = [x * i for i in range(3)]
        [y.copyto(dagrt.cpu()) for y in ys]
        dagrt.waitall()
    events = json.loads(path.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = {e["args"]["name"] for e in events if e.get("ph") == "M"
             and e.get("name") == "thread_name"}
    assert any("gpu(0) stream" in n for n in names)
    assert any("gpu(0) d2h" in n for n in names)
    slices = [e for e in events if e.get("ph") == "X"]
    assert all(e["dur"] >= 0 for e in slices) and len(slices) >= 6


def test_pinned_staging_buffer_lives_until_the_copy_completes(fake) -> None:
    staged = []
    alive_after_kernel = []
    real = fake.pinned_empty

    def tracking(shape, dtype):
        buffer = real(shape, dtype)
        staged.append(weakref.ref(buffer))
        return buffer

    def after_kernel(stream, name) -> None:  # the copy returned; its event is not reached
        if name != "copy_from_host":
            return
        gc.collect()
        alive_after_kernel.append(all(ref() is not None for ref in staged))

    fake.pinned_empty = tracking
    dcuda.SETTINGS["after_kernel"] = after_kernel
    on_gpu = dagrt.asarray(numpy.arange(1000.0)).copyto(dagrt.gpu(0))
    numpy.testing.assert_array_equal(on_gpu.asnumpy(), numpy.arange(1000.0))
    dagrt.waitall()
    dcuda.SETTINGS["after_kernel"] = None
    assert staged and alive_after_kernel and all(alive_after_kernel)
    gc.collect()
    assert all(ref() is None for ref in staged)  # released once the copy completed
