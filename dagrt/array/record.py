"""The one recording path: every op, whatever its kind, goes through :func:`record`.

    record(name, call, args, kwargs, plan, outs=None, use_out=True, work=0)

``call(*args, **kwargs)`` is the NumPy call the op stands for. One predicate
decides where it runs: when every dagrt array among the inputs is on the host
with no pending write, the outputs have no pending use, and the policy
(``engine.policy``: small, or predicted cheap by the cost model) admits
``work``, it runs **now**, in the calling thread:

- without ``outs``, NumPy runs ``call`` on the inputs' storage and allocates
  the result, which is wrapped: NumPy's own checks raise at the call;
- with ``outs`` (in-place ops, ``out=``, setitem, a generator's state), the
  call writes their storage.

Otherwise the op goes to the **scheduler**: ``plan()`` returns the outputs'
storage (shape and dtype from the rules of ``ops.rules``, which raise NumPy's
argument errors at the call) and an ``Op`` reading and writing those buffers
is pushed. A kernel that fails while running now raises at the call, as in
NumPy, whether the error comes from the arguments or from the values (a
singular matrix); only a deferred op's value error waits for a sync point.

While a profiler or graph recorder observes the engine, ops run now are shown
to it as slices on the caller's track: observing does not move them.

The run-now case is also compiled (``array/_native.c``): ``run_now`` tests
the same predicate and makes the same call for an op without given outputs
(the first thing ``record`` tries), and ``ndarray``'s operator, indexing and
iteration slots do so before calling their Python code at all.

An op on a cluster device is a record replayed on a worker: ``array.cluster``
takes it, most often as a batched op (``engine.batches``), which the engine
counts but does not link.

Imports: the engine, the devices, ``array.ndarray``, ``array.operands``,
``array.results``, ``array.fusion``, ``array.cluster``.
"""

from __future__ import annotations

import contextvars
import functools
import operator
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _config, _log
from ..devices.device import Device
from ..engine import warncontext
from ..engine.executors import ThreadedExecutor
from ..engine.graph import (
    FRESH,
    PKG_DIR,
    ForeignVar,
    Op,
    Site,
    Var,
    quick_site,
    recording_site,
    user_frame,
)
from ..engine.policy import CALLER, CALLER_LIMIT, POLICY, TIME
from ..engine.scheduler import ENGINE
from . import chunks, cluster, fusion
from .flags import writeable
from .fusion import Fusable, fusable
from .ndarray import _NP, _new, ndarray, observe_with, run_now, stand_for_scalars, var_of, view_now
from .operands import resolve, whole
from .results import evaluate, wrap_result  # noqa: F401 (evaluate: re-exported)
from .sites import caller_at

Plan = Callable[[], list[ndarray]]
NO_KWARGS: dict[str, Any] = {}  # an op without keywords (never mutated)


