"""The package's layout: layers import one way, no cycles, small modules.

Every ``import`` statement in ``dagrt/`` (at module level or inside a
function) is an edge of the import graph. The graph must have no cycle, no
module may import the package itself (its ``__init__``), a module may import
only from its own layer or a lower one, and no module may exceed 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dagrt"
MAX_LINES = 500
# Lower layers first. ``ops.table`` (the op table) and ``ops.rules`` (shape and
# dtype rules) are data on NumPy alone: any layer may read them.
LAYERS = {"dagrt._config": 0, "dagrt._log": 0, "dagrt.ops.table": 0, "dagrt.ops.rules": 0,
          "dagrt.engine": 1, "dagrt.devices": 2, "dagrt.array": 3, "dagrt.ops": 4,
          "dagrt.tools": 5}
TOP = 6  # the public modules: dagrt, dagrt.random, dagrt.linalg, dagrt.fft, __main__


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The dagrt modules ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names if a.name.split(".")[0] == "dagrt"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "dagrt":
                continue
            for alias in node.names:  # ``from . import x``: x may be a submodule
                sub = f"{module}.{alias.name}"
                targets.add(sub if sub in MODULES else module)
    return targets - {name}


def _layer(name: str) -> int:
    best, level = "", TOP
    for prefix, value in LAYERS.items():
        if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > len(best):
            best, level = prefix, value
    return level


GRAPH = nx.DiGraph([(m, t) for m, p in MODULES.items() for t in _imports(m, p)])


def test_no_import_cycles() -> None:
    cycles = list(nx.simple_cycles(GRAPH))
    assert not cycles, f"import cycles: {cycles}"


def test_only_the_top_imports_the_package() -> None:
    offenders = [m for m, t in GRAPH.edges if t == "dagrt" and _layer(m) < TOP]
    assert not offenders, f"modules importing dagrt's __init__: {offenders}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module: str) -> None:
    up = [t for t in _imports(module, MODULES[module])
          if t in MODULES and _layer(t) > _layer(module)]
    assert not up, f"{module} (layer {_layer(module)}) imports a higher layer: {up}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module: str) -> None:
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES})"


def test_import_is_quick_and_lean() -> None:
    """``import dagrt`` pulls in neither numpy.testing, numpy.f2py, networkx,
    matplotlib nor loguru (which costs as much as NumPy)."""
    import subprocess
    import sys

    code = ("import sys, dagrt; print(sorted(m for m in ('numpy.testing', 'numpy.f2py', "
            "'networkx', 'matplotlib', 'loguru') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"import dagrt loaded {out}"
