"""Where an op runs: now, in the calling thread, or on the scheduler.

The one predicate the recording path (``array.record``) asks, next to the
cost model that feeds it. A thread hand-off costs tens of microseconds in
CPython; a NumPy op on 1024 elements costs one. So an op whose inputs are
ready and whose outputs are idle runs now when

- its work is at most ``DAGRT_INLINE_BYTES`` (64 KiB), or
- the cost model predicts it takes less than ``DAGRT_INLINE_US`` (1 ms).

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
    in the recording thread than to hand to a worker; ops never seen yet go
    to the scheduler, which measures them."""

    def __init__(self) -> None:
        self.rates: dict[str, float] = {}
        self.limit = 0.0

    def observe(self, name: str, work: int, seconds: float) -> None:
        if work > 0:
            rate = seconds / work
            old = self.rates.get(name)
            self.rates[name] = rate if old is None else old + 0.25 * (rate - old)

    def cheap(self, name: str, work: int) -> bool:
        rate = self.rates.get(name)
        return rate is not None and rate * work < self.limit

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
