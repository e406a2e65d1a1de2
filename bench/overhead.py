"""Per-op overhead: the small-op loop of cuNumeric issue 1178.

100,000 iterations of ``x += 2 * y`` on float64 arrays of 1024 elements,
dagrt against NumPy in one run. Published peers: cuNumeric ~48x slower than
NumPy, MXNet 30-60 us per op (NumPy 0.6), Bohrium ~100x, dask.array several
hundred x. dagrt's target: within 3x of NumPy.

    python bench/overhead.py [--quick] [--iterations N]
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy  # noqa: E402
from _common import parser, save, traced  # noqa: E402

import dagrt  # noqa: E402


def loop(xp, iterations: int, n: int = 1024) -> float:
    x = xp.ones(n)
    y = xp.ones(n)
    t0 = time.perf_counter()
    for _ in range(iterations):
        x += 2 * y
    float(x[0])  # wait for the result
    elapsed = time.perf_counter() - t0
    assert float(x[0]) == 1 + 2 * iterations
    return elapsed


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=100_000)
    args = p.parse_args()
    iterations = 2_000 if args.quick else args.iterations
    repeat = 1 if args.quick else args.repeat
    t_numpy = min(loop(numpy, iterations) for _ in range(repeat))
    t_dagrt = min(loop(dagrt, iterations) for _ in range(repeat))
    with dagrt.config(inline_bytes=0):  # every op through the scheduler
        t_sched = min(loop(dagrt, iterations // 10) for _ in range(repeat)) * 10
    per = 1e6 / iterations / 2  # microseconds per op (two ops per iteration)
    print(f"{iterations:,} iterations of x += 2 * y, float64[1024]")
    print(f"  numpy                        {t_numpy:7.3f} s  {t_numpy * per:6.2f} us/op  1.00")
    print(f"  dagrt (default)              {t_dagrt:7.3f} s  {t_dagrt * per:6.2f} us/op"
          f"  {t_dagrt / t_numpy:.2f}")
    print(f"  dagrt, all ops scheduled     {t_sched:7.3f} s  {t_sched * per:6.2f} us/op"
          f"  {t_sched / t_numpy:.2f}")
    print(f"dagrt / numpy = {t_dagrt / t_numpy:.2f} (target <= 3)")
    with traced(args, "overhead"):
        with dagrt.config(inline_bytes=0):
            loop(dagrt, 200)
    save("overhead", args, {"iterations": iterations, "numpy_s": t_numpy, "dagrt_s": t_dagrt,
                            "dagrt_scheduled_s": t_sched, "dagrt_over_numpy": t_dagrt / t_numpy,
                            "scheduled_over_numpy": t_sched / t_numpy,
                            "numpy_us_per_op": t_numpy * per, "dagrt_us_per_op": t_dagrt * per,
                            "scheduled_us_per_op": t_sched * per})


if __name__ == "__main__":
    main()