def record(name: str, call: Callable[..., Any], args: Sequence[Any],
           kwargs: dict[str, Any], plan: Plan, outs: list[ndarray] | None = None,
           use_out: bool = True, work: int = 0, also: Sequence[ndarray] = (),
           partial: bool = False, waited: bool = False) -> Any:
    """Record ``call(*args, **kwargs)``; return its outputs (a list: the new
    arrays, or ``outs`` when the op writes given outputs).

    ``work`` is the op's size in bytes for the policy and the cost model (the
    same estimate whichever way the op runs). ``also``: other buffers the op
    writes besides its outputs (a random generator's state). ``partial``: the
    op writes only part of its outputs (setitem), so it keeps their poison.
    ``waited``: the op waited for the kernels it depends on (``_settle``)."""
    if outs is None and run_now is not None and not waited:  # the common case, in C
        done = run_now(call, args, kwargs, work, also, name)
        if done is not None:
            if type(done) is tuple:  # not a new NumPy array: wrapped here
                return _wrap_now(name, plan, done[0])
            if CHECK_PLANS:
                check_plan(name, plan, done)
            return done
    # The predicate: the policy admits the work, every input is ready on the
    # host, and nothing pending uses the outputs.
    values: list[Any] | None = None
    admitted = work <= POLICY.small or POLICY.admits(name, work, not waited)
    if admitted:
        values = []
        for a in args:  # host_values(args), inlined: the hottest loop
            t = type(a)
            if t is ndarray:
                var = a._var
                if var.nw or var.error is not None or var.device is not None:
                    values = None
                    waited = waited or var.device is not None  # (nothing to settle)
                    break
                values.append(a._data)
            elif t is list or t is tuple:
                inner = host_values(a)
                if inner is None:
                    values = None
                    break
                values.append(t(inner))
            else:
                values.append(a)
        if outs is not None and values is not None:
            for o in outs:  # idle(outs), inlined
                var = o._var
                if var.n or var.error is not None or var.device is not None:
                    values = None
                    break
        if also and values is not None and not idle(also):
            values = None
        if kwargs and values is not None:
            kw = host_values(kwargs.values())
            if kw is None:
                values = None
            else:
                kwargs = dict(zip(kwargs, kw))
    if values is None:  # to the scheduler
        if admitted and not waited and _settle(args, outs):
            return record(name, call, args, kwargs, plan, outs, use_out, work, also, partial,
                          waited=True)
        if admitted:  # (counted as run now: it runs later, on a worker)
            POLICY.costs.count(name, work, -1)
        fresh = outs is None
        outs = plan()
        if fresh and not outs[0]._data.ndim:  # where NumPy returns a scalar
            stand_for_scalars(outs)
        _defer(name, call, args, kwargs, outs, use_out, work, also,
               partial or "where" in kwargs, fresh)
        return outs
    # Now, in the calling thread; NumPy's errors raise here, at the call, as
    # in NumPy (values' errors too).
    if ENGINE.observers or admitted == TIME:
        return _timed(name, call, args, values, kwargs, plan, outs, use_out, work,
                      admitted == TIME)
    if outs is not None:
        if use_out and not kwargs and len(outs) == 1:
            call(*values, out=outs[0]._data)
        else:
            _write(call, values, kwargs, outs, use_out)
        return outs
    result = call(*values, **kwargs) if kwargs else call(*values)
    if type(result) is _NP and result.base is None and not CHECK_PLANS:
        new = _new(ndarray)  # wrap(), inlined: the hottest line
        new._data, new._var, new._base = result, FRESH, None
        return [new]
    return _wrap_now(name, plan, result)


def now(call: Callable[..., Any], args: tuple[Any, ...],
        kwargs: dict[str, Any] = NO_KWARGS, name: str | None = None, work: int = -1) -> Any:
    """The run-now case of :func:`record` alone, tried first by a function
    whose arguments, when they are dagrt arrays, need no preparation
    (``concatenate([a, b])``, ``where(c, x, y)``): ``call``'s result on the
    storage, or None: not run now (the function then records the op as
    usual). ``work`` defaults to the bytes of the arrays among the arguments.
    Given the ``name`` (and ``work``) the op's ``record`` would give, an op
    over ``POLICY.small`` that the cost model predicts cheap runs now too,
    timed and learnt. (Not while plans are checked: ``record`` then runs
    every op, plan and all.)"""
    if run_now is None or CHECK_PLANS:
        return None
    done = run_now(call, args, kwargs, work, (), name, 2)  # (2: plain arguments only)
    if done is None:
        return None
    return done[0] if type(done) is list else wrap_result(done[0])


def _no_view(func: Callable[..., Any], a: Any, args: tuple[Any, ...] = (),
             kwargs: dict[str, Any] = NO_KWARGS, ready: bool = True) -> Any:
    return None  # (no compiled module: every call takes the caller's path)


# now_view(func, a, args=(), kwargs={}, ready=True), in C: the run-now case of
# ``reshape``, ``astype``...: ``func(a's storage, *args, **kwargs)``, a dagrt
# view of ``a`` or a new array (``a`` ready; not ``ready``: views of pending
# storage too); None: not run (the caller's path). See ``view_now`` in C.
now_view: Callable[..., Any] = view_now if view_now is not None else _no_view


