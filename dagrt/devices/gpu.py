"""GPU backends: CuPy, or a fake device for tests. ``StreamExecutor`` (in
``_executors``) schedules a device's operations on its streams:

- ``DAGRT_GPU_STREAMS`` compute streams, one device-to-host and one
  host-to-device copy stream. Copies go to their copy lane; a compute op
  continues on the stream of a predecessor whose stream has run nothing since
  (a chain stays on one stream), otherwise it takes the next stream round-robin,
  so independent ops land on different streams.
- A dependency on an op of the same device that runs on another stream is a
  CUDA event the consumer's stream waits on (``wait_event``), never a host
  synchronize. Such consumers are released when their producer is *launched*.
- A completion poller thread per device waits for each op's event, in launch
  order, then tells the scheduler: host-side consumers (CPU ops, sync points)
  run only then, and no CPU worker ever sits blocked on a GPU event.
- Buffers an op uses stay referenced by the op until its event completes, so
  a device buffer used on a stream other than the one that allocated it is not
  freed or reused early (CuPy's pool does not know about streams).
- Device-to-host copies land in pinned host memory; host-to-device copies
  stage through pinned memory, so both are asynchronous.
- Out of memory: free the pool's cached blocks and retry once.

Backends have the same small interface: ``empty``, ``launch(stream, fn)``,
``record(stream)``, ``wait_event(stream, event)``, ``synchronize(event)``,
``to_host``, ``from_host``, ``pinned_empty``, ``free_cached``,
``translate(numpy_function)``. :class:`FakeBackend` implements it with host
threads (one FIFO worker per stream) and logs every stream event, so the
scheduling logic is tested in CI without a GPU.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _log

# -- backends -----------------------------------------------------------------------


class CupyBackend:
    """Real CUDA devices through CuPy."""

    name = "cuda"

    def __init__(self) -> None:
        import cupy

        self.cupy = cupy
        self.OutOfMemoryError = cupy.cuda.memory.OutOfMemoryError

    def device_count(self) -> int:
        return int(self.cupy.cuda.runtime.getDeviceCount())

    def use(self, device_id: int) -> Any:
        return self.cupy.cuda.Device(device_id)

    def stream(self, device_id: int) -> Any:
        with self.use(device_id):
            return self.cupy.cuda.Stream(non_blocking=True)

    def empty(self, device_id: int, shape: Any, dtype: Any) -> Any:
        with self.use(device_id):
            return self.cupy.empty(shape, dtype)

    def placeholder(self, device_id: int, shape: Any, dtype: Any) -> Any:
        """A zero-byte array of ``shape`` for an allocation that failed."""
        with self.use(device_id):
            return self.cupy.broadcast_to(self.cupy.zeros((), dtype), shape)

    def launch(self, device_id: int, stream: Any, fn: Callable[[], Any]) -> None:
        with self.use(device_id), stream:
            fn()

    def record(self, device_id: int, stream: Any) -> Any:
        with self.use(device_id):
            event = self.cupy.cuda.Event(block=True, disable_timing=False)
            event.record(stream)
            return event

    def wait_event(self, stream: Any, event: Any) -> None:
        stream.wait_event(event)

    def synchronize(self, event: Any) -> None:
        event.synchronize()

    def elapsed(self, start: Any, end: Any) -> float:
        return self.cupy.cuda.get_elapsed_time(start, end) / 1e3

    def pinned_empty(self, shape: Any, dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        mem = self.cupy.cuda.alloc_pinned_memory(max(count * dtype.itemsize, 1))
        return np.frombuffer(mem, dtype, count).reshape(shape)

    def to_host(self, array: Any, out: np.ndarray | None = None, stream: Any = None) -> np.ndarray:
        """Without ``out``: a blocking copy (sync points). With a pinned ``out``:
        an asynchronous copy on ``stream`` (default: the current one, which is
        the copy lane inside ``launch``)."""
        if out is None:
            return self.cupy.asnumpy(array)
        stream = stream if stream is not None else self.cupy.cuda.get_current_stream()
        array.get(stream=stream, out=out, blocking=False)
        return out

    def from_host(self, host: np.ndarray, out: Any, stream: Any = None) -> None:
        """Asynchronous when ``host`` is pinned (CuPy copies synchronously
        unless it is given a stream)."""
        out.set(host, stream=stream if stream is not None
                else self.cupy.cuda.get_current_stream())

    def free_cached(self) -> None:
        self.cupy.get_default_memory_pool().free_all_blocks()

    def translate(self, func: Any) -> Any:
        """The CuPy function for a NumPy one (ours kernels pass unchanged)."""
        module = getattr(func, "__module__", "") or ""
        name = getattr(func, "__name__", "")
        if isinstance(func, np.ufunc) or module == "numpy" or module.startswith("numpy."):
            sub = self.cupy
            for part in module.split(".")[1:]:
                if part in ("linalg", "fft", "random"):
                    sub = getattr(sub, part)
            found = getattr(sub, name, None)
            if found is None:
                raise NotImplementedError(f"CuPy has no {module}.{name}")
            return found
        return func

    def random(self, device_id: int) -> Any:
        with self.use(device_id):
            return self.cupy.random


class FakeDeviceArray(np.ndarray):
    """Host memory standing in for device memory (a distinct type, so that
    host code touching it without a copy is easy to catch)."""


class FakeStream:
    """A FIFO of work run by its own thread, like a CUDA stream."""

    _ids = itertools.count()

    def __init__(self, backend: FakeBackend, device_id: int) -> None:
        self.id = next(self._ids)
        self.device_id = device_id
        self.backend = backend
        self.queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"dagrt-fake-stream-{self.id}")
        self.thread.start()

    def _run(self) -> None:
        while True:
            work = self.queue.get()
            if work is None:
                return
            work()

    def __repr__(self) -> str:
        return f"<FakeStream {self.id}>"


class FakeEvent:
    _ids = itertools.count()

    def __init__(self) -> None:
        self.id = next(self._ids)
        self.flag = threading.Event()
        self.error: BaseException | None = None
        self.time = 0.0


class FakeBackend:
    """Streams and events on host threads, with a log of what ran where."""

    name = "fake"

    class OutOfMemoryError(MemoryError):
        pass

    def __init__(self, devices: int = 1, kernel_delay: float = 0.0,
                 memory_limit: int | None = None) -> None:
        self.devices = devices
        self.kernel_delay = kernel_delay
        self.oom_launches = 0  # the next N launches fail with OutOfMemoryError
        self.after_kernel: Callable[[], None] | None = None
        self.memory_limit = memory_limit
        self.allocated = 0
        self.cached = 0
        self.log: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self.pinned_allocations = 0

    def _note(self, *entry: Any) -> None:
        with self._lock:
            self.log.append((time.perf_counter(), *entry))

    def device_count(self) -> int:
        return self.devices

    def stream(self, device_id: int) -> FakeStream:
        return FakeStream(self, device_id)

    def empty(self, device_id: int, shape: Any, dtype: Any) -> FakeDeviceArray:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if self.memory_limit is not None and self.allocated + nbytes > self.memory_limit:
            raise self.OutOfMemoryError(f"fake device out of memory allocating {nbytes} bytes")
        self.allocated += nbytes
        self._note("alloc", device_id, nbytes)
        return np.empty(shape, dtype).view(FakeDeviceArray)

    def placeholder(self, device_id: int, shape: Any, dtype: Any) -> Any:
        return np.broadcast_to(np.zeros((), dtype), shape).view(FakeDeviceArray)

    def launch(self, device_id: int, stream: FakeStream, fn: Callable[[], Any]) -> None:
        if self.oom_launches:
            self.oom_launches -= 1
            self._note("oom", stream.id)
            raise self.OutOfMemoryError("fake device out of memory")
        self._note("launch", stream.id)

        def run() -> None:
            self._note("start", stream.id)
            if self.kernel_delay:
                time.sleep(self.kernel_delay)
            try:
                fn()
            except BaseException as exc:  # an asynchronous kernel error
                stream.pending_error = exc  # type: ignore[attr-defined]
            self._note("end", stream.id)
            if self.after_kernel is not None:  # tests look at the state here
                self.after_kernel()
        stream.queue.put(run)

    def record(self, device_id: int, stream: FakeStream) -> FakeEvent:
        event = FakeEvent()
        self._note("record", stream.id, event.id)

        def reach() -> None:
            event.error = getattr(stream, "pending_error", None)
            stream.pending_error = None  # type: ignore[attr-defined]
            event.time = time.perf_counter()
            self._note("reached", stream.id, event.id)
            event.flag.set()
        stream.queue.put(reach)
        return event

    def wait_event(self, stream: FakeStream, event: FakeEvent) -> None:
        self._note("wait", stream.id, event.id)
        stream.queue.put(event.flag.wait)

    def synchronize(self, event: FakeEvent) -> None:
        event.flag.wait()
        if event.error is not None:
            raise event.error

    def elapsed(self, start: FakeEvent, end: FakeEvent) -> float:
        return end.time - start.time

    def pinned_empty(self, shape: Any, dtype: Any) -> np.ndarray:
        self.pinned_allocations += 1
        return np.empty(shape, dtype)

    def to_host(self, array: Any, out: np.ndarray | None = None, stream: Any = None) -> np.ndarray:
        host = np.asarray(array).view(np.ndarray)
        if out is None:
            return host.copy()
        out[...] = host
        return out

    def from_host(self, host: np.ndarray, out: Any, stream: Any = None) -> None:
        out[...] = host

    def free_cached(self) -> None:
        self._note("free_cached")
        self.allocated = max(0, self.allocated - self.cached)
        self.cached = 0

    def translate(self, func: Any) -> Any:
        return func

    def random(self, device_id: int) -> Any:
        return np.random


_backend: Any = None


def backend() -> Any:
    """The GPU backend: CuPy if it imports and sees a device, else None."""
    global _backend
    if _backend is None:
        _backend = False  # looked once; a later use_backend() may install one
        try:
            candidate = CupyBackend()
            if candidate.device_count() > 0:
                _backend = candidate
        except Exception as exc:  # no CuPy, no driver, no device
            _log.debug("no CUDA backend: {!r}", exc)
    return _backend or None


def use_backend(new: Any) -> Any:
    """Install a backend (tests install a FakeBackend); returns the old one."""
    global _backend
    old, _backend = _backend, new
    return old
