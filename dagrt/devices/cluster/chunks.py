"""Large cluster arrays, in row chunks across the workers.

A root buffer of more than ``cluster_chunk_bytes`` is cut along its first
axis into pieces (``_Root.pieces``, row bounds ``_Root.rows``; the bounds
depend on the shape only, as if the elements had 8 bytes, so arrays of one
shape are cut alike whatever their dtypes). Each piece is a root of its own
for the segments: its versions live on whichever worker Dask chose.

The executor sends a component's records in runs, in recording order
(:func:`kind` of each record):

- **split**: a row-wise record over whole chunked arrays cut alike: an
  elementwise one (a ufunc, ``where``, a fill, a copy) whose other operands
  broadcast along the rows (scalars, rows, small arrays), a product of a cut
  matrix with a whole one, a reduction within rows: one segment per piece,
  side by side (a fresh output is cut as its inputs are);
- **reduce**: a reduction over a whole chunked array (``sum``, ``mean``,
  ``max``, ``std``...): delegated to dask.array (its tree reduction over the
  pieces); ``x[key]`` with a basic key: only the pieces the view spans
  travel; the result is written as usual (whole: a large one is not cut);
- **plain**: anything else. A chunked root such a record touches is gathered
  first into one buffer on one worker (it stays whole from then on): views,
  overlaps and every NumPy function keep their semantics, at the price of
  one worker holding the array.

Imports: ``devices.replay`` (records, the worker side); Dask on use.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ..replay import Record, Ref, Value, extract, extract_range, gather, identity, piece_array

# (name on the record's call) -> dask.array's function of the same meaning
REDUCTIONS = {np.sum: "sum", np.prod: "prod", np.min: "min", np.max: "max",
              np.mean: "mean", np.std: "std", np.var: "var", np.any: "any",
              np.all: "all", np.argmin: "argmin", np.argmax: "argmax",
              np.nansum: "nansum", np.nanmean: "nanmean", np.nanmax: "nanmax",
              np.nanmin: "nanmin"}
_REDUCE_KWARGS = {"axis", "dtype", "keepdims", "ddof"}
_getitem = operator.getitem
# NumPy functions (not ufuncs) whose output element depends only on the
# operands' elements at the same place: split as ufuncs are
ELEMENTWISE = {np.where, np.clip, np.round, np.around, np.nan_to_num, np.isclose,
               np.copyto}
_SPLIT_KWARGS = {"dtype", "casting", "where"}
# Functions of each row on its own along the axes they are given (their
# defaults here): split by rows as reductions within rows are, when axis 0 is
# not among those axes (None: all of them)
_F = np.fft
ALONG_AXES = {np.sort: -1, np.argsort: -1, np.cumsum: None, np.cumprod: None,
              _F.fft: -1, _F.ifft: -1, _F.rfft: -1, _F.irfft: -1, _F.hfft: -1,
              _F.ihfft: -1, _F.fft2: (-2, -1), _F.ifft2: (-2, -1), _F.rfft2: (-2, -1),
              _F.irfft2: (-2, -1), _F.fftn: None, _F.ifftn: None, _F.rfftn: None,
              _F.irfftn: None}
_ALONG_KWARGS = {"axis", "axes", "n", "s", "norm", "kind", "stable", "dtype"}
# Products and linear algebra that dask.array computes over the row blocks:
# (function) -> (its positional arguments after the matrix, as NumPy's
# defaults or the reduced forms dask.array computes)
PRODUCTS = {np.matmul, np.dot}
LINALG = {np.linalg.qr: [(), ("reduced",)], np.linalg.svd: [(False, True, False)],
          np.linalg.norm: [(), (None, None, False)]}


def bounds(shape: tuple[int, ...], chunk_bytes: int) -> list[int] | None:
    """The row bounds of a root of ``shape`` (None: one piece)."""
    if not shape or chunk_bytes <= 0:
        return None
    row = math.prod(shape[1:]) * 8
    step = max(1, chunk_bytes // max(row, 1))
    if shape[0] <= step:
        return None
    return list(range(0, shape[0], step)) + [shape[0]]


def _refs(x: Any) -> list[Ref]:
    t = type(x)
    if t is Ref:
        return [x]
    if t is list or t is tuple:
        return [r for v in x for r in _refs(v)]
    if t is dict:
        return [r for v in x.values() for r in _refs(v)]
    return []


def _whole(ref: Ref, root: Any) -> bool:
    """``ref`` is its chunked root, all of it, in C order."""
    if ref.offset or ref.shape != root.shape:
        return False
    expected, step = [], ref.dtype.itemsize
    for n in reversed(ref.shape):
        expected.append(step)
        step *= n
    return all(s == e or n == 1 for s, e, n in zip(ref.strides, reversed(expected), ref.shape))


def _broadcasts(shape: tuple[int, ...], out: tuple[int, ...]) -> bool:
    """An operand of ``shape`` is the same for every row block of ``out``."""
    return len(shape) < len(out) or (len(shape) == len(out) and shape[0] == 1)


def kind(record: Record, roots: dict[int, Any]) -> Any:
    """How to send ``record``: ("split", rows, mode), "reduce" or "plain"."""
    if any(root.pieces is not None for root in roots.values()) and record.call is not None:
        split_as = _split_rows(record, roots)
        if split_as is not None:
            found = ("split", *split_as)
        elif _reducible(record, roots) or _basic_getitem(record, roots) or \
                _algebra(record, roots):
            found = "reduce"
        else:
            found = "plain"
    else:
        found = "plain"
    for key in record.writes:
        roots[key].written = True
    return found


def _mode(record: Record) -> str | None:
    """How a record splits by rows, if its function can: "elementwise" (each
    output element from the operands' elements at its place), "matmul" (a
    block of rows times a whole matrix), "rows" (a reduction within rows)."""
    call = record.call
    try:
        listed = call in ELEMENTWISE
        reduction = call in REDUCTIONS
    except TypeError:  # unhashable
        return None
    if listed or (type(call) is np.ufunc and call.signature is None) or \
            getattr(call, "__name__", "") == "identity":
        return "elementwise" if _SPLIT_KWARGS.issuperset(record.kwargs) else None
    first = record.args[0] if record.args else None
    if type(first) is not Ref or len(first.shape) < 2:
        return None
    if call is np.matmul and len(record.args) == 2 and not record.kwargs and \
            len(first.shape) == 2:
        return "matmul"
    along = ALONG_AXES.get(call, 0) if not reduction else 0
    if along != 0 and len(record.args) == 1 and _ALONG_KWARGS.issuperset(record.kwargs):
        axes = record.kwargs.get("axes", record.kwargs.get("axis", along))
        axes = axes if isinstance(axes, tuple) else (axes,)
        ndim = len(first.shape)
        if None not in axes and all(a % ndim != 0 for a in axes):
            return "rows"
        return None
    if reduction and len(record.args) == 1 and _REDUCE_KWARGS.issuperset(record.kwargs):
        axis = record.kwargs.get("axis")
        axes = axis if isinstance(axis, tuple) else (axis,)
        if axis is not None and all(a % len(first.shape) != 0 for a in axes):
            return "rows"
    return None


def _split_rows(record: Record, roots: dict[int, Any]) -> tuple[tuple[int, ...], str] | None:
    mode = _mode(record)
    if mode is None or not record.outs:
        return None
    inputs = _refs((record.args, record.kwargs))
    chunked = [r for r in inputs if roots[r.root].pieces is not None] or \
        [r for r in record.outs if roots[r.root].pieces is not None]
    if not chunked:
        return None
    rows = roots[chunked[0].root].rows
    recut = []
    for ref in record.outs:  # a fresh output is cut as its inputs are
        root = roots[ref.root]
        if root.rows != rows:
            if root.written or root.version is not None or not ref.shape \
                    or ref.shape != root.shape or root.shape[0] != rows[-1]:
                return None
            recut.append(root)
        elif not _whole(ref, root):
            return None
    shape = record.outs[0].shape
    for n, ref in enumerate(inputs):
        root = roots[ref.root]
        if root.pieces is not None:
            if root.rows != rows or not _whole(ref, root) or (mode != "elementwise" and n):
                return None
        elif ref.root in record.writes or (mode == "elementwise"
                                           and not _broadcasts(ref.shape, shape)):
            return None
        elif mode != "elementwise" and not n:
            return None
    for value in (*record.args, *record.kwargs.values()):
        if isinstance(value, np.ndarray) and value.ndim and mode == "elementwise" and \
                not _broadcasts(value.shape, shape) and value.shape != shape:
            return None
    for root in recut:
        _cut(root, rows)
    return tuple(rows), mode


def _cut(root: Any, rows: list[int]) -> None:
    """Cut a root nothing has written yet into row blocks ``rows``."""
    row = root.nbytes // max(root.shape[0], 1)
    root.rows = list(rows)
    root.pieces = [root.piece((stop - start) * row) for start, stop in zip(rows, rows[1:])]


def split(record: Record, roots: dict[int, Any], piece: int, mode: str
          ) -> tuple[Record, dict[int, Any]]:
    """``record`` on row block ``piece`` of its chunked roots, and the roots
    that block's segment touches."""
    used: dict[int, Any] = {}
    some = next(root for root in roots.values() if root.pieces is not None)
    start, stop = some.rows[piece], some.rows[piece + 1]
    shape = record.outs[0].shape

    def cut(x: Any) -> Any:
        t = type(x)
        if t is Ref:
            root = roots[x.root]
            if root.pieces is None:
                used[root.key] = root
                return x
            part = root.pieces[piece]
            used[part.key] = part
            return Ref((part.key, 0, (stop - start, *x.shape[1:]), x.strides, x.dtype))
        if t is list or t is tuple:
            return t(cut(v) for v in x)
        if t is dict:
            return {k: cut(v) for k, v in x.items()}
        if t is np.ndarray and mode == "elementwise" and x.ndim and x.shape == shape:
            return x[start:stop]  # a host value, copied in: its rows
        return x

    def key(k: int) -> int:
        root = roots[k]
        return k if root.pieces is None else root.pieces[piece].key

    return Record((record.call, cut(record.args), cut(record.kwargs), cut(record.outs),
                   record.use_out, tuple(map(key, record.reads)),
                   tuple(map(key, record.writes)))), used


