"""The example programs print the same under NumPy and dagrt.

Each ``examples/<name>.py`` has ``main(xp, quick=False)`` returning the lines
it prints; it runs here at its ``quick`` sizes under NumPy and under dagrt
(threaded engine with the default inline policy, threaded with every op sent
to the workers, and the serial engine) and the text must be identical.
Fallbacks (``dagrt.FallbackWarning``) are errors here (pyproject's
``filterwarnings = error``): the examples use only lazily recorded functions.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy
import pytest

import dagrt

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = ["kmeans", "mlp", "heat", "mandelbrot", "monte_carlo", "rnn"]
CONFIGS = {
    "threaded": {"engine": "threaded"},
    "threaded-noinline": {"engine": "threaded", "inline_bytes": 0},
    "serial": {"engine": "serial"},
    "adaptive": {"engine": "threaded", "inline_bytes": 1, "inline_us": 0.5, "adapt_s": 1e-3},
}


def load(name: str) -> ModuleType:
    if str(EXAMPLES_DIR) not in sys.path:
        sys.path.insert(0, str(EXAMPLES_DIR))
    return importlib.import_module(name)


_reference: dict[str, list[str]] = {}


def numpy_output(name: str) -> list[str]:
    if name not in _reference:
        _reference[name] = load(name).main(numpy, quick=True)
    return _reference[name]


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_matches_numpy(name: str, config: str) -> None:
    expected = numpy_output(name)
    with dagrt.config(**CONFIGS[config]):
        got = load(name).main(dagrt, quick=True)
        dagrt.waitall()
    assert all(isinstance(line, str) for line in got)
    assert got == expected


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_output_is_deterministic(name: str) -> None:
    """Two runs print the same (seeds are fixed; nothing depends on timing)."""
    assert load(name).main(dagrt, quick=True) == load(name).main(dagrt, quick=True)


@pytest.mark.parametrize("name", ["heat", "monte_carlo"])
def test_example_command_line(name: str) -> None:
    """``python examples/<name>.py --numpy|--dagrt --quick`` print the same."""
    outputs = []
    for flag in ("--numpy", "--dagrt"):
        proc = subprocess.run([sys.executable, str(EXAMPLES_DIR / f"{name}.py"), flag,
                               "--quick"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].strip()


def test_backend_helper() -> None:
    backend = load("_backend")
    assert backend.backend_from_argv(["--dagrt"]) is dagrt
    assert backend.backend_from_argv(["--numpy", "--quick"]) is numpy
    assert backend.backend_from_argv([]) is numpy
    with pytest.raises(SystemExit):
        backend.parse_args(["--numpy", "--dagrt"])
