"""Where an op runs: now, in the calling thread, or on the scheduler.

The one predicate the recording path (``array.record``) asks, next to the
cost model that feeds it. A thread hand-off costs tens of microseconds in
CPython; a NumPy op on 1024 elements costs one. So an op whose inputs are
ready and whose outputs are idle runs now when

- its work is at most ``DAGRT_INLINE_BYTES`` (64 KiB), or
- the cost model predicts it takes less than ``DAGRT_INLINE_US`` (1 ms), or
  has not measured its kind yet (it runs now, to be measured alone).

Such an op whose inputs are not ready because kernels running on workers
still write them (or whose outputs they still use) waits for those kernels
when they are predicted to finish within ``DAGRT_INLINE_US``, and then runs
now (``CostModel.finishing``). Handing it to a worker instead would make its
own dependents wait for it too, and the next ones: a chain of small ops, once
one of its ops went to a worker, stayed on the scheduler for good, each op
paying the hand-off.

The cost model learns each kernel's thread CPU time, not its wall time: a
worker's kernel waits for the GIL each time NumPy returns, and a model that
learnt those waits took 0.4 ms additions for 3 ms ones and sent them to the
workers, where they waited again.

Whether an op the model finds dear goes to a worker at all is the regime's
(``Regime``): spreading such ops, and the chains behind them, over the
workers, or running every op in the caller as NumPy does, whichever the
program ran faster in its last measurement (``DAGRT_ADAPT_S``).

Imports nothing from dagrt but the configuration and the logger.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .. import _config, _log

COPIES = {"copy": "astype", "flatten": "astype", "ravel": "reshape"}  # as recorded
TIME = 2  # ``CostModel.cheap``: run now, and timed for the model
TIME_FIRST, TIME_EVERY = 8, 16  # a kind's ops timed: its first ones, then one in 16


class CostModel:
    """How long each kind of op takes per byte of work, learnt from the CPU
    time of the kernels that ran (exponential moving average). An op
    predicted to take less than ``limit`` seconds is cheaper to run at once
    in the recording thread than to hand to a worker.

    What an op costs is its time alone, in the recording thread: on a worker
    it shares the cores, caches and memory bandwidth with the recording
    thread and the other workers, and takes longer (mlp's matmuls 1.1 ms of
    CPU there against 0.83 alone, its additions 0.8 against 0.48, on the
    2-core machine), which a model learning it would take for the op's own
    cost: ops then stayed on the workers for good, each slower there than in
    the caller. So a kind of op never measured yet runs now, alone, and is
    measured there (``cheap`` admits it); a worker's time
    (``observe(..., alone=False)``) is learnt for a kind measured alone only
    when it is lower than the estimate (which was then too high: the first
    matmul of a program, 16384x64 by 64x10, took 10 times longer per
    multiply-add than the 1024x64 by 64x256 ones after it)."""

    def __init__(self) -> None:
        self.rates: dict[str, float] = {}
        self.alone: set[str] = set()  # kinds measured in the recording thread
        self.runs: dict[tuple[str, int], int] = {}  # ops admitted as cheap, by kind and work
        self.exact: dict[tuple[str, int], float] = {}  # seconds alone, by kind and work
        self.limit = 0.0  # the regime's (``base`` when spread)
        self.base = 0.0  # DAGRT_INLINE_US, in seconds (0: no op admitted by the model)
        self.small = 1 << 16  # ``Policy.small``: smaller ops never ask the model
        self.regime = Regime(self)

    def observe(self, name: str, work: int, seconds: float, alone: bool = True,
                ran: bool = False) -> None:
        """An op of ``name`` with ``work`` took ``seconds`` of CPU (``alone``:
        in the recording thread); ``ran``: it ran on the scheduler, not
        counted when admitted (the regime's progress: ``count``). An op of
        ``small`` work or less is not learnt: its time is mostly fixed costs
        (a 32-byte setitem deferred behind a pending op took 27 us on a
        worker: a 128 KiB one then looked 109 ms long, and was deferred)."""
        if ran:
            self.count(name, work)
        if work > self.small and work > 0:  # (smaller ops never ask: mostly fixed costs)
            if alone:  # (the regime's yardstick: a kind's time per byte depends on shape)
                old = self.exact.get(key := (name, work))
                if old is None and len(self.exact) > 4096:
                    self.exact.clear()
                self.exact[key] = seconds if old is None else old + 0.25 * (seconds - old)
            rate = seconds / work
            old = self.rates.get(name)
            if not alone and name in self.alone and old is not None and rate >= old:
                return
            if alone and name not in self.alone:  # its first time alone replaces the rest
                self.alone.add(name)
                old = None
            self.rates[name] = rate if old is None else old + 0.25 * (rate - old)

    def cheap(self, name: str, work: int, unknown: bool = True, count: bool = True) -> int:
        """An op of ``name`` with ``work`` is predicted to take less than
        ``limit``: 0 (no), 1 (yes), or ``TIME`` (yes, and time it for the
        model). A kind never measured counts as cheap (``unknown``), so that
        it runs now and is measured alone.

        Each op adds its work to the regime's progress once, when it runs:
        admitted here (asked once it can run, the first time: ``count``),
        else when it finishes on a worker (``count``).

        The first ops of a kind and work are timed, then one in
        ``TIME_EVERY``: reading a
        thread's CPU clock is a system call, and on a virtual machine it
        slowed the 70 us reduction after it by about 2 us (its caches and
        TLB flushed); every 16th op keeps the estimate current."""
        rate = self.rates.get(name)
        if rate is None:
            verdict = TIME if unknown and self.limit > 0 else 0
        elif rate * work >= self.limit:
            return 0
        else:
            key = (name, work)
            runs = self.runs.get(key, 0) + 1
            if len(self.runs) > 4096:  # (shapes that keep changing)
                self.runs.clear()
            self.runs[key] = runs
            verdict = TIME if runs < TIME_FIRST or runs % TIME_EVERY == 0 else 1
        if verdict and count and self.regime.window:
            self.regime.add(name, work)
        return verdict

    def grant(self, name: str, work: int, owed: int, ask: bool = True
              ) -> tuple[int, int, float] | None:
        """``cheap`` for the compiled recording path, which keeps a verdict
        "run now, untimed" between the ops the model times: ``owed`` ops of
        ``name`` and ``work`` ran now since the last ask without asking
        (counted here as ``cheap`` would have); then, if ``ask``, this op's
        verdict, how many ops after it get the same one before the next
        timed op, and until when (the regime's window)."""
        if owed:
            key = (name, work)
            self.runs[key] = self.runs.get(key, 0) + owed
            if self.regime.window:
                self.regime.add(name, work, owed)
        if not ask:
            return None
        verdict = self.cheap(name, work)
        if verdict != 1 or (runs := self.runs.get((name, work))) is None:
            return verdict, 0, 0.0
        until = self.regime.until if self.regime.window else float("inf")
        return 1, TIME_EVERY - 1 - runs % TIME_EVERY, until

    def count(self, name: str, work: int, ops: int = 1) -> None:
        """The regime's progress: an op over ``small`` ran now without
        asking the model (a copy of ready storage: NumPy's function's
        ``name``), or a deferred one finished; ``ops=-1``: an op counted
        when admitted was deferred after all (its inputs were pending)."""
        if self.regime.window and work > self.small:
            self.regime.add(COPIES.get(name, name), work, ops)

    def finishing(self, ops: list[Any], now: float) -> bool:
        """Every op of ``ops`` is running (``t0`` set, not ``done``) and is
        predicted to finish within ``limit`` seconds of ``now``."""
        for op in ops:
            rate = self.rates.get(op.name)
            if not op.t0 or rate is None or op.t0 + rate * op.work - now > self.limit:
                return False
        return True


SPREAD, CALLER = "spread", "caller"
CALLER_LIMIT = 10.0  # seconds: the run-now limit in the caller regime
MARGIN = 1.03  # spreading must be this much faster to be kept
FIRST = 2  # windows spread at first, before it is measured (the workers warm up)
WARM = {SPREAD: 1.0, CALLER: 0.25}  # windows of the other regime before it is measured
HOLD, HOLD_MAX = 4, 64  # windows the faster regime is kept: at first, at most
CLEAR = 1.15  # a regime this much faster is kept 4 times as long at once
SAME = 0.5  # windows compared must run this much of the same ops (predicted time)
SPAN_MAX = 16  # windows a regime is measured for at most, its mix unlike the other's
MIN_OPS = 64  # a measured window lasts until this many ops over ``small`` at least


class Regime:
    """Which way a dear op (predicted to take the run-now limit or more)
    runs: SPREAD, on a worker, and the chain of ops behind it with it (the
    cost model's limit, ``base``), or CALLER, now in the recording thread,
    its pending inputs waited for, as NumPy runs it (``CALLER_LIMIT``).

    Whether spreading pays depends on what the program leaves to overlap,
    on what a hand-off costs (a deferred op: tens of microseconds of Python
    in the recording thread and a worker), on BLAS's threads (one per op
    while workers run) and on how much slower ops run beside each other on
    the same cores (mlp's products and additions: 1.3-4x): not predictable
    from one op, so measured. Progress is the work of the ops over
    ``small`` that ran, each counted once, when it ran now or finished on a
    worker (``CostModel.cheap``, ``count``: counted when recorded, spread
    windows looked up to 10 times as fast as they ran, the recording
    thread far ahead of the workers on ops held for fusion),
    in seconds as the cost model estimates them when the windows compared
    are over, each kind and work at its own time alone where timed
    (``CostModel.exact``; bytes alone would make a window of mlp's large
    loss evaluations look 4 times as fast as one of its training steps;
    rates of the moment they were recorded, still being learnt, made a
    window look twice as fast as the next). A window of each regime
    (with ``MIN_OPS`` ops at least; the other one's after ``WARM`` windows
    for the queues to fill or drain and the cost model to settle: kmeans's
    first 100-200 ms spread ran at half its rate) gives its rate; the faster
    is kept for ``hold`` windows, 4 times as long each time the same one
    wins again, and at once if it won by ``CLEAR``. Spreading must win by
    ``MARGIN`` (in the caller ops run as in NumPy, nothing left on the
    workers). Two windows that ran different mixes of ops (``SAME``: one of
    mlp's windows held its loss evaluation, 16 times larger products, the
    other its training steps) decide nothing: each regime is measured again
    after one window, for twice as long up to ``SPAN_MAX`` (else a probe as
    long as mlp's epochs measured the caller in the same phase of each), its new window
    added to the one before, until their mixes are alike. A program starts
    spread, measured after ``FIRST`` windows."""

    def __init__(self, costs: CostModel) -> None:
        self.costs = costs
        self.window = 0.0  # seconds (DAGRT_ADAPT_S); 0: off, always SPREAD
        self.clock = time.perf_counter
        self._lock = threading.Lock()  # (ops finish on the workers too)
        self.reset()

    def reset(self) -> None:
        self.mode = self.best = SPREAD
        self.steps: list[tuple[str, bool, float]] = []  # to come: (mode, measured, windows)
        self.measured = False
        self.t0 = self.until = 0.0
        self.work: dict[tuple[str, int], int] = {}  # ops recorded in this step, by kind and work
        self.ops = 0
        self.windows: dict[str, tuple[dict[tuple[str, int], int], float]] = {}  # ops, seconds
        self.hold = HOLD
        self.span = 1.0  # windows each regime is measured for

    def add(self, name: str, work: int, ops: int = 1) -> None:
        """``ops`` ops of kind ``name`` with ``work`` bytes ran (from any
        thread: a count lost to a race is a sample less; each eighth asks
        the clock, and a step is taken under the lock)."""
        counts, key = self.work, (name, work)
        counts[key] = counts.get(key, 0) + ops
        before, self.ops = self.ops, self.ops + ops
        if before >> 3 != self.ops >> 3 and (self.ops >= MIN_OPS or not self.measured):
            now = self.clock()
            if now >= self.until:
                with self._lock:
                    if now >= self.until:  # (not stepped by another thread meanwhile)
                        self._step(now)

    def _predicted(self, mode: str) -> dict[tuple[str, int], float]:
        """The seconds each kind of op of ``mode``'s window takes, as the
        model estimates now: its time alone with that work, else its kind's."""
        rates, exact = self.costs.rates, self.costs.exact
        return {key: exact.get(key, rates.get(key[0], 0.0) * key[1]) * n
                for key, n in self.windows[mode][0].items()}

    def compare(self) -> float | None:
        """How much faster the spread window ran its ops than the caller's
        (work per second), or None if the windows ran different mixes of ops
        (less than ``SAME`` of their predicted time alike)."""
        spread, caller = self._predicted(SPREAD), self._predicted(CALLER)
        total_s, total_c = sum(spread.values()), sum(caller.values())
        if not total_s or not total_c:
            return None
        alike = sum(min(t / total_s, caller.get(key, 0.0) / total_c) for key, t in spread.items())
        if alike < SAME:
            return None
        return total_s / self.windows[SPREAD][1] / (total_c / self.windows[CALLER][1])

    def _step(self, now: float) -> None:
        if self.measured:  # (added to the mode's window before, if it decided nothing)
            work, seconds = self.windows.get(self.mode, ({}, 0.0))
            for key, n in self.work.items():
                work[key] = work.get(key, 0) + n
            self.windows[self.mode] = (work, seconds + now - self.t0)
        if not self.steps:
            if self.until:  # the probes are over: keep the faster regime
                ratio = self.compare()
                if _log.DEBUG:
                    _log.debug("regime: spread / caller {}", ratio)
                hold = 1.0  # (windows unlike: measured again after one, for twice as
                self.span = min(2 * self.span, SPAN_MAX)  # long, added to these)
                if ratio is not None:
                    self.windows.clear()
                    self.span = 1.0
                    best = SPREAD if ratio > MARGIN else CALLER
                    self.hold = min(4 * self.hold, HOLD_MAX) if best == self.best else HOLD
                    if not 1 / CLEAR < ratio < CLEAR:
                        self.hold = max(self.hold, 4 * HOLD)
                    self.best, hold = best, self.hold
            else:
                hold = FIRST
            other = CALLER if self.best == SPREAD else SPREAD
            self.steps = [(self.best, False, hold), (self.best, True, self.span),
                          (other, False, WARM[other]), (other, True, self.span)]
        self.mode, self.measured, windows = self.steps.pop(0)
        self.costs.limit = CALLER_LIMIT if self.mode == CALLER else self.costs.base
        self.t0, self.until = now, now + windows * self.window
        self.work, self.ops = {}, 0


class Policy:
    """The run-now test, with its flags read once per configuration change."""

    def __init__(self) -> None:
        self.costs = CostModel()
        self.inline_bytes = 1 << 16
        self.small = self.inline_bytes  # ops up to this work run now (-1: none)
        self.refresh()

    def refresh(self) -> None:
        self.inline_bytes = _config.get("inline_bytes")
        self.small = self.inline_bytes if self.inline_bytes > 0 else -1
        # inline_bytes=0 sends every op through the scheduler, cost model included
        costs = self.costs
        costs.limit = costs.base = (_config.get("inline_us") * 1e-6
                                    if self.inline_bytes > 0 else 0.0)
        costs.small = self.small
        costs.regime.reset()
        costs.regime.window = _config.get("adapt_s") if costs.base > 0 else 0.0

    def admits(self, name: str, work: int, count: bool = True) -> int:
        """An op of ``name`` with ``work`` bytes of work, inputs ready and
        outputs idle, runs now in the calling thread: 0 (no), 1 (yes) or
        ``TIME`` (yes, timed for the cost model; the recording path tests
        ``work <= small`` itself first: the common case, without a call)."""
        return 1 if work <= self.small else self.costs.cheap(name, work, True, count)


POLICY = Policy()
_config.on_change(POLICY.refresh)
