"""Shared helpers for the benchmarks: argument parsing, timing, result files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
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
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


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
