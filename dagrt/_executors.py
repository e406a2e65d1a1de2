"""Executors: where a ready operation runs.

An executor receives operations whose predecessors have all finished and runs
them by calling back ``run(op)``, which executes the kernel and returns the
operations it made ready; the executor hands those back through ``dispatch``.
The scheduler picks the executor; executors know nothing of the graph.

- :class:`SerialExecutor` runs the operation at once in the calling thread.
- :class:`ThreadedExecutor` keeps a priority-ordered ready queue and a pool of
  daemon worker threads, started on first use. While its workers are busy,
  BLAS/OpenMP pools are limited to ``intra_op_threads`` with threadpoolctl,
  and restored when it goes idle.
- :class:`StreamExecutor` runs a GPU's operations on its CUDA streams through a
  backend (``_gpu``); its ``submit`` returns the operations a launch released.

This module imports nothing from dagrt but the logger.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from ._graph import Op

RunFn = Callable[["Op"], list["Op"]]
DispatchFn = Callable[[list["Op"]], None]


class SerialExecutor:
    """Runs each operation inline, in the thread that made it ready."""

    inline = True
    name = "serial"

    def __init__(self, run: RunFn, dispatch: DispatchFn) -> None:
        self._run = run
        self._dispatch = dispatch

    def submit(self, op: Op) -> None:
        op.worker = "main"
        self._dispatch(self._run(op))

    def shutdown(self) -> None:
        pass

    def reset_after_fork(self) -> None:
        pass


class _BlasLimit:
    """Limits BLAS/OpenMP thread pools to ``threads`` while dagrt workers run."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._libs: list[tuple[Any, int]] | None = None
        self.active = False

    def _controllers(self) -> list[tuple[Any, int]]:
        if self._libs is None:
            try:
                from threadpoolctl import ThreadpoolController

                ctl = ThreadpoolController()
                self._libs = [(lib, lib.num_threads) for lib in ctl.lib_controllers
                              if lib.num_threads != self.threads]
            except Exception as exc:  # pragma: no cover - exotic BLAS builds
                logger.warning("threadpoolctl could not inspect BLAS: {}", exc)
                self._libs = []
        return self._libs

    def apply(self) -> None:
        if not self.active:
            for lib, _ in self._controllers():
                lib.set_num_threads(self.threads)
            self.active = True

    def restore(self) -> None:
        if self.active:
            for lib, original in self._controllers():
                lib.set_num_threads(original)
            self.active = False


class ThreadedExecutor:
    """A pool of worker threads fed from a priority-ordered ready queue."""

    inline = False
    name = "threaded"

    def __init__(self, run: RunFn, dispatch: DispatchFn, threads: int,
                 intra_op_threads: int) -> None:
        self._run = run
        self._dispatch = dispatch
        self.threads = max(1, threads)
        self._blas = _BlasLimit(intra_op_threads)
        self._cond = threading.Condition(threading.Lock())
        self._ready: list[Op] = []
        self._workers: list[threading.Thread] = []
        self._idle = 0
        self._busy = 0
        self._stop = False

    def submit(self, op: Op) -> None:
        with self._cond:
            heapq.heappush(self._ready, op)
            if self._idle:
                self._cond.notify()
            elif len(self._workers) < self.threads:
                self._start_worker()

    def _start_worker(self) -> None:
        index = len(self._workers)
        thread = threading.Thread(target=self._work, args=(f"cpu-worker-{index}",),
                                  name=f"dagrt-cpu-worker-{index}", daemon=True)
        self._workers.append(thread)
        thread.start()

    def _work(self, name: str) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._ready:
                    if self._stop:
                        return
                    if self._busy == 0:
                        self._blas.restore()
                    self._idle += 1
                    cond.wait()
                    self._idle -= 1
                if self._stop:
                    return
                op = heapq.heappop(self._ready)
                if self._busy == 0:
                    self._blas.apply()
                self._busy += 1
            op.worker = name
            try:
                self._dispatch(self._run(op))
            finally:
                with cond:
                    self._busy -= 1

    def queued(self) -> int:
        return len(self._ready)

    def shutdown(self) -> None:
        with self._cond:
            self._stop = True
            self._ready.clear()
            self._cond.notify_all()
        for thread in self._workers:
            thread.join(timeout=1.0)
        self._blas.restore()

    def reset_after_fork(self) -> None:
        """In a forked child the workers do not exist: forget them."""
        self._cond = threading.Condition(threading.Lock())
        self._workers = []
        self._ready = []
        self._idle = self._busy = 0
        self._blas.active = False




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
            logger.debug("{}: out of memory in {}; freeing cached blocks, retrying",
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
