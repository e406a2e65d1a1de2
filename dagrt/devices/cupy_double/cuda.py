"""``cupy.cuda`` of the CuPy double: devices, streams, events, memory pools.

Behaviour follows CuPy 14.2's source (``cupy/cuda/stream.pyx``,
``memory.pyx``, ``pinned_memory.pyx``, ``device.pyx``):

- A stream is a FIFO run by its own thread: work enqueued on it runs later,
  in order, and in no order with other streams. ``Stream.null`` (the legacy
  default stream) is one more FIFO per device; dagrt's streams are
  non-blocking, which the legacy stream does not order with, so work there
  races with them, as on a GPU.
- ``Event(block, disable_timing, interprocess)``; ``get_elapsed_time`` of an
  event created with ``disable_timing=True`` raises ``CUDARuntimeError``.
- ``MemoryPool`` is stream-ordered: a freed block is cached for the stream
  it was allocated on and reused only by allocations on that stream;
  ``free_all_blocks`` returns the cache; past the limit (``set_limit``, or
  the device's memory) ``OutOfMemoryError(size, total, limit)`` after
  freeing the cache once, as CuPy's pool does.
- Pinned memory comes from a pool that reuses a freed block at once; copies
  from and to pinned memory read and write it when the stream gets there
  (pageable host memory is copied at the call, as CUDA stages it).
- An exception inside enqueued work (a bug: CuPy checks arguments at the
  call) is an asynchronous error, raised by the next synchronize on that
  device (``CUDARuntimeError``).

Device memory is host memory here (``numpy`` buffers), so the double runs
anywhere; ``SETTINGS`` holds its knobs (devices, memory per device, a delay
per kernel) and ``LOG`` what ran where, for tests.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import queue
import threading
import time
import types
import weakref
from collections.abc import Callable
from typing import Any

import numpy

SETTINGS: dict[str, Any] = {"devices": 1, "memory": 4 << 30, "kernel_delay": 0.0,
                            "fail_mallocs": 0, "after_kernel": None}
LOG: list[tuple[Any, ...]] = []  # (time, kind, stream ptr, ...), while LOGGING[0]
LOGGING = [False]
_log_lock = threading.Lock()


def note(*entry: Any) -> None:
    if LOGGING[0]:
        with _log_lock:
            LOG.append((time.perf_counter(), *entry))


class CUDARuntimeError(RuntimeError):
    """As ``cupy_backends.cuda.api.runtime.CUDARuntimeError``."""

    def __init__(self, status: str, detail: str = "") -> None:
        self.status = status
        super().__init__(f"{status}: {detail}" if detail else status)


# -- runtime ------------------------------------------------------------------------

_tls = threading.local()
_sticky: dict[int, BaseException] = {}  # device -> asynchronous error


class runtime:  # noqa: N801 - the module's name in CuPy
    CUDARuntimeError = CUDARuntimeError

    @staticmethod
    def getDeviceCount() -> int:  # noqa: N802
        return int(SETTINGS["devices"])

    @staticmethod
    def getDevice() -> int:  # noqa: N802
        return getattr(_tls, "device", 0)

    @staticmethod
    def setDevice(device: int) -> None:  # noqa: N802
        if not 0 <= device < runtime.getDeviceCount():
            raise CUDARuntimeError("cudaErrorInvalidDevice", "invalid device ordinal")
        _tls.device = device

    @staticmethod
    def memGetInfo() -> tuple[int, int]:  # noqa: N802
        total = int(SETTINGS["memory"])
        return total - _pool(runtime.getDevice()).total_bytes(), total

    @staticmethod
    def deviceSynchronize() -> None:  # noqa: N802
        device = runtime.getDevice()
        for stream in list(_streams.get(device, ())):
            stream.synchronize()


class Device:
    """``cupy.cuda.Device``: a context manager making ``id`` current."""

    def __init__(self, device: int | None = None) -> None:
        self.id = runtime.getDevice() if device is None else int(device)
        if not 0 <= self.id < runtime.getDeviceCount():
            raise CUDARuntimeError("cudaErrorInvalidDevice", "invalid device ordinal")
        self._previous: list[int] = []

    def __enter__(self) -> Device:
        self._previous.append(runtime.getDevice())
        runtime.setDevice(self.id)
        return self

    def __exit__(self, *exc: Any) -> None:
        runtime.setDevice(self._previous.pop())

    def use(self) -> None:
        runtime.setDevice(self.id)

    def synchronize(self) -> None:
        with self:
            runtime.deviceSynchronize()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


# -- streams and events -------------------------------------------------------------

_ptrs = itertools.count(1)
_streams: dict[int, weakref.WeakSet[Stream]] = {}


def _run(work: queue.SimpleQueue[Any], device: int) -> None:
    while True:
        item = work.get()
        if item is None:
            return
        try:
            item()
        except BaseException as exc:  # an asynchronous error: sticky
            _sticky.setdefault(device, CUDARuntimeError(
                "cudaErrorLaunchFailure", f"{type(exc).__name__}: {exc}"))


class Stream:
    """``cupy.cuda.Stream(null=False, non_blocking=False, ptds=False, priority=None)``."""

    null: Stream  # set below: the legacy default stream (ptr 0)

    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False,
                 priority: int | None = None) -> None:
        self.ptr = 0 if null else next(_ptrs)
        self.device_id = -1 if null else runtime.getDevice()
        self.non_blocking = non_blocking
        self._queues: dict[int, queue.SimpleQueue[Any]] = {}
        self._lock = threading.Lock()
        if not null:
            self._queue(self.device_id)
            _streams.setdefault(self.device_id, weakref.WeakSet()).add(self)

    def _queue(self, device: int) -> queue.SimpleQueue[Any]:
        """The FIFO of this stream on ``device`` (the null stream has one per device)."""
        q = self._queues.get(device)
        if q is None:
            with self._lock:
                q = self._queues.get(device)
                if q is None:
                    q = self._queues[device] = queue.SimpleQueue()
                    threading.Thread(target=_run, args=(q, device), daemon=True,
                                     name=f"cupy-double-stream-{self.ptr}-{device}").start()
                    weakref.finalize(self, q.put, None)
        return q

    def enqueue(self, work: Callable[[], None], name: str = "kernel") -> None:
        """Run ``work`` on this stream, after what was enqueued before (the
        double's kernel launch)."""
        device = runtime.getDevice() if self.ptr == 0 else self.device_id
        ptr = self.ptr
        note("launch", ptr, name)
        delay, after = SETTINGS["kernel_delay"], SETTINGS.get("after_kernel")

        def kernel() -> None:
            note("start", ptr, name)
            if delay:
                time.sleep(delay)
            with numpy.errstate(all="ignore"):  # CUDA kernels set no FP flags
                work()
            note("end", ptr, name)
            if after is not None:  # tests look at the state here
                after(ptr, name)
        self._queue(device).put(kernel)

    def __enter__(self) -> Stream:
        device = runtime.getDevice()
        if self.device_id not in (-1, device):
            raise RuntimeError(f"The device that the stream is created on ({self.device_id})"
                               f" does not match with the current device ({device})")
        stack = _tls.__dict__.setdefault("streams", {}).setdefault(device, [])
        stack.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _tls.streams[runtime.getDevice()].pop()

    def use(self) -> Stream:
        _tls.__dict__.setdefault("current", {})[runtime.getDevice()] = self
        return self

    def synchronize(self) -> None:
        done = threading.Event()
        self._queue(runtime.getDevice() if self.ptr == 0 else self.device_id).put(done.set)
        done.wait()
        _raise_sticky()

    @property
    def done(self) -> bool:
        return all(q.empty() for q in self._queues.values())

    def record(self, event: Event | None = None) -> Event:
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event: Event) -> None:
        note("wait", self.ptr, event.id)
        reached = event._reached
        if reached is not None:
            self._queue(runtime.getDevice() if self.ptr == 0 else self.device_id).put(
                reached.wait)

    def launch_host_func(self, callback: Callable[[Any], None], arg: Any) -> None:
        self.enqueue(lambda: callback(arg), "host_func")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and other.ptr == self.ptr

    def __hash__(self) -> int:
        return self.ptr

    def __repr__(self) -> str:
        return f"<Stream {self.ptr} (device {self.device_id})>"


