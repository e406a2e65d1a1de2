"""The engine's life in the process: fork with nothing in flight; at exit,
finish what is pending and tell of the errors nobody read.

Imports: ``engine.errors``; the engine is passed in.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any

from .errors import CancelledError


def before(engine: Any) -> None:
    """Fork with nothing in flight and no worker inside the BLAS thread
    limit (OpenBLAS's own state must not be copied mid-change): the locks
    are held across the fork; pending errors stay."""
    engine._cond.acquire()
    if not threading.current_thread().name.startswith("dagrt-"):
        try:
            while engine.pending:
                engine._wait_locked()
        except BaseException:  # pragma: no cover - Ctrl-C while forking
            pass
    engine._pool_lock.acquire()  # no pool starts during the fork either
    pool = engine._fork_pool = engine._threaded
    if pool is not None:
        pool.hold()


def after_in_parent(engine: Any) -> None:
    pool, engine._fork_pool = engine._fork_pool, None
    if pool is not None:
        pool.release()
    engine._pool_lock.release()
    engine._cond.release()


def after_in_child(engine: Any) -> None:
    engine._lock = threading.Lock()
    engine._cond = threading.Condition(engine._lock)
    engine._pool_lock = threading.Lock()
    engine._fork_pool = None
    engine._waiters = 0
    if engine._threaded is not None:
        engine._threaded.reset_after_fork()


def register(engine: Any) -> None:
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=lambda: before(engine),
                            after_in_parent=lambda: after_in_parent(engine),
                            after_in_child=lambda: after_in_child(engine))


def finish(engine: Any) -> None:
    """At exit: run what is pending (its effects and warnings happen, as they
    would have in NumPy), tell of the errors no sync point raised, stop."""
    if getattr(sys, "last_value", None) is None:  # (not dying of an error or Ctrl-C:
        try:                                      # then a kernel may be stuck)
            engine.drain()
        except KeyboardInterrupt:  # Ctrl-C at exit: drop what is queued
            pass
    with engine._lock:
        errors = sorted((seq, id(e), e) for e, _, seq in engine._errors.values()
                        if not isinstance(e, CancelledError))
        engine._errors = {}
    for _, _, exc in errors:
        print("dagrt: an operation failed and no sync point raised its error:",
              file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
    engine.shutdown()
