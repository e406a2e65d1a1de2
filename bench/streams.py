"""64 independent small GPU ops (256x256 products) on 1 stream against N
streams, speedup printed. On a machine without a GPU it says so and runs the
CPU analogue: the same 64 products on 1 worker thread against N.

    python bench/streams.py [--quick] [--streams N] [--trace]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy  # noqa: E402
from _common import best_of, parser, save, traced  # noqa: E402

import dagrt  # noqa: E402
from dagrt import _config  # noqa: E402
from dagrt.devices import registry as _placement  # noqa: E402


def products(x: dagrt.ndarray, count: int) -> None:
    [x @ x for _ in range(count)]
    dagrt.waitall()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=_config.get("gpu_streams"))
    args = p.parse_args()
    count, size = (8, 64) if args.quick else (64, 256)
    repeat = 1 if args.quick else args.repeat
    results: dict[str, float] = {}
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
    print(f"{count} independent {size}x{size} products")
    for name, t in results.items():
        print(f"  {name:12s} {t * 1e3:9.2f} ms")
    print(f"speedup {label} / 1 = {base / best:.2f}")
    with traced(args, "streams"):
        products(x, count)
    save("streams", args, dict(results, speedup=base / best, gpu=dagrt.num_gpus() > 0))


if __name__ == "__main__":
    main()
