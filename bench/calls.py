"""A sweep of NumPy's API: the time of each small call, dagrt against NumPy.

``bench/overhead.py`` times loops of the patterns real programs write; this
times single calls across NumPy's API (element and slice access, views of
views, reductions, creation, copies, sorts, eager functions, ``ndarray``
methods, NumPy scalars as operands, random draws, ``linalg``, ``fft``) on
small arrays, and some on 800 KB ones, each a statement run many times: a
call that takes a slow path shows as a high ratio even when no pattern of
the overhead table uses it (the twentieth session found ``m.swapaxes`` of a
view 12x, ``x.sort()`` 7x, ``np.float64(2.0) * x`` 6.5x, ``np.where(c)``
10x, ``X.take([1, 2])`` of 800 KB 17x NumPy's time this way; the twenty-fourth
``x[[1, 5, 7]]`` 6.6x, ``m[idx, 2]`` 5.8x, ``x[1:4] = [1.0, 2.0, 3.0]`` 10x,
``x + n`` of a NumPy array 5.8x, ``n + x`` 13x, ``np.sqrt(2.0)`` 15x).
The target is the overhead table's: within 2x of NumPy (3x at most); calls
under a microsecond in NumPy weigh a fixed cost of dagrt's (a Python frame)
the most.

NumPy and dagrt each run in a fresh process under the overhead benchmark's
settings, the sides taking turns ``--repeat`` times (best kept per call).

    python bench/calls.py [--quick] [--repeat N] [--top N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import timeit
import warnings
from typing import Any

import numpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import parser, save  # noqa: E402
from overhead import SAME_SETTINGS  # noqa: E402

CALLS = """x[3]; x[3] = 1.0; m[2, 3]; m[2]; m[:, 2]; m[2, 3] = 5.0; m[1:3, 2:4]; x[idx]; x[b]
x[b] = 0.0; x[idx] = 1.0; x[::2]; x[None]; m[..., 0]; m.T; len(x); float(x[3]); x.item(3)
x.tolist(); x.sum(); x.mean(); x.std(); x.min(); x.argmax(); m.sum(axis=1); m.mean(axis=0)
m0.max(axis=1, keepdims=True); x.cumsum(); b.any(); xp.all(b); x.copy(); x.astype(xp.float32)
x.reshape(10, 10); m.ravel(); m0.ravel(); m.flatten(); m.swapaxes(0, 1); m0.swapaxes(0, 1)
m0.T.copy(); v.ravel(); v.reshape(100); m0[1:3].T; x[::2].reshape(5, 10); xp.squeeze(t3[:1])
xp.expand_dims(x, 0); m0.diagonal(); c.real; c.imag; s.view(xp.int64); x + y; x * 2.0; x ** 2
-x; abs(x); x > 50; x += 1.0; m @ m; m @ s; xp.dot(m, s); s.dot(s); xp.sin(x); xp.exp(x)
xp.maximum(x, y); xp.minimum(x, 50.0); xp.clip(x, 10, 20); x.clip(0, 5); xp.where(b, x, y)
xp.where(b); xp.nonzero(b); s.nonzero(); xp.argwhere(b); xp.float64(3.0) * x
xp.float64(2.0) + s; 3 * s; xp.add(x, y, out=x); xp.exp(s, out=s); xp.concatenate([x, y])
xp.stack([x, y]); xp.vstack([x, y]); xp.column_stack([x, y]); xp.zeros(100); xp.ones((10, 10))
xp.empty(100); xp.full(100, 3.0); xp.zeros_like(x); xp.arange(100); xp.linspace(0, 1, 100)
xp.eye(10); xp.array([1.0, 2.0, 3.0]); xp.asarray(x); xp.asarray([1, 2, 3]); xp.sort(x)
xp.argsort(x); s.argsort(); x.sort(); xp.unique(i); xp.diff(x); xp.isfinite(x).all()
xp.allclose(x, y); xp.isclose(x, y); xp.array_equal(x, y); xp.linalg.norm(x)
xp.linalg.solve(e, s[:4]); xp.linalg.inv(e); xp.linalg.det(e); xp.outer(s, s)
xp.einsum("ij,j->i", m0, s); xp.tile(s, 3); xp.repeat(s, 3); s.repeat(2); xp.roll(x, 1)
xp.flip(x); xp.meshgrid(s, s); xp.searchsorted(s, 3.5); s.searchsorted(3.0)
xp.histogram(x, 5); xp.bincount(i); xp.round(x, 1); x.round(); x.fill(1.0); xp.copyto(x, y)
xp.put(x, idx, 0.0); xp.take(x, idx); s.take([1, 2]); xp.result_type(x, 1)
xp.count_nonzero(b); xp.median(x); xp.percentile(x, 50); xp.cov(m0); xp.interp(s, x, y)
xp.convolve(s, s); xp.polyval([1, 2, 3], s); xp.fft.fft(s); xp.cross(s[:3], s[:3])
xp.append(s, 1.0); xp.insert(s, 2, 1.0); xp.delete(s, 2); xp.pad(s, 1); xp.trace(m0)
xp.diag(s); xp.triu(m0); xp.split(x, 4); xp.moveaxis(t3, 0, -1); xp.broadcast_to(s, (3, 10))
x.tobytes(); s.cumprod(); t3.sum(axis=(0, 2)); i // 3; i % 3; i.astype(float); sum(s); max(s)
xp.random.rand(10); xp.random.randn(10); xp.random.randint(0, 10, 10)
xp.random.normal(0, 1, 10); xp.random.choice(10, 3); xp.random.permutation(10)
rng.normal(size=10); rng.integers(0, 10, 10); rng.random(10)
x[[1, 5, 7]]; m[idx, 2]; m[2, [1, 3]]; m[:, [0, 2]]; m[m[:, 0] > 20]; x[xp.int64(3)]
x[1:4] = [1.0, 2.0, 3.0]; m[2] = n10; x[[1, 5]] = [0.0, 1.0]; r["a"]; r["a"] = 1.0
x + n100; n100 + x; x < n100; xp.sin(n100); xp.sort(n100); n10 @ m; xp.sqrt(2.0)
xp.exp(x[3]); names == "b"; xp.linalg.svd(m0[:4, :3])"""
# On 100,000 elements (800 KB, over the run-now size): what the cost model
# decides and the work a call is estimated at matter here (each followed by a
# sync: a deferred op is timed to its end).
MEDIUM = """X.take([1, 2]); X.searchsorted(3.0); xp.result_type(X, 1); xp.trace(X.reshape(250, 400))
xp.tile(X, 3); xp.roll(X, 1); xp.split(X, 4); X.any(); X.sum(); X * 2.0; X[::2].copy()
xp.sort(X); X.reshape(400, 250).T.ravel(); xp.where(X > 5e4); xp.concatenate([X, X])"""
STATEMENTS = [s.strip() for text in (CALLS, MEDIUM)
              for line in text.splitlines() for s in line.split(";")]


def setup(xp: Any) -> dict[str, Any]:
    """The operands: small arrays, ``m`` a view (a reshape), ``v`` a strided one."""
    x = xp.arange(100.0)
    return {"xp": xp, "x": x, "y": xp.ones(100), "m": xp.arange(100.0).reshape(10, 10),
            "m0": xp.ones((10, 10)), "v": xp.ones((20, 20))[::2, ::2], "i": xp.arange(100),
            "b": x % 2 == 0, "idx": xp.array([1, 5, 7]), "s": xp.arange(10.0),
            "c": xp.arange(10.0) + 1j, "t3": xp.ones((4, 5, 6)),
            "e": xp.eye(4) * 2.0 + 0.1, "rng": xp.random.default_rng(0),
            "X": xp.arange(100_000.0), "w": getattr(xp, "waitall", lambda: None),
            # NumPy's arrays beside dagrt's (a library's results), records, strings
            "n100": numpy.arange(100.0), "n10": numpy.ones(10),
            "r": xp.zeros(10, dtype=[("a", "f8"), ("b", "i4")]),
            "names": xp.array(["a", "b", "c", "b"])}


def serve(side: str, number: int) -> None:
    """A side's process: each statement's best time per call, as JSON lines."""
    xp: Any = __import__("numpy" if side == "numpy" else "dagrt")
    warnings.simplefilter("ignore")  # (``exp(s, out=s)`` overflows, on both sides)
    print("ready", flush=True)
    for _ in sys.stdin:
        times = []
        for statement in STATEMENTS:
            names = setup(xp)
            code = compile(f"{statement}; w()" if "X" in statement else statement, "<call>",
                           "exec")
            exec(code, names)  # (warm-up: caches, the cost model)
            timer = timeit.Timer("exec(code, names)", globals={"code": code, "names": names})
            times.append(min(timer.repeat(3, number)) / number)
        if side == "dagrt":
            xp.waitall()
        print(json.dumps(times), flush=True)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--side", choices=("numpy", "dagrt"), help=argparse_suppress())
    p.add_argument("--number", type=int, default=300, help="calls per timing")
    p.add_argument("--top", type=int, default=15, help="slowest calls shown")
    args = p.parse_args()
    number = 5 if args.quick else args.number
    if args.side:
        serve(args.side, number)
        return
    sides = {side: subprocess.Popen(
        [sys.executable, __file__, "--side", side, "--number", str(number)],
        env=dict(os.environ, **SAME_SETTINGS), text=True, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE) for side in ("numpy", "dagrt")}
    best: dict[str, list[float]] = {}
    for proc in sides.values():
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    rounds = 1 if args.quick else args.repeat
    for r in range(rounds):  # the sides take turns (a VM's speed drifts)
        for side in ("numpy", "dagrt") if r % 2 == 0 else ("dagrt", "numpy"):
            proc = sides[side]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
            times = json.loads(proc.stdout.readline())
            best[side] = [min(a, b) for a, b in zip(best.get(side, times), times)]
    for proc in sides.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    ratios = [d / n for n, d in zip(best["numpy"], best["dagrt"])]
    order = sorted(range(len(STATEMENTS)), key=lambda k: -ratios[k])
    print(f"{'call':45} {'numpy':>8} {'dagrt':>8} {'dagrt / numpy':>13}")
    for k in order[:args.top]:
        print(f"{STATEMENTS[k]:45} {best['numpy'][k] * 1e6:6.2f}us {best['dagrt'][k] * 1e6:6.2f}us "
              f"{ratios[k]:13.2f}")
    median = statistics.median(ratios)
    over = {limit: sum(r > limit for r in ratios) for limit in (2, 3)}
    print(f"{len(STATEMENTS)} calls: median dagrt / numpy = {median:.2f}, worst "
          f"{ratios[order[0]]:.2f}; over 2x: {over[2]}, over 3x: {over[3]} (target: none)")
    save("calls", args, {"settings": SAME_SETTINGS, "number": number, "rounds": rounds,
                         "calls": {s: {"numpy_s": a, "dagrt_s": b, "ratio": b / a}
                                   for s, a, b in zip(STATEMENTS, best["numpy"], best["dagrt"])},
                         "median_ratio": median, "over_2": over[2], "over_3": over[3]})


def argparse_suppress() -> Any:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
