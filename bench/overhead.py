"""Small-op overhead: patterns from real NumPy code, dagrt against NumPy.

Each pattern is a loop of small operations as NumPy programs write them (the
small-op loop of cuNumeric issue 1178, scalar get and set in Python loops,
builtin ``sum``/``max`` over an array, row iteration, small fancy indexing,
small reductions, matmul, ``where``/``concatenate``/``stack``, random draws,
``linalg.solve``, a vectorized mandelbrot on 100x83, calls a sweep of NumPy's
API found far slower than NumPy's, scalar code with lists and NumPy's arrays,
and the first loop under a profile).
Published peers: cuNumeric ~48x slower than NumPy on the first loop, MXNet
30-60 us per op, dask.array several hundred x. dagrt's target: every pattern
within 2x of NumPy.

NumPy and dagrt each run in a fresh process (one per side for the whole
run), with the same settings: the malloc thresholds ``import dagrt`` sets
(given to NumPy's process through glibc's environment variables) and one
BLAS thread on both sides. Each pattern is timed ``--rounds`` x ``--repeat``
times on each side, the two sides taking turns run by run (NumPy first, then
dagrt first...), so that a machine whose speed drifts (a shared VM's speed
changes by 2x within seconds) slows both alike. The table shows the best
time of each side, the ratio dagrt / NumPy as the median of the runs' own
(each dagrt run over the NumPy run next to it in time), that of the best
times, and the spread (worst / best) of each side.

    python bench/overhead.py [--quick] [--repeat N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import MALLOC, blas, parser, save, traced  # noqa: E402

# The settings both sides run under (dagrt's malloc tuning, one BLAS thread).
SAME_SETTINGS = {**MALLOC, **blas(1), "DAGRT_MALLOC_TUNE": "0"}


def cunumeric_loop(xp: Any, n: int) -> None:
    x, y = xp.ones(1024), xp.ones(1024)
    for _ in range(n):
        x += 2 * y
    assert float(x[0]) == 1 + 2 * n


def scalar_get(xp: Any, n: int) -> None:
    x = xp.arange(1000.0)
    for _ in range(max(1, n // 1000)):
        s = 0.0
        for i in range(1000):
            s += x[i]
    assert s == 499500.0


def scalar_set(xp: Any, n: int) -> None:
    m = xp.zeros((10, 10))
    for _ in range(max(1, n // 100)):
        for i in range(10):
            for j in range(10):
                m[i, j] = i * j
    assert float(m[9, 9]) == 81.0


def builtin_sum_max(xp: Any, n: int) -> None:
    x = xp.arange(500.0)
    for _ in range(max(1, n // 1000)):
        s = sum(x)
        t = max(x)
    assert s == 124750.0 and t == 499.0


def row_iteration(xp: Any, n: int) -> None:
    m = xp.ones((50, 4))
    for _ in range(max(1, n // 50)):
        total = 0.0
        for row in m:
            total += row[0] * row[1]
    assert total == 50.0


def fancy_get_set(xp: Any, n: int) -> None:
    x = xp.arange(100.0)
    idx = xp.asarray([3, 1, 4, 1, 5])
    for _ in range(max(1, n // 2)):
        y = x[idx]
        x[idx] = y + 1.0
    assert float(x[3]) == 3.0 + n // 2


def small_reductions(xp: Any, n: int) -> None:
    x = xp.linspace(0.0, 1.0, 100)
    for _ in range(max(1, n // 3)):
        s = x.sum() + x.mean() + xp.max(x)
    assert abs(float(s) - 51.5) < 1e-9


def small_matmul(xp: Any, n: int) -> None:
    a = xp.eye(8) * 0.5
    b = xp.ones((8, 8))
    for _ in range(max(1, n // 2)):
        c = a @ b * 0.9
    assert abs(float(c[0, 0]) - 0.45) < 1e-12


def where_concat_stack(xp: Any, n: int) -> None:
    x = xp.arange(10.0)
    for _ in range(max(1, n // 4)):
        w = xp.where(x > 4, x, -x)
        c = xp.concatenate([w, x])
        s = xp.stack([w, x])
    assert c.shape == (20,) and s.shape == (2, 10) and float(w[0]) == 0.0


def random_draws(xp: Any, n: int) -> None:
    xp.random.seed(0)
    for _ in range(max(1, n // 2)):
        a = xp.random.normal(size=10)
        b = xp.random.uniform(size=(2, 3))
    assert a.shape == (10,) and b.shape == (2, 3)


def linalg_solve(xp: Any, n: int) -> None:
    a = xp.eye(4) * 2.0 + 0.1
    b = xp.ones(4)
    for _ in range(n):
        x = xp.linalg.solve(a, b)
    assert abs(float(x.sum()) - float(xp.linalg.solve(a, b).sum())) < 1e-12


def mandelbrot(xp: Any, n: int) -> None:
    """The vectorized mandelbrot of the NumPy tutorials, on a 100x83 grid."""
    for _ in range(max(1, n // 400)):
        y, x = xp.ogrid[-1.4:1.4:100j, -2:0.8:83j]
        c = x + y * 1j
        z = c
        divtime = 20 + xp.zeros(z.shape, dtype=int)
        for i in range(20):
            z = z ** 2 + c
            diverge = z * xp.conj(z) > 4
            div_now = diverge & (divtime == 20)
            divtime[div_now] = i
            z[diverge] = 2
    assert int(divtime.sum()) > 0


def small_stencil(xp: Any, n: int) -> None:
    """Slices and a slice updated in place: a five-point stencil on 32x32."""
    u = xp.zeros((32, 32))
    u[0, :] = 1.0
    for _ in range(max(1, n // 8)):
        lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * u[1:-1, 1:-1]
        u[1:-1, 1:-1] += 0.1 * lap
    assert 0.0 < float(u[1, 1]) < 1.0


def array_methods(xp: Any, n: int) -> None:
    """Creation, copies, reshapes, casts, axis sums and ``out=``, on 4x5."""
    m = xp.arange(20.0).reshape(4, 5)
    total = 0.0
    for _ in range(max(1, n // 8)):
        z = xp.zeros(5)
        c = m.copy().reshape(5, 4).T
        z += c.sum(axis=0) + m.astype(xp.float32).ravel()[:5]
        xp.multiply(z, 0.5, out=z)
        total += float(z[0])
    assert total > 0


def api_sweep(xp: Any, n: int) -> None:
    """Calls a sweep of NumPy's API found 3-14x slower than NumPy's (the
    twentieth session): a NumPy scalar first, ``x.sort()``, ``where(c)``,
    views of views, ``copyto``, ``tobytes``, ``round``, ``repeat``."""
    m = xp.arange(12.0).reshape(3, 4)
    x = xp.arange(10.0)
    half = xp.float64(0.5)
    total = 0
    for _ in range(max(1, n // 10)):
        y = half * x
        y.sort()
        hits = xp.where(y > 2.0)[0]
        flat = m.swapaxes(0, 1).ravel()
        xp.copyto(x, flat[:10])
        total += len(hits) + len(x.round(1).tobytes()) + len(xp.repeat(hits, 2))
    assert total > 0


def scalar_code(xp: Any, n: int) -> None:
    """Code written with NumPy's functions on numbers and lists (the
    twenty-fourth session found each call 5-15x NumPy's time): ``np.sqrt`` of
    Python floats, a row set from a list, a list key beside an int, a NumPy
    integer as a key, a NumPy array (a library's result) as an operand."""
    pos = xp.zeros((10, 2))
    host = numpy.linspace(0.0, 1.0, 2)
    total = 0.0
    for i in range(max(1, n // 8)):
        k = i % 10
        pos[k] = [0.5 * k, 1.0 + k]
        dx, dy = float(pos[k, 0]), float(pos[k, 1])
        total += xp.sqrt(dx * dx + dy * dy) + xp.exp(-0.1 * k)
        near = pos[[k, (k + 1) % 10], 1] + host
        total += float(near[0]) + float(pos[xp.int64(k), 0])
    assert total > 0


def cunumeric_loop_profiled(xp: Any, n: int) -> float | None:
    """The first loop inside ``dagrt.profile``: the time of the loop, not of
    writing the trace at the end (returned as the pattern's own time)."""
    if xp.__name__ == "numpy":
        return cunumeric_loop(xp, n)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, xp.profile(os.path.join(tmp, "t.json")):
        t0 = time.perf_counter()
        cunumeric_loop(xp, n)
        xp.waitall()
        return time.perf_counter() - t0


# name: (pattern, operations per unit of n, n)
PATTERNS: dict[str, tuple[Callable[[Any, int], float | None], int]] = {
    "x += 2*y, float64[1024] (cuNumeric #1178)": (cunumeric_loop, 20_000),
    "s += x[i], 1000 elements": (scalar_get, 20_000),
    "m[i, j] = i * j, 10x10": (scalar_set, 20_000),
    "builtin sum(x), max(x), 500 elements": (builtin_sum_max, 20_000),
    "for row in m: row[0] * row[1], 50x4": (row_iteration, 20_000),
    "y = x[idx]; x[idx] = y + 1, 5 indices": (fancy_get_set, 20_000),
    "x.sum() + x.mean() + max(x), 100 elements": (small_reductions, 20_000),
    "a @ b * 0.9, 8x8": (small_matmul, 20_000),
    "where / concatenate / stack, 10 elements": (where_concat_stack, 20_000),
    "random.normal / uniform, size 10": (random_draws, 20_000),
    "linalg.solve, 4x4": (linalg_solve, 10_000),
    "vectorized mandelbrot, 100x83, 20 steps": (mandelbrot, 4_000),
    "stencil on 32x32: slices, u[1:-1, 1:-1] += ...": (small_stencil, 20_000),
    "zeros / copy / reshape / astype / sum(axis) / out=": (array_methods, 20_000),
    "scalar * x / sort / where(c) / views of views / copyto": (api_sweep, 20_000),
    "np.sqrt(float) / m[k] = list / m[[k, j], 1] / + NumPy array": (scalar_code, 20_000),
    "x += 2*y under dagrt.profile": (cunumeric_loop_profiled, 20_000),
}


def serve(side: str) -> None:
    """A side's process: import NumPy or dagrt, then run the patterns the
    driver names on stdin (``name<TAB>n``), answering each with its time."""
    if side == "numpy":
        import numpy as xp
    else:
        import dagrt as xp
    print("ready", flush=True)
    for line in sys.stdin:
        name, n = line.rstrip("\n").split("\t")
        pattern = PATTERNS[name][0]
        t0 = time.perf_counter()
        own = pattern(xp, int(n))  # a pattern may time itself (the profiled loop)
        if side == "dagrt":
            xp.waitall()
        print(json.dumps(own if own is not None else time.perf_counter() - t0), flush=True)


class Side:
    """One side (numpy or dagrt) in its own fresh process, under SAME_SETTINGS."""

    def __init__(self, side: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--side", side],
                                     env=dict(os.environ, **SAME_SETTINGS), text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "ready\n"

    def run(self, name: str, n: int) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{name}\t{n}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {name!r} pattern failed (its traceback is above)")
        return float(json.loads(line))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--side", choices=("numpy", "dagrt"), help=argparse.SUPPRESS)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every loop count")
    p.add_argument("--rounds", type=int, default=5,
                   help="timed runs per pattern and side, the sides alternating")
    args = p.parse_args()
    if args.side:
        serve(args.side)
        return
    scale = 0.02 if args.quick else args.scale
    rounds = 1 if args.quick else args.rounds * args.repeat
    # Each side runs in its own process for the whole benchmark; every pattern
    # is timed on the two sides in turn (NumPy first, then dagrt first, ...),
    # so that a machine whose speed drifts (a shared VM) slows both alike.
    sides = {"numpy": Side("numpy"), "dagrt": Side("dagrt")}
    numpy_t: dict[str, list[float]] = {}
    dagrt_t: dict[str, list[float]] = {}
    for name, (_, n) in PATTERNS.items():
        n = max(1, int(n * scale))
        for side in sides.values():
            side.run(name, max(1, n // 10))  # warm up (caches, the cost model)
        for r in range(rounds):
            order = ("numpy", "dagrt") if r % 2 == 0 else ("dagrt", "numpy")
            for which in order:
                t = sides[which].run(name, n)
                (numpy_t if which == "numpy" else dagrt_t).setdefault(name, []).append(t)
    for side in sides.values():
        side.close()
    print(f"{'pattern':45} {'numpy':>9} {'dagrt':>9} {'ratio':>6} {'best':>6}   "
          f"spread np / dagrt")
    rows = {}
    for name in PATTERNS:
        a, b = min(numpy_t[name]), min(dagrt_t[name])
        # The ratio is the median of each run's dagrt / NumPy with the run of
        # the other side next to it in time (the same speed of the machine);
        # "best" is of the best times, which a drifting machine can skew.
        paired = statistics.median(d / n for n, d in zip(numpy_t[name], dagrt_t[name]))
        spread = (max(numpy_t[name]) / a, max(dagrt_t[name]) / b)
        rows[name] = {"numpy_s": a, "dagrt_s": b, "ratio": paired, "best_ratio": b / a,
                      "numpy_spread": spread[0], "dagrt_spread": spread[1]}
        print(f"{name:45} {a * 1e3:7.1f}ms {b * 1e3:7.1f}ms {paired:6.2f} {b / a:6.2f}   "
              f"{spread[0]:.2f} / {spread[1]:.2f}")
    worst = max(r["ratio"] for r in rows.values())
    print(f"worst dagrt / numpy = {worst:.2f} (target <= 2)")
    with traced(args, "overhead"):
        import dagrt

        cunumeric_loop(dagrt, 200)
    save("overhead", args, {"runs": rounds, "scale": scale,
                            "settings": SAME_SETTINGS,
                            "patterns": rows, "worst_ratio": worst})


if __name__ == "__main__":
    main()
