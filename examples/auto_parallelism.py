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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small matrices (smoke test)")
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    experiment(200 if args.quick else args.size, 1 if args.quick else args.repeat)


if __name__ == "__main__":
    main()
