"""A cluster device's executor: launched ops join the open segment, sent
one Dask task per connected component (or per run: ``cluster.chunks``); a
poller completes the ops when their tasks finish.

Imports: the configuration, ``engine.batches``, ``devices.replay``,
``cluster.backend``, ``cluster.chunks``.
"""

from __future__ import annotations

import pickle
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import _config
from ...engine import batches
from ...engine.batches import Batched
from ..device import Device
from ..replay import REF, Segment, Wired, replay_blob, take_summaries, unwire, wire
from . import chunks
from .backend import ClusterBackend, _Root


class ClusterExecutor:
    """Fuses launched ops into segments and sends them to the cluster."""

    inline = False

    def __init__(self, device: Device, backend: ClusterBackend, engine: Any) -> None:
        self.device = device
        self.backend = backend
        self.engine = engine
        self.name = f"{device!r}"
        self._lock = threading.RLock()
        self._records: list[tuple[Any, Wired, dict[int, _Root]]] = []  # (op, record, roots)
        self._current: Any = None  # the op being launched
        self._outs: dict[int, np.ndarray] = {}  # id(fetch record) -> its host output
        self._in_flight = 0
        nthreads = backend.client.nthreads()
        self._threads = max(1, sum(nthreads.values()) or 1)
        self._workers = sorted(nthreads)  # row block i's home: worker i mod n
        self._workers_at = time.monotonic()  # (asked again at most every second:
        # a lost worker comes back under another address)
        self.segment_ops = self.lookahead_ops = self.lookahead_bytes = 0
        self.refresh()
        _config.on_change(_refresher(self))
        self.queued = self.queued_bytes = 0  # batched ops pending (``engine.batches``)
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._poller = threading.Thread(target=self._poll, daemon=True,
                                        name=f"dagrt-{device!r}-poller")
        self._poller.start()
        self.segments = 0  # tasks sent (for tests and benchmarks)
        # records sent by kind, and roots gathered (the same)
        self.runs = dict.fromkeys(("plain", "split", "reduce", "gather"), 0)
        self.homes: dict[str | None, int] = {}  # row-block segments by the worker asked

    def submit(self, op: Any) -> list[Any]:
        """Launch ``op``: its record joins the open segment."""
        with self._lock:
            self._current = op
            try:
                op.fn()  # -> append()
                error = None
            except Exception as exc:
                error = exc
            finally:
                self._current = None
            if error is not None:
                op.worker = self.name
        if error is not None:  # outside our lock: complete takes the engine's
            return self.engine.complete(op, error, dispatch=False)
        with self._lock:
            op.worker = self.name
            op.t0 = time.perf_counter()
            if self._worth_sending():
                self.flush()
        return self.engine.launched(op)

    def refresh(self) -> None:
        """Re-read the flags (on every config change)."""
        self.segment_ops = _config.get("cluster_segment_ops")
        # The engine's look-ahead bound for this device: four full segments per
        # worker thread may be pending (outputs take no client memory)
        self.lookahead_ops = 4 * self.segment_ops * self._threads
        self.lookahead_bytes = _config.get("max_pending_bytes")
        self.backend.chunk_bytes = _config.get("cluster_chunk_bytes")

    def take(self, name: str, site: Any, reads: tuple[Any, ...], writes: tuple[Any, ...],
             covers: tuple[Any, ...], nbytes: int, record: Wired,
             roots: dict[int, _Root]) -> None:
        """A batched op's record joins the open segment (``engine.batches``:
        without the scheduler's graph; the segment orders it)."""
        op = batches.begin(self.engine, self, name, site, reads, writes, covers, nbytes)
        with self._lock:
            for root in roots.values():
                root.unsent += 1
            self._records.append((op, record, roots))
            if self._worth_sending():
                self.flush()

    def _worth_sending(self) -> bool:
        """Send the open segment now? When the cluster is idle, or when it is
        full (fewer ops are not worth a task's fixed cost of milliseconds).
        Whoever waits sends it at once (``Engine.flushers``)."""
        n = len(self._records)
        return n > 0 and (self._in_flight == 0 or n >= self.segment_ops)

    def waiting(self, stall: bool) -> None:
        """Someone waits (``Engine.flushers``): send the open segment, unless
        the wait is a backpressure stall while tasks are in flight (their
        completion makes room and sends it, full: sending it now would
        send ever smaller segments, one task per op at the bound)."""
        if not (stall and self._in_flight):
            self.flush()

    def hold(self, roots: dict[int, _Root]) -> None:
        """A record touching ``roots`` was made (sent later: ``flush``)."""
        with self._lock:
            for root in roots.values():
                root.unsent += 1

    def append(self, record: Wired, roots: dict[int, _Root]) -> None:
        self._records.append((self._current, record, roots))

    def fetch(self, array: np.ndarray, out: np.ndarray) -> None:
        """At launch: a record that reads ``array`` (a cluster view) into the
        host array ``out`` when its segment completes (``copyto(cpu())``)."""
        roots: dict[int, _Root] = {}
        ref = (REF, *self.backend.ref(array, roots))
        self.hold(roots)
        self.append((None, (ref,), {}, (), False, tuple(roots), ()), roots)
        self._outs[id(self._records[-1][1])] = out

    def flush(self) -> None:
        """Send the open segment: one task per connected component, or per
        run of a component that touches chunked roots (``cluster_chunks``)."""
        with self._lock:
            records, self._records = self._records, []
            if not records:
                return
            self._in_flight += 1  # flushes, not tasks: one flush's tasks run side by side
            remaining = [1]  # the tasks sent and not done, and this flush (a latch)
            for component in _components(records):
                progress = [0, 0]  # records handed over, records no longer unsent
                try:
                    self._send_component(component, remaining, progress)
                except Exception as exc:  # (dask.array refused a cut or delegated
                    # record...): the ops not handed over fail with the error
                    ops = [op for op, _, _ in component[progress[0]:]]
                    for _, _, roots in component[progress[1]:]:  # (not sent: held
                        for root in roots.values():  # no longer)
                            root.unsent -= 1
                    remaining[0] += 1
                    self._done.put((None, ops, exc, remaining))
            remaining[0] -= 1
            if not remaining[0]:
                self._in_flight -= 1

    def _send_component(self, component: list[tuple[Any, Wired, dict[int, _Root]]],
                        remaining: list[int], progress: list[int]) -> None:
        """Send one connected component: one task, or one per run of records
        of one kind (``chunks.kind``). ``progress``: how many of its records
        are in runs sent (their ops complete with their tasks), and how many
        no longer count as unsent (``_send_run`` releases them first)."""
        run: list[tuple[Any, Wired, dict[int, _Root]]] = []
        run_kind: Any = None
        for entry in component:
            record, roots = entry[1], entry[2]  # (wired: ``replay.wire``)
            if record[0] is not None and any(
                    root.pieces is not None for root in roots.values()):
                entry = (entry[0], unwire(record), roots)  # (chunks reads Refs)
                kind = chunks.kind(entry[1], roots)
            else:
                for key in record[6]:  # (its writes)
                    roots[key].written = True
                kind = "plain"
            if run and kind != run_kind:
                progress[1] = progress[0] + len(run)
                self._send_run(run_kind, run, remaining)
                progress[0] += len(run)
                run = []
            if kind == "plain" or kind == "reduce":  # its chunked roots (a
                # delegated record's outputs) whole first, before the next
                # records are sorted by what they touch
                for key, root in entry[2].items():
                    if root.pieces is not None and (kind == "plain" or key in entry[1][6]):
                        self.runs["gather"] += chunks.gather_root(self.backend.client, root)
            run_kind = kind
            run.append(entry)
        progress[1] = progress[0] + len(run)
        self._send_run(run_kind, run, remaining)

    def _send_run(self, kind: Any, run: list[tuple[Any, Wired, dict[int, _Root]]],
                  remaining: list[int]) -> None:
        self.runs[kind if type(kind) is str else "split"] += len(run)
        for _, _, roots in run:  # (the runs after this one still hold theirs)
            for root in roots.values():
                root.unsent -= 1
        if kind == "plain":
            self._send(run, remaining)
            return
        ops = [op for op, _, _ in run]
        futures = []
        if kind == "reduce":
            for op, record, roots in run:
                written, own, values = chunks.delegate(self.backend.client, record, roots)
                futures.append(self._send([(op, written, own)], None, extra=values))
        else:  # one segment per row block, side by side
            if time.monotonic() - self._workers_at > 1.0:
                self._workers = sorted(self.backend.client.nthreads())
                self._workers_at = time.monotonic()
            for piece in range(len(kind[1]) - 1):
                parts = [chunks.split(record, roots, piece, kind[2]) for _, record, roots in run]
                home = self._workers[piece % len(self._workers)] if self._workers else None
                self.homes[home] = self.homes.get(home, 0) + 1
                futures.append(self._send([(op, record, own) for op, (record, own)
                                           in zip(ops, parts)], None, home=home))
        remaining[0] += 1
        self._done.put((futures, ops, [], remaining))

    def _send(self, records: list[tuple[Any, Wired, dict[int, _Root]]],
              remaining: list[int] | None, extra: Sequence[Any] = (),
              home: str | None = None) -> Any:
        """Send ``records`` as one task (preferably on worker ``home``); with
        ``remaining``, its ops complete when it is done (else the caller sees
        to that: the task is returned). The client never gathers its result:
        it takes the summary (fetched values, errors) the worker kept
        (``_summaries``); the new versions stay on the workers."""
        touched: dict[int, _Root] = {}
        for _, _, own in records:
            touched.update(own)
        roots = list(touched.values())
        sources, futures = chunks.sources(roots)
        written = []  # (a root nothing can read after this segment: not returned)
        for key in sorted({w for _, r, _ in records for w in r[6]}):  # (their writes)
            root = touched[key]
            owner = root.parent or root  # (a row block lives as its array does)
            if owner.alive or owner.unsent:
                written.append(key)
            else:
                root.version = None
        outs = [self._outs.pop(id(record)) for _, record, _ in records if record[0] is None]
        name = f"dagrt-segment-{uuid.uuid4().hex}"
        segment = Segment([r.key for r in roots], sources, [r.nbytes for r in roots], written,
                          [r if type(r) is tuple else wire(r) for _, r, _ in records], name)
        ops = [op for op, _, _ in records]
        self.segments += 1
        try:  # one opaque blob: Dask need not walk the records
            blob = _dumps(segment)
            future = self.backend.client.submit(
                replay_blob, blob, *futures, *extra, key=name,
                workers=None if home is None else [home], allow_other_workers=home is not None)
        except Exception as exc:  # (its ops fail with this error: none is lost)
            if remaining is None:
                raise
            remaining[0] += 1
            self._done.put((None, ops, exc, remaining))
            return None
        for element, key in enumerate(written):
            touched[key].version = (future, element)
        if remaining is not None:
            remaining[0] += 1
            self._done.put((future, ops, outs, remaining))
        return future

    def _poll(self) -> None:
        while True:
            item = self._done.get()
            if item is None:
                return
            future, ops, outs, remaining = item
            try:
                if future is None:  # could not be sent
                    raise outs
                if type(future) is list:  # a run's tasks (row blocks...): errors of each
                    errors: dict[int, BaseException] = {}
                    for summary in self._summaries(future):
                        for n, exc in summary[1].items():
                            errors.setdefault(n, exc)
                    fetched = []
                else:
                    fetched, errors = self._summaries([future])[0]
                for out, value in zip(outs, fetched):
                    if value is not None:
                        out[...] = value
            except BaseException as exc:  # the task itself failed (a lost worker...)
                errors = dict.fromkeys(range(len(ops)), exc)
            now = time.perf_counter()
            with self._lock:
                remaining[0] -= 1
                if not remaining[0]:
                    self._in_flight -= 1
                if self._worth_sending():
                    self.flush()
            for op in ops:
                if type(op) is not Batched:
                    op.t1 = now
            batches.finish(self.engine, ops, errors, self)

    def _summaries(self, futures: list[Any]) -> list[Any]:
        """The summaries of finished segments, from the workers that ran them
        (a task that failed as a whole raises its error). A summary lost
        with its worker comes back when Dask has run the segment again."""
        client, found = self.backend.client, {}
        while True:
            for future in futures:  # (waits, on the future's own client, without
                # gathering its result)
                error = future.exception()
                if error is not None:
                    raise error
            missing = [f.key for f in futures if f.key not in found]
            for summaries in client.run(take_summaries, missing, on_error="return").values():
                if isinstance(summaries, OSError):  # (CommClosedError: a worker's connection
                    continue  # dropped under load; it is asked again next round)
                if isinstance(summaries, BaseException):
                    raise summaries
                found.update(summaries)
            if all(f.key in found for f in futures):
                return [found[f.key] for f in futures]
            time.sleep(0.01)

    def shutdown(self) -> None:
        self._done.put(None)

    def reset_after_fork(self) -> None:  # pragma: no cover - a client does not survive fork
        pass


