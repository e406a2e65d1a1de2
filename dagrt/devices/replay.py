"""The worker side of the cluster device: replay a fused segment of recorded
operations on real buffers.

A segment is data (pickled with the task): the roots it touches and, in
recording order, its records. A root arrives as the previous version's
bytes (an element of an earlier segment's result) or is new; a root the
segment writes is copied once first (copy-on-write), so every version stays
immutable for the other readers and for Dask's recomputations. Each record
is a NumPy call whose array arguments are :class:`Ref` views of the roots,
made again here from their place in the root (offset, shape, strides), so
views alias exactly as on the client; NumPy's own overlap handling applies
(``x[1:] += x[:-1]``). A record that fails poisons the roots it writes;
records reading a poisoned root are skipped; the others run.

Imports nothing from dagrt: workers import only this module and NumPy.
"""

from __future__ import annotations

import operator
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np


class Ref(tuple):  # type: ignore[type-arg]
    """A view of the root whose key is ``root``: ``Ref((root, offset, shape,
    strides, dtype))``, the form transfers and ``cluster.chunks`` read (a
    record carries its references wired: ``wire``)."""

    __slots__ = ()
    root: int = property(operator.itemgetter(0))  # type: ignore[assignment]
    offset: int = property(operator.itemgetter(1))  # type: ignore[assignment]
    shape: tuple[int, ...] = property(operator.itemgetter(2))  # type: ignore[assignment]
    strides: tuple[int, ...] = property(operator.itemgetter(3))  # type: ignore[assignment]
    dtype: np.dtype = property(operator.itemgetter(4))  # type: ignore[assignment]


@dataclass(frozen=True)
class Value:
    """A task argument given to the segment as it is (``index`` from the end:
    0 is the last), not a root: a value another task computed."""

    index: int


class Record(tuple):  # type: ignore[type-arg]
    """``call(*args, **kwargs)`` writing ``outs`` (``use_out``: as ``out=``;
    else the result is assigned to them); ``reads`` and ``writes``: the keys
    of the roots it reads and writes. ``call`` None: a fetch, the value of
    ``args[0]`` at this point of the segment, returned by the task.
    ``Record((call, args, kwargs, outs, use_out, reads, writes))``: a tuple,
    made in C."""

    __slots__ = ()
    call: Any = property(operator.itemgetter(0))
    args: tuple[Any, ...] = property(operator.itemgetter(1))  # type: ignore[assignment]
    kwargs: dict[str, Any] = property(operator.itemgetter(2))  # type: ignore[assignment]
    outs: tuple[Ref, ...] = property(operator.itemgetter(3))  # type: ignore[assignment]
    use_out: bool = property(operator.itemgetter(4))  # type: ignore[assignment]
    reads: tuple[int, ...] = property(operator.itemgetter(5))  # type: ignore[assignment]
    writes: tuple[int, ...] = property(operator.itemgetter(6))  # type: ignore[assignment]


@dataclass
class Segment:
    """The roots it touches, by key (``keys``): ``sources[i]``, the (argument
    number, element) of root ``keys[i]``'s current version among the task's
    arguments, or None for a new root of ``nbytes[i]`` bytes; ``written``: the
    keys of the roots whose new versions the task returns, in order;
    ``records``: the records as :func:`wire` gives them."""

    keys: list[int]
    sources: list[tuple[int, int] | None]
    nbytes: list[int]
    written: list[int]
    records: list[Wired]
    name: str = ""  # its task's key: its summary is kept under it (``take_summaries``)


REF = b"\0dagrt-ref"
"""The first element of a reference in a segment's records (``wire``):
bytes, which the garbage collector does not track, so a record of plain
tuples is untracked once collected (it waits in the client's open segment
for up to a thousand ops: walked again at each collection otherwise)."""
_REF = (REF,)


def is_ref(x: Any) -> bool:
    """``x`` is a reference in a record's wired form."""
    return type(x) is tuple and len(x) == 6 and type(x[0]) is bytes and x[0] == REF


Wired = tuple[Any, ...]  # a record as a segment carries it (``wire``)


def wire(record: Record) -> Wired:
    """``record`` as a segment carries it: plain tuples, which pickle in C
    (a dataclass or a tuple subclass costs pickle a Python-level reduce
    each, more than the op's share of its task): a reference is
    ``(REF, root, offset, shape, strides, dtype)``. The client records in
    this form (``ClusterBackend.record``); ``unwire`` makes a ``Record``."""
    call, args, kwargs, outs, use_out, reads, writes = record
    args = tuple([_REF + a if type(a) is Ref else _wired(a)
                  if type(a) in _NESTED else a for a in args])
    return (call, args, _wired(kwargs) if kwargs else kwargs,
            tuple([_REF + o for o in outs]), use_out, reads, writes)


def unwire(record: Wired) -> Record:
    """A wired record as a ``Record`` of ``Ref`` s (what ``cluster.chunks`` reads)."""
    call, args, kwargs, outs, use_out, reads, writes = record
    return Record((call, _unwired(args), _unwired(kwargs),
                   tuple([Ref(o[1:]) for o in outs]), use_out, reads, writes))


def _unwired(x: Any) -> Any:
    t = type(x)
    if t is tuple:
        return Ref(x[1:]) if is_ref(x) else tuple([_unwired(v) for v in x])
    if t is list:
        return [_unwired(v) for v in x]
    if t is dict:
        return {k: _unwired(v) for k, v in x.items()}
    return x


_NESTED = {list, tuple, dict}


