"""The auto-parallelism experiment of the d2l book (MXNet), on dagrt.

Ten 2000x2000 matrix products on each of two independent arrays, timed:

- with plain NumPy;
- with dagrt's serial engine (each op runs when recorded: the reference);
- with dagrt's threaded engine, one array after the other (a barrier between);
- with dagrt's threaded engine, both arrays overlapped (one barrier at the end).

    python examples/auto_parallelism.py [--quick] [--size N]
"""

from __future__ import annotations

import argparse
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


def experiment(size: int = 2000, repeat: int = 3) -> dict[str, float]:
    """Times (seconds) of the four variants; prints them like the book."""
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

    times = {"numpy": timed(numpy_both, repeat), "serial": timed(serial, repeat),
             "one_after_other": timed(one_after_other, repeat),
             "overlapped": timed(overlapped, repeat)}
    numpy.testing.assert_allclose(run(x1)[0].asnumpy(), n1.dot(n1), rtol=1e-10)
    print(f"20 products of {size}x{size} float64 matrices "
          f"(two independent arrays, ten products each)")
    print(f"  NumPy                          {times['numpy']:8.3f} s")
    print(f"  dagrt serial engine            {times['serial']:8.3f} s")
    print(f"  dagrt threaded, x1 then x2     {times['one_after_other']:8.3f} s")
    print(f"  dagrt threaded, overlapped     {times['overlapped']:8.3f} s")
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
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=1, help="timed runs, best kept")
    args = p.parse_args()
    experiment(200 if args.quick else args.size, 1 if args.quick else args.repeat)
    if dagrt.num_gpus() == 0:
        print("no GPU present: the CPU&GPU and copy-overlap experiments are skipped")
    else:
        gpu_experiment(*((200, 600) if args.quick else (args.size, 3 * args.size)),
                       repeat=1 if args.quick else args.repeat)


if __name__ == "__main__":
    main()
