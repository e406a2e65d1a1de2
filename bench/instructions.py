"""Per-op cost in CPU instructions: dagrt against NumPy, without the noise of time.

A shared VM's speed drifts by up to 2x within seconds, so small-op ratios
measured in time (``bench/overhead.py``) are good to +-30% at best. This
counts the instructions one execution of a statement takes instead, under
valgrind's callgrind: each statement runs in a fresh process per side, 200
times to warm up, then ``--n`` times inside ``itertools.starmap``, the only
code callgrind counts (``--toggle-collect=starmap_next``); the count divided
by ``--n`` is its cost. NumPy and dagrt run the same
statement on the same arrays, under the same settings as the overhead
benchmark. Needs valgrind (``apt install valgrind``); without it, it says so
and stops.

    python bench/instructions.py [--quick] [--n N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import os
import re
import shutil
import subprocess
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import cores, parser, save  # noqa: E402
from overhead import SAME_SETTINGS  # noqa: E402

# statement: what it stands for in the overhead table
STATEMENTS = {
    "x += 2 * y": "the cuNumeric #1178 loop (1024 float64)",
    "y5 + 1.0": "an operator on 5 elements",
    "x[3]": "an element read",
    "m[3, 4] = 1.0": "an element write",
    "x[idx]": "fancy indexing, 5 indices",
    "x[idx] = y5": "fancy setitem, 5 indices",
    "x[idx] = x[idx] + 1.0": "the overhead table's fancy get/set loop",
    "x[1:3]": "a slice (a view)",
    "s.sum()": "a small reduction",
    "a @ b": "8x8 matmul",
    "xp.concatenate([s, s])": "concatenate, 10 elements",
    "xp.random.normal(size=10)": "a small random draw",
    "m[1:-1, 1:-1] += a": "a slice updated in place (8x8 of 10x10)",
    "m[1:9, 1:9] = a": "a slice assigned",
    "x.copy()": "a copy (1024 float64)",
    "m.reshape(5, 20)": "a reshape (a view)",
    "xp.zeros(10)": "a creation call",
    "m.sum(axis=0)": "a reduction along an axis",
    "xp.add(x, y, out=x)": "a ufunc with out=",
    "p(x, y)": "x += 2 * y under dagrt.profile",
}


def setup(xp: Any) -> dict[str, Any]:
    g = {"xp": xp, "x": xp.ones(1024), "y": xp.ones(1024), "y5": xp.ones(5),
         "idx": xp.asarray([3, 1, 4, 1, 5]), "m": xp.zeros((10, 10)), "s": xp.arange(10.0),
         "a": xp.eye(8) * 0.5, "b": xp.ones((8, 8))}

    def p(x: Any, y: Any) -> None:
        x += 2 * y
    g["p"] = p
    if xp.__name__ == "dagrt":
        import tempfile

        xp.profile(os.path.join(tempfile.mkdtemp(), "t.json")).__enter__()  # for p only:
        g["p"] = _observed(p)  # the other statements run unobserved
    return g


def _observed(p: Any) -> Any:
    from dagrt.engine.scheduler import ENGINE

    watchers = ENGINE.observers
    ENGINE.observers = []

    def run(x: Any, y: Any) -> None:
        ENGINE.observers = watchers
        p(x, y)
        ENGINE.observers = []
    return run


def run_statement(side: str, stmt: str, n: int) -> None:
    """In the measured process: import the side, warm up, run ``n`` times
    inside ``itertools.starmap`` (what callgrind counts)."""
    if side == "numpy":
        import numpy as xp
    else:
        import dagrt as xp
    g = setup(xp)
    exec(f"def once():\n    global x\n    {stmt}\n", g)
    once = g["once"]
    for _ in range(200):
        once()
    for _ in itertools.starmap(once, itertools.repeat((), n)):
        pass
    if side == "dagrt":
        xp.waitall()


def instructions(side: str, stmt: str, n: int) -> float:
    """Instructions per execution of ``stmt`` in a fresh process."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         "--collect-atstart=no", "--toggle-collect=starmap_next", sys.executable,
         __file__, "--side", side, "--stmt", stmt, "--n", str(n)],
        env=dict(os.environ, **SAME_SETTINGS), capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{out.stderr[-2000:]}")
    return int(found.group(1)) / n


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--side", choices=("numpy", "dagrt"), help=argparse.SUPPRESS)
    p.add_argument("--stmt", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=3000, help="executions counted per statement")
    args = p.parse_args()
    if args.side:
        run_statement(args.side, args.stmt, args.n)
        return
    if shutil.which("valgrind") is None:
        print("valgrind not found: nothing counted (0 / 0; apt install valgrind)")
        return
    n = 50 if args.quick else args.n
    statements = list(STATEMENTS)[:1] if args.quick else list(STATEMENTS)
    print(f"{'statement':28} {'numpy':>9} {'dagrt':>9} {'dagrt / numpy':>14}   (instructions per "
          f"execution, {n} executions)")
    rows = {}
    with concurrent.futures.ThreadPoolExecutor(cores()) as pool:  # (callgrind: 1 core each)
        counts = {(stmt, side): pool.submit(instructions, side, stmt, n)
                  for stmt in statements for side in ("numpy", "dagrt")}
    for stmt in statements:
        per = {side: counts[stmt, side].result() for side in ("numpy", "dagrt")}
        ratio = per["dagrt"] / per["numpy"]
        rows[stmt] = {"what": STATEMENTS[stmt], "numpy": per["numpy"],
                      "dagrt": per["dagrt"], "ratio": ratio}
        print(f"{stmt:28} {per['numpy']:9.0f} {per['dagrt']:9.0f} {ratio:14.2f}", flush=True)
    save("instructions", args, {"n": n, "settings": SAME_SETTINGS, "statements": rows})


if __name__ == "__main__":
    main()
