"""dagrt: NumPy's API, run lazily by a dataflow scheduler.

``import dagrt as np`` and NumPy code runs unchanged: each operation is
recorded into a dependency graph and returns at once; independent operations
run concurrently on worker threads; ``dagrt.waitall()`` is the barrier and
reading a value waits for just what it needs.

This module only re-exports (the layout: docs/architecture.md).
"""

from __future__ import annotations

from typing import Any as _Any

import numpy as _np

from . import _config, _log
from ._config import config as config
from .api import NUMPY_NAMES as _NUMPY_NAMES
from .api import __array_namespace_info__ as __array_namespace_info__
from .api import c_ as c_
from .api import cancel as cancel
from .api import from_dlpack as from_dlpack
from .api import install_submodules as _install_submodules
from .api import mgrid as mgrid
from .api import ogrid as ogrid
from .api import r_ as r_
from .api import resolve as _resolve
from .api import waitall as waitall
from .array.ndarray import ndarray as ndarray
from .devices.cluster import cluster as cluster
from .devices.device import Device as Device
from .devices.device import cpu as cpu
from .devices.registry import gpu as gpu
from .devices.registry import num_gpus as num_gpus
from .engine import memory as _memory
from .engine.errors import CancelledError as CancelledError
from .ops.fallback import FallbackWarning as FallbackWarning
from .ops.namespace import FUNCTIONS as _FUNCTIONS

__version__ = "0.1.0"
__array_api_version__ = _np.__array_api_version__  # the standard NumPy implements

_memory.tune()
_log.setup()
globals().update(_FUNCTIONS)
globals().update({_name: getattr(_np, _name) for _name in _NUMPY_NAMES})
from .ops.elementwise import ufunc as ufunc  # noqa: E402  (NumPy's and dagrt's ufuncs)

_install_submodules()  # import dagrt.ma, dagrt.polynomial...: NumPy's own
from . import linalg as linalg  # noqa: E402  (numpy.linalg.inv(d) stays lazy: it registers itself)
from .records import recarray as recarray  # noqa: E402  (a subclass of dagrt's ndarray)

if _config.get("profile"):
    from .tools.profile import profile_whole_run as _profile_whole_run

    _profile_whole_run(_config.get("profile"))


def __getattr__(name: str) -> _Any:
    """``fft``, ``random`` and the tools on first use; any other public NumPy
    name: NumPy's own object, or an eager fallback."""
    value = _resolve(name)
    globals()[name] = value
    return value
