"""GPU tests: on a real GPU when CuPy sees one, else on CuPy's test double
(``dagrt.devices.cupy_double``), through the same ``CupyBackend`` code."""

from __future__ import annotations

import numpy
import pytest

import dagrt
from dagrt.devices import cupy_double
from dagrt.devices import gpu as _gpu
from dagrt.devices import registry as _registry

pytestmark = pytest.mark.gpu
REAL = dagrt.num_gpus() > 0 and _gpu.backend().cupy is not cupy_double
SIZE = 4000 if REAL else 600  # the double computes on 2 host cores


@pytest.fixture(autouse=True)
def gpu_backend():
    """Real CuPy when there is a GPU, else the double."""
    if REAL:
        yield _gpu.backend()
        return
    old = _gpu.use_backend(_gpu.CupyBackend(cupy_double))
    _registry.reset()
    yield _gpu.backend()
    dagrt.waitall()
    _registry.reset()
    _gpu.use_backend(old)


@pytest.fixture
def cupy(gpu_backend):
    return gpu_backend.cupy


def test_results_match_numpy_on_the_gpu(cupy) -> None:
    g = dagrt.gpu(0)
    host = numpy.random.default_rng(0).random((256, 256))
    x = dagrt.asarray(host).copyto(g)
    y = (dagrt.sin(x) @ x + 1).sum(axis=0)
    numpy.testing.assert_allclose(y.asnumpy(), (numpy.sin(host) @ host + 1).sum(axis=0),
                                  rtol=1e-10)
    assert y.device == g and isinstance(y._data, cupy.ndarray)


def test_copy_overlaps_a_later_kernel(cupy) -> None:
    """From CUDA event timestamps: a device-to-host copy runs while a later
    product computes."""
    g = dagrt.gpu(0)
    x = dagrt.random.uniform(size=(SIZE, SIZE), device=g)
    x.wait_to_read()
    g.executor.timing = True
    try:
        with dagrt.profile() as prof:
            for _ in range(4):
                x = x @ x / SIZE
                x.copyto(dagrt.cpu())
            dagrt.waitall()
    finally:
        g.executor.timing = False
    spans = []
    ref = None
    for op in prof.ops:
        start = (op.meta or {}).get("start_event")
        if start is None or op.event is None:
            continue
        ref = ref or start
        spans.append((op.lane, cupy.cuda.get_elapsed_time(ref, start),
                      cupy.cuda.get_elapsed_time(ref, op.event)))
    copies = [(a, b) for lane, a, b in spans if lane == "d2h"]
    kernels = [(a, b) for lane, a, b in spans if lane != "d2h"]
    assert copies and kernels
    assert any(c0 < k1 and k0 < c1 for c0, c1 in copies for k0, k1 in kernels)


def test_independent_products_use_several_streams() -> None:
    g = dagrt.gpu(0)
    x = dagrt.random.uniform(size=(512, 512), device=g)
    with dagrt.profile() as prof:
        ys = [x @ x for _ in range(8)]
        dagrt.waitall()
    lanes = {op.worker for op in prof.ops if op.name == "matmul"}
    assert len(lanes) > 1
    numpy.testing.assert_allclose(ys[0].asnumpy(), x.asnumpy() @ x.asnumpy(), rtol=1e-9)


def test_gpu_out_of_memory_surfaces_and_runtime_recovers(cupy) -> None:
    g = dagrt.gpu(0)
    free, _ = cupy.cuda.runtime.memGetInfo()
    huge = dagrt.ones(int(free * 2) // 8, device=g)
    with pytest.raises(MemoryError):
        (huge + 1).asnumpy()
    dagrt.waitall()
    assert float(dagrt.ones(10, device=g).sum()) == 10.0
