"""The docs say what the code does; every benchmark runs (quick mode)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dagrt import _config

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_doc_lists_every_flag() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    table = doc.split("<!-- flags:begin -->\n")[1].split("<!-- flags:end -->")[0]
    assert table == _config.markdown_table(), \
        "docs/configuration.md is stale: run `python -m dagrt docs`"
    for flag in _config.FLAGS.values():
        assert f"`{flag.env}`" in doc


def test_every_env_var_used_in_code_is_declared() -> None:
    used = set()
    for path in (ROOT / "dagrt").glob("*.py"):
        used |= set(re.findall(r"DAGRT_[A-Z_]+", path.read_text()))
    declared = {flag.env for flag in _config.FLAGS.values()}
    assert used <= declared, used - declared


def test_readme_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "python -m pip install -e . && python examples/auto_parallelism.py" in readme
    assert 'python -m pip install -e ".[test]" && python -m pytest' in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pip install -e ".[test]" && python -m pytest' in ci


@pytest.mark.parametrize("script", ["overhead.py", "calls.py", "instructions.py", "chain.py",
                                    "independent.py",
                                    "chunked.py",
                                    "auto_parallelism.py", "streams.py", "cluster.py"])
def test_benchmark_quick_mode_runs(script: str) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick",
                             "--no-save"], capture_output=True, text=True, timeout=300,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "/" in result.stdout  # every benchmark prints a ratio


@pytest.mark.parametrize("script", ["bench/streams.py", "bench/auto_parallelism.py",
                                    "examples/auto_parallelism.py"])
def test_gpu_benchmarks_and_example_run_on_the_cupy_double(script: str) -> None:
    """Without a GPU, CuPy's test double stands in: the GPU paths run."""
    env = dict(os.environ, DAGRT_GPU_DOUBLE="1")
    result = subprocess.run([sys.executable, str(ROOT / script), "--quick",
                             *(["--no-save"] if script.startswith("bench") else [])],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert "no GPU" not in result.stdout
    assert ("streams /" if "streams" in script else "CPU&GPU / max(CPU, GPU)") in result.stdout


def test_main_demo_quick_mode_runs() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "auto_parallelism.py"),
                             "--quick"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "overlapped / serial" in result.stdout
    assert "fused and chunked" in result.stdout  # the CPU experiment runs everywhere
