"""dagrt: NumPy's API, run lazily by a dataflow scheduler.

``import dagrt as np`` and NumPy code runs unchanged: each operation is
recorded into a dependency graph and returns at once; independent operations
run concurrently on worker threads; ``dagrt.waitall()`` is the barrier and
reading a value waits for just what it needs.
"""

from __future__ import annotations

import os as _os
from typing import Any as _Any

import numpy as _np

from . import _config, _log
from ._config import config
from .array.ndarray import ndarray
from .array.record import evaluate as _evaluate
from .array.record import wrap_result as _wrap_result
from .devices.device import Device, cpu
from .devices.registry import gpu, num_gpus
from .engine import memory as _memory
from .engine.scheduler import ENGINE as _ENGINE
from .ops.methods import IMPLEMENTATIONS as _IMPLEMENTATIONS
from .ops.namespace import FUNCTIONS as _FUNCTIONS

__version__ = "0.1.0"

_memory.tune()
_log.setup()

globals().update(_FUNCTIONS)

from . import fft, linalg, random  # noqa: E402  (need the namespace above)
from .ops.fallback import FallbackWarning  # noqa: E402
from .tools.analysis import (  # noqa: E402
    analyze,
    draw_graph,
    graph,
    graph_reset,
    plot_timeline,
    record_graph,
)

for _name in ("inv", "solve", "det", "norm", "cholesky", "matrix_power", "pinv", "eigvalsh",
              "eigh", "svd", "qr", "slogdet"):  # numpy.linalg.inv(d) stays lazy
    _IMPLEMENTATIONS[getattr(_np.linalg, _name)] = getattr(linalg, _name)
from .tools.profile import profile  # noqa: E402

# NumPy's constants, dtypes and scalar types are NumPy's own objects.
for _name in ("pi", "e", "inf", "nan", "newaxis", "euler_gamma", "dtype", "finfo",
              "iinfo", "errstate", "float16", "float32", "float64", "complex64",
              "complex128", "int8", "int16", "int32", "int64", "uint8", "uint16",
              "uint32", "uint64", "bool_", "intp", "uintp", "float_", "int_",
              "complex_", "object_", "str_", "bytes_", "generic", "number", "integer",
              "signedinteger", "unsignedinteger", "floating", "complexfloating",
              "inexact", "longdouble", "clongdouble", "half", "single", "double",
              "byte", "short", "intc", "longlong", "ubyte", "ushort", "uintc",
              "ulonglong", "csingle", "cdouble", "set_printoptions", "get_printoptions",
              "printoptions", "broadcast_shapes", "ufunc", "seterr",
              "geterr", "isscalar", "issubdtype", "promote_types", "AxisError"):
    if hasattr(_np, _name):
        globals()[_name] = getattr(_np, _name)


class _IndexTrick:
    """``np.mgrid``, ``np.ogrid``, ``np.r_``, ``np.c_``: NumPy's, returning dagrt arrays."""

    def __init__(self, trick: _Any) -> None:
        self._trick = trick

    def __getitem__(self, key: _Any) -> _Any:
        return _wrap_result(self._trick[_evaluate(key)])

    def __len__(self) -> int:
        return len(self._trick)

    def __repr__(self) -> str:
        return repr(self._trick)


mgrid, ogrid, r_, c_ = (_IndexTrick(_t) for _t in (_np.mgrid, _np.ogrid, _np.r_, _np.c_))
bool = _np.bool_  # noqa: A001  (numpy.bool)
if hasattr(_np, "bool"):
    bool = _np.bool  # noqa: A001


def from_dlpack(x: _Any, /, *, device: _Any = None, copy: _Any = None) -> ndarray:
    """An array from any DLPack producer (NumPy, CuPy on the host, PyTorch...)."""
    from .array.ndarray import wrap

    return wrap(_np.from_dlpack(x, copy=copy))


def waitall(*, progress: bool = False) -> None:
    """Block until every recorded operation is done (MXNet's ``waitall``).

    Raises the first error of a failed operation that no sync point has
    raised yet, once. ``progress=True`` shows ops done / total while waiting
    (a tqdm bar with the ``progress`` extra, else a line on stderr).
    """
    if progress:
        from .tools.profile import wait_with_progress

        wait_with_progress()
    _ENGINE.waitall()


if _config.get("profile"):
    from .tools.profile import profile_whole_run as _profile_whole_run

    _profile_whole_run(_config.get("profile"))


def __getattr__(name: str) -> _Any:
    """Any other public NumPy name: NumPy's own object, or an eager fallback."""
    from .ops import fallback as _fallback

    value = _fallback.resolve(_np, "", name)
    globals()[name] = value
    return value