def _reducible(record: Record, roots: dict[int, Any]) -> bool:
    try:
        name = REDUCTIONS.get(record.call)
    except TypeError:
        return False
    if name is None or len(record.args) != 1 or type(record.args[0]) is not Ref \
            or not _REDUCE_KWARGS.issuperset(record.kwargs) or len(record.outs) != 1:
        return False
    ref = record.args[0]
    root = roots[ref.root]
    return root.pieces is not None and _whole(ref, root)


def _transposed(ref: Ref, root: Any) -> bool:
    """``ref`` is the transpose of its whole (C-ordered) 2-D chunked root."""
    return len(root.shape) == 2 and not ref.offset and ref.shape == root.shape[::-1] and \
        ref.strides == (ref.dtype.itemsize, root.shape[1] * ref.dtype.itemsize)


def _algebra(record: Record, roots: dict[int, Any]) -> bool:
    """A product of matrices (one of them chunked, whole or transposed:
    ``X.T @ X``), or ``qr``, ``svd``, ``norm`` of a whole chunked matrix:
    dask.array's blocked algorithms."""
    call, args = record.call, record.args
    try:
        product, linalg = call in PRODUCTS, LINALG.get(call)
    except TypeError:
        return False
    if record.kwargs or not args or not all(type(a) is Ref for a in args[:1 + product]):
        return False
    if product:
        if len(args) != 2 or any(len(a.shape) != 2 for a in args):
            return False
        chunked = [roots[a.root] for a in args if roots[a.root].pieces is not None]
        return bool(chunked) and all(
            _whole(a, roots[a.root]) or _transposed(a, roots[a.root])
            for a in args if roots[a.root].pieces is not None)
    ref = args[0]
    root = roots[ref.root]
    if linalg is None or tuple(args[1:]) not in linalg or len(ref.shape) != 2 or \
            root.pieces is None or not _whole(ref, root) or ref.dtype.kind != "f":
        return False
    # dask's QR and SVD (TSQR) take tall-and-skinny blocks only
    return call is np.linalg.norm or all(b - a >= ref.shape[1]
                                         for a, b in zip(root.rows, root.rows[1:]))


