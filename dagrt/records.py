"""``dagrt.recarray``: NumPy's record array, a subclass of dagrt's ndarray.

Its fields read and write as attributes (``r.x`` is ``r["x"]``, a view),
its elements are ``numpy.record`` scalars, and ``x.view(np.recarray)`` with
``import dagrt as np`` makes one of a structured dagrt array (NumPy's
``recarray`` is a subclass of NumPy's ndarray, which dagrt's cannot view as).
``np.rec.array(...)`` and the rest of ``numpy.rec`` stay NumPy's own.

Imports: the array layer, the ops layer (a subclass gets ``ops.subclasses``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .array.ndarray import ndarray
from .ops import namespace as _namespace  # noqa: F401  (the subclass protocol first)

_FIELDS = frozenset(("_data", "_var", "_base"))


class recarray(ndarray):  # noqa: N801 (NumPy's name)
    """NumPy's ``recarray``: a structured array whose fields are attributes."""

    def __new__(cls, shape: Any, dtype: Any = None, buf: Any = None, offset: int = 0,
                strides: Any = None, formats: Any = None, names: Any = None,
                titles: Any = None, byteorder: Any = None, aligned: bool = False,
                order: str = "C") -> recarray:
        if dtype is not None:
            descr = np.dtype(dtype)
        else:
            descr = np.rec.format_parser(formats, names, titles, aligned, byteorder).dtype
        return super().__new__(cls, shape, (np.record, descr), buf, offset, strides, order)

    def __array_finalize__(self, obj: Any) -> None:
        dtype = self._data.dtype
        if dtype.type is not np.record and dtype.names is not None:
            self.dtype = np.dtype((np.record, dtype))  # (NumPy's: its elements are records)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in _FIELDS:
            raise AttributeError(attr)
        fields = self._data.dtype.fields or {}
        if attr not in fields:
            raise AttributeError(f"recarray has no attribute {attr}")
        value = self[attr]
        if value.dtype.names is not None:
            return value  # a structured field: a record array too
        return value.view(ndarray)

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr in _FIELDS or attr not in (self._data.dtype.names or ()) or \
                attr in type(self).__dict__:
            object.__setattr__(self, attr, value)
        else:
            self[attr] = value

    def field(self, attr: Any, val: Any = None) -> Any:
        """A field (by name or index), or set it to ``val``."""
        name = self._data.dtype.names[attr] if isinstance(attr, int) else attr
        if val is None:
            return self[name]
        self[name] = val
        return None

    def __repr__(self) -> str:
        return repr(self._host().view(np.recarray))


__all__ = ["recarray"]
