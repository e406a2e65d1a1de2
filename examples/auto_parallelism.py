"""The auto-parallelism experiment of the d2l book (MXNet), on dagrt.

What dagrt does with the machine it runs on, each figure printed as it is
measured, with one line saying what it means:

1. The CPU experiments (every machine): four independent chains of
   elementwise ops, each too small to keep every core busy alone (the d2l
   exercise: what a dependency engine overlaps); one dependent chain, which
   only fusion and chunking can speed up (each cache-sized block through the
   whole chain, on every core).
2. The d2l experiment itself: ten matrix products on each of two independent
   arrays (with NumPy; dagrt's serial engine; one array after the other; both
   overlapped). On a CPU its products already use every core through BLAS;
   it is the reference on GPU machines, where the CPU&GPU and copy-overlap
   experiments follow.

NumPy runs in this process, under the same malloc thresholds and BLAS
threads as dagrt (``bench/`` has the fresh-process comparisons).

    python examples/auto_parallelism.py [--quick] [--size N]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy

import dagrt


def run(x: dagrt.ndarray) -> list[dagrt.ndarray]:
    """Ten independent products, as in the book: ``[x.dot(x) for _ in range(10)]``."""
    return [x.dot(x) for _ in range(10)]


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _show(label: str, seconds: float, meaning: str = "") -> None:
    print(f"  {label:<34} {seconds:8.3f} s" + (f"   {meaning}" if meaning else ""), flush=True)


def cpu_experiment(n: int = 2_000_000, repeat: int = 3) -> dict[str, float]:
    """Independent chains and one dependent chain: NumPy against dagrt."""
    rng = numpy.random.default_rng(0)
    host = [rng.random(n) for _ in range(4)]
    lazy = [dagrt.asarray(x) for x in host]

    def chains(xp: object, inputs: list[object]) -> list[object]:
        out = []
        for x in inputs:
            for _ in range(5):
                x = xp.sin(x) * 1.0001  # type: ignore[attr-defined]
            out.append(x)
        return out

    def on_dagrt(fn: Callable[[], object], **config: object) -> Callable[[], object]:
        def run() -> None:
            with dagrt.config(**config):
                fn()
                dagrt.waitall()
        return run

    times: dict[str, float] = {}
    print(f"Four independent chains of 10 elementwise ops, {n:,} float64 each "
          f"({len(os.sched_getaffinity(0))} cores):", flush=True)
    times["chains_numpy"] = timed(lambda: chains(numpy, host), repeat)
    _show("NumPy", times["chains_numpy"])
    times["chains_serial"] = timed(on_dagrt(lambda: chains(dagrt, lazy), engine="serial"),
                                   repeat)
    _show("dagrt serial engine", times["chains_serial"],
          f"{times['chains_serial'] / times['chains_numpy']:.2f}x NumPy: recording costs little")
    times["chains"] = timed(on_dagrt(lambda: chains(dagrt, lazy)), repeat)
    _show("dagrt threaded", times["chains"],
          f"{times['chains'] / times['chains_numpy']:.2f}x NumPy: independent work overlapped")

    x0 = host[0]

    def one_chain(xp: object, x: object) -> object:
        for _ in range(10):
            x = xp.sin(x) * 1.0001 + 0.5  # type: ignore[attr-defined]
        return x

    print(f"One dependent chain, x = sin(x) * 1.0001 + 0.5 ten times, {n:,} float64:",
          flush=True)
    times["chain_numpy"] = timed(lambda: one_chain(numpy, x0), repeat)
    _show("NumPy", times["chain_numpy"])
    x1 = dagrt.asarray(x0)
    times["chain_unfused"] = timed(on_dagrt(lambda: one_chain(dagrt, x1), fuse=False), repeat)
    _show("dagrt, ops one by one", times["chain_unfused"],
          f"{times['chain_unfused'] / times['chain_numpy']:.2f}x NumPy: "
          "nothing independent to overlap")
    times["chain"] = timed(on_dagrt(lambda: one_chain(dagrt, x1)), repeat)
    _show("dagrt, fused and chunked", times["chain"],
          f"{times['chain'] / times['chain_numpy']:.2f}x NumPy: blocks through the "
          "whole chain, on every core")
    numpy.testing.assert_array_equal(numpy.asarray(one_chain(dagrt, x1)), one_chain(numpy, x0))
    return times


def experiment(size: int = 2000, repeat: int = 3) -> dict[str, float]:
    """Times (seconds) of the four variants; prints them like the book, each
    as it is measured."""
    dagrt.random.seed(0)
    x1 = dagrt.random.uniform(size=(size, size))
    x2 = dagrt.random.uniform(size=(size, size))
    n1, n2 = x1.asnumpy(), x2.asnumpy()

    def numpy_both() -> None:
        [n1.dot(n1) for _ in range(10)]
        [n2.dot(n2) for _ in range(10)]

    def serial() -> None:
        with dagrt.config(engine="serial"):
            run(x1)
            run(x2)

    def one_after_other() -> None:
        run(x1)
        dagrt.waitall()
        run(x2)
        dagrt.waitall()

    def overlapped() -> None:
        run(x1)
        run(x2)
        dagrt.waitall()

    print(f"The d2l experiment: 20 products of {size}x{size} float64 matrices "
          f"(two independent arrays, ten products each):", flush=True)
    times = {"numpy": timed(numpy_both, repeat)}
    _show("NumPy", times["numpy"])
    times["serial"] = timed(serial, repeat)
    _show("dagrt serial engine", times["serial"], "each op runs when recorded")
    times["one_after_other"] = timed(one_after_other, repeat)
    _show("dagrt threaded, x1 then x2", times["one_after_other"], "a barrier between")
    times["overlapped"] = timed(overlapped, repeat)
    _show("dagrt threaded, overlapped", times["overlapped"],
          f"{times['overlapped'] / times['serial']:.2f}x serial"
          + (": BLAS already used every core" if dagrt.num_gpus() == 0 else ""))
    numpy.testing.assert_allclose(run(x1)[0].asnumpy(), n1.dot(n1), rtol=1e-10)
    print(f"overlapped / serial = {times['overlapped'] / times['serial']:.2f}; "
          f"overlapped / NumPy = {times['overlapped'] / times['numpy']:.2f}")
    return times


def gpu_experiment(cpu_size: int = 2000, gpu_size: int = 6000,
                   repeat: int = 3) -> dict[str, float]:
    """The book's CPU-and-GPU experiments: both devices at once, and copies to
    the host overlapping the products that follow."""
    g = dagrt.gpu(0)
    x_cpu = dagrt.random.uniform(size=(cpu_size, cpu_size))
    x_gpu = dagrt.random.uniform(size=(gpu_size, gpu_size), device=g)

    def on(x: dagrt.ndarray) -> Callable[[], None]:
        return lambda: (run(x), dagrt.waitall())

    def both() -> None:
        run(x_cpu)
        run(x_gpu)
        dagrt.waitall()

    def copies_only() -> None:
        ys = run(x_gpu)
        dagrt.waitall()
        t0 = time.perf_counter()
        [y.copyto(dagrt.cpu()) for y in ys]
        dagrt.waitall()
        times["copy"] = min(times.get("copy", float("inf")), time.perf_counter() - t0)

    def run_and_copy() -> None:
        [y.copyto(dagrt.cpu()) for y in run(x_gpu)]
        dagrt.waitall()

    times: dict[str, float] = {}
    times["cpu"] = timed(on(x_cpu), repeat)
    times["gpu"] = timed(on(x_gpu), repeat)
    times["cpu_and_gpu"] = timed(both, repeat)
    timed(copies_only, repeat)
    times["run_and_copy"] = timed(run_and_copy, repeat)
    both_ratio = times["cpu_and_gpu"] / max(times["cpu"], times["gpu"])
    copy_ratio = times["run_and_copy"] / times["gpu"]
    print(f"CPU ({cpu_size}x{cpu_size}) {times['cpu']:.4f} s; GPU ({gpu_size}x{gpu_size}) "
          f"{times['gpu']:.4f} s; CPU & GPU {times['cpu_and_gpu']:.4f} s "
          f"(sum {times['cpu'] + times['gpu']:.4f} s)")
    print(f"CPU&GPU / max(CPU, GPU) = {both_ratio:.2f} (target <= 1.05)")
    print(f"GPU run {times['gpu']:.4f} s; copy to CPU {times['copy']:.4f} s; run + copy "
          f"{times['run_and_copy']:.4f} s (serial sum {times['gpu'] + times['copy']:.4f} s)")
    print(f"run+copy / run = {copy_ratio:.2f} (target <= 1.10)")
    times.update(cpu_and_gpu_over_max=both_ratio, run_copy_over_run=copy_ratio)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small matrices (smoke test)")
    p.add_argument("--size", type=int, default=0,
                   help="matrix size of the d2l experiment (default: 1000 on a CPU, "
                        "2000 with a GPU)")
    p.add_argument("--repeat", type=int, default=1, help="timed runs, best kept")
    args = p.parse_args()
    repeat = 1 if args.quick else args.repeat
    cpu_experiment(40_000 if args.quick else 2_000_000, repeat=max(repeat, 2))
    size = 200 if args.quick else args.size or (2000 if dagrt.num_gpus() else 1000)
    experiment(size, repeat)
    if dagrt.num_gpus() == 0:
        print("no GPU present: the CPU&GPU and copy-overlap experiments are skipped")
    else:
        gpu_experiment(*((200, 600) if args.quick else (size, 3 * size)),
                       repeat=1 if args.quick else args.repeat)


if __name__ == "__main__":
    main()