def _basic_getitem(record: Record, roots: dict[int, Any]) -> bool:
    """``x[key]`` of a chunked root with a basic key (integers, slices): only
    the blocks the view spans travel."""
    if record.call is not _getitem or len(record.args) != 2 or len(record.outs) != 1 \
            or type(record.args[0]) is not Ref or record.kwargs:
        return False
    key = record.args[1] if type(record.args[1]) is tuple else (record.args[1],)
    basic = all(k is None or k is Ellipsis or type(k) in (int, slice) or
                isinstance(k, np.integer) for k in key)
    return basic and roots[record.args[0].root].pieces is not None


def _view(ref: Ref, key: Any) -> Ref:
    """The reference of ``view[key]`` (NumPy computes it, touching no memory)."""
    from numpy.lib.stride_tricks import as_strided

    key = key if type(key) is tuple else (key,)
    if not any(k is Ellipsis for k in key):
        key = (*key, Ellipsis)  # a view even where every axis is indexed (no read)
    base = as_strided(np.zeros(1, ref.dtype), ref.shape, ref.strides)
    view = base[key]
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return Ref((ref.root, ref.offset + offset, view.shape, view.strides, ref.dtype))


def _dask_array(root: Any, dtype: np.dtype) -> Any:
    """A chunked root as a dask array over its pieces' current versions."""
    import dask
    import dask.array as da

    blocks = []
    for part, start, stop in zip(root.pieces, root.rows, root.rows[1:]):
        shape = (stop - start, *root.shape[1:])
        if part.version is None:
            blocks.append(da.zeros(shape, dtype))
        else:
            future, element = part.version
            blocks.append(da.from_delayed(dask.delayed(piece_array)(future, element, shape,
                                                                     dtype), shape, dtype))
    return da.concatenate(blocks, axis=0)