def _settle(args: Sequence[Any], outs: list[ndarray] | None) -> bool:
    """Wait for the kernels running on workers that an op the policy admits
    waits on, if they are about to finish (``POLICY.costs.finishing``), for
    at most twice the run-now limit; in the caller regime, for the kernels
    it waits on, running or not (``policy.Regime``); True if they finished.
    (Not in a worker, whose kernel records, nor on devices.)"""
    ops: list[Op] = []
    for a in args:
        t = type(a)
        for x in (a,) if t is ndarray else a if t is list or t is tuple else ():
            if type(x) is ndarray:
                var = x._var
                if var.device is not None:
                    return False
                if var.nw and var.last_writer is not None:
                    ops.append(var.last_writer)
    for o in outs or ():
        var = o._var
        if var.device is not None:
            return False
        if var.n:
            ops.extend(op for op in (var.last_writer, *var.readers)
                       if op is not None and not op.done)
    if not ops or ThreadedExecutor.current() is not None:
        return False
    costs = POLICY.costs
    if costs.regime.mode == CALLER and costs.limit == CALLER_LIMIT:
        # the caller regime: the kernels are waited for, started or not (else a
        # chain deferred while spread stays deferred, each op's input pending)
        if any(op.held for op in ops):
            ENGINE.flush()
        return ENGINE.settle(ops, CALLER_LIMIT)
    return costs.finishing(ops, time.perf_counter()) and \
        ENGINE.settle(ops, 2 * costs.limit)  # (a kernel that waits uses no CPU)


def _write(call: Callable[..., Any], values: list[Any], kwargs: dict[str, Any],
           outs: list[ndarray], use_out: bool) -> None:
    """Run an op with given outputs now: ``call`` writes their storage."""
    if use_out:
        call(*values, out=outs[0]._data if len(outs) == 1 else
             tuple(o._data for o in outs), **kwargs)
    else:
        _assign([o._data for o in outs], call(*values, **kwargs))


def _wrap_now(name: str, plan: Plan, result: Any) -> list[Any]:
    """The outputs of an op run now: NumPy's scalar stays as it is (a value
    that is ready needs no laziness: ``x.sum()`` is a numpy.float64, as in
    NumPy); a view of an input is copied (as ``wrap_result`` does)."""
    outs = list(wrap_result(result)) if isinstance(result, tuple) else [wrap_result(result)]
    if CHECK_PLANS:
        check_plan(name, plan, outs)
    return outs


CHECK_PLANS = False  # DAGRT_CHECK_PLANS (the tests set it)
FUSE_BYTES = 1 << 20  # DAGRT_FUSE_BYTES: smaller deferred ops are not held for fusion
ENGINE.fuser = fusion.fuse


def _refresh() -> None:
    global CHECK_PLANS, FUSE_BYTES
    CHECK_PLANS = bool(_config.get("check_plans"))
    FUSE_BYTES = _config.get("fuse_bytes")


_refresh()
_config.on_change(_refresh)


def check_plan(name: str, plan: Plan, outs: Sequence[Any]) -> None:
    """The outputs NumPy made now have the shapes and dtypes that ``plan()``
    gives the scheduler (else the same program would differ by schedule)."""
    try:
        planned = [(o.shape, o.dtype) for o in plan()]
    except Exception as exc:
        raise AssertionError(f"dagrt: {name} ran now but its plan raised {exc!r}") from exc
    made = [(o.shape, o.dtype) if isinstance(o, ndarray) or (
        isinstance(o, np.generic) and p[1].kind != "O")
        else ((), np.dtype(object)) for o, p in zip(outs, planned)]  # an object's element
    if planned != made:
        raise AssertionError(f"dagrt: {name} made {made} now, its plan says {planned}")