def _refresher(executor: ClusterExecutor) -> Any:
    """A config listener that does not keep ``executor`` alive."""
    ref = weakref.ref(executor)

    def refresh() -> None:
        live = ref()
        if live is not None:
            live.refresh()
    return refresh


def _dumps(segment: Segment) -> bytes:
    """The segment, pickled: by the standard pickle (three times faster than
    cloudpickle), unless it names something of ``__main__`` (a worker has
    another) or the standard pickle cannot take it (a lambda, a local
    function): then cloudpickle, which sends those by value."""
    try:
        blob = pickle.dumps(segment, protocol=5)
        if b"__main__" not in blob:
            return blob
    except Exception:
        pass
    import cloudpickle

    return cloudpickle.dumps(segment)


def _components(records: list[tuple[Any, Wired, dict[int, _Root]]]
                ) -> list[list[tuple[Any, Wired, dict[int, _Root]]]]:
    """The records grouped by connected component (records sharing a root),
    each in recording order."""
    parent: dict[int, int] = {}

    def find(k: int) -> int:
        while parent.setdefault(k, k) != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for _, _, roots in records:
        keys = list(roots)
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    groups: dict[int, list[tuple[Any, Wired, dict[int, _Root]]]] = {}
    for entry in records:
        key = find(next(iter(entry[2]))) if entry[2] else -1
        groups.setdefault(key, []).append(entry)
    return list(groups.values())