Stream.null = Stream(null=True)


def get_current_stream(device_id: int = -1) -> Stream:
    device = runtime.getDevice() if device_id == -1 else device_id
    stack = getattr(_tls, "streams", {}).get(device)
    if stack:
        return stack[-1]
    return getattr(_tls, "current", {}).get(device, Stream.null)


def _raise_sticky() -> None:
    """An error a kernel raised, once, at the next synchronize on its device."""
    error = _sticky.pop(runtime.getDevice(), None)
    if error is not None:
        raise error


class Event:
    """``cupy.cuda.Event(block=False, disable_timing=False, interprocess=False)``."""

    _ids = itertools.count()

    def __init__(self, block: bool = False, disable_timing: bool = False,
                 interprocess: bool = False) -> None:
        if interprocess and not disable_timing:
            raise ValueError("Timing must be disabled for interprocess events")
        self.id = next(self._ids)
        self.block = block
        self.disable_timing = disable_timing
        self._reached: threading.Event | None = None
        self._time = 0.0

    def record(self, stream: Stream | None = None) -> None:
        stream = get_current_stream() if stream is None else stream
        reached = self._reached = threading.Event()
        note("record", stream.ptr, self.id)

        def reach() -> None:
            self._time = time.perf_counter()
            note("reached", stream.ptr, self.id)
            reached.set()
        stream._queue(runtime.getDevice() if stream.ptr == 0 else stream.device_id).put(reach)

    @property
    def done(self) -> bool:
        return self._reached is None or self._reached.is_set()

    def synchronize(self) -> None:
        if self._reached is not None:
            self._reached.wait()
        _raise_sticky()


