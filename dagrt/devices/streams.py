"""A GPU's executor: its operations on CUDA streams, through a backend.

The same contract as the CPU executors (``engine.executors``): the scheduler
hands it ready operations; ``submit`` returns the operations a launch released.

Imports: nothing from dagrt (the engine is passed in).
"""

from __future__ import annotations

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
      producer is launched;
    - a poller thread waits for each op's event in launch order and only then
      completes it for the scheduler: host consumers (CPU ops, sync points) run
      after the device work, and no CPU worker blocks on a GPU event;
    - an op keeps the buffers it uses referenced until its event completes, so
      memory used on another stream is never freed or reused early;
    - out of memory at launch: free the pool's cached blocks, retry once.
    """

    inline = False

    def __init__(self, device: Any, backend: Any, engine: Any, streams: int) -> None:
        self.device = device
        self.backend = backend
        self.engine = engine
        self.name = f"{device!r} streams"
        n = max(1, streams)
        self.compute = [backend.stream(device.id) for _ in range(n)]
        self.lanes = {"d2h": backend.stream(device.id), "h2d": backend.stream(device.id)}
        self._last: dict[int, Any] = {}  # id(stream) -> last op launched on it
        self.timing = False  # record a start event before each kernel
        self._next = 0
        self._lock = threading.Lock()
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._poller = threading.Thread(target=self._poll, daemon=True,
                                        name=f"dagrt-{device!r}-poller")
        self._poller.start()

    def stream_name(self, stream: Any) -> str:
        for lane, s in self.lanes.items():
            if s is stream:
                return f"{self.device!r} {lane}"
        return f"{self.device!r} stream {self.compute.index(stream)}"

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
        with self._lock:
            stream = self._choose(op)
            for pred in op.waits:
                if pred.stream is not None and pred.stream is not stream \
                        and pred.event is not None:
                    self.backend.wait_event(stream, pred.event)
            if self.timing or self.engine.observers:  # CUDA timestamps, for traces
                op.meta = dict(op.meta or {}, start_event=self.backend.record(
                    self.device.id, stream))
            try:
                self._launch(op, stream)
            except Exception as exc:
                op.stream = stream
                return self.engine.complete(op, exc, dispatch=False)
            op.stream = stream
            op.worker = self.stream_name(stream)
            op.t0 = time.perf_counter()
            op.event = self.backend.record(self.device.id, stream)
            self._last[id(stream)] = op
        self._done.put(op)
        return self.engine.launched(op)

    def _launch(self, op: Any, stream: Any) -> None:
        try:
            self.backend.launch(self.device.id, stream, op.fn)
        except self.backend.OutOfMemoryError:
            _log.debug("{}: out of memory in {}; freeing cached blocks, retrying",
                         self.device, op.name)
            self.backend.free_cached()
            self.backend.launch(self.device.id, stream, op.fn)

    def _poll(self) -> None:
        while True:
            op = self._done.get()
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
        self._done.put(None)

    def reset_after_fork(self) -> None:  # pragma: no cover - CUDA does not survive fork
        pass
