"""Shared helpers for the benchmarks: argument parsing, timing, result files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions (best kept)")
    p.add_argument("--trace", action="store_true",
                   help="write a Chrome trace and timeline PNG to bench/results/")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    return p


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` runs of ``fn`` (after one warm-up run)."""
    return min(timed_runs(fn, repeat))


@contextlib.contextmanager
def traced(args: argparse.Namespace, name: str) -> Iterator[None]:
    """Profile the block into bench/results/<name>.trace.json when --trace."""
    if not getattr(args, "trace", False):
        yield
        return
    import dagrt

    RESULTS.mkdir(exist_ok=True)
    trace = RESULTS / f"{name}.trace.json"
    with dagrt.profile(str(trace)):
        yield
    try:
        dagrt.plot_timeline(str(trace), str(RESULTS / f"{name}.png"))
    except ImportError as exc:  # matplotlib is the optional [plot] extra
        print(f"(no timeline picture: {exc})")
    print(f"trace written to {trace}")


def save(name: str, args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Record figures in bench/results/<name>.json (not in --quick mode)."""
    if args.quick or args.no_save:
        return
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": name, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "results": results}
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")


# -- sides in fresh processes, under the same settings --------------------------------

# glibc's allocator thresholds that ``import dagrt`` sets for its process
# (dagrt/engine/memory.py), given to the other sides through glibc's
# environment variables: a gain NumPy gets from the same setting is not dagrt's.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}


def blas(threads: int) -> dict[str, str]:
    """The environment that gives BLAS/OpenMP ``threads`` threads."""
    n = str(threads)
    return {"OPENBLAS_NUM_THREADS": n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n}


def fresh(argv: list[str], env: dict[str, str]) -> Any:
    """Run ``python argv...`` in a new interpreter with ``env`` added to this
    one's environment; return the JSON its last line prints."""
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                         env=dict(os.environ, **env), check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def spread(times: list[float]) -> float:
    """Worst / best: how noisy a side's runs were."""
    return max(times) / min(times)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 1)


def run_sides(script: str, envs: dict[str, dict[str, str]], argv: list[str],
              rounds: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Run ``script --side NAME argv...`` in a fresh process per side and round,
    the sides alternating (so that a machine whose speed drifts slows all
    alike); each child prints ``{"times": [...], "checksum": x}``. Return
    every side's times and its last checksum."""
    times: dict[str, list[float]] = {name: [] for name in envs}
    checks: dict[str, float] = {}
    for _ in range(rounds):
        for name, env in envs.items():
            r = fresh([script, "--side", name, *argv], env)
            times[name] += r["times"]
            checks[name] = r["checksum"]
    return times, checks


def table(times: dict[str, list[float]], base: str) -> dict[str, dict[str, Any]]:
    """Print each side's best time, its ratio to ``base``'s best and its
    spread; return the same as a dict for ``save``."""
    best = min(times[base])
    print(f"{'side':<26} {'best ms':>9} {'/ ' + base:>14} {'spread':>7}")
    out = {}
    for name, t in times.items():
        print(f"{name:<26} {min(t) * 1e3:9.1f} {min(t) / best:14.2f} {spread(t):7.2f}")
        out[name] = {"best_s": min(t), "ratio": min(t) / best, "spread": spread(t), "all_s": t}
    return out


def same_checksums(checks: dict[str, float], rtol: float = 1e-9) -> None:
    ref = next(iter(checks.values()))
    if any(abs(c - ref) > rtol * abs(ref) for c in checks.values()):
        raise SystemExit(f"the sides computed different values: {checks}")


def timed_runs(once: Callable[[], Any], repeat: int) -> list[float]:
    """``repeat`` wall times of ``once()``, after one warm-up call."""
    once()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return times


def standard_sides(workers: int, numpy_like: dict[str, dict[str, str]] | None = None,
                   dagrt_like: dict[str, dict[str, str]] | None = None
                   ) -> dict[str, dict[str, str]]:
    """Each side's environment: NumPy as installed, NumPy tuned (the baseline),
    ``numpy_like`` sides, dagrt, ``dagrt_like`` variants, then dagrt on 1 ..
    ``workers`` workers (the scaling)."""
    out = {"numpy as installed": {"DAGRT_MALLOC_TUNE": "0"}, "numpy tuned": dict(MALLOC),
           **(numpy_like or {}), "dagrt": {}, **(dagrt_like or {})}
    for w in range(1, workers + 1):
        out[f"dagrt, {w} worker(s)"] = {"DAGRT_INTER_OP_THREADS": str(w)}
    return out


def compare_sides(script: str, doc: str, run_side: Callable[[str, int, int], Any],
                  envs: Callable[[int], dict[str, dict[str, str]]],
                  title: Callable[[int], str], target: str,
                  ) -> tuple[argparse.Namespace, dict[str, Any]] | None:
    """The main of a benchmark whose sides run in fresh processes: parse the
    arguments; as a child (``--side``), print ``run_side(side, n, repeat)``
    and return None; else run every side of ``envs(workers)``, print the table
    and dagrt / tuned NumPy (``target`` says what it should be), check the
    checksums and return the arguments and the figures."""
    p = parser(doc.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="fresh processes per side")
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=4_000_000)
    args = p.parse_args()
    n = 40_000 if args.quick else args.n
    repeat = 1 if args.quick else args.repeat
    if args.side:
        print(json.dumps(run_side(args.side, n, repeat)))
        return None
    rounds = 1 if args.quick else args.rounds
    times, checks = run_sides(script, envs(max(2, cores())),
                              ["--n", str(n), "--repeat", str(repeat)], rounds)
    print(f"{title(n)}, {cores()} cores; best of {rounds} processes x {repeat} runs")
    results = table(times, "numpy tuned")
    ratio = results["dagrt"]["ratio"]
    print(f"dagrt / tuned NumPy = {ratio:.2f} (target {target})")
    same_checksums(checks)
    return args, {"elements": n, "rounds": rounds, "repeat": repeat, "cores": cores(),
                  "sides": results, "dagrt_over_tuned": ratio}
