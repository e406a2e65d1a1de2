"""Argument helpers shared by the op kinds.

Imports: the array layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..array.ndarray import ndarray, wrap
from ..array.record import evaluate, operand, wrap_result
from .table import Row

PY_SCALARS = (int, float, bool, complex)


def as_dagrt(x: Any) -> ndarray:
    return x if type(x) is ndarray else wrap(np.asarray(x))


def bind(row: Row, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Positional arguments after the first, as keywords (``row.params``)."""
    if len(args) > len(row.params):
        raise TypeError(f"{row.name}() takes at most {len(row.params) + 1} positional "
                        f"arguments ({len(args) + 1} given)")
    for name, value in zip(row.params, args):
        if name in kwargs:
            raise TypeError(f"{row.name}() got multiple values for argument '{name}'")
        kwargs[name] = value
    return kwargs


def eager_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Evaluate dagrt inputs, call NumPy, wrap what comes back (``out=``
    arrays are written in place, once no pending operation uses them)."""
    out = kwargs.get("out")
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if isinstance(o, ndarray):
                o._quiet()
        kwargs = dict(kwargs, out=tuple(o._data if isinstance(o, ndarray) else o
                                        for o in outs) if isinstance(out, tuple)
                      else (out._data if isinstance(out, ndarray) else out))
    result = func(*evaluate(args, quiet=True),
                  **{k: evaluate(v, quiet=True) for k, v in kwargs.items()})
    if out is not None:
        return out
    return wrap_result(result)


def evaluate_nested(obj: Any) -> Any:
    if isinstance(obj, ndarray):
        return obj._host()
    if isinstance(obj, (list, tuple)):
        return type(obj)(evaluate_nested(x) for x in obj)
    return obj


__all__ = ["PY_SCALARS", "operand", "as_dagrt", "bind", "eager_call", "evaluate_nested"]
