"""``dagrt.lib``: NumPy's ``numpy.lib`` paths (``from dagrt.lib.stride_tricks
import sliding_window_view``). ``stride_tricks`` makes dagrt views; the other
submodules and names are NumPy's own.

Imports: the namespace (``dagrt.api``).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    if name == "stride_tricks":  # (``from . import`` would ask this function again)
        return importlib.import_module(".stride_tricks", __name__)
    return getattr(np.lib, name)
