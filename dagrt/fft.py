"""``dagrt.fft``: NumPy's FFTs (evaluated eagerly for now, with a FallbackWarning)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _fallback


def __getattr__(name: str) -> Any:
    value = _fallback.resolve(np.fft, ".fft", name)
    globals()[name] = value
    return value
