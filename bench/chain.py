"""One dependent chain of elementwise ops: ``x = sin(x) * 1.0001 + 0.5``, ten
times, on 4,000,000 float64 elements. Nothing in it is independent, so only
fusion (each cache-sized block through the whole chain, no full-size
temporaries) and chunking (blocks on every core) can make it faster.

Sides, each in a fresh process, alternating over ``--rounds``: NumPy as
installed; NumPy with dagrt's malloc thresholds ("tuned", the baseline of the
ratios); numexpr (if installed) under the same settings; dagrt; dagrt without
fusion (``DAGRT_FUSE=0``); dagrt fused on 1, 2, ... workers (scaling).

    python bench/chain.py [--quick] [--repeat N] [--rounds N]
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import MALLOC, compare_sides, save, standard_sides, timed_runs  # noqa: E402

STEPS = 10


def chain(xp: Any, x: Any) -> Any:
    for _ in range(STEPS):
        x = xp.sin(x) * 1.0001 + 0.5
    return x


def run_side(side: str, n: int, repeat: int) -> dict[str, Any]:
    """Time the chain ``repeat`` times in this process (after a warm-up)."""
    import numpy

    x0 = numpy.random.default_rng(0).random(n)
    if side.startswith("numpy"):
        def once() -> Any:
            return chain(numpy, x0)
    elif side == "numexpr":
        import numexpr

        def once() -> Any:
            x = x0
            for _ in range(STEPS):
                x = numexpr.evaluate("sin(x) * 1.0001 + 0.5", local_dict={"x": x})
            return x
    else:
        import dagrt

        def once() -> Any:
            return numpy.asarray(chain(dagrt, dagrt.asarray(x0)))
    times = timed_runs(once, repeat)
    return {"times": times, "checksum": float(numpy.asarray(once()).sum())}


def sides(workers: int) -> dict[str, dict[str, str]]:
    """Each side's environment (added to the parent's)."""
    try:
        import numexpr  # noqa: F401

        peers = {"numexpr": dict(MALLOC)}
    except ImportError:
        peers = {}
    return standard_sides(workers, peers, {"dagrt, no fusion": {"DAGRT_FUSE": "0"}})


def main() -> None:
    done = compare_sides(__file__, __doc__, run_side, sides,
                         lambda n: f"x = sin(x) * 1.0001 + 0.5, {STEPS} times, {n:,} float64",
                         "<= 0.5")
    if done is not None:
        args, figures = done
        save("chain", args, {**figures, "steps": STEPS})


if __name__ == "__main__":
    main()
