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

Imports nothing from dagrt but the configuration.
"""

from __future__ import annotations

from typing import Any

from .. import _config


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
        self.limit = 0.0

    def observe(self, name: str, work: int, seconds: float, alone: bool = True) -> None:
        if work > 0:
            rate = seconds / work
            old = self.rates.get(name)
            if not alone and name in self.alone and old is not None and rate >= old:
                return
            if alone and name not in self.alone:  # its first time alone replaces the rest
                self.alone.add(name)
                old = None
            self.rates[name] = rate if old is None else old + 0.25 * (rate - old)

    def cheap(self, name: str, work: int, unknown: bool = True) -> bool:
        """An op of ``name`` with ``work`` is predicted to take less than
        ``limit``; a kind never measured counts as cheap (``unknown``), so
        that it runs now and is measured alone."""
        rate = self.rates.get(name)
        if rate is None:
            return unknown and self.limit > 0
        return rate * work < self.limit

    def finishing(self, ops: list[Any], now: float) -> bool:
        """Every op of ``ops`` is running (``t0`` set, not ``done``) and is
        predicted to finish within ``limit`` seconds of ``now``."""
        for op in ops:
            rate = self.rates.get(op.name)
            if not op.t0 or rate is None or op.t0 + rate * op.work - now > self.limit:
                return False
        return True


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
        self.costs.limit = (_config.get("inline_us") * 1e-6 if self.inline_bytes > 0 else 0.0)

    def admits(self, name: str, work: int) -> bool:
        """An op of ``name`` with ``work`` bytes of work, inputs ready and
        outputs idle, runs now in the calling thread (the recording path tests
        ``work <= small`` itself first: the common case, without a call)."""
        return work <= self.small or self.costs.cheap(name, work)


POLICY = Policy()
_config.on_change(POLICY.refresh)
