"""Chunked reductions and gathers: one large deferred op, cut into blocks that
every idle worker computes at once (``ThreadedExecutor.share``).

Only cuts whose results are NumPy's to the bit:

- a reduction that keeps axis 0 (``m.sum(axis=1)``, ``x.argmax(axis=-1)``,
  ``std``, ``mean``...): each output element is computed from its own block of
  rows by the same call on the same elements in the same order;
- an order-free reduction over everything (``x.max()``, ``x.min()``,
  ``x.any()``, ``x.all()``): the same reduction of the blocks' results (NaN
  propagates through ``max`` of the partial maxima as through ``max``);
- a gather by one integer index array (``x[idx]``): each block gathers its
  part of the index.

Sums over axis 0 or over everything are not cut: NumPy's pairwise summation
would round differently. Copies are not cut either: on the 2-core machine a
copy of 32 MB takes 1.27 ms whole and 1.25 ms in two halves on two threads
(memory bandwidth), while ``sum(axis=1)`` goes from 1.47 to 0.87 ms, ``max``
from 0.84 to 0.64 and a gather of 4M random elements from 34 to 21 ms.

A block that meets a floating-point error (under the recording line's
``np.errstate``) or raises makes the whole op run again as recorded, unchunked:
NumPy's own warning or exception then comes from the recording line, once.

Imports: the configuration, the engine's executors.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .. import _config
from ..engine.executors import ThreadedExecutor

BLOCK_BYTES = 1 << 20  # DAGRT_CHUNK_BYTES: input bytes per block (amortizes its calls)
# reductions computed per output element (cut along a kept axis 0)
PER_ELEMENT = frozenset(("sum", "prod", "mean", "std", "var", "min", "max", "amin", "amax",
                         "argmin", "argmax", "any", "all"))
# reductions whose result over everything is the same reduction of partial results
ORDER_FREE = {"min": np.min, "max": np.max, "amin": np.min, "amax": np.max,
              "any": np.any, "all": np.all}
_KW = frozenset(("axis", "keepdims"))
STATS = {"ops": 0, "whole": 0}  # ops run in blocks; of those, run again whole (for tests)


def _refresh() -> None:
    global BLOCK_BYTES
    BLOCK_BYTES = _config.get("chunk_bytes")


_refresh()
_config.on_change(_refresh)


def chunked(name: str, call: Any, values: Any, kw: dict[str, Any],
            targets: list[np.ndarray], whole: Callable[[], None],
            use_out: bool = True) -> Callable[[], None] | None:
    """A kernel computing the op ``name`` in blocks, or None if it is not cut
    (``whole``: the op's own kernel, run instead when a block fails). A
    reduction's blocks write ``out=``: only an op recorded to write its
    output so (``use_out``) is cut (a float16 mean sums in float16 into a
    float16 ``out=``, in float32 without one: it is recorded without)."""
    if not BLOCK_BYTES or len(targets) != 1 or not values or type(values[0]) is not np.ndarray:
        return None
    a, out = values[0], targets[0]
    if a.ndim == 0 or a.shape[0] < 4:
        return None
    if name == "getitem":
        key = values[1] if len(values) == 2 else None
        if type(key) is not np.ndarray or key.ndim != 1 or key.dtype.kind not in "iu" \
                or out.nbytes < 2 * BLOCK_BYTES or out.shape[:1] != key.shape:
            return None
        return functools.partial(_run, _gather, a, key, out, whole, None)
    if a.nbytes < 2 * BLOCK_BYTES or a.dtype.kind not in "biufc" or not set(kw) <= _KW \
            or np.may_share_memory(a, out) or not use_out:  # (NumPy buffers such an out=)
        return None
    axis = kw.get("axis")
    axes = tuple(range(a.ndim)) if axis is None else normalize_axis_tuple(axis, a.ndim)
    if 0 not in axes and name in PER_ELEMENT:
        return functools.partial(_run, functools.partial(_rows, call, kw), a, None, out, whole,
                                 None)
    if axis is None and not kw.get("keepdims") and name in ORDER_FREE:
        return functools.partial(_run, functools.partial(_reduce, call), a, None, out, whole,
                                 ORDER_FREE[name])
    return None


def _rows(call: Any, kw: dict[str, Any], a: np.ndarray, _: None, out: np.ndarray,
          rows: slice) -> None:
    call(a[rows], out=out[rows], **kw)


def _reduce(call: Any, a: np.ndarray, _: None, out: np.ndarray, rows: slice) -> Any:
    return call(a[rows])


def _gather(a: np.ndarray, key: np.ndarray, out: np.ndarray, rows: slice) -> None:
    out[rows] = a[key[rows]]


def _run(block: Callable[..., Any], a: np.ndarray, key: np.ndarray | None, out: np.ndarray,
         whole: Callable[[], None], combine: Callable[[list[Any]], Any] | None) -> None:
    """Call ``block`` on blocks of rows (of ``key`` for a gather) on this
    worker and the idle ones; ``combine`` the blocks' results into ``out`` if
    given. On any floating-point error or exception, run ``whole`` instead."""
    pool = ThreadedExecutor.current()
    errstate = np.geterr()
    # Cut only when workers would otherwise idle (ops side by side already use
    # them, and cutting them too costs: measured in the docstring's figures),
    # and never under an error callback of the user's.
    if pool is None or pool.threads < 2 or pool.backlog or any(
            mode not in ("ignore", "warn", "raise") for mode in errstate.values()):
        return whole()
    rows = (a if key is None else key).shape[0]
    row_bytes = a.nbytes // a.shape[0] if key is None else \
        out.nbytes // rows + key.itemsize
    step = max(2, BLOCK_BYTES // max(1, row_bytes))
    nblocks = -(-rows // step)
    if rows - (nblocks - 1) * step < 2:  # (a block of one row may reduce differently)
        nblocks -= 1
    if nblocks < 2:
        return whole()
    STATS["ops"] += 1
    counter = itertools.count()
    modes = {k: "ignore" if v == "ignore" else "call" for k, v in errstate.items()}

    def work() -> tuple[bool, list[tuple[int, Any]]]:
        failed: list[int] = []
        results = []
        with np.errstate(call=lambda _, flag: failed.append(flag), **modes):
            while not failed and (i := next(counter)) < nblocks:
                stop = rows if i == nblocks - 1 else (i + 1) * step
                results.append((i, block(a, key, out, slice(i * step, stop))))
        return bool(failed), results

    try:
        shares = pool.share(work, min(pool.threads, nblocks) - 1)
    except Exception:  # run whole, it raises NumPy's own exception
        shares = [(True, [])]
    if any(failed for failed, _ in shares):  # run whole: NumPy's warnings, once
        STATS["whole"] += 1
        return whole()
    if combine is not None:
        results = sorted(itertools.chain.from_iterable(r for _, r in shares),
                         key=operator.itemgetter(0))
        out[()] = combine([r for _, r in results])
    return None
