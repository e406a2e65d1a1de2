"""The example programs (examples/*.py) under NumPy and dagrt, side by side.

Each example's ``main(xp)`` runs at full size under NumPy and under dagrt,
each run in a fresh Python process, as a user runs a script (a process's heap
history changes NumPy's own times by up to 4x: page faults of fresh memory).
NumPy runs as installed, and "tuned": with the malloc thresholds that
``import dagrt`` sets for its own process (through glibc's environment
variables) and with 1 and with all cores' BLAS threads, the better kept; the
ratio is dagrt / tuned NumPy. Runs alternate so that load from elsewhere on
the machine hits every side alike; the ratio of the best of ``--repeat`` runs
and the ratio of the medians are both printed (dagrt's times vary more).
Checks that every side printed the same text. ``--in-process`` times warm
runs in this process (NumPy as it is there).

    python bench/examples.py [--quick] [--repeat N] [--only kmeans,heat]
                             [--config inline_bytes=0] [--in-process] [--trace]
                             [--no-save]
"""

from __future__ import annotations

import importlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES_DIR = os.path.join(os.path.dirname(HERE), "examples")
sys.path.insert(0, HERE)
sys.path.insert(0, EXAMPLES_DIR)

import numpy  # noqa: E402
from _common import MALLOC, blas, cores, parser, save, spread, traced  # noqa: E402

import dagrt  # noqa: E402

EXAMPLES = ["kmeans", "mlp", "heat", "mandelbrot", "monte_carlo", "rnn"]


def _config_value(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


_CHILD = """
import json, sys, time
sys.path.insert(0, {examples!r})
import {backend} as xp
import {name} as example
t0 = time.perf_counter()
lines = example.main(xp, quick={quick})
if xp.__name__ == "dagrt":
    xp.waitall()
print(json.dumps({{"seconds": time.perf_counter() - t0, "lines": lines}}))
"""


def _fresh(name: str, backend: str, quick: bool, settings: dict[str, str]) -> tuple[float, Any]:
    """Run one example in a new interpreter (``settings`` added to the
    environment); its time and printed lines."""
    env = dict(os.environ, **settings)
    code = _CHILD.format(examples=EXAMPLES_DIR, backend=backend, name=name, quick=quick)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], result["lines"]


def numpy_sides() -> dict[str, dict[str, str]]:
    """NumPy as installed, and NumPy given dagrt's malloc thresholds with 1 and
    with as many BLAS threads as cores (the tuned baseline is the best)."""
    sides = {"installed": {"DAGRT_MALLOC_TUNE": "0"}, "tuned, 1 BLAS thread": {**MALLOC, **blas(1)}}
    if cores() > 1:
        sides[f"tuned, {cores()} BLAS threads"] = {**MALLOC, **blas(cores())}
    return sides


def bench_fresh(name: str, quick: bool, repeat: int,
                overrides: dict[str, Any]) -> dict[str, Any]:
    dagrt_env = {f"DAGRT_{k.upper()}": str(v) for k, v in overrides.items()}
    times: dict[str, list[float]] = {side: [] for side in [*numpy_sides(), "dagrt"]}
    for _ in range(repeat):
        for side, env in numpy_sides().items():
            seconds, expected = _fresh(name, "numpy", quick, env)
            times[side].append(seconds)
        seconds, got = _fresh(name, "dagrt", quick, dagrt_env)
        times["dagrt"].append(seconds)
    best_side = min((side for side in times if side.startswith("tuned")),
                    key=lambda side: min(times[side]))
    tuned = min(times[best_side])
    return {"numpy_s": min(times["installed"]), "tuned_s": tuned, "dagrt_s": min(times["dagrt"]),
            "ratio": min(times["dagrt"]) / tuned,
            "median_ratio": statistics.median(times["dagrt"]) / statistics.median(
                times[best_side]), "same_output": expected == got,
            "spread": {side: spread(t) for side, t in times.items()}, "all_s": times}


