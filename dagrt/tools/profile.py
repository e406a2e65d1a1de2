"""Profiling: Chrome traces, a summary table, and waitall's progress bar.

A :class:`Profile` is a recorder (``tools.recorder``): every op carries
``op.t0``/``op.t1`` (stamped around its kernel, also for the cost model) and
``op.worker``; events, tables and flows are built from the recorded ops at
the end. Observing does not change what runs where: an op the recording path
runs now, in the calling thread, is a slice on the caller's track ("main").

Imports: the engine and ``tools.recorder``; the engine never imports this module.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.graph import Op, hazards, site_text
from ..engine.scheduler import ENGINE
from .recorder import Recorder


def _worker_order(name: str) -> tuple[int, int, str]:
    """Lanes: the recording thread first, then CPU workers by number, then the rest."""
    if name == "main":
        return (0, 0, name)
    prefix, _, number = name.rpartition("-")
    if number.isdigit():
        return (1 if prefix.startswith("cpu") else 2, int(number), prefix)
    return (3, 0, name)


def _ran(op: Op) -> bool:
    return op.t1 > 0.0 and op.t0 > 0.0


def _rss() -> int | None:
    """This process's resident memory in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_SAMPLE_S = 0.005  # counters: pending ops and bytes, memory, every 5 ms


@dataclass
class Summary:
    """What ``Profile.summary()`` returns; ``str()`` is the table.

    ``parallelism`` is CPU time over wall time (the process's CPU seconds
    during the profile, all threads: BLAS's too), what ``top`` would show;
    ``concurrency`` is op time over wall time (ops running at once, on
    average, even if each ran at half speed)."""

    wall: float
    work: float
    parallelism: float
    ops: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    workers: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    skipped: int = 0
    cpu: float = 0.0
    concurrency: float = 0.0
    op_cpu: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        n = sum(c for c, _, _ in self.ops.values())
        lines = [f"dagrt profile: {n} ops, {self.wall * 1e3:.3f} ms wall, "
                 f"{self.work * 1e3:.3f} ms of op time, {self.cpu * 1e3:.3f} ms of CPU "
                 f"time; achieved parallelism {self.parallelism:.2f} (CPU time / wall), "
                 f"ops at a time {self.concurrency:.2f} (op time / wall)"]
        if self.skipped:
            lines.append(f"({self.skipped} ops did not run: they inherited an error)")
        width = max([len("op")] + [len(k) for k in self.ops])
        lines.append(f"{'op':<{width}}  {'count':>7}  {'total ms':>11}  {'mean ms':>10}  "
                     f"{'CPU ms':>11}")
        for name, (count, total, mean) in self.ops.items():
            lines.append(f"{name:<{width}}  {count:>7}  {total * 1e3:>11.3f}  "
                         f"{mean * 1e3:>10.4f}  {self.op_cpu.get(name, 0.0) * 1e3:>11.3f}")
        width = max([len("worker")] + [len(k) for k in self.workers])
        lines.append(f"{'worker':<{width}}  {'ops':>7}  {'busy ms':>11}  {'busy':>6}")
        for name, (count, busy, frac) in self.workers.items():
            lines.append(f"{name:<{width}}  {count:>7}  {busy * 1e3:>11.3f}  "
                         f"{frac * 100:>5.1f}%")
        return "\n".join(lines)

    __repr__ = __str__


