"""Which public NumPy names dagrt records lazily, which fall back to eager
NumPy, and which are NumPy's own objects (types, constants, submodules).

``python -m dagrt docs`` rewrites docs/coverage.md from the op table;
tests check the file is current and that every public name resolves.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from ..ops.fallback import FallbackWarning
from ..ops.table import OPS

MODULES = {"numpy": "dagrt", "numpy.random": "dagrt.random",
           "numpy.linalg": "dagrt.linalg", "numpy.fft": "dagrt.fft"}


def public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None) or dir(module)
    return sorted(n for n in set(names) | set(dir(module)) if not n.startswith("_")
                  and hasattr(module, n))


CATEGORIES = ("lazy", "eager", "fallback", "numpy")


def classify(obj: Any, name: str, module: str) -> str:
    """One of CATEGORIES:

    - lazy: recorded into the graph;
    - eager: in the op table as eager by design (data-dependent output shape,
      or a Python object as result);
    - fallback: not in the op table yet: eager, with a FallbackWarning;
    - numpy: NumPy's own object (type, constant, submodule, shape helper).
    """
    if getattr(obj, "__dagrt_fallback__", False):
        return "fallback"
    if getattr(obj, "__dagrt_eager__", False):
        return "eager"
    if not (getattr(obj, "__module__", None) or "").startswith("dagrt") \
            or isinstance(obj, (type, types.ModuleType)):
        return "numpy"
    kinds = {d.name: d.kind for d in OPS}
    if module == "numpy" and kinds.get(name) == "eager":
        return "eager"
    return "lazy"


def inventory() -> dict[str, dict[str, list[str]]]:
    """{numpy module: {category: [names]}} over every public NumPy name."""
    import importlib
    import warnings


    result: dict[str, dict[str, list[str]]] = {}
    for np_name, dg_name in MODULES.items():
        np_mod = importlib.import_module(np_name)
        dg_mod = importlib.import_module(dg_name)
        groups: dict[str, list[str]] = {c: [] for c in CATEGORIES}
        for name in public_names(np_mod):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FallbackWarning)
                obj = getattr(dg_mod, name)
            groups[classify(obj, name, np_name)].append(name)
        result[np_name] = groups
    return result


def markdown() -> str:
    inv = inventory()
    lines = ["# NumPy coverage", "",
             "Generated from the op table by `python -m dagrt docs`; a test checks "
             "it is current. Every public name of NumPy and of `numpy.random`, "
             "`numpy.linalg` and `numpy.fft` resolves in dagrt:", "",
             "- **lazy**: never waits for pending work: recorded into the graph and run "
             "by the scheduler (creation functions such as `zeros` or `arange`, which "
             "read no dagrt data, compute at once);",
             "- **eager**: eager by design: the output's shape or dtype depends on the "
             "data (`unique`, `nonzero`, `linalg.eig`, `random.multinomial`), the result "
             "is a Python object, or the function is rare (`roots`, `busday_count`); "
             "evaluates its inputs (random draws: in order with the draws) and calls "
             "NumPy, without a warning;",
             "- **fallback**: not reviewed: evaluates its inputs, calls NumPy "
             "and warns once with `dagrt.FallbackWarning`. Only NumPy's `matrix` "
             "functions are left (`matrix`, a subclass of `ndarray`, is not supported: "
             "their result is a dagrt array);",
             "- **numpy**: NumPy's own object (types, dtypes, constants, submodules, "
             "shape helpers).", "",
             "| module | lazy | eager | fallback | numpy's own |",
             "| --- | --- | --- | --- | --- |"]
    for module, groups in inv.items():
        lines.append(f"| `{module}` | " + " | ".join(str(len(groups[c])) for c in CATEGORIES)
                     + " |")
    for module, groups in inv.items():
        for category in ("lazy", "eager", "fallback"):
            names = groups[category]
            lines += ["", f"## `{module}`: {category} ({len(names)})", "",
                      ", ".join(f"`{n}`" for n in names) or "(none)"]
    return "\n".join(lines) + "\n"


DOC = Path(__file__).resolve().parents[2] / "docs" / "coverage.md"
# Below this heading docs/coverage.md is written by hand (measured figures).
MEASURED = "## NumPy's own tests"


def document() -> str:
    """docs/coverage.md: :func:`markdown`, then the hand-written measured part."""
    text = DOC.read_text() if DOC.exists() else ""
    _, mark, measured = text.partition(MEASURED)
    return markdown() + ("\n" + mark + measured if mark else "")
