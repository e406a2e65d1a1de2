"""The cluster device against NumPy and dagrt's threads, side by side; each
side runs in a fresh process, with the same settings (one BLAS thread).

- B1 small-op loop: ``x += 2*y`` on 1,024 elements, per-op cost on the
  cluster (fused segments amortize Dask's per-task cost; target <= 30 us/op);
- B2 a GIL-bound ensemble: four independent chains of small ops
  (``x = sin(x) * 1.0001``, 1,024 elements), NumPy vs dagrt's threads vs the
  cluster's two worker processes (target <= 0.6 of NumPy), cluster start
  reported apart;
- B3 an array larger than one worker's memory limit (two workers of
  ``--memory`` each; the array is 1.5 times that, in row blocks of an eighth
  of it, at most 64 MiB):
  ``y = 2*x + 1; y.sum(); y[i]`` checked against NumPy, with the bytes the
  workers spilled to disk (full runs only: not in ``--quick``);
- B5 embedded cluster start and close.

    python bench/cluster.py [--quick] [--repeat N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import MALLOC, blas, parser, save  # noqa: E402

_KEEP: list = []
# The same for every side (as bench/overhead.py): BLAS threads, glibc's malloc
# thresholds set for NumPy too instead of by dagrt at import.
SETTINGS = {**MALLOC, **blas(1), "DAGRT_MALLOC_TUNE": "0"}


def _loop(xp, n, **create):
    x, y = xp.ones(1024, **create), xp.ones(1024, **create)
    float(x[0])
    t0 = time.perf_counter()
    for _ in range(n):
        x += 2 * y
    float(x[0])
    return (time.perf_counter() - t0) / (2 * n)


def _ensemble(xp, chains, steps, **create):
    xs = [xp.ones(1024, **create) * (i + 1) for i in range(chains)]
    [float(x[0]) for x in xs]
    t0 = time.perf_counter()
    for _ in range(steps):
        xs = [xp.sin(x) * 1.0001 for x in xs]
    [float(x[0]) for x in xs]
    return time.perf_counter() - t0


def spilling(memory: int) -> dict:
    """B3, in this (fresh) process."""
    import numpy

    import dagrt

    n = int(1.5 * memory) // 8
    device = dagrt.cluster(workers=2, memory_limit=memory)
    t0 = time.perf_counter()
    with dagrt.config(cluster_chunk_bytes=min(64 << 20, memory // 8)):
        x = dagrt.ones(n, device=device)
        y = 2 * x + 1
        total = float(y.sum())
        middle = float(y[n // 2])
    seconds = time.perf_counter() - t0
    blocks = len(device.backend.root_of(y._data).pieces or [])

    def spilled(dask_worker):  # (on each worker)
        return getattr(dask_worker.data, "spilled_total", (0, 0))[1]

    disk = sum(device.backend.client.run(spilled).values())
    device.close()
    expected = float(numpy.full(n, 3.0).sum())
    return {"elements": n, "array_bytes": 8 * n, "worker_memory": memory, "blocks": blocks,
            "seconds": seconds, "spilled_bytes": disk,
            "correct": total == expected and middle == 3.0}


def side(name: str, loop_n: int, steps: int, repeat: int) -> dict:
    """One side, in this (fresh) process: best of ``repeat``."""
    import numpy

    if name == "numpy":
        xp, create = numpy, {}
    else:
        import dagrt

        xp, create = dagrt, {}
        if name == "cluster":
            t0 = time.perf_counter()
            device = dagrt.cluster(workers=2)
            start = time.perf_counter() - t0
            create = {"device": device}
        elif name == "threads-inline0":
            _KEEP.append(dagrt.config(inline_bytes=0))  # (a dropped block would end)
            _KEEP[-1].__enter__()
    result = {"loop_us": min(_loop(xp, loop_n, **create) for _ in range(repeat)) * 1e6,
              "ensemble_s": min(_ensemble(xp, 4, steps, **create) for _ in range(repeat))}
    if name == "cluster":
        t0 = time.perf_counter()
        device.close()
        result.update(start_s=start, close_s=time.perf_counter() - t0)
    return result


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--side", help="internal: run one side in this process")
    p.add_argument("--memory", type=int, default=512 << 20,
                   help="B3: each worker's memory limit in bytes (default 512 MiB)")
    args = p.parse_args()
    loop_n, steps = (200, 200) if args.quick else (10_000, 2_000)
    repeat = 1 if args.quick else args.repeat
    memory = args.memory  # (a smaller limit leaves a worker too little room beside
    # its own ~100 MB: the nanny restarts it, and recomputing the blocks may never end)
    if args.side == "spilling":
        print(json.dumps(spilling(memory)))
        return
    if args.side:
        print(json.dumps(side(args.side, loop_n, steps, repeat)))
        return
    env = {**os.environ, **SETTINGS}
    results = {}
    for name in ("numpy", "threads", "threads-inline0", "cluster"):
        cmd = [sys.executable, __file__, "--side", name, "--repeat", str(repeat)] + \
            (["--quick"] if args.quick else [])
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
    ref = results["numpy"]
    print(f"{'side':<16} {'x += 2*y us/op':>15} {'/ NumPy':>8} {'ensemble s':>11} {'/ NumPy':>8}")
    for name, r in results.items():
        print(f"{name:<16} {r['loop_us']:>15.1f} {r['loop_us'] / ref['loop_us']:>8.2f} "
              f"{r['ensemble_s']:>11.3f} {r['ensemble_s'] / ref['ensemble_s']:>8.2f}")
    c = results["cluster"]
    print(f"embedded cluster (2 workers): start {c['start_s']:.2f} s, close {c['close_s']:.2f} s")
    if args.quick:  # (B3 spills about 2 GB and once stalled for minutes on a busy
        # 2-core machine: the full run only)
        print("B3 (an array larger than a worker's memory): not run in --quick")
        save("cluster", args, {"loop_n": loop_n, "ensemble_steps": steps, **results})
        return
    cmd = [sys.executable, __file__, "--side", "spilling", "--memory", str(memory)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    spill = json.loads(out.strip().splitlines()[-1])
    print(f"B3: {spill['array_bytes'] / 2**20:.0f} MiB array on 2 workers of "
          f"{spill['worker_memory'] / 2**20:.0f} MiB, {spill['blocks']} blocks: "
          f"{spill['seconds']:.2f} s, {spill['spilled_bytes'] / 2**20:.0f} MiB spilled to disk, "
          f"{'correct' if spill['correct'] else 'WRONG'}")
    if not spill["correct"]:
        raise SystemExit("B3 computed a wrong value")
    save("cluster", args, {"loop_n": loop_n, "ensemble_steps": steps, **results,
                           "spilling": spill})


if __name__ == "__main__":
    main()