class Profile(Recorder):
    """Profile the operations recorded in a ``with`` block.

    >>> with dagrt.profile("trace.json") as prof:
    ...     run_my_program()
    >>> print(prof.summary())

    Leaving the block waits until every pending operation has finished, then
    writes the trace (if ``path`` is given): Chrome trace-event JSON that
    https://ui.perfetto.dev and chrome://tracing open. It has one track per
    thread, under its real thread id and name: the recording thread (ops run
    there, sync waits, backpressure stalls, ``dagrt.annotate`` ranges) and
    each worker (one slice per operation, named by its NumPy function, with
    shape, dtype, CPU time and recording site in its args); flow arrows for
    dependencies; counter tracks (pending ops, pending MiB, resident memory);
    timestamps in microseconds since the Unix epoch. Errors of failed
    operations are not raised there; they surface at the next sync point.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 flows: bool = True) -> None:
        super().__init__()
        self.path = None if path is None else os.fspath(path)
        self.flows = flows
        self.counters: list[tuple[float, int, int, int | None]] = []
        self._epoch = 0.0  # Unix time minus perf_counter, at the start
        self._cpu = (0.0, 0.0)
        self._thread = (0, "")  # the thread that started the profile
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def start(self) -> Profile:
        self._epoch = time.time() - time.perf_counter()
        self._cpu = (time.process_time(), 0.0)
        current = threading.current_thread()
        self._thread = (threading.get_native_id(), current.name)
        self._sampling.clear()
        self._sampler = threading.Thread(target=self._sample, name="dagrt-profile-counters",
                                         daemon=True)
        super().start()
        self._sampler.start()
        return self

    def _sample(self) -> None:
        engine, counters = ENGINE, self.counters
        while True:
            counters.append((time.perf_counter(), engine.pending, engine.pending_bytes,
                             _rss()))
            if self._sampling.wait(_SAMPLE_S):
                return

    def __enter__(self) -> Profile:
        return self.start()

    def stop(self, wait: bool = True) -> None:
        was_active = self.active
        super().stop(wait)
        if was_active:
            self._cpu = (self._cpu[0], time.process_time())
            self._sampling.set()
            if self._sampler is not None:
                self._sampler.join()
            self.counters.append((self.t_stop, ENGINE.pending, ENGINE.pending_bytes, _rss()))
            if self.path is not None:
                self.write(self.path)

    @property
    def wall(self) -> float:
        """Seconds from the start of the profile to its end (or to now)."""
        end = self.t_stop if not self.active else time.perf_counter()
        return max(end - self.t_start, 0.0)

    @property
    def cpu(self) -> float:
        """The process's CPU seconds (all threads) from the start to the end (or now)."""
        end = self._cpu[1] if not self.active else time.process_time()
        return max(end - self._cpu[0], 0.0)

    # -- the trace ----------------------------------------------------------
    def _tracks(self, ran: list[Any]) -> tuple[dict[str, int], dict[int, str]]:
        """Lane name -> thread id, and thread id -> track name: the real
        (native) ids of the recording thread and the workers; made-up ids,
        above any real one, for lanes with no thread (GPU streams)."""
        alive = {t.name: t.native_id for t in threading.enumerate()}
        me, my_name = self._thread
        tid = {"main": me}
        names = {me: f"recording thread ({my_name})"}
        made_up = 1 << 32
        for lane in sorted({op.worker or "main" for op in ran} - {"main"}, key=_worker_order):
            real = alive.get(f"dagrt-{lane}")
            if real is None:
                made_up += 1
            tid[lane] = real if real is not None else made_up
            names[tid[lane]] = lane
        for *_, thread in self.spans:
            if thread not in names:
                names[thread] = next((t.name for t in threading.enumerate()
                                      if t.native_id == thread), f"thread {thread}")
        return tid, names

    def trace(self) -> dict[str, Any]:
        """The trace as a dict in Chrome's trace-event format."""
        pid = os.getpid()
        epoch = self._epoch * 1e6

        def us(t: float) -> float:
            return t * 1e6 + epoch

        ran = [op for op in self.ops if _ran(op)]
        tid, names = self._tracks(ran)
        events: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
             "args": {"name": f"dagrt (pid {pid})"}}]
        for index, (thread, name) in enumerate(names.items()):
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": thread,
                           "args": {"name": name}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": pid,
                           "tid": thread, "args": {"sort_index": index}})
        slices: dict[int, tuple[float, float, int]] = {}
        for op in ran:
            ts = us(op.t0)
            dur = max((op.t1 - op.t0) * 1e6, 0.0)
            thread = tid[op.worker or "main"]
            slices[id(op)] = (ts, dur, thread)
            meta = op.meta or {}
            args: dict[str, Any] = {"seq": op.seq}
            if "shape" in meta:
                args["shape"] = list(meta["shape"])
            if "dtype" in meta:
                args["dtype"] = str(meta["dtype"])
            args["cpu_ms"] = round(op.cpu * 1e3, 6)
            args["site"] = site_text(op.site)
            if op.device is not None:
                args["device"] = repr(op.device)
            if op.error is not None:
                args["error"] = f"{type(op.error).__name__}: {op.error}"
            events.append({"name": op.name, "cat": "op", "ph": "X", "ts": ts,
                           "dur": dur, "pid": pid, "tid": thread, "args": args})
        for name, category, t0, t1, thread in self.spans:
            events.append({"name": name, "cat": category, "ph": "X", "ts": us(t0),
                           "dur": max((t1 - t0) * 1e6, 0.0), "pid": pid, "tid": thread})
        for t, pending, pending_bytes, rss in self.counters:
            events.append({"name": "pending ops", "ph": "C", "ts": us(t), "pid": pid,
                           "args": {"ops": pending}})
            events.append({"name": "pending MiB", "ph": "C", "ts": us(t), "pid": pid,
                           "args": {"MiB": round(pending_bytes / 2**20, 3)}})
            if rss is not None:
                events.append({"name": "resident memory MiB", "ph": "C", "ts": us(t),
                               "pid": pid, "args": {"MiB": round(rss / 2**20, 3)}})
        if self.flows:
            flow_id = 0
            for pred, op, kind in hazards(self.ops):
                a = slices.get(id(pred))
                b = slices.get(id(op))
                if a is None or b is None:
                    continue
                flow_id += 1
                # Inside each slice, so both ends bind to their enclosing slice.
                events.append({"name": kind, "cat": "dependency", "ph": "s",
                               "id": flow_id, "pid": pid, "tid": a[2],
                               "ts": a[0] + a[1] * 0.99})
                events.append({"name": kind, "cat": "dependency", "ph": "f", "bp": "e",
                               "id": flow_id, "pid": pid, "tid": b[2],
                               "ts": b[0] + b[1] * 0.01})
        return {"traceEvents": events, "displayTimeUnit": "ms",
                "otherData": {"producer": "dagrt", "wall_s": self.wall, "cpu_s": self.cpu,
                              "ops": len(self.ops)}}

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the trace as JSON to ``path``."""
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "w") as f:
            f.write(json.dumps(self.trace(), separators=(",", ":")))  # the C encoder

    # -- the summary --------------------------------------------------------
    def summary(self) -> Summary:
        """Per op name count, total, mean and CPU time; per worker busy
        fraction; achieved parallelism (CPU time / wall) and ops at a time
        (op time / wall), over the wall time of the profile."""
        wall = self.wall
        per_op: dict[str, list[float]] = {}
        per_worker: dict[str, list[float]] = {}
        op_cpu: dict[str, float] = {}
        skipped = 0
        for op in self.ops:
            if not _ran(op):
                skipped += op.done
                continue
            d = op.t1 - op.t0
            s = per_op.setdefault(op.name, [0, 0.0])
            s[0] += 1
            s[1] += d
            op_cpu[op.name] = op_cpu.get(op.name, 0.0) + op.cpu
            w = per_worker.setdefault(op.worker or "main", [0, 0.0])
            w[0] += 1
            w[1] += d
        work = sum(s[1] for s in per_op.values())
        ops = {name: (int(c), t, t / c)
               for name, (c, t) in sorted(per_op.items(), key=lambda kv: -kv[1][1])}
        workers = {name: (int(c), t, t / wall if wall else 0.0)
                   for name, (c, t) in sorted(per_worker.items(),
                                              key=lambda kv: _worker_order(kv[0]))}
        cpu = self.cpu
        return Summary(wall=wall, work=work, parallelism=cpu / wall if wall else 0.0,
                       ops=ops, workers=workers, skipped=skipped, cpu=cpu,
                       concurrency=work / wall if wall else 0.0, op_cpu=op_cpu)


def profile(path: str | os.PathLike[str] | None = None, *, flows: bool = True) -> Profile:
    """Profile a block: ``with dagrt.profile("trace.json") as prof: ...``.

    ``path=None`` keeps everything in memory (``prof.summary()``,
    ``prof.trace()``, ``prof.graph()``). See :class:`Profile`.
    """
    return Profile(path, flows=flows)


# -- DAGRT_PROFILE: the whole run ------------------------------------------------

_run_profile: Profile | None = None


def profile_whole_run(path: str) -> None:
    """Start a profile now and write it to ``path`` at interpreter exit."""
    global _run_profile
    import atexit

    if _run_profile is not None:
        return
    _run_profile = Profile(path)
    _run_profile.start()
    atexit.register(_finish_whole_run)


def _finish_whole_run() -> None:
    global _run_profile
    prof, _run_profile = _run_profile, None
    if prof is None:
        return
    try:
        prof.stop()
        print(f"dagrt: trace of {len(prof.ops)} ops written to {prof.path}",
              file=sys.stderr)
    except Exception as exc:  # pragma: no cover - at exit, report and go on
        print(f"dagrt: could not write the profile to {prof.path}: {exc}",
              file=sys.stderr)


# -- progress: waitall(progress=True), and sync points that take long ---------------

def _bar_class() -> Any:
    """tqdm's notebook bar in Jupyter with ipywidgets, its text bar otherwise
    (never ``tqdm.auto``'s "IProgress not found" warning), or None without tqdm."""
    try:
        from tqdm.std import tqdm
    except ImportError:
        return None
    if "ipykernel" in sys.modules:
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as notebook_tqdm
        except ImportError:
            return tqdm
        return notebook_tqdm
    return tqdm


def wait_with_progress(busy: Callable[[], Any] | None = None, interval: float = 0.1) -> None:
    """Wait while ``busy()`` (default: while anything is pending), showing
    ops done / total: a tqdm bar if tqdm is installed (the ``progress``
    extra), else a line on stderr.

    The total is what was pending when the wait began plus whatever other
    threads push meanwhile.
    """
    engine = ENGINE
    busy = busy or (lambda: engine.pending)
    pending0, pushed0 = engine.pending, engine.ops_pushed
    if not busy():
        return
    tqdm = _bar_class()
    bar = tqdm(total=pending0, unit="op", desc="dagrt") if tqdm is not None else None
    shown = 0
    last_text = -1.0
    try:
        while True:
            pending = engine.pending
            total = pending0 + engine.ops_pushed - pushed0
            done = max(total - pending, 0)
            running = busy()
            if bar is not None:
                if bar.total != total:
                    bar.total = total
                    bar.refresh()
                if done > shown:
                    bar.update(done - shown)
            else:
                now = time.perf_counter()
                if not running or now - last_text >= 0.5:
                    last_text = now
                    _text_progress(done, total)
            shown = done
            if not running:
                break
            time.sleep(interval)
    finally:
        if bar is not None:
            bar.close()
        else:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _text_progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total if total else width
    sys.stderr.write(f"\rdagrt: [{'#' * filled}{'.' * (width - filled)}] "
                     f"{done}/{total} ops")
    sys.stderr.flush()
