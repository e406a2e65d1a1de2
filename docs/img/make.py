"""Make the pictures of docs/profiling.md (about a minute on two cores):

    python docs/img/make.py

- ``timeline.png``: examples/auto_parallelism.py's overlapped run, and its
  summary table (printed: docs/profiling.md quotes it);
- ``timeline_mlp.png``: examples/mlp.py (``--quick``), profiled whole;
- ``graph.png``: the small graph of docs/profiling.md's ``record_graph`` example.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "examples"))

import dagrt  # noqa: E402


def main() -> None:
    import mlp
    from auto_parallelism import run

    dagrt.random.seed(0)
    x1 = dagrt.random.uniform(size=(2000, 2000))
    x2 = dagrt.random.uniform(size=(2000, 2000))
    dagrt.waitall()
    with dagrt.profile() as prof:
        run(x1)
        run(x2)
    print(prof.summary())
    dagrt.plot_timeline(prof, HERE / "timeline.png", dpi=80)

    with dagrt.profile() as prof:
        mlp.main(dagrt, quick=True)
    dagrt.plot_timeline(prof, HERE / "timeline_mlp.png", dpi=80)

    x = dagrt.arange(6.0)
    with dagrt.record_graph():
        y = x * 2
        x += 1
        z = x + y
        y[0] = 5
        z.sum()
    dagrt.draw_graph(dagrt.graph(), HERE / "graph.png", dpi=80)


if __name__ == "__main__":
    main()