def bench_one(name: str, quick: bool, repeat: int) -> dict[str, Any]:
    module = importlib.import_module(name)
    run_numpy = lambda: module.main(numpy, quick=quick)  # noqa: E731

    def run_dagrt() -> list[str]:
        lines = module.main(dagrt, quick=quick)
        dagrt.waitall()
        return lines

    expected, got = run_numpy(), run_dagrt()  # warm-up, and the outputs compared
    t_numpy, t_dagrt = [], []
    for _ in range(repeat):
        t_numpy.append(_timed(run_numpy)[0])
        t_dagrt.append(_timed(run_dagrt)[0])
    return {"numpy_s": min(t_numpy), "tuned_s": min(t_numpy), "dagrt_s": min(t_dagrt),
            "ratio": min(t_dagrt) / min(t_numpy),
            "median_ratio": statistics.median(t_dagrt) / statistics.median(t_numpy),
            "same_output": expected == got,
            "spread": {"numpy": spread(t_numpy), "dagrt": spread(t_dagrt)},
            "all_s": {"numpy": t_numpy, "dagrt": t_dagrt}}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="comma-separated example names")
    p.add_argument("--config", action="append", default=[], metavar="FLAG=VALUE",
                   help="dagrt.config override for the dagrt runs (repeatable)")
    p.add_argument("--in-process", action="store_true",
                   help="time warm runs in this process instead of fresh processes")
    args = p.parse_args()
    names = [n for n in args.only.split(",") if n] or EXAMPLES
    unknown = set(names) - set(EXAMPLES)
    if unknown:
        p.error(f"unknown examples {sorted(unknown)}; known: {EXAMPLES}")
    overrides = dict(item.split("=", 1) for item in args.config)
    overrides = {k: _config_value(v) for k, v in overrides.items()}
    repeat = 1 if args.quick else args.repeat

    mode = "warm, in one process" if args.in_process else "each run a fresh process"
    print(f"examples at {'quick' if args.quick else 'full'} size, best of {repeat}, "
          f"{cores()} cores, {mode}" + (f", dagrt.config({overrides})" if overrides else ""))
    print("tuned: NumPy with dagrt's malloc thresholds and its best BLAS thread count")
    print(f"{'example':<13} {'numpy ms':>10} {'tuned ms':>10} {'dagrt ms':>10} "
          f"{'dagrt/tuned':>12} {'median':>7}  output")
    results: dict[str, Any] = {}
    with dagrt.config(**overrides):
        for name in names:
            r = bench_one(name, args.quick, repeat) if args.in_process \
                else bench_fresh(name, args.quick, repeat, overrides)
            results[name] = r
            print(f"{name:<13} {r['numpy_s'] * 1e3:10.1f} {r['tuned_s'] * 1e3:10.1f} "
                  f"{r['dagrt_s'] * 1e3:10.1f} {r['ratio']:12.2f} {r['median_ratio']:7.2f}  "
                  f"{'same' if r['same_output'] else 'DIFFERENT'}", flush=True)
        if args.trace:
            for name in names:
                module = importlib.import_module(name)
                with traced(args, f"examples_{name}"):
                    module.main(dagrt, quick=args.quick)
    worst = max(r["ratio"] for r in results.values())
    geomean = math.prod(r["ratio"] for r in results.values()) ** (1 / len(results))
    median_geomean = math.prod(r["median_ratio"] for r in results.values()) ** (
        1 / len(results))
    print(f"worst dagrt/tuned: {worst:.2f}; geometric mean {geomean:.2f} "
          f"(of the medians: {median_geomean:.2f})")
    save("examples", args, {"cores": cores(), "config": overrides, "repeat": repeat,
                            "geomean": geomean, "median_geomean": median_geomean,
                            "mode": mode,
                            "examples": results})
    if not all(r["same_output"] for r in results.values()):
        sys.exit("dagrt printed something different from NumPy")


if __name__ == "__main__":
    main()
