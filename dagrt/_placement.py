"""Where arrays live: ``dagrt.gpu(i)``, ``num_gpus()``, ``device=`` / ``ctx=``
arguments, and copies between devices (``copyto``, ``to_device``).

A copy from a GPU to the host runs on the GPU's device-to-host stream into
pinned host memory; a copy to a GPU stages through pinned memory on the
host-to-device stream. Both are operations like any other: recorded at once,
ordered by the buffers they read and write.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _config, _gpu
from ._devices import CPU, Device
from ._executors import StreamExecutor
from ._graph import Var
from ._ndarray import _new, ndarray, new_array, push, resolve
from ._scheduler import ENGINE

_gpus: dict[int, Device] = {}


def num_gpus() -> int:
    """How many GPUs dagrt can use (0 without CuPy or a CUDA device)."""
    backend = _gpu.backend()
    return backend.device_count() if backend is not None else 0


def gpu(device_id: int = 0) -> Device:
    """GPU ``device_id`` (MXNet's ``mx.gpu(i)``). As in MXNet, naming a GPU that is
    not there is allowed; putting an array on it raises a clear error."""
    backend = _gpu.backend()
    if backend is None or not 0 <= device_id < backend.device_count():
        return Device("gpu", device_id)  # no backend: unusable, see new_array
    device = _gpus.get(device_id)
    if device is None or device.backend is not backend:
        device = Device("gpu", device_id)
        device.backend = backend
        device.executor = StreamExecutor(device, backend, ENGINE, _config.get("gpu_streams"))
        _gpus[device_id] = device
    return device


def reset() -> None:
    """Forget GPU devices (after the backend changed, in tests)."""
    for device in _gpus.values():
        device.executor.shutdown()
    _gpus.clear()


def as_device(device: Any) -> Device | None:
    """None (host) or a GPU Device, from a Device, 'cpu', 'gpu:1', 'cuda:0' or None."""
    if device is None:
        return None
    if isinstance(device, Device):
        return None if device.kind == "cpu" else device
    if isinstance(device, str):
        kind, _, index = device.partition(":")
        if kind == "cpu":
            return None
        if kind in ("gpu", "cuda"):
            return gpu(int(index or 0))
    raise ValueError(f"unknown device {device!r}: use dagrt.cpu() or dagrt.gpu(i)")


def device_arg(device: Any = None, ctx: Any = None) -> Device | None:
    """The ``device=`` argument of creation functions, with MXNet's ``ctx=`` alias."""
    return as_device(device if device is not None else ctx)


def _copy_to_device(src: Any, *, out: Any, backend: Any, keep: list[Any]) -> None:
    """Host to device, staged through pinned memory (asynchronous on the stream).
    The staging buffer goes into ``keep``, which the op holds until its event
    completes: the pinned pool must not hand it out while the copy reads it."""
    pinned = backend.pinned_empty(src.shape, src.dtype)
    pinned[...] = src
    keep.append(pinned)
    backend.from_host(pinned, out)


def _copy_to_host(src: Any, *, out: np.ndarray, backend: Any) -> None:
    """Device to host, into pinned memory (asynchronous on the stream)."""
    backend.to_host(src, out=out)


def _copy_between(src: Any, *, out: Any) -> None:
    out[...] = src


def to_device(a: ndarray, device: Any, copy: bool = False) -> ndarray:
    """``a`` on ``device``: ``a`` itself if it is there already (unless ``copy``)."""
    target = as_device(device)
    source = a._var.device
    if target is not None and target.backend is None:
        new_array((0,), a.dtype, device=target)  # raises: there is no such GPU
    if target is source:
        return a.copy() if copy else a
    reads: list[Var] = []
    src = resolve(a, reads, True)
    if target is None:  # device -> host, into pinned memory
        backend = source.backend
        out = _new(ndarray)
        out._data = backend.pinned_empty(a.shape, a.dtype)
        out._var = Var()
        out._base = None
        kernel = lambda: _copy_to_host(src, out=out._data, backend=backend)  # noqa: E731
        push("copy to cpu", kernel, reads, [out._var], out.nbytes,
             {"shape": a.shape, "dtype": a.dtype}, device=source, lane="d2h")
        return out
    out = new_array(a.shape, a.dtype, device=target)
    if source is None:  # host -> device
        backend = target.backend
        keep: list[Any] = []
        kernel = lambda: _copy_to_device(src, out=out._data, backend=backend,  # noqa: E731
                                         keep=keep)
        lane = "h2d"
    else:  # device -> another device
        kernel = lambda: _copy_between(src, out=out._data)  # noqa: E731
        lane = ""
    push(f"copy to {target!r}", kernel, reads, [out._var], out.nbytes,
         {"shape": a.shape, "dtype": a.dtype}, device=target, lane=lane)
    return out


def copyto(self: ndarray, other: Any) -> ndarray:
    """Copy into another array, or onto a device (MXNet's ``copyto``): always a copy."""
    if isinstance(other, ndarray):
        if other._var.device is not self._var.device:
            other[...] = to_device(self, other.device)
        else:
            other[...] = self
        return other
    return to_device(self, other, copy=True)


def to_device_method(self: ndarray, device: Any, /, *, stream: Any = None) -> ndarray:
    """This array on ``device`` (array API): itself if already there."""
    return to_device(self, device)


__all__ = ["CPU", "num_gpus", "gpu", "as_device", "device_arg", "to_device", "copyto"]
