"""Chunked reductions and gathers, each op alone (a sync point after each, so
that nothing else can use the other cores): ``m.sum(axis=1)``,
``m.std(axis=1)``, ``m.argmax(axis=1)`` on a 2,000 x 2,000 float64 array,
``x.max()`` and the gather ``x[idx]`` on 4,000,000 elements.

Sides, each in a fresh process, alternating over ``--rounds``: NumPy as
installed; NumPy with dagrt's malloc thresholds ("tuned", the baseline);
dagrt; dagrt without cutting (``DAGRT_CHUNK_BYTES=0``); dagrt on 1, 2, ...
workers. A run is one pass over the five ops (each timed with its sync).

    python bench/chunked.py [--quick] [--repeat N] [--rounds N]
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import compare_sides, save, standard_sides, timed_runs  # noqa: E402

OPS = ["m.sum(axis=1)", "m.std(axis=1)", "m.argmax(axis=1)", "x.max()", "x[idx]"]


def run_side(side: str, n: int, repeat: int) -> dict[str, Any]:
    """Time one pass over the ops ``repeat`` times in this process."""
    import numpy

    rng = numpy.random.default_rng(0)
    x0 = rng.random(n)
    idx0 = rng.integers(0, n, n)
    m0 = x0.reshape(-1, 2000) if n % 2000 == 0 else x0.reshape(-1, 100)
    x, m, idx = x0, m0, idx0
    if not side.startswith("numpy"):
        import dagrt

        x, m, idx = dagrt.asarray(x0), dagrt.asarray(m0), dagrt.asarray(idx0)

    def once() -> float:
        total = 0.0
        for op in (lambda: m.sum(axis=1), lambda: m.std(axis=1), lambda: m.argmax(axis=1),
                   lambda: x.max(), lambda: x[idx]):
            total += float(numpy.asarray(op()).sum())
        return total

    times = timed_runs(once, repeat)
    return {"times": times, "checksum": once()}


def sides(workers: int) -> dict[str, dict[str, str]]:
    return standard_sides(workers, dagrt_like={"dagrt, not cut": {"DAGRT_CHUNK_BYTES": "0"}})


def main() -> None:
    done = compare_sides(__file__, __doc__, run_side, sides,
                         lambda n: f"{', '.join(OPS)}; {n:,} float64, each op alone",
                         "< 1 (a lone reduction or gather on every core)")
    if done is not None:
        args, figures = done
        save("chunked", args, {**figures, "ops": OPS})


if __name__ == "__main__":
    main()
