"""The dependency graph: buffers (``Var``) and recorded operations (``Op``).

An operation names the root buffers it reads and the root buffers it writes;
every hazard (read-after-write, write-after-read, write-after-write) is derived
from that in :func:`link`, never special-cased per operator. Views share the
``Var`` of the root buffer they alias, so ordering is tracked per root buffer.

This module owns no threads and imports nothing from the scheduler or the
front end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

RAW, WAR, WAW = "read-after-write", "write-after-read", "write-after-write"


class Var:
    """The scheduling state of one root buffer.

    ``n`` counts unfinished operations that touch it, ``nw`` those that write
    it; ``last_writer`` and ``readers`` (readers since that write) are what a
    new operation must wait for. ``error`` is set when an operation writing the
    buffer failed: its contents are then undefined and reading raises.
    """

    __slots__ = ("n", "nw", "last_writer", "readers", "error", "device", "__weakref__")

    def __init__(self, device: Any = None) -> None:
        self.n = self.nw = 0
        self.last_writer: Op | None = None
        self.error: BaseException | None = None
        self.device = device  # None: host memory
        self.readers: list[Op] | tuple[()] = ()  # (a list made on first use)


class ForeignVar(Var):
    """A root buffer the user also holds as a NumPy array: NumPy code may read
    it right after a call, so an operation that writes it is done before its
    call returns. ``implicit``: the user did not hand it to dagrt (``np.sum(a)``
    of a NumPy ``a``, unlike ``dagrt.asarray(a)``) and may change it right
    after: operations that read it are done before their call returns too."""

    __slots__ = ("implicit",)

    def __init__(self, implicit: bool) -> None:
        super().__init__()
        self.implicit = implicit


FRESH = Var()
"""The state every new host array made now shares until an op uses it (a
``Var`` made for each would cost more than the small op that made the
array): never written; ``array.ndarray.var_of`` gives the array its own."""


class Op:
    """One recorded operation: a kernel, the buffers it reads and writes, and
    its place in the graph (``deps`` unfinished predecessors, ``dependents``)."""

    __slots__ = ("fn", "reads", "writes", "name", "_site", "nbytes",
                 "device", "seq", "deps", "dependents", "done", "error",
                 "error_origin", "meta", "t0", "t1", "worker", "event", "stream",
                 "early", "waits", "lane", "released", "work", "covers", "thread", "cpu",
                 "fuse", "held", "preds", "fused_into")

    def __init__(self, fn: Callable[[], Any], reads: tuple[Var, ...],
                 writes: tuple[Var, ...], name: str, site: Site | None,
                 nbytes: int = 0, device: Any = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.fn: Callable[[], Any] | None = fn
        self.reads = reads
        self.writes = writes
        self.name = name
        self._site = site
        self.nbytes = nbytes
        self.device = device
        self.meta = meta
        self.seq = 0
        self.deps = 0
        self.dependents: list[Op] | tuple[()] = ()  # (lists made on first use: fewer
        # objects for the garbage collector to track per op)
        self.done = False
        self.error: BaseException | None = None
        self.error_origin: Op | None = None
        self.t0 = 0.0
        self.t1 = 0.0
        self.worker = ""
        # Device (stream-ordered) operations: the event recorded after the
        # kernel, the stream it ran on, dependents on the same device released
        # as soon as this op is *launched* (``early``), and the predecessors
        # whose events this op's stream must wait for (``waits``).
        self.event: Any = None
        self.stream: Any = None
        self.early: list[Op] | tuple[()] = ()
        self.waits: list[Op] | tuple[()] = ()
        self.lane = ""  # "compute", "d2h" or "h2d" for device operations
        self.released = False  # launched: ``early`` dependents were released
        self.work = nbytes  # bytes of work, the cost model's unit (see CostModel)
        # Written buffers this op overwrites whole without reading them: it
        # does not inherit their poison, and its success clears it.
        self.covers: tuple[Var, ...] = ()
        self.thread = 0  # the recording thread (its barrier reports this op's error)
        self.cpu = 0.0  # the kernel's thread CPU seconds (what the cost model learns)
        # Fusion (see ``Engine.flush``): what a fuser needs to know of an
        # elementwise op (None: not fusable; ``error``, ``origin`` and
        # ``release()`` are all the engine uses), whether it is held in the fusion
        # window, its unfinished predecessors when linked (fusable ops only),
        # and the op whose fused kernel computed it (a group's leader: itself).
        self.fuse: Any = None
        self.held = False
        self.preds: list[Op] | tuple[()] = ()
        self.fused_into: Op | None = None

    def __lt__(self, other: Op) -> bool:  # ready-queue order: oldest first
        return self.seq < other.seq

    @property
    def site(self) -> tuple[str, int, str] | None:
        """File, line and function where the op was recorded."""
        return site_location(self._site)

    def where(self) -> str:
        if self._site is None:
            return f"op '{self.name}'"
        return f"op '{self.name}' recorded at {site_text(self.site)}"

    def __repr__(self) -> str:
        state = "done" if self.done else f"waiting on {self.deps}"
        return f"<Op #{self.seq} {self.name} {state}>"


class RanNow:
    """An op the recording path ran in the calling thread, as observers (profiles,
    graph recordings) see it: done, on the caller's track, with its buffers
    for the graph. Lighter than an ``Op`` (it never enters the scheduler, and
    a profile keeps one per op run now: few fields, few objects)."""

    __slots__ = ("reads", "writes", "name", "_site", "shape", "dtype", "seq", "t0", "t1",
                 "cpu")
    done = True
    worker = "main"
    device = None
    error = None
    error_origin = None
    nbytes = 0

    def __init__(self, reads: list[Var] | tuple[Var, ...], writes: tuple[Var, ...],
                 name: str, site: Site | None, shape: Any, dtype: Any,
                 t0: float, t1: float, cpu: float = 0.0) -> None:
        self.reads = reads
        self.writes = writes
        self.name = name
        self._site = site
        self.shape = shape
        self.dtype = dtype
        self.seq = 0
        self.t0 = t0
        self.t1 = t1
        self.cpu = cpu

    @property
    def meta(self) -> dict[str, Any] | None:
        return None if self.shape is None else {"shape": self.shape, "dtype": self.dtype}

    site = Op.site
    where = Op.where


# Where an op was recorded: the code object and instruction offset of the
# user's frame. Its line number is computed only when asked (``site_location``):
# a frame's ``f_lineno`` decodes the code's line table, which costs more than
# a small op.
Site = tuple[CodeType, int]


def user_frame() -> FrameType | None:
    """The frame of the first caller outside the dagrt package."""
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if id(code) not in _OWN_CODE:
            if not code.co_filename.startswith(PKG_DIR):
                return frame
            _OWN_CODE[id(code)] = code
        frame = frame.f_back
    return None


# The package's code objects met so far, by id (cheaper than a file name test
# per frame, or than hashing a code object; held, so that no id is reused).
_OWN_CODE: dict[int, CodeType] = {}


def recording_site() -> Site | None:
    """The code and instruction of the first caller outside the dagrt package."""
    frame = user_frame()
    return None if frame is None else (frame.f_code, frame.f_lasti)


def quick_site() -> Site | None:
    """:func:`recording_site` for the ops a profile sees run now, in a loop:
    if the frame at the depth where the user's frame was found last time
    runs the same code, and the frame it called is dagrt's, it is taken as
    it is (two ``sys._getframe``; walking all the frames between makes
    Python create an object for each, which costs more than the op). A
    frame of the user's own deeper between them (a callback of a NumPy
    function calling dagrt) at that very depth would be missed: the profile
    would name its caller's line."""
    depth, code = _LAST_SITE
    try:
        frame: FrameType | None = sys._getframe(depth)
    except ValueError:
        frame = None
    if frame is None or frame.f_code is not code or \
            id(sys._getframe(depth - 1).f_code) not in _OWN_CODE:
        frame, depth = sys._getframe(1), 1
        while frame is not None:
            code = frame.f_code
            if id(code) not in _OWN_CODE:
                if not code.co_filename.startswith(PKG_DIR):
                    break
                _OWN_CODE[id(code)] = code
            frame, depth = frame.f_back, depth + 1
        if frame is None:
            return None
        _LAST_SITE[:] = depth, frame.f_code  # (not the frame: its locals)
    return frame.f_code, frame.f_lasti


