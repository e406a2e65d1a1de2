"""``numpy.lib.stride_tricks``: views of a dagrt array's storage, made at
once (as ``dagrt.transpose``), aliasing it as NumPy's do.

Imports: the op kinds (``ops.shapes``) and the namespace.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib import stride_tricks as _np_tricks

from ..array.operands import as_type, is_sub
from ..ops.namespace import FUNCTIONS
from ..ops.shapes import view
from ..ops.table import Row, adopt

broadcast_to = FUNCTIONS["broadcast_to"]
broadcast_arrays = FUNCTIONS["broadcast_arrays"]


def sliding_window_view(x: Any, window_shape: Any, axis: Any = None, *,
                        subok: bool = False, writeable: bool = False) -> Any:
    """Implementation of numpy.lib.stride_tricks.sliding_window_view (a view)."""
    return _subok(x, subok, view(_SLIDING, x, (window_shape, axis),
                                 {"subok": subok, "writeable": writeable}))


def as_strided(x: Any, shape: Any = None, strides: Any = None, subok: bool = False,
               writeable: bool = True) -> Any:
    """Implementation of numpy.lib.stride_tricks.as_strided (a view: as NumPy's,
    it does not check that the strides stay inside the buffer)."""
    return _subok(x, subok, view(_AS_STRIDED, x, (shape, strides),  # (CuPy's: no keywords)
                                 {k: v for k, v in (("subok", subok), ("writeable", writeable))
                                  if v is not (k == "writeable")}))


def _subok(x: Any, subok: bool, result: Any) -> Any:
    """With ``subok``, a view of a subclass's instance is one (NumPy's ``subok``)."""
    return as_type(result, type(x), x) if subok and is_sub(x) else result


_SLIDING = Row("sliding_window_view", "view", _np_tricks.sliding_window_view)
_AS_STRIDED = Row("as_strided", "view", _np_tricks.as_strided)
adopt(sliding_window_view, _np_tricks.sliding_window_view)
adopt(as_strided, _np_tricks.as_strided)
__all__ = ["as_strided", "sliding_window_view", "broadcast_to", "broadcast_arrays"]
del np
