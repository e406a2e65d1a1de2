"""The device registry: ``dagrt.gpu(i)``, ``num_gpus()``, and the ``device=`` /
``ctx=`` arguments of array functions (``dagrt.cluster()`` is ``devices.cluster``).

Imports: the engine, the GPU backends and their stream executor, the cluster.
"""

from __future__ import annotations

from typing import Any

from .. import _config
from ..engine.scheduler import ENGINE
from . import gpu as backends
from .device import Device
from .streams import StreamExecutor

_gpus: dict[int, Device] = {}


def num_gpus() -> int:
    """How many GPUs dagrt can use (0 without CuPy or a CUDA device)."""
    backend = backends.backend()
    return backend.device_count() if backend is not None else 0


def gpu(device_id: int = 0) -> Device:
    """GPU ``device_id`` (MXNet's ``mx.gpu(i)``). As in MXNet, naming a GPU that is
    not there is allowed; putting an array on it raises a clear error."""
    backend = backends.backend()
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
        if kind == "cluster":
            from .cluster import cluster

            return cluster()
    raise ValueError(f'Device not understood. Only "cpu" is allowed, but received: {device} '
                     f'(NumPy\'s words; dagrt also takes "gpu:i", "cuda:i", "cluster", '
                     f'dagrt.gpu(i) and dagrt.cluster())')


def device_arg(device: Any = None, ctx: Any = None) -> Device | None:
    """The ``device=`` argument of creation functions, with MXNet's ``ctx=``
    alias; neither given: the ``device`` flag (``DAGRT_DEVICE``, ``config``)."""
    if device is None and ctx is None:
        default = DEFAULT_DEVICE[0]
        return None if default == "cpu" else as_device(default)
    return as_device(device if device is not None else ctx)


DEFAULT_DEVICE = ["cpu"]  # the ``device`` flag, read once per configuration change


def _refresh() -> None:
    DEFAULT_DEVICE[0] = _config.get("device")


_refresh()
_config.on_change(_refresh)
