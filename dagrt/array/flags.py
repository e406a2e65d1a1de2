"""An array's ``flags``: NumPy's for host storage (as the user set them, not
as a kernel writing back holds them for a moment) and NumPy's names for a
device array's (CuPy's three).

Also whether NumPy reads a dtype back from its buffer protocol and from its
array interface, the ways ``numpy.asarray`` tries before ``__array__``.

Imports: NumPy only (the array is the caller's ``dagrt.ndarray``).
"""

from __future__ import annotations

import functools
import types
from typing import Any

import numpy as np


class HostFlags:
    """NumPy's flags of a host array, as NumPy's are after every call before:
    ``writeable`` is the user's, not the read-only flag NumPy holds while an
    overlapping in-place op writes back on a worker; setting a flag
    (``writeable = False``) first waits for the writes recorded before."""

    __slots__ = ("_array",)

    def __init__(self, array: Any) -> None:
        object.__setattr__(self, "_array", array)

    def _flags(self) -> Any:
        a = self._array
        if not a._data.flags.writeable and a._var.nw:
            writeable(a)
        return a._data.flags

    def __getattr__(self, name: str) -> Any:
        return getattr(self._flags(), name)

    def __getitem__(self, key: str) -> Any:
        return self._flags()[key]

    def __setattr__(self, name: str, value: Any) -> None:
        self._array.wait_to_read()
        setattr(self._array._data.flags, name, value)

    def __setitem__(self, key: str, value: Any) -> None:
        self._array.wait_to_read()
        self._array._data.flags[key] = value

    def __repr__(self) -> str:
        return repr(self._flags())

    def __eq__(self, other: object) -> bool:  # NumPy's: equal when every flag is
        return self._flags() == (other._flags() if isinstance(other, HostFlags) else other)

    __hash__ = None  # type: ignore[assignment]  # (unhashable, as NumPy's)


class DeviceFlags:
    """NumPy's ``flags`` of a device array, from CuPy's three (a device array
    is always writeable: CuPy has no read-only arrays)."""

    __slots__ = ("c_contiguous", "f_contiguous", "owndata")
    writeable = aligned = True

    def __init__(self, flags: Any) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, bool(getattr(flags, name)))

    def __getitem__(self, name: str) -> bool:
        return bool(getattr(self, {"C": "c_contiguous", "F": "f_contiguous"}.get(
            name, name).lower().replace("writable", "writeable")))

    def __setattr__(self, name: str, value: Any) -> None:
        raise ValueError(f"cannot set flags.{name} of a device array: CuPy arrays have "
                         f"no read-only or layout flags to set")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeviceFlags) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "\n".join(f"  {n.upper()} : {getattr(self, n)}" for n in (
            "c_contiguous", "f_contiguous", "owndata", "writeable", "aligned"))


def writeable(a: Any) -> bool:
    """``a`` may be written, as the user set it. A kernel running now on a
    worker may be holding NumPy's read-only flag on the storage for a moment
    (an overlapping in-place op writes back through a copy): then wait for the
    pending writes and look again."""
    flags = a._data.flags
    if getattr(flags, "writeable", True):
        return True
    if a._var.nw:
        a.wait_to_read()
        return bool(a._data.flags.writeable)
    return False


@functools.cache
def buffer_exact(dtype: np.dtype) -> bool:
    """NumPy reads ``dtype`` back from its own buffer's format: not a void
    dtype (``'V3'``: ``'3x'``), nor a structured one with titles (lost) or
    explicit offsets (NumPy raises RuntimeError reading it)."""
    try:
        return bool(np.asarray(memoryview(np.empty(1, dtype))).dtype == dtype)
    except (ValueError, TypeError, RuntimeError, BufferError):
        return False


@functools.cache
def interface_readable(dtype: np.dtype) -> bool:
    """NumPy reads an array interface of ``dtype`` back as a dtype of its kind:
    not a user dtype (``rational``: ``'V8'``) nor ``StringDType`` (TypeError).
    Else there is none: ``numpy.asarray(x)``, which reads it before
    ``__array__``, takes that (NumPy's array, exact)."""
    held = np.empty(1, dtype)
    try:
        np.asarray(types.SimpleNamespace(__array_interface__=held.__array_interface__))
    except (TypeError, ValueError):
        return False
    return dtype.isbuiltin != 2  # (2: a user-defined dtype)
