"""Four independent chains of ten elementwise ops on 4,000,000-element float64
arrays: dagrt's threaded engine against NumPy, and, as the reference for what
threads can give on this machine, the same chains on hand-written Python
threads. Prints dagrt / tuned NumPy and the scaling over 1, 2, ... workers.

Sides, each in a fresh process, alternating over ``--rounds``: NumPy as
installed; NumPy with dagrt's malloc thresholds ("tuned", the baseline);
NumPy on Python threads (tuned); dagrt; dagrt on 1, 2, ... workers.

    python bench/independent.py [--quick] [--repeat N] [--rounds N] [--trace]
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import MALLOC, compare_sides, save, standard_sides, timed_runs, traced  # noqa: E402

CHAINS, STEPS = 4, 10


def chain(xp: Any, x: Any) -> Any:
    """Ten elementwise ops, each depending on the previous one."""
    for _ in range(STEPS // 2):
        x = xp.sin(x) * 1.0001
    return x


def run_side(side: str, n: int, repeat: int) -> dict[str, Any]:
    import numpy

    host = [numpy.random.default_rng(i).random(n) for i in range(CHAINS)]
    if side == "numpy + Python threads":
        import sys

        from dagrt import _config
        sys.setswitchinterval(_config.get("switch_interval"))  # as dagrt's workers run

        def once() -> list[Any]:
            out: list[Any] = [None] * CHAINS

            def work(i: int) -> None:
                out[i] = chain(numpy, host[i])

            threads = [threading.Thread(target=work, args=(i,)) for i in range(CHAINS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return out
    elif side.startswith("numpy"):
        def once() -> list[Any]:
            return [chain(numpy, x) for x in host]
    else:
        import dagrt

        lazy = [dagrt.asarray(x) for x in host]

        def once() -> list[Any]:
            out = [chain(dagrt, x) for x in lazy]
            dagrt.waitall()
            return out
    times = timed_runs(once, repeat)
    return {"times": times, "checksum": float(sum(numpy.asarray(x).sum() for x in once()))}


def sides(workers: int) -> dict[str, dict[str, str]]:
    return standard_sides(workers, {"numpy + Python threads": dict(MALLOC)})


def main() -> None:
    done = compare_sides(__file__, __doc__, run_side, sides,
                         lambda n: f"{CHAINS} chains x {STEPS} elementwise ops on {n:,} "
                                   "float64 elements", "<= 0.55 on 2 cores")
    if done is None:
        return
    args, figures = done
    if args.trace:
        import dagrt

        n = figures["elements"]
        lazy = [dagrt.random.uniform(size=n) for _ in range(CHAINS)]
        with traced(args, "independent"):
            [chain(dagrt, x) for x in lazy]
            dagrt.waitall()
    save("independent", args, {**figures, "chains": CHAINS, "steps": STEPS})


if __name__ == "__main__":
    main()
