"""Executors: where a ready operation runs.

An executor receives operations whose predecessors have all finished and runs
them by calling back ``run(op)``, which executes the kernel and returns the
operations it made ready; the executor hands those back through ``dispatch``.
The scheduler picks the executor; executors know nothing of the graph.

- :class:`SerialExecutor` runs the operation at once in the calling thread.
- :class:`ThreadedExecutor` keeps a ready queue ordered by age (oldest first) and a pool of
  daemon worker threads, started on first use. Work-first: of the ops that
  a worker's op made ready, the worker runs one itself next, without the
  queue (its inputs are still in that core's cache, and the chain stays on
  one core instead of bouncing between them); the others go to the queue
  for idle workers. While its workers are busy,
  and until they have been idle for ``BLAS_RESTORE_S``, BLAS/OpenMP pools are
  limited to ``intra_op_threads`` with threadpoolctl, for every thread of the
  process: the workers run ops side by side, and an op run in the caller
  meanwhile must not oversubscribe the cores either. (Restoring the thread
  count at once whenever the pool went idle cost the mlp example 20%:
  OpenBLAS's threads woke for the caller's small products between bursts.)
  The interpreter's switch interval is lowered the same way (``_BusyLimits``):
  a worker's kernel needs the GIL back each time NumPy returns.
  A limit the application set itself is left alone. A worker whose kernel
  waits on dagrt operations itself (a kernel that records and syncs) leaves
  the pool's count while it waits (``secede``/``rejoin``, as Dask's workers
  do), so another worker can run what it waits for.

A device's own executor (``devices.streams.StreamExecutor`` for a GPU) follows
the same contract.

Imports nothing from dagrt but the log.
"""

from __future__ import annotations

import heapq
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _log
from .policy import CALLER, POLICY

if TYPE_CHECKING:
    from .graph import Op

RunFn = Callable[["Op"], list["Op"]]
DispatchFn = Callable[[list["Op"]], None]
BLAS_RESTORE_S = 0.05  # idle time after which BLAS gets its threads back
_WORKER = threading.local()  # .pool: the ThreadedExecutor whose worker this thread is


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


class _BusyLimits:
    """What the process runs under while dagrt workers run: BLAS/OpenMP thread
    pools limited to ``threads``, and the interpreter's switch interval
    lowered to ``switch`` seconds.

    A limit the application set itself (``threadpool_limits(1)``, a lower
    ``sys.setswitchinterval``) is left as it is: ``apply`` only lowers a value
    above dagrt's and ``restore`` only gives back a value dagrt set and
    nobody changed since.

    The switch interval: a worker's kernel drops the GIL inside NumPy and
    needs it back when NumPy returns. While the recording thread runs Python
    (it records the next ops), CPython hands the GIL back only when the
    holder has run a whole switch interval (5 ms by default): a 0.3 ms
    kernel then took up to 5 ms, and the cost model learnt it as slow. Two
    threads of ``X @ W`` beside one running Python took 10x their CPU time
    at 5 ms, 1.8x at 50 us (2 cores)."""

    def __init__(self, threads: int, switch: float = 0.0) -> None:
        self.threads = threads
        self.switch = switch  # seconds; 0: leave the interpreter's interval
        self._libs: list[Any] | None = None
        self._saved: list[tuple[Any, int]] = []  # (library, its count before apply)
        self._saved_switch = self._set_switch = 0.0
        self.active = False

    def _controllers(self) -> list[Any]:
        if self._libs is None:
            try:
                from threadpoolctl import ThreadpoolController

                self._libs = list(ThreadpoolController().lib_controllers)
            except Exception as exc:  # pragma: no cover - exotic BLAS builds
                _log.warning("threadpoolctl could not inspect BLAS: {}", exc)
                self._libs = []
        return self._libs

    def apply(self) -> None:
        if not self.active:
            saved = {id(lib) for lib, _ in self._saved}
            for lib in self._controllers():
                count = lib.num_threads
                if count is not None and count > self.threads:
                    _set_threads(lib, self.threads)
                    if id(lib) not in saved:
                        self._saved.append((lib, count))
            current = sys.getswitchinterval()
            if self.switch and current > self.switch:
                self._saved_switch = current
                sys.setswitchinterval(self.switch)
                self._set_switch = sys.getswitchinterval()  # (kept in whole microseconds)
            self.active = True

    def restore(self) -> None:
        if self.active:
            kept = []  # counts to give back once the application's limit ends
            for lib, count in self._saved:
                if lib.num_threads == self.threads:
                    if _app_controls(lib):
                        kept.append((lib, count))
                    else:
                        _set_threads(lib, count)
            self._saved = kept
            if self._saved_switch and sys.getswitchinterval() == self._set_switch:
                sys.setswitchinterval(self._saved_switch)
            self._saved_switch = 0.0
            self.active = False