def _wired(x: Any) -> Any:
    t = type(x)
    if t is Ref:
        return _REF + x
    if t is list or t is tuple:
        return t([_wired(v) for v in x])
    if t is dict:
        return {k: _wired(v) for k, v in x.items()}
    return x


def _view(buffers: Any, ref: Ref) -> np.ndarray:
    return np.ndarray(ref.shape, ref.dtype, buffer=buffers[ref.root], offset=ref.offset,
                      strides=ref.strides)


class _Views(dict):  # type: ignore[type-arg]
    """A segment's views of its buffers, by wired reference (made once each)."""

    def __init__(self, buffers: dict[int, np.ndarray]) -> None:
        super().__init__()
        self.buffers = buffers

    def __missing__(self, ref: tuple[Any, ...]) -> np.ndarray:
        _, root, offset, shape, strides, dtype = ref
        view = self[ref] = np.ndarray(shape, dtype, buffer=self.buffers[root], offset=offset,
                                      strides=strides)
        return view


def _bind(x: Any, views: _Views, results: tuple[Any, ...]) -> Any:
    t = type(x)
    if t is tuple:
        if len(x) == 6 and type(x[0]) is bytes and x[0] == REF:  # (is_ref)
            return views[x]
        return tuple([_bind(v, views, results) for v in x])
    if t is list:
        return [_bind(v, views, results) for v in x]
    if t is Value:
        return results[-1 - x.index]
    if t is dict:
        return {k: _bind(v, views, results) for k, v in x.items()}
    return x


def replay(segment: Segment, *results: Any) -> tuple[list[np.ndarray], list[Any],
                                                      dict[int, BaseException]]:
    """Run ``segment``; return the new versions of its written roots, the
    fetched values and the errors by record number."""
    written = set(segment.written)
    buffers: dict[int, np.ndarray] = {}
    for key, source, nbytes in zip(segment.keys, segment.sources, segment.nbytes):
        if source is None:
            buffers[key] = np.zeros(nbytes, np.uint8)
        else:
            buffer = results[source[0]][0][source[1]]
            buffers[key] = buffer.copy() if key in written else buffer
    views = _Views(buffers)
    errors: dict[int, BaseException] = {}
    poisoned: dict[int, BaseException] = {}
    fetched: list[Any] = []
    for n, (call, args, kwargs, outs, use_out, reads, writes) in enumerate(segment.records):
        bad = next((poisoned[r] for r in reads if r in poisoned), None) if poisoned else None
        if call is None:  # a fetch
            fetched.append(None if bad is not None else views[args[0]].copy())
            continue
        if bad is not None:
            for r in writes:
                poisoned[r] = bad
            continue
        try:
            args = [_bind(a, views, results) if type(a) in _BOUND else a for a in args]
            if kwargs:
                kwargs = _bind(kwargs, views, results)
            targets = [views[o] for o in outs]
            if use_out:
                call(*args, out=targets[0] if len(targets) == 1 else tuple(targets), **kwargs)
            else:
                result = call(*args, **kwargs)
                if len(targets) == 1:
                    targets[0][...] = result
                else:
                    for out, value in zip(targets, result):
                        out[...] = value
        except Exception as exc:
            errors[n] = exc
            for r in writes:
                poisoned[r] = exc
    return [buffers[i] for i in segment.written], fetched, errors


_BOUND = {tuple, list, dict, Value}


def piece_array(result: Any, element: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A piece's bytes (element ``element`` of a segment's result) as an array."""
    return result[0][element].view(dtype).reshape(shape)


def gather(sizes: list[int], sources: list[tuple[int, int] | None], *results: Any) -> Any:
    """One buffer of consecutive pieces, as a segment's result: piece ``i``
    has ``sizes[i]`` bytes, from element ``sources[i][1]`` of the task's
    argument ``sources[i][0]`` (None: never written, zeros)."""
    parts = [np.zeros(size, np.uint8) if source is None else results[source[0]][0][source[1]]
             for size, source in zip(sizes, sources)]
    return [np.concatenate(parts) if parts else np.zeros(0, np.uint8)], [], {}


def extract_range(ref: Ref, sizes: list[int], sources: list[tuple[int, int] | None],
                  *results: Any) -> np.ndarray:
    """The value of ``ref`` in consecutive pieces (``gather``'s arguments;
    ``ref``'s offset counts from the first of them)."""
    return extract(gather(sizes, sources, *results), 0, ref)


# A worker's summaries of the segments it ran (fetched values, errors), by
# task key, until the client takes them: the client learns how a segment went
# without gathering its result (the new versions stay where they are)
_SUMMARIES: dict[str, tuple[list[Any], dict[int, BaseException]]] = {}


def replay_blob(blob: bytes, *results: Any) -> Any:
    """:func:`replay` of a pickled segment (the task's argument); its summary
    is kept for :func:`take_summaries`."""
    segment = pickle.loads(blob)
    result = replay(segment, *results)
    if segment.name:
        _SUMMARIES[segment.name] = (result[1], result[2])
    return result


def take_summaries(names: list[str]) -> dict[str, Any]:
    """The summaries of the segments ``names`` this worker ran (run on each
    worker by ``Client.run``), forgotten here."""
    return {name: _SUMMARIES.pop(name) for name in names if name in _SUMMARIES}


def identity(*values: Any) -> Any:
    """Its argument (or arguments, as a tuple): the kernel of a value that
    travels in the record (a copy from the host, a fill, a host result)."""
    return values[0] if len(values) == 1 else values


def extract(result: Any, element: int, ref: Ref) -> np.ndarray:
    """The value of ``ref`` in element ``element`` of a segment's result."""
    return _view({ref.root: result[0][element]}, ref).copy()
