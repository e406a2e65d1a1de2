"""Ops that a batching device takes straight from the recording path.

A device whose executor replays ops in recording order by itself (the
cluster: its records go into segments, replayed in order on a worker) needs
from the scheduler only what a sync point and ``waitall`` ask: which
buffers have pending uses, how many ops are pending, and the errors. An op
with ``Op``'s full machinery (``link``, dispatch, launch, ``complete``) costs
the recording thread more than Dask's whole share of it, so such a device
records a :class:`Batched` op instead:

- :func:`begin` counts it (in the engine's ``pending`` and its buffers' ``n``
  and ``nw``, nothing else: it has no predecessors to wait for, its device
  orders it), after a backpressure stall while the device's own queue is
  over its bound;
- :func:`finish` completes a segment's ops in recording order. An op inherits
  the error of a buffer it reads (or writes in part) that an earlier op
  poisoned (the worker ran it on that op's undefined output, or skipped it);
  an op's own error is annotated with its recording line and raised once, by
  a sync point or ``waitall``; a successful op that overwrites a buffer
  whole clears its poison, as in ``engine.graph.unlink``.

A batching device takes an op only when its buffers are the device's and
no scheduled ``Op`` uses them: everything else keeps ``link``'s ordering
(``array.cluster``).

Imports: ``engine.graph``, ``engine.errors``.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from threading import get_ident
from typing import Any

from .errors import annotate
from .graph import Op, Site, Var, release


class Batched(tuple):  # type: ignore[type-arg]
    """An op a batching device recorded without the scheduler's graph, made by
    :func:`begin`: one flat tuple (made in C; one object for the collector to
    walk while the op is in flight, not five), ``(name, site, nbytes,
    thread, seq, len(reads), len(writes), *reads, *writes, *covers)``."""

    __slots__ = ()
    name: str = property(operator.itemgetter(0))  # type: ignore[assignment]
    _site: Site | None = property(operator.itemgetter(1))  # type: ignore[assignment]
    nbytes: int = property(operator.itemgetter(2))  # type: ignore[assignment]
    thread: int = property(operator.itemgetter(3))  # type: ignore[assignment]
    seq: int = property(operator.itemgetter(4))  # type: ignore[assignment]
    device = None  # (as the engine sees it: nothing to launch or link)
    done = False
    error = None
    error_origin = None
    site = Op.site
    where = Op.where

    @property
    def reads(self) -> tuple[Var, ...]:
        return self[7:7 + self[5]]

    @property
    def writes(self) -> tuple[Var, ...]:
        start = 7 + self[5]
        return self[start:start + self[6]]

    @property
    def covers(self) -> tuple[Var, ...]:
        return self[7 + self[5] + self[6]:]


def begin(engine: Any, queue: Any, name: str, site: Site | None, reads: Sequence[Var],
          writes: Sequence[Var], covers: Sequence[Var], nbytes: int) -> Batched:
    """A batched op, counted as pending; first, while ``queue`` (the device's
    executor: ``queued``, ``queued_bytes``, ``lookahead_ops``,
    ``lookahead_bytes``) is over its bound, wait (a backpressure stall, as in
    ``Engine.push``)."""
    with engine._lock:
        if queue.queued and (queue.queued >= queue.lookahead_ops or
                             queue.queued_bytes + nbytes > queue.lookahead_bytes):
            stalled = time.perf_counter()
            while queue.queued and (queue.queued >= queue.lookahead_ops or
                                    queue.queued_bytes + nbytes > queue.lookahead_bytes):
                engine._wait_locked(stall=True)
            engine.observe("backpressure stall", stalled)
        engine._last_seq = seq = next(engine._seq)
        engine.pending += 1
        engine._device_queued += 1  # (not the host's look-ahead: see ``Engine.push``)
        engine.ops_pushed += 1
        queue.queued += 1
        queue.queued_bytes += nbytes
        for var in reads:
            var.n += 1
        for var in writes:
            var.n += 1
            var.nw += 1
    return _new(Batched, (name, site, nbytes, get_ident(), seq, len(reads), len(writes),
                          *reads, *writes, *covers))


_new = tuple.__new__


def finish(engine: Any, ops: list[Any], errors: dict[int, BaseException],
           queue: Any) -> None:
    """``ops`` (a segment's, in recording order: ``Batched`` ops and scheduled
    ``Op`` s) finished; ``errors``: their own errors, by position."""
    ready: list[Op] = []
    reported: set[int] = set()  # (one error for a whole segment: reported once)
    done = 0
    with engine._lock:
        for n, op in enumerate(ops):
            own = errors.get(n) if errors else None
            inherited = _inherited(op)
            if type(op) is not Batched:  # a scheduled op: the scheduler completes it
                if own is not None and (inherited is not None or id(own) in reported):
                    inherited, own = inherited or own, None  # (reported already)
                if inherited is not None and op.error is None:
                    op.error = inherited
                if own is not None:
                    reported.add(id(own))
                engine._lock.release()
                try:
                    ready += engine.complete(op, own, dispatch=False)
                finally:
                    engine._lock.acquire()
                continue
            error = inherited
            if error is None and own is not None:
                error = own
                if id(own) not in reported:
                    reported.add(id(own))
                    if isinstance(own, Exception):
                        annotate(own, op)  # type: ignore[arg-type]
                    engine._errors[id(own)] = (own, op.thread, op.seq)
            release(op.reads, op.writes, op.covers, error)
            done += 1
            queue.queued_bytes -= op.nbytes
        engine.pending -= done
        engine._device_queued -= done
        queue.queued -= done
        if engine._waiters:
            engine._cond.notify_all()
    engine.dispatch(ready)


def _inherited(op: Any) -> BaseException | None:
    """The error of a buffer ``op`` reads or writes in part, if one is poisoned."""
    for var in op.reads:
        if var.error is not None:
            return var.error
    for var in op.writes:
        if var.error is not None and var not in op.covers:
            return var.error
    return None
