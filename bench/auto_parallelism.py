"""The main demo's experiments (shared with examples/auto_parallelism.py): the
CPU experiments (independent chains overlapped; one chain fused and chunked)
and the d2l auto-parallelism experiment, serial against overlapped execution,
side by side with NumPy in this process (same malloc and BLAS settings).

    python bench/auto_parallelism.py [--quick] [--trace]
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

from _common import parser, save, traced  # noqa: E402
from auto_parallelism import cpu_experiment, experiment, gpu_experiment, run  # noqa: E402

import dagrt  # noqa: E402


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=2000)
    args = p.parse_args()
    size = 200 if args.quick else args.size
    repeat = 1 if args.quick else args.repeat
    cpu = cpu_experiment(40_000 if args.quick else 2_000_000, repeat=max(repeat, 2))
    times = experiment(size, repeat)
    times.update({f"cpu_{k}": v for k, v in cpu.items()})
    if dagrt.num_gpus() == 0:
        print("no GPU present: the CPU&GPU and copy-overlap parts are skipped")
    else:
        times.update({f"gpu_{k}": v for k, v in gpu_experiment(
            *((200, 600) if args.quick else (size, 3 * size)),
            repeat=1 if args.quick else args.repeat).items()})
    with traced(args, "auto_parallelism"):
        x1 = dagrt.random.uniform(size=(size, size))
        x2 = dagrt.random.uniform(size=(size, size))
        run(x1)
        run(x2)
        dagrt.waitall()
    save("auto_parallelism", args, dict(times, size=size,
                                        overlapped_over_serial=times["overlapped"]
                                        / times["serial"]))


if __name__ == "__main__":
    main()
