"""Fused elementwise chains: one blocked kernel for a run of held ufunc calls.

The scheduler holds large elementwise ops (``Op.fuse``: a :class:`Fusable`)
until the next other op, a sync point or a full window
(``Engine.flush``), then asks :func:`fuse` to group them. A group is a run of
consecutive held ops over one iteration domain (the outputs' shape) whose
arrays alias only element for element. Its kernel cuts the domain into
cache-sized blocks and passes each block through every member in program
order, on the calling worker and any idle ones at once
(``ThreadedExecutor.share``). A lone large op is a group of one: a chunked op.

What NumPy computes is unchanged: each member is the same ufunc call on
blocks of the same operands (dtypes, casting, NEP 50 scalars), writing blocks
of the same outputs. An output that nothing can observe any more (a Python
temporary: its array is gone, no other op uses its buffer, it is written
whole before it is read) is never written: its blocks live in per-worker
scratch memory. Floating-point errors are collected per member while blocks
run and reported once per member afterwards, as NumPy reports them once per
call, from the member's recording line; a member whose report raises
(``np.errstate(divide="raise")``, a warning filter set to "error") fails
alone, with the members that read what it wrote. Not fused: ``where=``,
object dtypes, ``np.errstate`` modes "call", "print" and "log", outputs
whose elements share memory (a broadcast view written in place).

Imports: the configuration, the engine (its executors, ``Op``).
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import math
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _config
from ..engine.executors import ThreadedExecutor
from ..engine.graph import Op, Var
from ..engine.policy import POLICY

BLOCK_BYTES = 1 << 17  # DAGRT_FUSE_BLOCK_BYTES, per operand: a chain's blocks stay in L2
MIN_BLOCKS = 2  # a domain smaller than this many blocks runs as it is
_KWARGS = frozenset(("dtype", "casting", "signature"))
# Ufuncs whose loops stream memory at a few cycles per element: one of these
# alone gains nothing from a second core on a machine whose memory bandwidth
# one core nearly saturates (measured on the 2-core VM, 4M float64: ``a + b``
# 3.15 ms whole, 3.43 ms in blocks on two workers; ``sqrt`` 4.62 ms whole,
# 3.27 ms in blocks), so it is not chunked; in a chain it is fused as usual.
MEMORY_BOUND = frozenset((
    "add", "subtract", "multiply", "negative", "positive", "absolute", "fabs", "maximum",
    "minimum", "fmax", "fmin", "copysign", "conjugate", "square", "equal", "not_equal",
    "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
    "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "invert",
    "left_shift", "right_shift", "isnan", "isinf", "isfinite", "signbit", "sign"))
_CATEGORIES = ((1, "divide", "divide by zero"), (2, "over", "overflow"),
               (4, "under", "underflow"), (8, "invalid", "invalid value"))


class Fusable:
    """What the fuser needs of one held ufunc call ``ufunc(*values, out=targets, **kw)``."""

    __slots__ = ("ufunc", "values", "kw", "targets", "refs", "modes", "at", "error",
                 "origin", "ran")

    def __init__(self, ufunc: np.ufunc, values: tuple[Any, ...], kw: dict[str, Any],
                 targets: tuple[np.ndarray, ...], refs: tuple[Any, ...],
                 modes: dict[str, str], at: Callable[..., Any]) -> None:
        self.ufunc = ufunc
        self.values = values
        self.kw = kw
        self.targets = targets
        self.refs = refs  # weak references to the outputs' arrays (None: a view)
        self.modes = modes
        self.at = at  # calls a function from the recording line (warnings)
        # set by the group's kernel: this op's error, and the op it comes from
        self.error: BaseException | None = None
        self.origin: Op | None = None
        self.ran = False  # (a leader's) its group's kernel ran to the end

    def release(self) -> None:
        """The op finished: drop its arrays (a finished op keeps no memory)."""
        self.values = self.targets = self.refs = ()
        self.kw = {}


def fusable(call: Any, values: Sequence[Any], kw: dict[str, Any],
            targets: Sequence[np.ndarray], outs: Sequence[Any],
            at: Callable[..., Any]) -> Fusable | None:
    """A :class:`Fusable` for a deferred host op, or None if fusing it could
    change what NumPy does (see the module's docstring)."""
    if type(call) is not np.ufunc or call.signature is not None or len(targets) != call.nout:
        return None
    if kw and not _KWARGS.issuperset(kw):
        return None
    shape = targets[0].shape
    if not shape or math.prod(shape) == 0:
        return None
    for t in targets:
        if t.shape != shape or t.dtype.hasobject or not t.flags.writeable \
                or not _separate(t):
            return None
    for v in values:
        if type(v) is np.ndarray:
            if v.dtype.hasobject:
                return None
        elif not isinstance(v, _SCALARS) or isinstance(v, np.object_):
            return None
    modes = _error_modes()
    if modes is None:  # "call", "print", "log": run as recorded
        return None
    refs = tuple(weakref.ref(o) if o._base is None else None for o in outs)
    # (its warnings under the recording context's filters: engine.warncontext)
    at = functools.partial(contextvars.copy_context().run, at)
    return Fusable(call, tuple(values), kw, tuple(targets), refs, modes, at)


_SCALARS = (int, float, complex, np.generic)
_MODES = ("ignore", "warn", "raise")
# NumPy's error state is a context variable whose value is a new object per
# ``np.errstate``: modes are read once per value (``np.geterr()`` costs).
_STATE = getattr(getattr(np, "_core", None), "_ufunc_config", None)
_STATE_VAR = getattr(_STATE, "_extobj_contextvar", None)
_LAST_MODES: tuple[Any, dict[str, str] | None] = (object(), None)


def _error_modes() -> dict[str, str] | None:
    """``np.geterr()`` as text, or None if a mode is not one fusion keeps."""
    global _LAST_MODES
    state = _STATE_VAR.get() if _STATE_VAR is not None else None
    last = _LAST_MODES
    if state is not None and last[0] is state:
        return last[1]
    modes: dict[str, str] | None = {k: str(v) for k, v in np.geterr().items()}
    if any(mode not in _MODES for mode in modes.values()):  # type: ignore[union-attr]
        modes = None
    if state is not None:
        _LAST_MODES = (state, modes)
    return modes


# What fusion did (groups run as one kernel, ops in them, outputs never written,
# scratch blocks these used): for tests and the docs' figures.
STATS = {"groups": 0, "ops": 0, "dead": 0, "scratch": 0}


def _refresh() -> None:
    global BLOCK_BYTES
    BLOCK_BYTES = _config.get("fuse_block_bytes")


_refresh()
_config.on_change(_refresh)


def _separate(a: np.ndarray) -> bool:
    """No two elements of ``a`` share memory (a broadcast view written in
    place does: NumPy copies its inputs first, a blocked kernel would read
    elements an earlier block wrote)."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return True
    extent = a.itemsize
    for stride, n in sorted((abs(st), n) for st, n in zip(a.strides, a.shape) if n > 1):
        if stride < extent:
            return False
        extent += stride * (n - 1)
    return True


def fuse(held: list[Op]) -> list[tuple[list[Op], Callable[[], None]]]:
    """Group the held ops (in push order) into runs that one kernel computes.
    Called by the scheduler, under its lock: reads the graph, starts nothing."""
    groups: list[tuple[list[Op], Callable[[], None]]] = []
    group: _Group | None = None
    for op in held:
        if op.error is None and op.fuse is not None:
            if group is not None and group.add(op):
                continue
            if group is not None:
                groups.extend(group.close())
            group = _Group(op)
        elif group is not None:
            groups.extend(group.close())
            group = None
    if group is not None:
        groups.extend(group.close())
    return groups


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` and ``b`` are the same view (same memory, layout and dtype)."""
    return a is b or (a.shape == b.shape and _where(a) == _where(b))


class _Group:
    """A run of held ops over one domain, growing while each new op keeps
    every alias element for element."""

    def __init__(self, op: Op) -> None:
        spec: Fusable = op.fuse
        self.ops = [op]
        self.shape = spec.targets[0].shape
        self.modes = spec.modes
        # the group's written arrays and read arrays, each object once (a chain
        # writes and reads the same few objects over and over)
        self.written: dict[int, np.ndarray] = {id(t): t for t in spec.targets}
        self.arrays = {id(v): v for v in spec.values if type(v) is np.ndarray}
        self.ok = self._clean(self.written, {**self.arrays, **self.written})
        # what the kernel waits for: the members and their unfinished predecessors
        self.waits = {id(op), *(id(p) for p in op.preds if not p.done)}

    @staticmethod
    def _clean(written: dict[int, np.ndarray], others: dict[int, np.ndarray]) -> bool:
        for w in written.values():
            for a in others.values():
                if a is not w and np.may_share_memory(w, a) and not _same(w, a):
                    return False
        return True

    def add(self, op: Op) -> bool:
        spec: Fusable = op.fuse
        if not self.ok or spec.targets[0].shape != self.shape or spec.modes != self.modes:
            return False
        # An op waiting for something the group does not would hold back the
        # whole group (its independent branches included): it starts another.
        if any(id(p) not in self.waits and not p.done for p in op.preds):
            return False
        arrays = {id(v): v for v in spec.values if type(v) is np.ndarray
                  and id(v) not in self.arrays and id(v) not in self.written}
        targets = {id(t): t for t in spec.targets if id(t) not in self.written}
        if not (self._clean(targets, {**self.arrays, **self.written, **arrays, **targets})
                and self._clean(self.written, arrays)):
            return False
        self.ops.append(op)
        self.waits.add(id(op))
        self.written.update(targets)
        self.arrays.update(arrays)
        return True

    def close(self) -> list[tuple[list[Op], Callable[[], None]]]:
        """The group and its kernel, if blocking it pays (else the ops run as
        they were recorded)."""
        if not self.ok:
            return []
        kernels = []
        for ops in _components(self.ops):
            if len(ops) == 1 and ops[0].fuse.ufunc.__name__ in MEMORY_BOUND:
                continue  # alone, it would only share the memory bandwidth
            plan = _Plan(ops, self.shape, self.modes)
            if plan.blocks < MIN_BLOCKS:
                continue
            STATS["groups"] += 1
            STATS["ops"] += len(ops)
            STATS["dead"] += plan.dead
            STATS["scratch"] += len(plan.scratch)
            kernels.append((ops, plan.run))
        return kernels


def _components(ops: list[Op]) -> list[list[Op]]:
    """The independent chains of a run of ops, in push order: two ops are
    connected when one writes a buffer the other uses (not by reading the same
    input). Each is a kernel of its own, on its own worker, with its own few
    blocks in the cache. (Every dependency between members connects them: no
    cycle through a chain's outside predecessors, all pushed before the run.)"""
    written = {id(v) for op in ops for v in op.writes}
    parent: dict[int, int] = {}

    def find(k: int) -> int:
        root = parent.setdefault(k, k)
        while root != parent[root]:
            root = parent[root]
        while parent[k] != root:
            parent[k], k = root, parent[k]
        return root

    for i, op in enumerate(ops):
        for v in (*op.writes, *op.reads):
            if id(v) in written:
                parent[find(~i)] = find(id(v))  # (ops' keys: ~index, never an id)
    chains: dict[int, list[Op]] = {}
    for i, op in enumerate(ops):
        chains.setdefault(find(~i), []).append(op)
    return list(chains.values())


class _Plan:
    """How a group's kernel cuts its domain and where each operand of each
    member comes from: a block of an array, a whole array or scalar (a
    broadcast operand), or a scratch block (an output nothing observes)."""

    def __init__(self, ops: list[Op], shape: tuple[int, ...], modes: dict[str, str]) -> None:
        specs: list[Fusable] = [op.fuse for op in ops]
        self.ops = ops
        self.specs = specs
        self.works = [op.work for op in ops]  # (before the leader's is cleared)
        self.modes = modes
        dead = dict(_dead(ops))  # key -> target
        dead_at = {_where(t): key for key, t in dead.items()}
        arrays = [a for s in specs for a in (*s.targets, *s.values)
                  if type(a) is np.ndarray and a.ndim]
        itemsize = max(a.itemsize for a in arrays)
        flat = all(a.shape == shape and a.flags.c_contiguous for a in arrays)
        if flat:
            rows, inner = math.prod(shape), 1
            block_shape: tuple[int, ...] = ()
        else:
            rows, inner = shape[0], math.prod(shape[1:])
            block_shape = shape[1:]
        self.rows, self.block_shape, self.dead = rows, block_shape, len(dead)
        self.step = max(1, BLOCK_BYTES // (itemsize * max(inner, 1)))
        self.blocks = -(-rows // self.step)
        # Each block's operands form one table, each distinct array sliced
        # once per block: blocks of arrays, then scratch blocks, then whole
        # arrays and scalars; a member names its operands by their places.
        # A dead output lives in a scratch block from the member that writes
        # it to the last that reads it, then the block serves the next one.
        self.blocked: list[np.ndarray] = []  # arrays cut along the blocked axis
        self.scratch: list[np.dtype] = []  # scratch blocks, by dtype
        self.whole: list[Any] = []  # broadcast operands and scalars, as they are
        places: dict[int, int] = {}  # id(array) -> its index in ``blocked``
        scratch_of: dict[int, int] = {}  # dead key -> its scratch block now
        free: dict[np.dtype, list[int]] = {}
        ndim = len(shape)
        keys = {id(a): dead_at.get(_where(a)) for s in specs for a in (*s.targets, *s.values)
                if type(a) is np.ndarray and a.ndim} if dead else {}
        last = {keys[id(a)]: j for j, s in enumerate(specs) for a in (*s.values, *s.targets)
                if keys.get(id(a)) is not None}

        def slot(a: Any) -> tuple[int, int]:
            if type(a) is not np.ndarray or not a.ndim:
                self.whole.append(a)
                return WHOLE, len(self.whole) - 1
            key = keys.get(id(a))
            if key is not None:
                if key not in scratch_of:  # (its first use writes it)
                    spare = free.get(a.dtype)
                    scratch_of[key] = spare.pop() if spare else len(self.scratch)
                    if scratch_of[key] == len(self.scratch):
                        self.scratch.append(a.dtype)
                return SCRATCH, scratch_of[key]
            if not flat and not (a.ndim == ndim and a.shape[0] == rows):
                self.whole.append(a)  # broadcast along the blocked axis
                return WHOLE, len(self.whole) - 1
            if id(a) not in places:
                places[id(a)] = len(self.blocked)
                self.blocked.append(a.reshape(-1) if flat else a)
            return BLOCK, places[id(a)]

        spans = []
        for j, s in enumerate(specs):
            spans.append((s.ufunc, [slot(v) for v in s.values], [slot(t) for t in s.targets], s.kw))
            for key in {keys.get(id(a)) for a in (*s.values, *s.targets)}:
                if key is not None and last[key] == j:  # its block is free again
                    index = scratch_of.pop(key)
                    free.setdefault(self.scratch[index], []).append(index)
        # places in the per-block table: blocked arrays, scratch blocks, whole values
        base = {BLOCK: 0, SCRATCH: len(self.blocked),
                WHOLE: len(self.blocked) + len(self.scratch)}
        self.members: list[tuple[np.ufunc, list[int], list[int], dict[str, Any]]] = [
            (ufunc, [base[k] + i for k, i in ins], [base[k] + i for k, i in outs], kw)
            for ufunc, ins, outs, kw in spans]

    def run(self) -> None:
        """The kernel: every block through every member, on this worker and
        on idle ones; then each member's floating-point errors, once, in
        program order. A member whose report raises (``np.errstate(...=
        "raise")``, a warning filter that raises) fails alone, with the members
        that read what it wrote (``Fusable.error``/``origin``, which the
        scheduler gives each op), as if each had run by itself."""
        counter = itertools.count()
        pool = ThreadedExecutor.current()
        c0 = time.thread_time()
        if pool is not None and self.blocks > 1:
            flags = pool.share(lambda: self._blocks(counter), min(pool.threads, self.blocks) - 1)
        else:
            flags = [self._blocks(counter)]
        # The cost model learns each member's share of the CPU time (by work)
        # the kernel took on one worker (its time times the workers that ran
        # blocks), so that ops it finds cheap run in the caller again, unheld
        # (a share of the time on several workers would make them look cheap).
        seconds = (time.thread_time() - c0) * len(flags)
        total = sum(self.works) or 1
        for op, work in zip(self.ops, self.works):
            POLICY.costs.observe(op.name, work, seconds * work / total, pool is None, True)
        failed: dict[int, tuple[BaseException, Op | None]] = {}
        for j, (op, spec) in enumerate(zip(self.ops, self.specs)):
            spec.error = spec.origin = None
            if op.error is not None:  # inherited from outside the group: it computed
                failed.update((id(var), (op.error, op.error_origin)) for var in op.writes)
                continue  # nothing to report (its readers carry the error already)
            if failed:
                for var in (*op.reads, *op.writes):
                    if id(var) in failed and (var in op.reads or var not in op.covers):
                        spec.error, spec.origin = failed[id(var)]
                        break
                if spec.error is not None:
                    failed.update((id(var), (spec.error, spec.origin)) for var in op.writes)
                    continue
            seen = 0
            for f in flags:
                seen |= f[j]
            try:
                if seen:
                    _report(spec, seen, self.modes)
            except Exception as exc:
                spec.error, spec.origin = exc, op
                failed.update((id(var), (exc, op)) for var in op.writes)
            else:
                for var in op.covers:
                    failed.pop(id(var), None)
        self.specs[0].ran = True

    def _blocks(self, counter: Any) -> list[int]:
        """Take blocks from ``counter`` until none is left; return the
        floating-point error flags each member raised."""
        step, rows, nblocks = self.step, self.rows, self.blocks
        shape = (step, *self.block_shape)
        scratch = [np.empty(shape, dtype) for dtype in self.scratch]
        flags = [0] * len(self.members)
        current = [0]  # the member running (NumPy reports after each call)

        def collect(_: str, flag: int) -> None:
            flags[current[0]] |= flag

        modes: dict[str, Any] = {k: "ignore" if v == "ignore" else "call"
                                 for k, v in self.modes.items()}
        with np.errstate(call=collect, **modes):
            while (i := next(counter)) < nblocks:
                start = i * step
                stop = min(rows, start + step)
                n = stop - start
                table = [a[start:stop] for a in self.blocked]
                table += scratch if n == step else [t[:n] for t in scratch]
                table += self.whole
                for j, (ufunc, ins, outs, kw) in enumerate(self.members):
                    current[0] = j
                    ufunc(*[table[k] for k in ins],
                          out=table[outs[0]] if len(outs) == 1 else
                          tuple(table[k] for k in outs), **kw)
        return flags


WHOLE, BLOCK, SCRATCH = 0, 1, 2


def _report(spec: Fusable, seen: int, modes: dict[str, str]) -> None:
    """NumPy's report of the floating-point errors ``seen`` in one call of
    ``spec.ufunc``, from its recording line: a warning or an error per
    category, in NumPy's order."""
    for bit, category, text in _CATEGORIES:
        if seen & bit:
            message = f"{text} encountered in {spec.ufunc.__name__}"
            if modes[category] == "warn":
                spec.at(warnings.warn, (message, RuntimeWarning), {})
            elif modes[category] == "raise":
                raise FloatingPointError(message)


def _where(a: np.ndarray) -> tuple[Any, ...]:
    """What makes two views the same view (``_same``), as a dictionary key."""
    return a.__array_interface__["data"][0], a.shape, a.strides, a.dtype


def _dead(ops: list[Op]) -> list[tuple[int, np.ndarray]]:
    """The outputs of the group nothing else can observe: ``(key, target)``.

    A buffer is dead when the group's first use of it writes it whole (a
    fresh result, not a view of something), every array that wrote it is gone
    (so no view of it exists either: a view keeps its base), and no op
    outside the group uses it."""
    touches: dict[int, int] = {}
    first: dict[int, Op] = {}  # the group's first op to use each buffer
    for op in ops:
        for var in (*op.reads, *op.writes):
            touches[id(var)] = touches.get(id(var), 0) + 1
            first.setdefault(id(var), op)
    alive: set[int] = set()
    candidates: dict[int, tuple[Var, np.ndarray]] = {}
    for op in ops:
        spec: Fusable = op.fuse
        if len(op.writes) != len(spec.targets):
            alive.update(id(var) for var in op.writes)
            continue
        for var, target, ref in zip(op.writes, spec.targets, spec.refs):
            if ref is None or ref() is not None:
                alive.add(id(var))
            elif first[id(var)] is op and var in op.covers and id(var) not in candidates:
                candidates[id(var)] = (var, target)
    return [(key, target) for key, (var, target) in candidates.items()
            if key not in alive and var.n == touches[key]]