def get_elapsed_time(start_event: Event, end_event: Event) -> float:
    """Milliseconds between two completed events recorded with timing."""
    if start_event.disable_timing or end_event.disable_timing:
        raise CUDARuntimeError("cudaErrorInvalidResourceHandle", "invalid resource handle")
    if not (start_event.done and end_event.done) or start_event._reached is None:
        raise CUDARuntimeError("cudaErrorNotReady", "device not ready")
    return (end_event._time - start_event._time) * 1e3


# -- device memory ------------------------------------------------------------------


class OutOfMemoryError(MemoryError):
    """``cupy.cuda.memory.OutOfMemoryError(size, total, limit=0)``."""

    def __init__(self, size: int, total: int, limit: int = 0) -> None:
        self._size, self._total, self._limit = size, total, limit
        if limit == 0:
            msg = f"Out of memory allocating {size:,} bytes"
            if total != -1:
                msg += f" (allocated so far: {total:,} bytes)."
        else:
            msg = (f"Out of memory allocating {size:,} bytes (allocated so far: "
                   f"{total:,} bytes, limit set to: {limit:,} bytes).")
        super().__init__(msg)

    def __reduce__(self) -> Any:
        return type(self), (self._size, self._total, self._limit)


class Memory:
    """One allocation: ``buffer`` (host bytes standing for device memory)."""

    def __init__(self, buffer: numpy.ndarray, device_id: int, stream: int) -> None:
        self.buffer = buffer
        self.size = buffer.nbytes
        self.device_id = device_id
        self.stream = stream
        self.ptr = buffer.ctypes.data


class MemoryPointer:
    def __init__(self, mem: Memory, offset: int) -> None:
        self.mem = mem
        self.ptr = mem.ptr + offset
        self.device_id = mem.device_id

    @property
    def device(self) -> Device:
        return Device(self.device_id)


