"""Shared command line of the examples: pick ``numpy`` or ``dagrt``.

Every example is an ordinary NumPy program written against a module ``xp``
(``import numpy as xp`` or ``import dagrt as xp``) in a function
``main(xp, quick=False)`` that returns the lines it prints, so the tests and
``bench/examples.py`` can run it under both modules and compare::

    python examples/kmeans.py --numpy          # NumPy
    python examples/kmeans.py --dagrt --quick  # dagrt, small sizes
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable, Sequence
from types import ModuleType

BACKENDS = ("numpy", "dagrt")


def parse_args(argv: Sequence[str] | None = None,
               description: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--numpy", dest="backend", action="store_const", const="numpy",
                       help="run with NumPy (the default)")
    group.add_argument("--dagrt", dest="backend", action="store_const", const="dagrt",
                       help="run with dagrt (import dagrt as np)")
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--time", action="store_true", help="print the wall time to stderr")
    p.set_defaults(backend="numpy")
    return p.parse_args(argv)


def backend(name: str) -> ModuleType:
    """The array module called ``name`` (``numpy`` or ``dagrt``)."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {name!r}")
    return importlib.import_module(name)


def backend_from_argv(argv: Sequence[str] | None = None) -> ModuleType:
    """``numpy`` or ``dagrt``, as chosen by ``--numpy`` / ``--dagrt``."""
    return backend(parse_args(argv).backend)


def run(main: Callable[..., list[str]], argv: Sequence[str] | None = None,
        description: str | None = None) -> None:
    """The examples' ``if __name__ == "__main__"``: parse, run, print."""
    args = parse_args(argv, description)
    xp = backend(args.backend)
    t0 = time.perf_counter()
    lines = main(xp, quick=args.quick)
    elapsed = time.perf_counter() - t0
    print("\n".join(lines))
    if args.time:
        import sys

        print(f"[{args.backend}: {elapsed:.3f} s]", file=sys.stderr)
