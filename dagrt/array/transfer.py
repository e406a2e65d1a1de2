"""Copies between devices: ``copyto``, ``to_device`` (the device registry,
``gpu(i)``, is ``devices.registry``).

A copy from a GPU to the host runs on the GPU's device-to-host stream into
pinned host memory; a copy to a GPU stages through pinned memory on the
host-to-device stream. Both are operations like any other: recorded at once,
ordered by the buffers they read and write.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..devices.registry import as_device
from ..devices.replay import identity
from ..engine.graph import Var
from ..ops import rules
from . import cluster
from .ndarray import _new, ndarray, var_of
from .operands import new_array
from .record import push, resolve


class _ToDevice:
    """Host to device, staged through pinned memory: ``stage()`` fills the
    pinned buffer (host work: the stream executor runs it before taking its
    lock), the call copies it asynchronously on the stream. The op holds the
    buffer until its event completes: the pinned pool must not hand it out
    while the copy reads it."""

    def __init__(self, src: Any, out: Any, backend: Any) -> None:
        self.src, self.out, self.backend = src, out, backend
        self.pinned: Any = None

    def stage(self) -> None:
        pinned = self.backend.pinned_empty(self.src.shape, self.src.dtype)
        if self.out.flags.f_contiguous and not self.out.flags.c_contiguous:
            pinned = pinned.reshape(self.src.shape[::-1]).T  # the same order as the target
        pinned[...] = self.src
        self.pinned = pinned

    def __call__(self) -> None:
        if self.pinned is None:
            self.stage()
        self.backend.from_host(self.pinned, self.out)


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
    if target is None and source.kind == "cluster":  # fetched when its segment runs
        out = _new(ndarray)
        out._data = np.empty(a.shape, a.dtype)
        out._var = Var()
        out._base = None
        executor = source.executor
        push("copy to cpu", lambda: executor.fetch(src, out._data), reads, [out._var],
             out.nbytes, {"shape": a.shape, "dtype": a.dtype}, device=source, lane="d2h")
        return out
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
    order = None if target.kind == "cluster" else rules.k_order(a.shape, [a._data])
    if order is not None and order != tuple(range(a.ndim - 1, -1, -1)):
        order = None  # (copies go to C or F storage: CuPy's set() takes nothing else)
    out = new_array(a.shape, a.dtype, device=target, order=order)  # the source's order
    if target.kind == "cluster":  # the value travels with the record (a snapshot)
        host = a._value() if source is None else a._host()
        scheduled = cluster.take(f"copy to {target!r}", target, identity, (host,), {}, [out],
                                 False, (), False)
        if scheduled is None:  # (a batched op)
            return out
        kernel, reads = scheduled[0], scheduled[1]
        lane = "h2d"
    elif source is None:  # host -> device
        kernel = _ToDevice(src, out._data, target.backend)
        lane = "h2d"
    else:  # device -> another device
        kernel = lambda: _copy_between(src, out=out._data)  # noqa: E731
        lane = ""
    push(f"copy to {target!r}", kernel, reads, [var_of(out)], out.nbytes,
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
    if stream is not None:  # (NumPy's error: no stream of the caller's is taken)
        raise ValueError("The stream argument in to_device() is not supported")
    return to_device(self, device)


def on_device(result: Any, device: Any) -> Any:
    """The dagrt arrays in ``result`` (tuples, named tuples, lists) moved to
    ``device``: what an eager NumPy call on a device's inputs returns."""
    if isinstance(result, ndarray):
        return to_device(result, device)
    if isinstance(result, tuple):
        moved = (on_device(r, device) for r in result)
        return type(result)(*moved) if hasattr(result, "_fields") else tuple(moved)
    if isinstance(result, list):
        return [on_device(r, device) for r in result]
    return result
