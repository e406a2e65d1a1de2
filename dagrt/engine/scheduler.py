"""The scheduler: MXNet's engine contract, in Python.

    push(op)          an operation with the buffers it reads and writes and
                      its device; returns at once
    wait(var)         block until a buffer's pending writes (or all its pending
                      uses) are done, then raise its error if it has one
    waitall()         block until nothing is pending, then raise the first
                      error not yet reported, once

State (all guarded by one lock, ``_lock``, and its condition ``_cond``):

- the graph itself lives on ``Var`` and ``Op`` objects (see ``engine.graph``);
- ``pending`` / ``pending_bytes`` count unfinished operations and the bytes of
  their outputs, for backpressure: ``push`` blocks while either is over its
  bound, so a Python loop that runs ahead cannot grow memory without bound;
- ``_errors`` holds failed operations' errors not yet raised anywhere, with
  the thread that recorded each: ``waitall()`` raises the calling thread's
  (and those of threads that have ended), never another live thread's.

Policy: an operation whose predecessors are finished goes to its executor at
once, so work starts without waiting for a barrier. Its executor is the serial
one (run now, in this thread) or the threaded pool, chosen by the ``engine``
flag. A failed operation stores its exception, annotated with the recording
site; its dependents do not run and carry the same exception.

Which ops reach the scheduler at all is the recording path's decision
(``array.record``, with ``engine.policy``); an op it ran in the calling thread
is only shown to observers (``ran_now``).

Imports: ``engine.graph``, ``engine.executors``, ``engine.policy``, the
configuration and the log; nothing above the engine.
"""

from __future__ import annotations

import atexit
import itertools
import threading
import time
import warnings
from typing import Any

from .. import _config, _log
from . import lifecycle, warncontext
from .errors import CancelledError, annotate, rethrow
from .executors import SerialExecutor, ThreadedExecutor
from .graph import FRESH, Op, Site, Var, fuse_group, link, release_early, unlink
from .policy import POLICY

_WARNED: set[tuple[int, int]] = set()  # oversubscribing configurations warned about
_POLL = 0.1  # seconds; waits wake this often so Ctrl-C is never blocked