def _timed(name: str, call: Callable[..., Any], args: Sequence[Any], values: list[Any],
           kwargs: dict[str, Any], plan: Plan, outs: list[ndarray] | None, use_out: bool,
           work: int, learn: bool) -> list[Any]:
    """An op run now that the cost model admitted (keep its estimate current)
    or that observers watch: a slice on the caller's track, with its buffers
    (its reads may repeat and include what it writes: the recorder sorts that
    out when asked, not here; its CPU time is its wall time, as it ran in this
    thread and a ``thread_time()`` call costs more than it). The cost model
    learns the CPU time of an op it admitted to ``learn``, as from a worker
    (``Engine._run``)."""
    c0 = time.thread_time() if learn else 0.0
    t0 = time.perf_counter()
    if outs is not None:
        _write(call, values, kwargs, outs, use_out)
    else:
        outs = _wrap_now(name, plan, call(*values, **kwargs))
    t1 = time.perf_counter()
    if learn:
        POLICY.costs.observe(name, work, time.thread_time() - c0)
        if _log.DEBUG:
            _log.debug("{} ran now: predicted cheaper than a hand-off", name)
    if not ENGINE.observers:
        return outs
    out = outs[0] if outs else None
    if type(out) is ndarray:
        writes = (var_of(out),) if len(outs) == 1 else \
            tuple({var_of(o): None for o in outs if type(o) is ndarray})
        data = out._data
        shape, dtype = data.shape, data.dtype
    else:
        writes, shape, dtype = (), None, None
    reads: list[Var] = []
    for a in args:
        t = type(a)
        if t is ndarray:
            reads.append(var_of(a))
        elif t is list or t is tuple:
            resolve(a, reads, False)
    ENGINE.ran_now(name, quick_site(), shape, dtype, t0, t1, writes, reads)
    return outs


def observed(name: str, out: Any, operands: tuple[Any, ...], t0: float, t1: float) -> None:
    """An op the compiled base class ran now while observers watch: a slice
    on the caller's track with its buffers (as ``_timed`` shows the ops the
    Python path runs now)."""
    if type(out) is ndarray:
        writes: tuple[Var, ...] = (var_of(out),)
        data = out._data
        shape, dtype = data.shape, data.dtype
    else:
        writes, shape, dtype = (), None, None
    ENGINE.ran_now(name, quick_site(), shape, dtype, t0, t1, writes,
                   [var_of(a) for a in operands if type(a) is ndarray])


if observe_with is not None:
    observe_with(observed, PKG_DIR)


def host_values(args: Any, depth: int = 0) -> list[Any] | None:
    """The storage of the dagrt arrays among ``args`` (in lists and tuples,
    down to NumPy's 64 dimensions), or None if one of them is pending,
    failed or on a device."""
    values = []
    for a in args:
        t = type(a)
        if t is ndarray:
            var = a._var
            if var.nw or var.error is not None or var.device is not None:
                return None
            values.append(a._data)
        elif (t is list or t is tuple) and depth < 64:
            inner = host_values(a, depth + 1)
            if inner is None:
                return None
            values.append(t(inner))
        else:
            values.append(a)
    return values


def idle(outs: Sequence[ndarray]) -> bool:
    """No pending operation uses any of ``outs`` (so they may be written now)."""
    for o in outs:
        var = o._var
        if var.n or var.error is not None or var.device is not None:
            return False
    return True


def _assign(targets: list[np.ndarray], result: Any) -> None:
    if len(targets) == 1:
        targets[0][...] = result
    else:
        for target, value in zip(targets, result):
            target[...] = value


def check_writeable(outs: list[ndarray]) -> None:
    """Raise NumPy's error if an output may not be written."""
    for out in outs:
        if out._var.error is None and not writeable(out):
            raise ValueError("assignment destination is read-only")


def _poison(name: str, exc: Exception, outs: list[ndarray]) -> None:
    """A kernel run now failed on its values: its outputs carry the error,
    which surfaces at the next sync point, as it would from a worker."""
    op = Op(None, (), tuple(var_of(o) for o in outs), name, recording_site())  # type: ignore[arg-type]
    ENGINE.fail(op, exc)