def _app_controls(lib: Any) -> bool:
    """The application holds a threadpoolctl limit on ``lib`` (threadpoolctl
    >= 3.8 names the thread that set OpenBLAS's count last; dagrt's workers
    give that role up after each change, so a live holder is the
    application's ``threadpool_limits``, whose count must stay)."""
    state = getattr(type(lib), "_SHARED_STATE", None)
    holder = getattr(state, "controlling_thread", None)
    return holder is not None and holder.is_alive()


def _set_threads(lib: Any, threads: int) -> None:
    """``lib.set_num_threads(threads)`` from whichever worker calls it (the
    pool serializes these calls under its lock). threadpoolctl >= 3.8 lets
    only one Python thread at a time set OpenBLAS's process-wide count and
    ignores the others silently (a restore from another worker than the one
    that applied the limit left BLAS at one thread for good): that thread is
    released first, as its docs allow, and dagrt's worker released after, so
    that the application's own ``threadpool_limits`` keeps working."""
    release = getattr(type(lib), "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    lib.set_num_threads(threads)
    if release is not None:
        release(force=True)


class _Job:
    """Shares of one kernel's work offered to idle workers (``share``)."""

    __slots__ = ("work", "running", "results", "errors")

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work
        self.running = 0
        self.results: list[Any] = []
        self.errors: list[BaseException] = []


class ThreadedExecutor:
    """A pool of worker threads fed from a ready queue ordered by age (oldest first)."""

    inline = False
    name = "threaded"

    def __init__(self, run: RunFn, dispatch: DispatchFn, threads: int,
                 intra_op_threads: int, switch_interval: float = 0.0) -> None:
        self._run = run
        self._dispatch = dispatch
        self.threads = max(1, threads)
        self.settings = (threads, intra_op_threads, switch_interval)  # as configured
        self._blas = _BusyLimits(intra_op_threads, switch_interval)
        self._lock = threading.Lock()  # (``with``: cheaper than the Condition's own)
        self._cond = threading.Condition(self._lock)
        self._ready: list[Op] = []
        self._workers: list[threading.Thread] = []
        self._idle = 0
        self._busy = 0
        self._seceded = 0  # workers waiting inside a kernel: not counted
        self._started = 0
        self._stop = False
        self._jobs: list[_Job] = []  # shares of a running kernel, for idle workers

    def submit(self, op: Op) -> None:
        if _WORKER.__dict__.get("finishing") is self and _WORKER.next is None:
            _WORKER.next = op  # the worker that made it ready runs it next
            return
        with self._lock:
            heapq.heappush(self._ready, op)
            if self._idle:
                self._cond.notify()
            elif len(self._workers) < self.threads + self._seceded:
                self._start_worker()

    def _start_worker(self) -> None:
        index = self._started
        self._started += 1
        thread = threading.Thread(target=self._work, args=(f"cpu-worker-{index}",),
                                  name=f"dagrt-cpu-worker-{index}", daemon=True)
        self._workers.append(thread)
        thread.start()

    @staticmethod
    def current() -> ThreadedExecutor | None:
        """The pool whose worker the calling thread is, if any."""
        return getattr(_WORKER, "pool", None)

    def secede(self) -> None:
        """The calling worker is about to wait on other operations: let another
        worker take its place (one starts if work is queued and none is idle)."""
        with self._lock:
            self._seceded += 1
            if self._ready and not self._idle and \
                    len(self._workers) < self.threads + self._seceded:
                self._start_worker()

    def rejoin(self) -> None:
        with self._lock:
            self._seceded -= 1

    @property
    def backlog(self) -> int:
        """Ready ops waiting for a worker (read without the lock: a hint)."""
        return len(self._ready)

    def share(self, work: Callable[[], Any], most: int) -> list[Any]:
        """Call ``work()`` in the calling worker and, at the same time, in up to
        ``most`` idle workers (each call takes its share of a job from a
        common source the caller arranged); return every call's result, the
        caller's first. Idle workers take shares before ready ops."""
        job = _Job(work)
        with self._lock:
            helpers = min(most, self._idle)
            if helpers:
                self._cond.notify(helpers)
            while helpers < most and len(self._workers) < self.threads + self._seceded:
                self._start_worker()  # (workers start on demand)
                helpers += 1
            self._jobs.extend([job] * helpers)
        try:
            results = [work()]
        finally:
            with self._lock:  # shares not taken by now are not needed
                self._jobs = [j for j in self._jobs if j is not job]
                while job.running:
                    self._cond.wait()
        _WORKER.helped = _WORKER.__dict__.get("helped", 0) + len(job.results) + len(job.errors)
        if job.errors:
            raise job.errors[0]
        return results + job.results

    @staticmethod
    def helped() -> int:
        """How many shares other workers ran for the calling thread's kernels
        since the last call (the cost model scales a shared kernel's time by
        the workers that ran it: its time alone, as a caller would take)."""
        count = _WORKER.__dict__.get("helped", 0)  # (getattr raises inside: slower)
        if count:
            _WORKER.helped = 0
        return count

    def _help(self, job: _Job) -> None:
        """Run one share of ``job`` (caller holds the lock; released meanwhile)."""
        job.running += 1
        self._cond.release()
        try:
            job.results.append(job.work())
        except BaseException as exc:  # the caller raises it
            job.errors.append(exc)
        finally:
            self._cond.acquire()
            job.running -= 1
            self._cond.notify_all()

    def _work(self, name: str) -> None:
        _WORKER.pool = self
        cond = self._cond
        while True:
            with cond:
                while self._jobs or not self._ready:
                    if self._jobs:
                        self._help(self._jobs.pop())
                        continue
                    if self._stop:
                        return
                    if len(self._workers) > self.threads + self._seceded:
                        self._workers.remove(threading.current_thread())
                        return  # an extra worker, no longer needed
                    self._idle += 1
                    if self._busy == 0 and self._blas.active:
                        # the pool went idle: BLAS gets its threads back once it
                        # stays idle a while (not between bursts of ops; at once
                        # in the caller regime, whose ops run in the caller)
                        regime = POLICY.costs.regime
                        if not cond.wait(0 if regime.mode == CALLER and regime.window
                                         else BLAS_RESTORE_S) and self._busy == 0 \
                                and not self._ready and not self._jobs:
                            self._blas.restore()
                    else:
                        cond.wait()
                    self._idle -= 1
                if self._stop:
                    return
                op = heapq.heappop(self._ready)
                if self._busy == 0:
                    self._blas.apply()
                self._busy += 1
            try:
                while op is not None:  # an op, then the one it made ready (submit)
                    op.worker = name
                    _WORKER.next = None
                    ready = self._run(op)
                    _WORKER.finishing = self
                    try:
                        self._dispatch(ready)
                    finally:
                        _WORKER.finishing = None
                    op = _WORKER.next
            finally:
                with cond:
                    self._busy -= 1

    def shutdown(self) -> None:
        with self._lock:
            self._stop = True
            self._ready.clear()
            self._jobs.clear()
            self._cond.notify_all()
        for thread in list(self._workers):
            thread.join(timeout=1.0)
        self._blas.restore()

    def hold(self) -> None:
        """Keep workers out of the BLAS limit (before a fork)."""
        self._cond.acquire()

    def release(self) -> None:
        self._cond.release()

    def reset_after_fork(self) -> None:
        """In a forked child the workers do not exist: forget them, and give
        BLAS back the thread count it had before the limit."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._workers = []
        self._ready = []
        self._jobs = []
        self._idle = self._busy = self._seceded = 0
        self._blas.restore()
