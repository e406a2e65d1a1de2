"""Recorders: what profiles and graph recordings are built from.

The scheduler knows nothing of them: it calls every object in
``ENGINE.observers`` when an operation is pushed (the op's times are
filled in when it finishes; an op the recording path ran now, in the
calling thread, arrives done: ``Engine.ran_now``). A :class:`Recorder`
appends them to a plain list and does nothing else on the hot path; edges
(``engine.graph.hazards``) and networkx graphs are built from them at the end.
With no recorder active the observer list is empty: observing off costs
nothing.

Imports: the configuration, the engine.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from typing import Any

from .. import _config
from ..engine.graph import Op, RanNow, hazards, site_text
from ..engine.scheduler import ENGINE

# -- activation: the observer list -----------------------------------------------

_lock = threading.Lock()
_config.renew_after_fork(globals(), "_lock", threading.Lock)
_active = 0


def _attach(recorder: Recorder) -> None:
    global _active
    with _lock:
        _active += 1
        # Copy on write: the engine may be iterating the old list right now.
        ENGINE.observers = [*ENGINE.observers, recorder]


def _detach(recorder: Recorder) -> None:
    global _active
    with _lock:
        ENGINE.observers = [o for o in ENGINE.observers if o is not recorder]
        _active -= 1


def drain() -> None:
    """Wait until nothing is pending, without consuming errors (they still
    surface at the next sync point or ``waitall``)."""
    ENGINE.drain()


class Recorder:
    """Collects the operations pushed while active (their edges are derived
    at the end, by ``engine.graph.hazards``).

    ``on_push`` and ``on_ran`` are ``list.append`` itself: about 0.1 us per
    op. An op run now is kept as the engine's plain tuple, expanded by ``ops``.
    """

    def __init__(self) -> None:
        self._log: list[Any] = []  # Op objects and packed ops run now, in order
        self._expanded: list[Any] = []
        self.spans: list[tuple[str, str, float, float, int]] = []
        self.on_push = self._log.append
        self.on_ran = self._log.append
        self.active = False
        self.t_start = 0.0
        self.t_stop = 0.0

    def on_push(self, op: Op) -> None:  # replaced per instance by _log.append
        self._log.append(op)

    def on_ran(self, entry: tuple[Any, ...]) -> None:  # replaced per instance by _log.append
        """An op run now: ``(seq, name, site, shape, dtype, t0, t1, len(writes),
        *writes, *reads)`` (``engine.scheduler.Scheduler.ran_now``)."""
        self._log.append(entry)

    def on_span(self, name: str, category: str, t0: float, t1: float, thread: int) -> None:
        """A span of a thread outside the ops: the runtime blocking it (a sync
        wait, a backpressure stall) or a user's ``dagrt.annotate`` range."""
        self.spans.append((name, category, t0, t1, thread))

    @property
    def ops(self) -> list[Any]:
        """The recorded operations, in recording order (``Op`` objects, and
        ``RanNow`` for the ops that ran in the calling thread)."""
        log, done = self._log, self._expanded
        if len(done) != len(log):
            for entry in log[len(done):]:
                if type(entry) is tuple:
                    seq, name, site, shape, dtype, t0, t1, n = entry[:8]
                    writes = entry[8:8 + n]
                    reads = [v for v in dict.fromkeys(entry[8 + n:]) if v not in writes]
                    # (its CPU time is its wall time: it ran in the calling thread)
                    entry = RanNow(reads, writes, name, site, shape, dtype, t0, t1, t1 - t0)
                    entry.seq = seq
                done.append(entry)
        return done

    def start(self) -> Recorder:
        if self.active:
            raise RuntimeError(f"{type(self).__name__} is already active")
        self.active = True
        self.t_start = time.perf_counter()
        _attach(self)
        return self

    def stop(self, wait: bool = True) -> None:
        """Wait for pending operations (so their times are known), then detach."""
        if not self.active:
            return
        try:
            if wait:
                drain()
        finally:
            self.t_stop = time.perf_counter()
            _detach(self)
            self.active = False

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def graph(self) -> Any:
        """The recorded operations as a ``networkx.DiGraph`` (see ``dagrt.graph``)."""
        return to_networkx(self.ops)


class annotate(contextlib.ContextDecorator):  # noqa: N801 (a function-like name, as NVTX's)
    """A named range in profiles: ``with dagrt.annotate("step 3"):`` or
    ``@dagrt.annotate("loss")``. Shown as a slice on the recording thread's
    track of the trace (around the ops it records and the waits it makes);
    costs nothing while no profile is active."""

    def __init__(self, name: str) -> None:
        self.name = str(name)
        self._starts: list[float] = []  # re-entrant: a decorated recursive function

    def __enter__(self) -> annotate:
        self._starts.append(time.perf_counter())
        return self

    def __exit__(self, *exc: Any) -> None:
        t0 = self._starts.pop()
        if ENGINE.observers:
            t1 = time.perf_counter()
            thread = threading.get_native_id()
            for observer in ENGINE.observers:
                observer.on_span(self.name, "annotation", t0, t1, thread)


# -- the profile ------------------------------------------------------------------


def to_networkx(ops: Iterable[Op]) -> Any:
    """A ``networkx.DiGraph`` of ``ops`` (nodes keyed by their sequence number)
    and of the dependency edges between them (see ``_graph.hazards``)."""
    import networkx as nx

    g = nx.DiGraph()
    ops = list(ops)
    t_first = min((op.t0 for op in ops if op.t1 > 0.0), default=0.0)
    for op in ops:
        meta = op.meta or {}
        shape = meta.get("shape")
        attrs: dict[str, Any] = {
            "name": op.name,
            "shape": tuple(shape) if shape is not None else None,
            "dtype": str(meta["dtype"]) if meta.get("dtype") is not None else None,
            "device": repr(op.device) if op.device is not None else "cpu(0)",
            "site": site_text(op.site),
            "seq": op.seq,
        }
        if op.done and op.t1 > 0.0 and op.t0 > 0.0:
            attrs["duration"] = op.t1 - op.t0
            attrs["start"] = op.t0 - t_first
            attrs["worker"] = op.worker or "main"
        if op.error is not None:
            attrs["error"] = f"{type(op.error).__name__}: {op.error}"
        g.add_node(op.seq, **attrs)
    for pred, op, kind in hazards(ops):
        g.add_edge(pred.seq, op.seq, kind=kind)
    return g
