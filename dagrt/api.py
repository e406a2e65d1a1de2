"""The rest of the public namespace: the barrier, NumPy's own constants and
types, the index tricks, DLPack, and the names resolved on first use (the
``fft`` and ``random`` submodules, the tools, any other NumPy name).

Imports: any layer (this is the top).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

import numpy as np

from .array.ndarray import ndarray, wrap
from .array.record import evaluate, wrap_result
from .devices.device import CPU, Device
from .devices.registry import gpu, num_gpus
from .engine.scheduler import ENGINE
from .ops import fallback

# NumPy's constants, dtypes and scalar types are NumPy's own objects.
NUMPY_NAMES = [name for name in (
    "pi", "e", "inf", "nan", "newaxis", "euler_gamma", "dtype", "finfo", "iinfo",
    "errstate", "float16", "float32", "float64", "complex64", "complex128", "int8",
    "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool_", "bool",
    "intp", "uintp", "float_", "int_", "complex_", "object_", "str_", "bytes_", "generic",
    "number", "integer", "signedinteger", "unsignedinteger", "floating",
    "complexfloating", "inexact", "longdouble", "clongdouble", "half", "single",
    "double", "byte", "short", "intc", "longlong", "ubyte", "ushort", "uintc",
    "ulonglong", "csingle", "cdouble", "set_printoptions", "get_printoptions",
    "printoptions", "broadcast_shapes", "seterr", "geterr", "isscalar",
    "issubdtype", "promote_types", "AxisError", "__config__") if hasattr(np, name)]

# Resolved on first use (``import dagrt`` stays quick): name -> (module, attribute).
LAZY = {"fft": (".fft", None), "random": (".random", None), "lib": (".lib", None),
        "testing": (".testing", None),
        "profile": (".tools.profile", "profile"), "annotate": (".tools.recorder", "annotate"),
        **{name: (".tools.analysis", name) for name in (
            "analyze", "draw_graph", "graph", "graph_reset", "plot_timeline",
            "record_graph")}}


class IndexTrick:
    """``np.mgrid``, ``np.ogrid``, ``np.r_``, ``np.c_``: NumPy's, returning dagrt arrays."""

    def __init__(self, trick: Any) -> None:
        self._trick = trick

    def __getitem__(self, key: Any) -> Any:
        return wrap_result(self._trick[evaluate(key)])

    def __len__(self) -> int:
        return len(self._trick)

    def __repr__(self) -> str:
        return repr(self._trick)


mgrid, ogrid, r_, c_ = (IndexTrick(t) for t in (np.mgrid, np.ogrid, np.r_, np.c_))


def from_dlpack(x: Any, /, *, device: Any = None, copy: Any = None) -> ndarray:
    """An array from any DLPack producer (NumPy, CuPy on the host, PyTorch...)."""
    return wrap(np.from_dlpack(x, copy=copy))


class NamespaceInfo:
    """The array API's inspection object: ``dagrt.__array_namespace_info__()``."""

    def capabilities(self) -> dict[str, Any]:
        return {"boolean indexing": True, "data-dependent shapes": True,
                "max dimensions": 64}

    def default_device(self) -> Device:
        return CPU

    def devices(self) -> list[Device]:
        return [CPU, *(gpu(i) for i in range(num_gpus()))]

    def default_dtypes(self, *, device: Any = None) -> dict[str, np.dtype]:
        return np.__array_namespace_info__().default_dtypes()

    def dtypes(self, *, device: Any = None, kind: Any = None) -> dict[str, np.dtype]:
        return np.__array_namespace_info__().dtypes(kind=kind)


def __array_namespace_info__() -> NamespaceInfo:  # noqa: N807 (the array API's name)
    """The array API's inspection namespace (devices, default dtypes)."""
    return NamespaceInfo()


def waitall(*, progress: bool = False) -> None:
    """Block until every recorded operation is done (MXNet's ``waitall``).

    Raises the first error of a failed operation that no sync point has
    raised yet, once. ``progress=True`` shows ops done / total while waiting
    (a tqdm bar with the ``progress`` extra, else a line on stderr).
    """
    if progress:
        from .tools.profile import wait_with_progress

        wait_with_progress()
    ENGINE.waitall()


def cancel() -> None:
    """Cancel the operations the calling thread recorded that have not
    started: they do not run, and reading their outputs raises
    ``dagrt.CancelledError``; running ones finish. Ctrl-C during a sync
    point does the same. The runtime stays usable."""
    ENGINE.cancel()


def _sync_progress(busy: Any) -> None:
    """A sync point that waits long shows progress (``progress_after``)."""
    from .tools.profile import wait_with_progress

    wait_with_progress(busy)


ENGINE.progress = _sync_progress


class NumpySubmodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import dagrt.ma``, ``from dagrt.polynomial import Polynomial``: any
    NumPy submodule that dagrt has no module of its own for imports as
    NumPy's own module, the object that ``dagrt.ma`` names (first on
    ``sys.meta_path``: ``dagrt.polynomial.polynomial`` must not load NumPy's
    file a second time under dagrt's name)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("dagrt."):
            return None
        parent = sys.modules.get(fullname.rpartition(".")[0])
        if getattr(parent, "__name__", "dagrt").startswith("dagrt") and \
                importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
            return None  # dagrt's own module (dagrt.fft, dagrt.lib.stride_tricks)
        try:
            found = importlib.util.find_spec("numpy." + fullname[len("dagrt."):])
        except (ImportError, ValueError):
            return None
        if found is None:
            return None
        return importlib.util.spec_from_loader(
            fullname, self, is_package=found.submodule_search_locations is not None)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module("numpy." + spec.name[len("dagrt."):])
        spec.loader_state = module.__spec__  # the import system replaces it
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run; give NumPy's module back its own spec."""
        module.__spec__ = module.__spec__.loader_state


def install_submodules() -> None:
    """Put :class:`NumpySubmodules` first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, NumpySubmodules) for f in sys.meta_path):
        sys.meta_path.insert(0, NumpySubmodules())


def resolve(name: str) -> Any:
    """A public name not bound at import: a lazy submodule or tool, else
    NumPy's own object or an eager fallback."""
    target = LAZY.get(name)
    if target is None:
        return fallback.resolve(np, "", name)
    module = importlib.import_module(target[0], __package__)
    return module if target[1] is None else getattr(module, target[1])
