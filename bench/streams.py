"""64 independent small GPU ops (256x256 products) on 1 stream against N
streams, speedup printed, and the host time per GPU op launch (dagrt's and
CuPy's calls'). On a machine without a GPU it says so and runs the CPU
analogue: the same 64 products on 1 worker thread against N.
(``DAGRT_GPU_DOUBLE=1`` runs the GPU path on CuPy's test double: its figures
measure host threads standing in for a GPU, not a GPU.)

    python bench/streams.py [--quick] [--streams N] [--trace]
"""

from __future__ import annotations

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy  # noqa: E402
from _common import best_of, parser, save, traced  # noqa: E402

import dagrt  # noqa: E402
from dagrt import _config  # noqa: E402
from dagrt.devices import registry as _placement  # noqa: E402


def products(x: dagrt.ndarray, count: int) -> None:
    [x @ x for _ in range(count)]
    dagrt.waitall()


def host_cost(ops: int) -> tuple[float, float]:
    """Host seconds per GPU op recorded and launched (a chain of ``x + 1`` on a
    small array, so kernels are short), and of that the time inside the
    backend's calls (CuPy's: allocation, launch, events), measured in the
    recording thread."""
    from dagrt.devices import gpu as _gpu

    backend = _gpu.backend()
    spent = [0.0]
    me = threading.get_ident()
    wrapped = ("empty", "launch", "record", "wait_event")
    for name in wrapped:
        def timed(*a: object, _real: object = getattr(backend, name), **k: object) -> object:
            if threading.get_ident() != me:
                return _real(*a, **k)  # type: ignore[operator]
            t0 = time.perf_counter()
            try:
                return _real(*a, **k)  # type: ignore[operator]
            finally:
                spent[0] += time.perf_counter() - t0
        setattr(backend, name, timed)
    try:
        x = dagrt.ones((8, 8), device=dagrt.gpu(0))
        best = (float("inf"), 0.0)
        for _ in range(3):
            dagrt.waitall()
            spent[0] = 0.0
            t0 = time.perf_counter()
            y = x
            for _ in range(ops):
                y = y + 1
            total = time.perf_counter() - t0
            dagrt.waitall()
            best = min(best, (total / ops, spent[0] / ops))
        return best
    finally:
        for name in wrapped:
            delattr(backend, name)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=_config.get("gpu_streams"))
    args = p.parse_args()
    count, size = (8, 64) if args.quick else (64, 256)
    repeat = 1 if args.quick else args.repeat
    results: dict[str, float] = {}
    extra: dict[str, float] = {}
    if dagrt.num_gpus() == 0:
        print("no GPU present: running the CPU analogue (worker threads, not streams)")
        x = dagrt.asarray(numpy.random.default_rng(0).random((size, size)))
        lanes = max(2, os.cpu_count() or 1)
        for n in (1, lanes):
            with dagrt.config(inter_op_threads=n, inline_bytes=0):
                results[f"{n} worker(s)"] = best_of(lambda: products(x, count), repeat)
        base = results["1 worker(s)"]
        best = results[f"{lanes} worker(s)"]
        label = f"{lanes} workers"
    else:
        for n in (1, args.streams):
            with dagrt.config(gpu_streams=n):
                _placement.reset()
                x = dagrt.random.uniform(size=(size, size), device=dagrt.gpu(0))
                results[f"{n} stream(s)"] = best_of(lambda x=x: products(x, count), repeat)
        base = results["1 stream(s)"]
        best = results[f"{args.streams} stream(s)"]
        label = f"{args.streams} streams"
        per_op, in_backend = host_cost(200 if args.quick else 2000)
        extra.update(host_us_per_op=per_op * 1e6, backend_us_per_op=in_backend * 1e6)
        print(f"host time per GPU op: {per_op * 1e6:.0f} us, of which in CuPy's calls "
              f"{in_backend * 1e6:.0f} us, dagrt's own {(per_op - in_backend) * 1e6:.0f} us"
              f" (target <= 50 us)")
    print(f"{count} independent {size}x{size} products")
    for name, t in results.items():
        print(f"  {name:12s} {t * 1e3:9.2f} ms")
    print(f"speedup {label} / 1 = {base / best:.2f}")
    with traced(args, "streams"):
        products(x, count)
    save("streams", args, dict(results, **extra, speedup=base / best,
                               gpu=dagrt.num_gpus() > 0))


if __name__ == "__main__":
    main()
