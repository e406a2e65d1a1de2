"""Command line: ``python -m dagrt info`` and ``python -m dagrt timeline``.

- ``info``: dagrt, Python, NumPy and CuPy versions, devices, the thread
  configuration, and every DAGRT_ variable with its value and its source
  (default, environment); unknown DAGRT_ variables in the environment are
  flagged, as they are most likely typos.
- ``timeline TRACE [PNG]``: draw a trace written by ``dagrt.profile`` (needs
  matplotlib).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys


def _version(module: str) -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return "unknown"
    try:
        return version(module)
    except PackageNotFoundError:
        return "not installed"


def info() -> str:
    import numpy

    import dagrt
    from dagrt import _config

    w = 14
    lines = [f"{'dagrt':<{w}}{dagrt.__version__} ({os.path.dirname(dagrt.__file__)})",
             f"{'Python':<{w}}{platform.python_version()} ({sys.executable})",
             f"{'NumPy':<{w}}{numpy.__version__}"]
    cupy = _version("cupy")
    if cupy == "not installed":
        for dist in ("cupy-cuda12x", "cupy-cuda11x", "cupy-cuda13x"):
            if _version(dist) != "not installed":
                cupy = _version(dist)
                break
    lines.append(f"{'CuPy':<{w}}{cupy}")
    for extra in ("networkx", "matplotlib", "tqdm", "threadpoolctl", "loguru"):
        lines.append(f"{extra:<{w}}{_version(extra)}")
    lines.append("")
    gpus = dagrt.num_gpus()
    lines.append(f"{'devices':<{w}}cpu(0)" + "".join(f", gpu({i})" for i in range(gpus))
                 + f"  ({gpus} CUDA device{'s' if gpus != 1 else ''} visible)")
    inter, intra = _config.get("inter_op_threads"), _config.get("intra_op_threads")
    cores = _config.cores()
    lines.append(f"{'threads':<{w}}{inter} inter-op workers x {intra} intra-op (BLAS) threads "
                 f"= {inter * intra} on {cores} cores"
                 + ("  (oversubscribed)" if inter * intra > cores else ""))
    lines.append(f"{'engine':<{w}}{_config.get('engine')}")
    omp = os.environ.get("OMP_NUM_THREADS")
    if omp is not None:
        lines.append(f"OMP_NUM_THREADS={omp}")
    lines.append("")
    lines.append("configuration (DAGRT_ environment variables):")
    width = max(len(f.env) for f in _config.FLAGS.values())
    for name, flag in _config.FLAGS.items():
        try:
            value = repr(_config.get(name))
        except ValueError as exc:
            value = f"<invalid: {exc}>"
        lines.append(f"  {flag.env:<{width}}  {value:<14} ({_config.source(name)})")
    known = {f.env for f in _config.FLAGS.values()}
    for key in sorted(os.environ):
        if key.startswith("DAGRT_") and key not in known:
            lines.append(f"  {key:<{width}}  {os.environ[key]!r:<14} (environment; "
                         f"unknown to dagrt: a typo?)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagrt",
                                     description="dagrt command line tools")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="versions, devices, threads and DAGRT_ settings")
    timeline = sub.add_parser("timeline", help="draw a trace written by dagrt.profile")
    timeline.add_argument("trace", help="trace JSON file")
    timeline.add_argument("png", nargs="?", help="picture to write (default: TRACE.png)")
    sub.add_parser("docs", help="regenerate docs/configuration.md and docs/coverage.md "
                                "(run from the repository root)")
    args = parser.parse_args(argv)
    if args.command == "docs":
        from . import _config
        from .tools import coverage as _coverage

        if not _coverage.DOC.parent.is_dir():
            print(f"python -m dagrt docs: no docs folder at {_coverage.DOC.parent}: "
                  f"run it in a source checkout of dagrt (an installed wheel has no "
                  f"docs)", file=sys.stderr)
            return 2
        _config.write_docs(str(_coverage.DOC.parent / "configuration.md"))
        _coverage.DOC.write_text(_coverage.document())
        print("wrote docs/configuration.md and docs/coverage.md")
        return 0
    if args.command == "info":
        print(info())
        return 0
    if args.command == "timeline":
        import dagrt

        out = args.png or os.path.splitext(args.trace)[0] + ".png"
        dagrt.plot_timeline(args.trace, out)
        print(f"timeline written to {out}")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
