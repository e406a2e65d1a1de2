"""The recording path's cluster case: an op on a cluster device becomes a
record, replayed on a worker (``devices.cluster``).

Imports: the engine, ``devices.replay``, ``array.results``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..devices.device import Device
from ..devices.replay import identity
from ..engine.graph import Site, Var
from ..engine.scheduler import ENGINE
from .results import evaluate

NO_KWARGS: dict[str, Any] = {}


def kernel(name: str, device: Device, call: Callable[..., Any], args: Sequence[Any],
           kwargs: dict[str, Any], values: Any, kw: dict[str, Any], outs: list[Any],
           use_out: bool, reads: list[Var], writes: list[Var], covers: Sequence[Var],
           site: Site | None) -> Callable[[], Any] | None:
    """Record ``call`` (``values``, ``kw``: the storage of ``args``, ``kwargs``)
    for ``device``: the op joins the open segment as a batched op
    (``engine.batches``: None is returned), or, when observers watch the
    engine, a scheduled op uses its buffers or it reads host memory, the
    kernel of a scheduled op that appends the record when launched (the
    graph orders it)."""
    backend, executor = device.backend, device.executor
    targets = [o._data for o in outs]
    if not backend.picklable(call):  # a function no worker can receive (frompyfunc...):
        # on host copies, now; the record sends the values
        call, values, kw, use_out = identity, _on_host(call, args, kwargs, outs, use_out), \
            NO_KWARGS, False
    record, roots = backend.record(call, values, kw, targets, use_out)
    if not ENGINE.observers and _batchable(reads, device) and _batchable(writes, device):
        write_set = tuple(writes) if len(writes) == 1 else tuple(dict.fromkeys(writes))
        executor.take(name, site, tuple([v for v in reads if v not in write_set]), write_set,
                      tuple([v for v in covers if v not in reads]),
                      sum([t.nbytes for t in targets]), record, roots)
        return None
    executor.hold(roots)
    return functools.partial(executor.append, record, roots)


def _batchable(variables: list[Var], device: Device) -> bool:
    """The buffers are ``device``'s and no scheduled op uses them (a host
    buffer's readers and writers must see the op: the scheduler links it)."""
    for var in variables:
        if var.device is not device or var.last_writer is not None or var.readers:
            return False
    return True


def _on_host(call: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any],
             outs: list[Any], use_out: bool) -> tuple[np.ndarray, ...]:
    """The outputs' new values: ``call`` run now on host copies of its
    cluster inputs."""
    values = evaluate(list(args))
    kw = {k: evaluate(v) for k, v in kwargs.items()}
    results = [o._host().copy() for o in outs]
    if use_out:
        call(*values, out=results[0] if len(results) == 1 else tuple(results), **kw)
    elif len(results) == 1:
        results[0][...] = call(*values, **kw)
    else:
        for target, value in zip(results, call(*values, **kw)):
            target[...] = value
    return tuple(results)
