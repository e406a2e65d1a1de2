"""Smoke test: ``bench/examples.py --quick --no-save`` runs and reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_examples_quick() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "examples.py"), "--quick",
                           "--no-save"], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("kmeans", "mlp", "heat", "mandelbrot", "monte_carlo", "rnn"):
        assert name in proc.stdout
    assert "DIFFERENT" not in proc.stdout
    assert "worst dagrt/tuned" in proc.stdout
