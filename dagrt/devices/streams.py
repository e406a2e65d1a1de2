"""A GPU's executor: its operations on CUDA streams, through a backend.

The same contract as the CPU executors (``engine.executors``): the scheduler
hands it ready operations; ``submit`` returns the operations a launch released.

Imports: nothing from dagrt (the engine is passed in).
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from typing import Any

from .. import _log


class StreamExecutor:
    """Runs one device's operations on its streams.

    - ``streams`` compute streams and two copy lanes (``d2h``, ``h2d``); copies
      take their lane; a compute op continues the stream of a predecessor whose
      stream ran nothing since, else takes the next stream round-robin, so
      independent ops land on different streams;
    - a same-device predecessor on another stream is an event this stream
      waits on (no host synchronize); such consumers launch as soon as their
      producer is launched (the scheduler hears of the launch before any
      completion can be observed);
    - one poller thread per stream waits for its ops' events (a stream
      completes in order; streams do not wait for each other) and only then
      completes them for the scheduler: host consumers (CPU ops, sync points)
      run after the device work, and no CPU worker blocks on a GPU event;
    - events are created without timing unless a profile asks for kernel times;
    - an op keeps the buffers it uses referenced until its event completes, so
      memory used on another stream is never freed or reused early;
    - a kernel's host-side staging (``fn.stage``: filling a pinned buffer) runs
      before the executor's lock is taken;
    - its own look-ahead budget (``lookahead_ops`` queued ops): CPU work
      queued elsewhere does not hold back GPU launches;
    - out of memory at launch: free the device pool's cached blocks, retry once.
    """

    inline = False
    own_budget = True  # the scheduler bounds this executor's queue on its own

    def __init__(self, device: Any, backend: Any, engine: Any, streams: int,
                 lookahead_ops: int = 256) -> None:
        self.device = device
        self.backend = backend
        self.engine = engine
        self.name = f"{device!r} streams"
        self.lookahead_ops = lookahead_ops
        self.queued = 0  # ops pushed and not finished (the scheduler counts)
        self.queued_bytes = 0
        n = max(1, streams)
        self.compute = [backend.stream(device.id) for _ in range(n)]
        self.lanes = {"d2h": backend.stream(device.id), "h2d": backend.stream(device.id)}
        self._last: dict[int, Any] = {}  # id(stream) -> last op launched on it
        self._names = {id(s): f"{device!r} stream {i}" for i, s in enumerate(self.compute)}
        self._names.update({id(s): f"{device!r} {lane}" for lane, s in self.lanes.items()})
        self.timing = False  # record a start event before each kernel
        self.closed = False
        self._next = 0
        self._lock = threading.Lock()
        self._done: dict[int, queue.SimpleQueue[Any]] = {}
        for stream in (*self.compute, *self.lanes.values()):
            q: queue.SimpleQueue[Any] = queue.SimpleQueue()
            self._done[id(stream)] = q
            threading.Thread(target=self._poll, args=(q,), daemon=True,
                             name=f"dagrt-{device!r}-poller-{len(self._done)}").start()

    def stream_name(self, stream: Any) -> str:
        return self._names[id(stream)]

    def _choose(self, op: Any) -> Any:
        if op.lane in self.lanes:
            return self.lanes[op.lane]
        for pred in op.waits:  # continue a chain on its stream
            stream = pred.stream
            if stream is not None and stream in self.compute and self._last.get(id(stream)) is pred:
                return stream
        stream = self.compute[self._next % len(self.compute)]
        self._next += 1
        return stream

    def submit(self, op: Any) -> list[Any]:
        """Enqueue ``op`` on a stream; return the operations its launch released."""
        kernel = op.fn.args[0] if isinstance(op.fn, functools.partial) else op.fn  # (ctx.run)
        stage = getattr(kernel, "stage", None)
        if stage is not None:  # host work before the launch, outside the lock
            try:
                stage()
            except Exception as exc:
                return self.engine.complete(op, exc, dispatch=False)
        timing = self.timing or bool(self.engine.observers)
        with self._lock:
            stream = self._choose(op)
            for pred in op.waits:
                if pred.stream is not None and pred.stream is not stream \
                        and pred.event is not None:
                    self.backend.wait_event(stream, pred.event)
            if timing:  # CUDA timestamps, for traces
                op.meta = dict(op.meta or {}, start_event=self.backend.record(
                    self.device.id, stream, timing=True))
            try:
                self._launch(op, stream)
            except Exception as exc:
                op.stream = stream
                return self.engine.complete(op, exc, dispatch=False)
            op.stream = stream
            op.worker = self.stream_name(stream)
            op.t0 = time.perf_counter()
            op.event = self.backend.record(self.device.id, stream, timing=timing)
            self._last[id(stream)] = op
            released = self.engine.launched(op)  # before any completion is seen
            self._done[id(stream)].put(op)
        return released

    def _launch(self, op: Any, stream: Any) -> None:
        try:
            self.backend.launch(self.device.id, stream, op.fn)
        except self.backend.OutOfMemoryError:
            _log.debug("{}: out of memory in {}; freeing cached blocks, retrying",
                       self.device, op.name)
            self.backend.free_cached(self.device.id)
            self.backend.launch(self.device.id, stream, op.fn)

    def _poll(self, ops: queue.SimpleQueue[Any]) -> None:
        """Complete one stream's ops as their events are reached (in order)."""
        while True:
            op = ops.get()
            if op is None:
                return
            try:
                self.backend.synchronize(op.event)
                error = None
            except BaseException as exc:
                error = exc
            op.t1 = time.perf_counter()
            start = (op.meta or {}).get("start_event")
            if start is not None and error is None:  # the kernel's time, from CUDA events
                op.t0 = op.t1 - self.backend.elapsed(start, op.event)
            self.engine.complete(op, error)

    def shutdown(self) -> None:
        self.closed = True
        for q in self._done.values():
            q.put(None)

    def reset_after_fork(self) -> None:  # pragma: no cover - CUDA does not survive fork
        pass