def _defer(name: str, call: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any],
           outs: list[ndarray], use_out: bool, work: int, also: Sequence[ndarray],
           partial: bool, fresh: bool = False) -> None:
    if not fresh:  # (new outputs: writeable; an elided temporary was checked)
        check_writeable(outs)
    device = outs[0]._var.device if outs else None
    if device is not None and device.kind == "cluster":  # a record, replayed on a worker
        scheduled = cluster.take(name, device, call, args, kwargs, outs, use_out, also,
                                 partial)
        if scheduled is not None:  # (else taken as a batched op)
            kernel, reads, writes, covers, site = scheduled
            push(name, kernel, reads, writes, sum(o._data.nbytes for o in outs), {
                "shape": outs[0].shape, "dtype": outs[0].dtype} if ENGINE.observers else None,
                device, covers=covers, site=site)
        return
    if device is not None:  # device ops always go to the device's streams
        call = device.backend.translate(call, kwargs)
    reads: list[Var] = []
    values = resolve(args, reads, True)
    kw = {k: resolve(v, reads, True) for k, v in kwargs.items()} if kwargs else NO_KWARGS
    targets = [o._data for o in outs]
    writes = [var_of(o) for o in (*outs, *also)]
    covers = () if partial else [o._var for o in outs if whole(o)]
    fuse = None
    frame = user_frame()  # the kernel calls NumPy as if from there (its warnings)
    site = None if frame is None else (frame.f_code, frame.f_lasti)
    at = caller_at(site, None if frame is None else frame.f_globals)
    del frame
    if use_out:
        # Held for fusion: large, and not predicted cheap (an op that takes
        # less than a hand-off is worth would only wait for others' inputs)
        if work >= FUSE_BYTES and device is None and not partial and not also \
                and ENGINE.fuser is not None and not POLICY.costs.cheap(name, work, False, False):
            fuse = fusable(call, values, kw, targets, outs, at)
        kernel = functools.partial(
            at, call, values, {**kw, "out": targets[0] if len(targets) == 1 else tuple(targets)})
    else:
        kernel = functools.partial(_assign_result, targets, at, call, values, kw)
    if device is None and fuse is None and work >= 2 * chunks.BLOCK_BYTES > 0:  # in blocks?
        kernel = chunks.chunked(name, call, values, kw, targets, kernel, use_out) or kernel
    nbytes = sum(t.nbytes for t in targets)
    push(name, kernel, reads, writes, nbytes,
         {"shape": targets[0].shape, "dtype": targets[0].dtype}
         if targets and ENGINE.observers else None, device, work=work or nbytes,
         covers=covers, site=site, fuse=fuse)
    for var in (*reads, *writes):  # memory NumPy code holds: done before returning
        if type(var) is ForeignVar and (var.implicit or var in writes):
            ENGINE.wait(var, writes_only=False)


def _assign_result(targets: list[np.ndarray], at: Any, call: Callable[..., Any],
                   values: Any, kw: dict[str, Any]) -> None:
    result = at(call, values, kw)  # (the copy's casting warns from the user's line too)
    for target, value in zip(targets, (result,) if len(targets) == 1 else result):
        at(operator.setitem, (target, Ellipsis, value), NO_KWARGS)


def push(name: str, kernel: Callable[[], Any], reads: list[Var], writes: list[Var],
         nbytes: int = 0, meta: dict[str, Any] | None = None,
         device: Device | None = None, lane: str = "", work: int | None = None,
         covers: Sequence[Var] = (), site: Site | None | bool = True,
         fuse: Fusable | None = None) -> None:
    """Hand an operation to the scheduler, in the recording context (so that
    ``np.errstate`` and the warning filters apply to the kernel as in NumPy).
    ``covers``: written buffers the op overwrites whole (if it does not also
    read them); ``site``: where it was recorded (``True``: find it)."""
    write_set = tuple(writes) if len(writes) == 1 else tuple(dict.fromkeys(writes))
    if len(reads) > 1:
        reads = list(dict.fromkeys(reads))
    read_set = tuple(v for v in reads if v not in write_set)
    warncontext.mark_used()
    op = Op(functools.partial(contextvars.copy_context().run, kernel), read_set, write_set, name,
            recording_site() if site is True else site,  # type: ignore[arg-type]
            nbytes=nbytes, meta=meta, device=device)
    op.lane = lane
    if work is not None:
        op.work = work
    if covers:
        op.covers = tuple(v for v in covers if v not in reads)
    op.fuse = fuse
    ENGINE.push(op)