_LAST_SITE: list[Any] = [1, None]


def site_location(site: Site | None) -> tuple[str, int, str] | None:
    """File, line and function of a recording site."""
    if site is None:
        return None
    code, lasti = site
    line = code.co_firstlineno
    for start, end, number in code.co_lines():
        if start <= lasti < end:
            if number is not None:
                line = number
            break
    return code.co_filename, line, code.co_name


def site_text(site: tuple[str, int, str] | None) -> str:
    """``file:line in function``; in IPython, a cell as its tracebacks name it
    (``Cell In[9], line 1``), not the kernel's temporary file."""
    if site is None:
        return ""
    filename, lineno, func = site
    cell = cell_name(filename)
    return f"{cell}, line {lineno}" if cell else f"{filename}:{lineno} in {func}"


def cell_name(filename: str) -> str | None:
    """``Cell In[9]`` if ``filename`` is an IPython cell's, else None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return None
    try:
        label = shell.compile.format_code_name(filename)
    except Exception:  # an older IPython, another shell
        return None
    return None if label is None else f"{label[0]} {label[1]}"


def _append(op: Op, field: str, other: Op) -> None:
    """Append ``other`` to one of ``op``'s lists of ops (made on first use)."""
    ops = getattr(op, field)
    if ops:
        ops.append(other)
    else:
        setattr(op, field, [other])


