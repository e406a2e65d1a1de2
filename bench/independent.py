"""Four independent chains of ten elementwise ops on 4,000,000-element float64
arrays: dagrt's threaded engine against plain NumPy (and, as the reference
for what threads can give on this machine, the same chains on hand-written
Python threads). Prints dagrt/NumPy and the scaling over 1, 2, ... workers.

    python bench/independent.py [--quick] [--trace]
"""

from __future__ import annotations

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy  # noqa: E402
from _common import best_of, parser, save, traced  # noqa: E402

import dagrt  # noqa: E402

CHAINS, STEPS = 4, 10


def chain(xp, x):
    """Ten elementwise ops, each depending on the previous one."""
    for _ in range(STEPS // 2):
        x = xp.sin(x) * 1.0001
    return x


def run_numpy(inputs):
    return [chain(numpy, x) for x in inputs]


def run_threads(inputs):
    out = [None] * len(inputs)

    def work(i):
        out[i] = chain(numpy, inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def run_dagrt(inputs):
    out = [chain(dagrt, x) for x in inputs]
    dagrt.waitall()
    return out


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    n = 40_000 if args.quick else 4_000_000
    repeat = 1 if args.quick else args.repeat
    host = [numpy.random.default_rng(i).random(n) for i in range(CHAINS)]
    lazy = [dagrt.asarray(x) for x in host]

    expected = run_numpy(host)
    got = run_dagrt(lazy)
    for e, g in zip(expected, got):
        numpy.testing.assert_allclose(g.asnumpy(), e, rtol=1e-12)

    t_numpy = best_of(lambda: run_numpy(host), repeat)
    t_threads = best_of(lambda: run_threads(host), repeat)
    scaling = {}
    cores = os.cpu_count() or 1
    for workers in range(1, max(2, cores) + 1):
        with dagrt.config(inter_op_threads=workers, inline_bytes=0 if args.quick else 1 << 16):
            scaling[workers] = best_of(lambda: run_dagrt(lazy), repeat)
    t_dagrt = scaling[min(cores, max(scaling))] if cores > 1 else scaling[1]

    print(f"{CHAINS} chains x {STEPS} elementwise ops on {n:,} float64 elements, "
          f"{cores} cores")
    print(f"  numpy (serial)          {t_numpy * 1e3:9.1f} ms   1.00")
    print(f"  numpy + Python threads  {t_threads * 1e3:9.1f} ms   {t_threads / t_numpy:.2f}")
    for workers, t in scaling.items():
        print(f"  dagrt, {workers} worker(s)       {t * 1e3:9.1f} ms   {t / t_numpy:.2f}")
    print(f"dagrt / numpy = {t_dagrt / t_numpy:.2f} (target <= 0.55 on 2 cores)")
    with traced(args, "independent"):
        run_dagrt(lazy)
    save("independent", args, {
        "elements": n, "chains": CHAINS, "steps": STEPS, "numpy_s": t_numpy,
        "python_threads_s": t_threads, "dagrt_s": t_dagrt,
        "dagrt_over_numpy": t_dagrt / t_numpy, "threads_over_numpy": t_threads / t_numpy,
        "scaling_s": scaling})


if __name__ == "__main__":
    main()