class Engine:
    """One scheduler for every device; executors differ, the contract does not."""

    def __init__(self) -> None:
        # ``with self._lock`` where nothing waits: the Condition's own costs more
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pool_lock = threading.Lock()
        self._fork_pool: ThreadedExecutor | None = None  # held across a fork
        self.pending = 0
        self.pending_bytes = 0
        self._device_queued = self._device_queued_bytes = 0  # own-budget executors'
        self._seq = itertools.count(1)  # op numbers, in push order
        self._waiters = 0
        # id(error) -> (error, recording thread, op number) (ids: errors may not hash)
        self._errors: dict[int, tuple[BaseException, int, int]] = {}
        self.serial = SerialExecutor(self._run, self.dispatch)
        self._threaded: ThreadedExecutor | None = None
        self.observers: list[Any] = []  # profilers and graph recorders
        self.ops_pushed = 0
        self._last_seq = 0  # the last op pushed
        # recording thread -> the last of its ops cancelled (not started: not run)
        self._cancelled: dict[int, int] = {}
        # ``progress(until)`` shows a bar while a sync point waits for ``until()``,
        # once it has waited ``progress_after`` seconds (set above the engine: ``api``)
        self.progress: Any = None
        # devices that batch launched ops (the cluster): sent before anyone waits
        self.flushers: list[Any] = []
        # Fusion: elementwise ops held until ``flush``; ``fuser(held)`` (set by
        # the array layer) groups them, each group with the kernel computing it.
        self._held: list[Op] = []
        self._held_bytes = 0
        self.fuser: Any = None
        self.costs = POLICY.costs
        self.refresh()

    # -- executors -----------------------------------------------------------
    @property
    def threaded(self) -> ThreadedExecutor:
        if self._threaded is None:
            with self._pool_lock:
                if self._threaded is None:
                    self._threaded = self._new_pool()
        return self._threaded

    def _new_pool(self) -> ThreadedExecutor:
        inter = _config.get("inter_op_threads")
        intra = _config.get("intra_op_threads")
        cores = _config.cores()
        if inter * intra > cores and (inter, intra) not in _WARNED:
            _WARNED.add((inter, intra))  # visible: a library's logger is off by default
            warnings.warn(f"dagrt: {inter} inter-op x {intra} intra-op threads = "
                          f"{inter * intra} threads oversubscribe {cores} cores",
                          RuntimeWarning, stacklevel=4)
        _log.debug("threaded executor: {} workers x {} BLAS threads", inter, intra)
        return ThreadedExecutor(self._run, self.dispatch, inter, intra,
                                _config.get("switch_interval"))

    def executor_for(self, op: Op) -> Any:
        device = op.device
        if device is not None and device.executor is not None:
            return device.executor
        return self.serial if self._serial_mode else self.threaded

    # -- the contract --------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the flags the hot path uses (on every config change)."""
        self._max_ops = _config.get("max_pending")
        self._max_bytes = _config.get("max_pending_bytes")
        self._serial_mode = _config.get("engine") == "serial"
        self._lookahead, self._lookahead_bytes = (_config.get("lookahead"),
                                                  _config.get("lookahead_bytes"))
        self._progress_after = _config.get("progress_after")
        self._fuse, self._fuse_window = bool(_config.get("fuse")), _config.get("fuse_window")

    def push(self, op: Op) -> None:
        """Record ``op``; run it (or queue it) as soon as its inputs are ready.
        A fusable op (``op.fuse``) is held instead, until ``flush``."""
        fuse = op.fuse is not None and self._fuse and self.fuser is not None
        if self._held and (not fuse or len(self._held) >= self._fuse_window
                           or self._held_bytes + op.nbytes > self._max_bytes):
            self.flush()
        max_ops = self._max_ops
        max_bytes = self._max_bytes
        executor = self.executor_for(op)
        # Look ahead ``lookahead`` ops and ``lookahead_bytes`` of outputs per
        # worker (but always one op per worker): enough to find independent
        # work; further would only allocate outputs early, into cold memory,
        # and raise the peak memory above NumPy's. Held ops do not count: their
        # outputs are not touched before they run, most never are (they are
        # bounded by ``max_pending_bytes`` and the fusion window instead).
        # A device executor with a budget of its own (a GPU's streams) counts
        # only its own queue: CPU work queued elsewhere does not hold it back.
        workers, ahead_bytes = 1, max_bytes
        own = getattr(executor, "own_budget", False)
        if not executor.inline:
            workers = getattr(executor, "threads", 1)
            max_ops = min(max_ops, getattr(executor, "lookahead_ops", self._lookahead * workers))
            ahead_bytes = min(max_bytes, getattr(executor, "lookahead_bytes",
                                                 self._lookahead_bytes * workers))
        with self._lock:
            stalled = 0.0
            while True:
                if own:
                    pending, pending_bytes = executor.queued, executor.queued_bytes
                else:
                    pending = self.pending - len(self._held) - self._device_queued
                    pending_bytes = self.pending_bytes - self._held_bytes - \
                        self._device_queued_bytes
                if (not pending or (pending < max_ops and (
                        pending_bytes + op.nbytes <= (
                            ahead_bytes if pending >= workers else max_bytes)))) and (
                        own or not self.pending  # held ops count in the total
                        or self.pending_bytes + op.nbytes <= self._max_bytes):
                    break
                stalled = stalled or time.perf_counter()
                self._wait_locked(stall=True)
            op.seq = self._last_seq = next(self._seq)
            op.thread = threading.get_ident()
            if not fuse:
                op.fuse = None
            deps = link(op)
            self.pending += 1
            self.pending_bytes += op.nbytes
            self.ops_pushed += 1
            if own:
                executor.queued += 1
                executor.queued_bytes += op.nbytes
                self._device_queued += 1
                self._device_queued_bytes += op.nbytes
            if fuse:
                op.held = True
                self._held.append(op)
                self._held_bytes += op.nbytes
        if stalled:
            self.observe("backpressure stall", stalled)
        for observer in self.observers:
            observer.on_push(op)
        if _log.DEBUG:
            _log.debug("{} #{} -> {} executor, waits on {} ops{}", op.name, op.seq,
                       executor.name, deps, " (held for fusion)" if fuse else "")
        if deps == 0 and not fuse:
            self.dispatch([op])

    def flush(self) -> None:
        """Send the held ops on: the fuser groups them (each group a run of
        consecutive held ops); a group's first op (its *leader*) runs the
        group's kernel, after every unfinished predecessor of any member; the
        other members finish with it, without running. If the kernel raises or
        never runs (``op.fuse.ran`` false), every member fails; a member that
        failed alone has ``op.fuse.error`` set by the kernel (and
        ``op.fuse.origin``, the member it comes from). A leader that inherited
        an error still runs the kernel: the other members may not have."""
        with self._lock:
            held, self._held, self._held_bytes = self._held, [], 0
            if not held:
                return
            for op in held:
                op.held = False
            try:
                groups = self.fuser(held)
            except Exception as exc:  # pragma: no cover - a fuser bug loses no op:
                _log.warning("fusing {} ops failed ({!r}): run as recorded", len(held), exc)
                groups = []
            for group, kernel in groups:
                fuse_group(group, kernel)
            ready = [op for op in held if op.deps == 0 and not op.done]
        self.dispatch(ready)

    def ran_now(self, name: str, site: Site | None, shape: Any, dtype: Any, t0: float,
                t1: float, writes: tuple[Var, ...], reads: list[Var]) -> None:
        """Show observers an op the recording path ran in the calling thread: a
        slice on the caller's track and its buffers, as one flat tuple ``(seq,
        name, site, shape, dtype, t0, t1, len(writes), *writes, *reads)`` (one
        object per op for the garbage collector; see ``engine.graph.RanNow``)."""
        entry = (next(self._seq), name, site, shape, dtype, t0, t1, len(writes), *writes, *reads)
        for observer in self.observers:
            observer.on_ran(entry)

    def observe(self, name: str, t0: float) -> None:
        """Show observers that the calling thread was blocked in the runtime
        from ``t0`` until now (``on_span(name, "runtime", t0, t1, thread)``):
        a sync wait or a backpressure stall. Called only when it blocked."""
        t1, thread = time.perf_counter(), threading.get_native_id()
        for observer in self.observers:
            observer.on_span(name, "runtime", t0, t1, thread)

    def launched(self, op: Op) -> list[Op]:
        """A device executor enqueued ``op`` (and its event): return the ops of
        its device that only need to follow it there."""
        with self._lock:
            return release_early(op)

    def complete(self, op: Op, exc: BaseException | None = None,
                 dispatch: bool = True) -> list[Op]:
        """A device executor saw ``op`` finish (or fail): release everything
        else that waits for it (dispatched here, or returned)."""
        if exc is not None and op.error is None:
            if isinstance(exc, Exception):
                annotate(exc, op)
            op.error, op.error_origin = exc, op
        ready = self._finish(op)
        if not dispatch:
            return ready
        self.dispatch(ready)
        return []

    def fail(self, op: Op, exc: Exception) -> None:
        """Record ``op``, run inline outside the scheduler, as failed with ``exc``."""
        annotate(exc, op)
        if FRESH in op.writes:
            raise AssertionError(f"dagrt: {op.name} fails FRESH (an array's own Var: var_of)")
        op.error, op.error_origin, op.done = exc, op, True
        op.seq = next(self._seq)
        with self._lock:
            self._errors[id(exc)] = (exc, threading.get_ident(), op.seq)
            for var in op.writes:
                var.error = exc

    def wait(self, var: Var, *, writes_only: bool = True) -> None:
        """Wait until ``var``'s pending writes (or, with ``writes_only=False``,
        all its pending uses) are done; raise its error if it has one."""
        if var.nw if writes_only else var.n:
            pool = ThreadedExecutor.current()  # a kernel that syncs, on a worker
            if pool is not None:
                pool.secede()
            t0 = time.perf_counter()
            try:
                self._block(lambda: var.nw if writes_only else var.n)
            finally:
                if pool is not None:
                    pool.rejoin()
                if self.observers:
                    self.observe("sync wait", t0)
        if var.error is not None:
            error = var.error
            with self._lock:
                self._errors.pop(id(error), None)
            raise rethrow(error)

    def drain(self) -> None:
        """Block until nothing is pending; errors stay for a sync point or ``waitall``."""
        with self._lock:
            while self.pending:
                self._wait_locked()

    def waitall(self, *, raise_errors: bool = True) -> None:
        """Block until every pending operation is done; raise the first error
        that no sync point has raised yet (once), of the ops this thread
        recorded (or a thread that has ended). ``raise_errors=False``
        forgets every error."""
        if not (self.pending or self._errors or self.observers):
            return  # (nothing to wait for or raise: a program's many syncs)
        t0 = time.perf_counter()
        self._block(lambda: self.pending)
        with self._lock:
            while self.pending:
                self._wait_locked()
            if not raise_errors:
                self._errors = {}
                return
            me = threading.get_ident()
            alive = {t.ident for t in threading.enumerate()} if self._errors else ()
            errors = sorted((seq, id(e), e) for e, t, seq in self._errors.values()
                            if t == me or t not in alive)
            for _, key, _ in errors:
                del self._errors[key]
        if self.observers:
            self.observe("waitall", t0)
        if errors:
            raise rethrow(errors[0][2])  # the first recorded

    def settle(self, ops: list[Op], timeout: float) -> bool:
        """Wait at most ``timeout`` s for ``ops`` (errors not raised); whether they are done."""
        deadline = time.perf_counter() + timeout
        with self._lock:
            while not all(op.done for op in ops) and (left := deadline - time.perf_counter()) > 0:
                self._wait_locked(timeout=left)
            return all(op.done for op in ops)

    def _block(self, busy: Any) -> None:
        """Wait while ``busy()`` (a sync point); once that has taken
        ``progress_after`` seconds, show progress until it is over."""
        after = self._progress_after
        shown = after and self.progress and ThreadedExecutor.current() is None
        deadline = time.perf_counter() + after if shown else None
        with self._lock:
            while busy():
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                self._wait_locked()
            else:
                return
        try:
            self.progress(busy)
        except KeyboardInterrupt:
            self.cancel()
            raise

    def _wait_locked(self, stall: bool = False, timeout: float = _POLL) -> None:
        """Wait for a completion, at most ``timeout`` seconds (``stall``:
        backpressure, not a sync point)."""
        try:
            if self._held:  # held ops run only once sent on: send them, then wait
                self._cond.release()
                try:
                    self.flush()
                finally:
                    self._cond.acquire()
                return  # (the caller tests its condition again)
            for waiting in self.flushers:  # batched device work: send it, then wait
                waiting(stall)
            self._waiters += 1
            try:
                self._cond.wait(timeout)
            finally:
                self._waiters -= 1
        except KeyboardInterrupt:  # Ctrl-C while waiting: drop what is queued
            self._cancel_locked(threading.get_ident())
            raise

    def cancel(self) -> None:
        """Operations the calling thread recorded that have not started do not
        run: their outputs carry ``CancelledError``. Running ones finish."""
        self.flush()  # (held ops are fused apart from the ops recorded after)
        with self._lock:
            self._cancel_locked(threading.get_ident())

    def _cancel_locked(self, thread: int) -> None:
        self._cancelled[thread] = self._last_seq
        _log.debug("cancelled the pending ops of thread {} up to #{}", thread,
                   self._last_seq)

    # -- running -------------------------------------------------------------
    def dispatch(self, ready: list[Op]) -> None:
        """Send ready operations to their executors; ops that inherited an
        error finish without running."""
        stack = ready
        while stack:
            op = stack.pop()
            leader = op.fused_into
            if leader is not None and leader is not op:  # computed by its group's kernel
                failed = op.fuse.error
                if op.error is None and not leader.fuse.ran:  # the kernel failed: all fail
                    op.error, op.error_origin = leader.error, leader.error_origin
                elif op.error is None and failed is not None:  # its own, or one it read
                    if op.fuse.origin is op:
                        annotate(failed, op)
                    op.error, op.error_origin = failed, op.fuse.origin
                op.t0 = op.t1 = leader.t1
                op.worker = leader.worker
                stack.extend(self._finish(op))
                continue
            if op.error is not None and leader is None:  # (a leader runs: see flush)
                stack.extend(self._finish(op))
                continue
            executor = self.executor_for(op)
            if executor.inline:
                stack.extend(self._run(op))
            else:
                stack.extend(executor.submit(op) or ())

    def _run(self, op: Op) -> list[Op]:
        """Run one operation's kernel; return the operations it made ready."""
        cancelled = self._cancelled
        if cancelled and op.seq <= cancelled.get(op.thread, 0):
            op.error = CancelledError(f"{op.where()} was cancelled before it ran")
            return self._finish(op)  # (not an error for waitall: the user cancelled)
        c0 = time.thread_time()
        op.t0 = time.perf_counter()
        try:
            op.fn()  # type: ignore[misc]
            if op.fuse is not None and op.fuse.error is not None and op.error is None:
                raise op.fuse.error  # a fused op's own error (see ``flush``)
        except Exception as exc:
            annotate(exc, op)
            op.error, op.error_origin = exc, op
            if _log.DEBUG:
                _log.debug("{} #{} failed: {!r}", op.name, op.seq, exc)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit
            op.error, op.error_origin = exc, op
            ready = self._finish(op)
            if threading.current_thread() is not threading.main_thread():
                return ready  # a worker: the op failed, the worker goes on
            with self._lock:  # the caller sees it now: not again at waitall
                self._errors.pop(id(exc), None)
            self.dispatch(ready)  # dependents finish, with the error
            raise
        op.t1 = time.perf_counter()
        op.cpu, helped = time.thread_time() - c0, ThreadedExecutor.helped()
        if op.error is None:  # CPU time (not GIL waits), times the workers that shared it
            alone = ThreadedExecutor.current() is None  # (the serial engine: the caller)
            self.costs.observe(op.name, op.work, op.cpu * (1 + helped), alone, True)
        return self._finish(op)

    def _finish(self, op: Op) -> list[Op]:
        with self._lock:
            if op.error is not None:
                if op.error_origin is op:
                    self._errors[id(op.error)] = (op.error, op.thread, op.seq)
                for var in op.writes:  # its output's allocation failed too: one error
                    if getattr(var.error, "allocation", None) is var and \
                            var.error is not op.error:
                        self._errors.pop(id(var.error), None)
            ready = unlink(op)
            if self._held:  # a held op made ready runs when flushed
                ready = [r for r in ready if not r.held]
            self.pending -= 1
            self.pending_bytes -= op.nbytes
            device = op.device
            if device is not None and getattr(device.executor, "own_budget", False):
                device.executor.queued -= 1
                device.executor.queued_bytes -= op.nbytes
                self._device_queued -= 1
                self._device_queued_bytes -= op.nbytes
            if self._waiters:
                self._cond.notify_all()
        return ready

    # -- lifecycle -----------------------------------------------------------
    def reconfigure(self) -> None:
        """Config changed: re-read flags; if the thread counts changed, finish
        pending work and drop the pool (a new one starts on demand)."""
        self.refresh()
        pool = self._threaded
        if pool is not None and pool.settings != tuple(_config.get(k) for k in (
                "inter_op_threads", "intra_op_threads", "switch_interval")):
            # Swap pools with nothing in flight (an op recorded meanwhile waits
            # for the lock, then goes to the new pool); errors stay for sync points.
            with self._lock:
                while self.pending:
                    self._wait_locked()
                with self._pool_lock:
                    old, self._threaded = self._threaded, None
            if old is not None:
                old.shutdown()

    def shutdown(self) -> None:
        if self._threaded is not None:
            self._threaded.shutdown()


ENGINE = Engine()
warncontext.install(ENGINE.drain)  # kernels warn as at their recording line
atexit.register(lifecycle.finish, ENGINE)
lifecycle.register(ENGINE)
_config.on_change(ENGINE.reconfigure)