def _after(op: Op, pred: Op) -> int:
    """Order ``op`` after ``pred``; 1 if it must wait for it, else 0."""
    if pred.done:
        if pred.error is not None and op.error is None and inherits(op, pred):
            op.error, op.error_origin = pred.error, pred.error_origin
        return 0
    if op.device is not None and pred.device is op.device and op.device.executor is not None:
        # Same device: order on the device with an event, not on the host.
        _append(op, "waits", pred)
        _append(pred, "early", op)  # (also so that a failure of pred reaches op)
        if pred.released:  # already launched: nothing to wait for here
            return 0
    else:
        _append(pred, "dependents", op)
    if op.fuse is not None:
        _append(op, "preds", pred)
    return 1


def link(op: Op) -> int:
    """Add ``op`` after everything it must wait for; return how many of those
    are unfinished. Caller holds the scheduler lock.

    If a predecessor whose outputs ``op`` depends on already failed, or a
    buffer it reads (or writes in part) is poisoned, ``op`` inherits the error.
    """
    if FRESH in op.writes or FRESH in op.reads:
        raise AssertionError(f"dagrt: {op.name} uses FRESH (an array's own Var: var_of)")
    for var in (*op.reads, *op.writes):
        if var.error is not None and op.error is None and (
                var in op.reads or var not in op.covers):  # a poisoned buffer
            writer = var.last_writer  # pending: its outcome decides (``inherits``)
            if writer is None or writer.done:
                op.error = var.error
    # what it must wait for: the last writer of what it reads (read after
    # write), the last writer and the readers since of what it writes (write
    # after write, write after read)
    preds = [var.last_writer for var in op.reads]
    for var in op.writes:
        preds.append(var.last_writer)
        preds.extend(var.readers)
    deps = 0
    for pred in dict.fromkeys(preds) if len(preds) > 1 else preds:
        if pred is not None:
            deps += _after(op, pred)
    for var in op.reads:
        var.n += 1
        readers = var.readers
        n = len(readers)
        if not n:
            var.readers = [op]
            continue
        if n >= 64 and not n & (n - 1):  # read many times between writes: at 64,
            readers[:] = [r for r in readers if not r.done]  # 128, 256... (amortized)
        readers.append(op)  # type: ignore[union-attr]
    for var in op.writes:
        var.n += 1
        var.nw += 1
        var.last_writer = op
        var.readers = ()
    op.deps = deps
    return deps