def _operand(ref: Ref, roots: dict[int, Any]) -> Any:
    """``ref`` as a dask array: a chunked root (or its transpose) over its
    pieces, anything else as one block."""
    import dask
    import dask.array as da

    root = roots[ref.root]
    if root.pieces is not None:
        x = _dask_array(root, ref.dtype)
        return x if _whole(ref, root) else x.T
    if root.version is None:
        return da.zeros(ref.shape, ref.dtype)
    future, element = root.version
    return da.from_delayed(dask.delayed(extract)(future, element, ref), ref.shape, ref.dtype)


def delegate(client: Any, record: Record, roots: dict[int, Any]
             ) -> tuple[Record, dict[int, Any], list[Any]]:
    """A reduction, a product or a factorization as dask.array computes it:
    the record that writes its values (``Value``s: the last task arguments),
    its roots, and the values' futures, one per output."""
    import dask.array as da

    ref, call = record.args[0], record.call
    if call is _getitem:
        futures = [_extract(client, roots[ref.root], _view(ref, record.args[1]))]
    elif call in PRODUCTS:
        a, b = (_operand(r, roots) for r in record.args)
        futures = [client.compute(da.matmul(a, b))]
    elif call is np.linalg.qr:
        futures = client.compute(list(da.linalg.qr(_operand(ref, roots))))
    elif call is np.linalg.svd:
        futures = client.compute(list(da.linalg.svd(_operand(ref, roots))))
    elif call is np.linalg.norm:
        futures = [client.compute(da.linalg.norm(_operand(ref, roots)))]
    else:
        x = _dask_array(roots[ref.root], ref.dtype)
        futures = [client.compute(getattr(da, REDUCTIONS[call])(x, **record.kwargs))]
    own = {out.root: roots[out.root] for out in record.outs}  # (whole: the executor
    # made them so before the records after this one were sorted)
    n = len(futures)
    written = Record((identity, tuple(Value(n - 1 - i) for i in range(n)), {}, record.outs,
                      False, (), record.writes))
    return written, own, futures


def sources(parts: list[Any]) -> tuple[list[tuple[int, int] | None], list[Any]]:
    """Where each root's current version comes from among a task's arguments
    (``Segment.sources``: argument number and element, None if never
    written), and those arguments (each result once)."""
    futures: list[Any] = []
    positions: dict[int, int] = {}
    where: list[tuple[int, int] | None] = []
    for part in parts:
        if part.version is None:
            where.append(None)
            continue
        future, element = part.version
        position = positions.get(id(future))
        if position is None:
            position = positions[id(future)] = len(futures)
            futures.append(future)
        where.append((position, element))
    return where, futures


def gather_root(client: Any, root: Any) -> bool:
    """Make a chunked root whole: its pieces' bytes in one buffer, one task
    (none for a root nothing wrote yet: False)."""
    parts, root.pieces = root.pieces, None
    root.rows = None
    if all(part.version is None for part in parts):
        return False
    where, futures = sources(parts)
    root.version = (client.submit(gather, [p.nbytes for p in parts], where, *futures,
                                  pure=False), 0)
    return True


def value(client: Any, root: Any, ref: Ref) -> np.ndarray:
    """The value of ``ref`` on a chunked root: only the pieces it spans travel."""
    if 0 in ref.shape:
        return np.empty(ref.shape, ref.dtype)
    return _extract(client, root, ref).result()


def _extract(client: Any, root: Any, ref: Ref) -> Any:
    """A task computing the value of ``ref`` from the pieces it spans."""
    if 0 in ref.shape:
        return client.submit(np.empty, ref.shape, ref.dtype, pure=False)
    itemsize = ref.dtype.itemsize
    low = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides) if s < 0)
    high = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides) if s > 0) \
        + itemsize
    starts = [0]
    for part in root.pieces:
        starts.append(starts[-1] + part.nbytes)
    first = max(i for i in range(len(root.pieces)) if starts[i] <= low)
    last = min(i for i in range(len(root.pieces)) if starts[i + 1] >= high)
    parts = root.pieces[first:last + 1]
    where, futures = sources(parts)
    shifted = Ref((ref.root, ref.offset - starts[first], ref.shape, ref.strides, ref.dtype))
    return client.submit(extract_range, shifted, [p.nbytes for p in parts], where,
                         *futures, pure=False)
