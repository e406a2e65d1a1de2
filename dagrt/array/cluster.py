"""The recording path's cluster case: an op on a cluster device becomes a
record, replayed on a worker (``devices.cluster``), and most often a batched
op (``engine.batches``) rather than a scheduled one.

Imports: the engine, ``devices.replay``, ``array.ndarray``, ``array.operands``,
``array.results``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..devices.device import Device
from ..devices.replay import identity
from ..engine.graph import FRESH, Site, Var, user_frame
from ..engine.scheduler import ENGINE
from .ndarray import ndarray, var_of
from .operands import resolve, whole
from .results import evaluate

NO_KWARGS: dict[str, Any] = {}
Scheduled = tuple[Callable[[], Any], list[Var], list[Var], Sequence[Var], "Site | None"]


def take(name: str, device: Device, call: Callable[..., Any], args: Sequence[Any],
         kwargs: dict[str, Any], outs: list[ndarray], use_out: bool, also: Sequence[ndarray],
         partial: bool) -> Scheduled | None:
    """Record ``call(*args, **kwargs)`` writing ``outs`` on ``device``: the op
    joins the open segment as a batched op (None is returned), or, when
    observers watch the engine, a scheduled op uses its buffers or it reads
    host memory, this returns what the caller pushes as a scheduled op: a
    kernel that appends the record when launched (the graph orders it), its
    reads, writes, the buffers it overwrites whole, and its site."""
    reads: list[Var] = []
    values = resolve(args, reads, True)
    kw = {k: resolve(v, reads, True) for k, v in kwargs.items()} if kwargs else NO_KWARGS
    if len(outs) == 1 and not also:  # (the common case, spelled out)
        out = outs[0]
        targets = [out._data]
        writes = [out._var if out._var is not FRESH else var_of(out)]
        covers: Sequence[Var] = () if partial or not whole(out) else writes
    else:
        targets = [o._data for o in outs]
        writes = [var_of(o) for o in (*outs, *also)]
        covers = () if partial else [o._var for o in outs if whole(o)]
    frame = user_frame()
    site = None if frame is None else (frame.f_code, frame.f_lasti)
    del frame
    backend, executor = device.backend, device.executor
    if not backend.picklable(call):  # a function no worker can receive (frompyfunc...):
        # on host copies, now; the record sends the values
        call, values, kw, use_out = identity, _on_host(call, args, kwargs, outs, use_out), \
            NO_KWARGS, False
    record, roots = backend.record(call, values, kw, targets, use_out)
    # Batched, if no observer watches and its buffers are the device's and no
    # scheduled op uses them (a host buffer's readers and writers must see the
    # op: the scheduler links it)
    batched = not ENGINE.observers
    for var in (*reads, *writes):
        if var.device is not device or var.last_writer is not None or var.readers:
            batched = False
            break
    if not batched:
        executor.hold(roots)
        return functools.partial(executor.append, record, roots), reads, writes, covers, site
    if len(writes) == 1:
        write = writes[0]
        executor.take(name, site, tuple([v for v in reads if v is not write]), (write,),
                      () if not covers or write in reads else (write,), targets[0].nbytes,
                      record, roots)
        return None
    write_set = tuple(dict.fromkeys(writes))
    executor.take(name, site, tuple([v for v in reads if v not in write_set]), write_set,
                  tuple([v for v in covers if v not in reads]),
                  sum([t.nbytes for t in targets]), record, roots)
    return None


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
