"""Devices: where a buffer lives and which executor runs operations on it.

The CPU device has no executor of its own: the scheduler runs CPU operations
on the serial or threaded executor chosen by configuration.

This module imports nothing from dagrt.
"""

from __future__ import annotations

from typing import Any


class Device:
    """A device, as in MXNet's ``mx.cpu()`` / ``mx.gpu(i)``."""

    __slots__ = ("kind", "id", "executor")

    def __init__(self, kind: str, id: int = 0) -> None:
        self.kind = kind
        self.id = id
        self.executor: Any = None

    def __repr__(self) -> str:
        return f"{self.kind}({self.id})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other in (self.kind, f"{self.kind}:{self.id}", repr(self))
        return isinstance(other, Device) and (self.kind, self.id) == (other.kind, other.id)

    def __hash__(self) -> int:
        return hash((self.kind, self.id))


CPU = Device("cpu", 0)


def cpu(device_id: int = 0) -> Device:
    """The host CPU (MXNet's ``mx.cpu()``); all CPU ids name the same device."""
    return CPU


def num_gpus() -> int:
    """How many CUDA devices CuPy can see (0 without CuPy or a GPU)."""
    try:
        import cupy  # noqa: F401

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def gpu(device_id: int = 0) -> Device:
    """A CUDA device. dagrt's GPU executor is not available in this build."""
    raise RuntimeError(
        f"dagrt.gpu({device_id}): GPU arrays are not supported yet "
        f"(CUDA devices visible: {num_gpus()}); use dagrt.cpu()")


def as_device(device: Any) -> Device:
    """Accept a Device, 'cpu', 'cpu:0' or None."""
    if device is None or isinstance(device, Device) and device.kind == "cpu":
        return CPU
    if isinstance(device, str) and device.split(":")[0] == "cpu":
        return CPU
    raise ValueError(f"unsupported device {device!r}: dagrt arrays live on dagrt.cpu()")
