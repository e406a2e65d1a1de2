"""Devices: where a buffer lives and which executor runs operations on it.

The CPU device has no executor of its own: the scheduler runs CPU operations
on the serial or threaded executor chosen by configuration. A GPU device
carries its backend (``_gpu``) and its stream executor.

This module imports nothing from dagrt.
"""

from __future__ import annotations

from typing import Any


class Device:
    """A device, as in MXNet's ``mx.cpu()`` / ``mx.gpu(i)``."""

    __slots__ = ("kind", "id", "executor", "backend")

    def __init__(self, kind: str, id: int = 0) -> None:
        self.kind = kind
        self.id = id
        self.executor: Any = None
        self.backend: Any = None

    def __repr__(self) -> str:
        return f"{self.kind}({self.id})"

    def close(self) -> None:
        """A cluster: wait for its work, then disconnect (and stop the embedded
        cluster). Other devices: nothing to do."""
        close = getattr(self.backend, "close", None)
        if close is not None:
            close(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other in (self.kind, f"{self.kind}:{self.id}", repr(self))
        return isinstance(other, Device) and (self.kind, self.id) == (other.kind, other.id)

    def __hash__(self) -> int:
        return hash((self.kind, self.id))


CPU = Device("cpu", 0)


def cpu(device_id: int = 0) -> Device:
    """The host CPU (MXNet's ``mx.cpu()``); every CPU id names the same device."""
    return CPU