def unlink(op: Op) -> list[Op]:
    """Mark ``op`` finished; return the dependents that became ready. Caller
    holds the scheduler lock."""
    op.done = True
    op.fn = None
    if op.fuse is not None:  # its kernel ran: keep its error, not its arrays
        op.fuse.release()
        op.preds = ()
    error = op.error
    release(op.reads, op.writes, op.covers, error)
    ready = []
    for dep in op.dependents:
        if error is not None and dep.error is None and inherits(dep, op):
            dep.error, dep.error_origin = error, op.error_origin
        dep.deps -= 1
        if dep.deps == 0:
            ready.append(dep)
    op.dependents = ()
    for dep in op.early:  # launched before this failed: they carry the error
        if error is not None and dep.error is None and not dep.done and inherits(dep, op):
            dep.error, dep.error_origin = error, op.error_origin
        if not op.released:  # never launched (its launch failed): release them now
            dep.deps -= 1
            if dep.deps == 0:
                ready.append(dep)
    op.early = ()
    op.waits = ()
    return ready


def release(reads: tuple[Var, ...], writes: tuple[Var, ...], covers: tuple[Var, ...],
            error: BaseException | None) -> None:
    """An op that read ``reads`` and wrote ``writes`` (``covers``: whole)
    finished, with ``error`` or not: its buffers' states say so."""
    for var in reads:
        var.n -= 1
        if var.n == 0:
            var.readers = ()
            var.last_writer = None
    for var in writes:
        var.n -= 1
        var.nw -= 1
        if error is not None:
            var.error = error
        elif var in covers:  # overwritten whole: its old poison is gone
            var.error = None
        if var.n == 0:
            var.readers = ()
            var.last_writer = None


def fuse_group(group: list[Op], kernel: Callable[[], Any]) -> None:
    """Make ``group[0]`` run ``kernel`` (which computes every member) after
    every unfinished predecessor of any member, and the other members finish
    after it. Caller holds the scheduler lock. Groups are runs of consecutive
    ops, so a predecessor outside the group was pushed before its leader and
    cannot wait for it: no cycle."""
    leader = group[0]
    leader.fn = kernel
    leader.work = 0  # not one kind's time (the kernel tells the cost model its members')
    members = {id(m) for m in group}
    preds = {id(p) for p in leader.preds}
    for member in group[1:]:
        for pred in member.preds:
            if not pred.done and id(pred) not in members and id(pred) not in preds:
                preds.add(id(pred))
                _append(pred, "dependents", leader)
                leader.deps += 1
        member.fused_into = leader
        _append(leader, "dependents", member)
        member.deps += 1
    leader.fused_into = leader


def inherits(op: Op, failed: Op) -> bool:
    """``op`` depends on the outputs of ``failed``: it reads one of them, or
    writes one in part (a write that covers a buffer whole does not care
    what was there, and a reader ordered before a write does not either)."""
    for var in failed.writes:
        if var in op.reads or (var in op.writes and var not in op.covers):
            return True
    return False


def release_early(op: Op) -> list[Op]:
    """``op`` was launched on its device: same-device dependents may launch
    too (they wait for its event). Caller holds the scheduler lock."""
    ready = []
    op.released = True
    for dep in op.early:
        dep.deps -= 1
        if dep.deps == 0:
            ready.append(dep)
    return ready


def hazards(ops: list[Op]) -> list[tuple[Op, Op, str]]:
    """The dependency edges among ``ops``, ``(pred, op, kind)``.

    The rules of :func:`link`, replayed after the fact over the ops' read and
    write buffers in push order, so that profiles and graphs show the
    program's dependencies whatever the timing (the scheduler itself forgets a
    finished predecessor as soon as its buffer goes idle).
    """
    ops = sorted(ops, key=lambda op: op.seq)
    writer: dict[int, Op] = {}
    readers: dict[int, list[Op]] = {}
    edges: list[tuple[Op, Op, str]] = []
    for op in ops:
        seen: set[int] = set()

        def after(pred: Op | None, kind: str, op: Op = op, seen: set[int] = seen) -> None:
            if pred is not None and id(pred) not in seen:
                seen.add(id(pred))
                edges.append((pred, op, kind))

        for var in op.reads:
            after(writer.get(id(var)), RAW)
        for var in op.writes:
            after(writer.get(id(var)), WAW)
            for reader in readers.get(id(var), ()):
                after(reader, WAR)
        for var in op.reads:
            readers.setdefault(id(var), []).append(op)
        for var in op.writes:
            writer[id(var)] = op
            readers[id(var)] = []
    return edges