class MemoryPool:
    """Stream-ordered pools of device memory, one per device (CuPy's default)."""

    def __init__(self) -> None:
        # re-entrant, as CuPy's pool's locks (fastrlock): a block's finalizer
        # (``_release``) may run in a garbage collection inside the pool's own
        # critical sections (an allocation there); with a plain lock it hung
        self._lock = threading.RLock()
        self._free: dict[tuple[int, int, int], list[numpy.ndarray]] = {}
        self._used: dict[int, int] = {}
        self._total: dict[int, int] = {}
        self._limit = 0

    def malloc(self, size: int) -> Memory:
        device = runtime.getDevice()
        stream = get_current_stream().ptr
        rounded = max(512, -(-size // 512) * 512)
        for attempt in range(2):
            if SETTINGS["fail_mallocs"]:  # tests: this allocation fails
                SETTINGS["fail_mallocs"] -= 1
                raise OutOfMemoryError(size, self._total.get(device, 0), self._limit)
            with self._lock:
                cached = self._free.get((device, stream, rounded))
                if cached:
                    block = cached.pop()
                    break
                total = self._total.get(device, 0)
                limit = min(self._limit or SETTINGS["memory"], SETTINGS["memory"])
                if total + rounded <= limit:
                    block = numpy.empty(rounded, numpy.uint8)
                    self._total[device] = total + rounded
                    break
            if attempt == 0:  # as CuPy: free the cached blocks, then retry once
                self.free_all_blocks()
            else:
                raise OutOfMemoryError(size, self._total.get(device, 0), self._limit)
        with self._lock:
            self._used[device] = self._used.get(device, 0) + rounded
        note("alloc", stream, rounded)
        mem = Memory(block, device, stream)
        weakref.finalize(mem, self._release, block, device, stream)
        return mem

    def _release(self, block: numpy.ndarray, device: int, stream: int) -> None:
        with self._lock:
            self._used[device] -= block.nbytes
            self._free.setdefault((device, stream, block.nbytes), []).append(block)

    def free_all_blocks(self, stream: Stream | None = None) -> None:
        device = runtime.getDevice()
        note("free_all_blocks", None if stream is None else stream.ptr, device)
        with self._lock:  # (the keys first: a finalizer may add one meanwhile)
            for key in [k for k in list(self._free) if k[0] == device and (
                    stream is None or k[1] == stream.ptr)]:
                self._total[device] -= sum(b.nbytes for b in self._free.pop(key, ()))

    def used_bytes(self) -> int:
        return self._used.get(runtime.getDevice(), 0)

    def total_bytes(self) -> int:
        return self._total.get(runtime.getDevice(), 0)

    def free_bytes(self) -> int:
        return self.total_bytes() - self.used_bytes()

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        if fraction is not None:
            size = int(SETTINGS["memory"] * fraction)
        self._limit = int(size or 0)

    def get_limit(self) -> int:
        return self._limit


_default_pool = MemoryPool()


def _pool(device: int) -> MemoryPool:
    return _default_pool


# -- pinned host memory -------------------------------------------------------------


class PinnedMemoryPointer:
    """Page-locked host memory; the buffer protocol gives NumPy its bytes
    (``numpy.frombuffer(pointer, dtype, count)``)."""

    block: numpy.ndarray

    @property
    def ptr(self) -> int:
        return ctypes.addressof(self)  # type: ignore[arg-type]

    def size(self) -> int:
        return self.block.nbytes


_pinned: dict[int, int] = {}  # start address -> end, of pinned blocks
_pinned_free: dict[int, list[numpy.ndarray]] = {}
_pinned_lock = threading.RLock()  # (re-entrant: ``_give_back`` runs in collections)


@functools.cache
def _pointer_type(size: int) -> type:
    return type("PinnedMemoryPointer", (PinnedMemoryPointer, ctypes.c_ubyte * size), {})


def alloc_pinned_memory(size: int) -> PinnedMemoryPointer:
    """From the pinned pool, which reuses a freed block at once (CuPy's
    ``PinnedMemoryPool``): a copy still reading it must keep it alive."""
    rounded = max(512, -(-size // 512) * 512)
    with _pinned_lock:
        free = _pinned_free.get(rounded)
        block = free.pop() if free else None
    if block is None:
        block = numpy.empty(rounded, numpy.uint8)
        note("pinned_alloc", None, rounded)
        with _pinned_lock:
            _pinned[block.ctypes.data] = block.ctypes.data + rounded
    pointer = _pointer_type(rounded).from_address(block.ctypes.data)
    pointer.block = block
    weakref.finalize(pointer, _give_back, block)
    return pointer


def _give_back(block: numpy.ndarray) -> None:
    with _pinned_lock:
        _pinned_free.setdefault(block.nbytes, []).append(block)


def is_pinned(array: numpy.ndarray) -> bool:
    """Whether ``array``'s memory lies in a pinned block (the double's test)."""
    start = array.__array_interface__["data"][0]
    return any(lo <= start < hi for lo, hi in list(_pinned.items()))


# ``cupy.cuda.memory``: where CuPy keeps these names
memory = types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError, MemoryPool=MemoryPool,
                               MemoryPointer=MemoryPointer, Memory=Memory)
