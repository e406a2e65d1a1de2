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
import time
from dataclasses import dataclass, field
from typing import Any

from ..engine.graph import Op, hazards
from ..engine.scheduler import ENGINE
from .recorder import Recorder, site_text


def _worker_order(name: str) -> tuple[int, int, str]:
    """Lanes: main thread first, then CPU workers by number, then the rest."""
    if name == "main":
        return (0, 0, name)
    prefix, _, number = name.rpartition("-")
    if number.isdigit():
        return (1 if prefix.startswith("cpu") else 2, int(number), prefix)
    return (3, 0, name)


def _ran(op: Op) -> bool:
    return op.t1 > 0.0 and op.t0 > 0.0


@dataclass
class Summary:
    """What ``Profile.summary()`` returns; ``str()`` is the table."""

    wall: float
    work: float
    parallelism: float
    ops: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    workers: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    skipped: int = 0

    def __str__(self) -> str:
        n = sum(c for c, _, _ in self.ops.values())
        lines = [f"dagrt profile: {n} ops, {self.wall * 1e3:.3f} ms wall, "
                 f"{self.work * 1e3:.3f} ms of op time, "
                 f"achieved parallelism {self.parallelism:.2f}"]
        if self.skipped:
            lines.append(f"({self.skipped} ops did not run: they inherited an error)")
        width = max([len("op")] + [len(k) for k in self.ops])
        lines.append(f"{'op':<{width}}  {'count':>7}  {'total ms':>11}  {'mean ms':>10}")
        for name, (count, total, mean) in self.ops.items():
            lines.append(f"{name:<{width}}  {count:>7}  {total * 1e3:>11.3f}  "
                         f"{mean * 1e3:>10.4f}")
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
    https://ui.perfetto.dev and chrome://tracing open, with one track per
    worker, one slice per operation (named by its NumPy function, with shape,
    dtype and recording site in its args) and flow arrows for dependencies.
    Errors of failed operations are not raised there; they surface at the
    next sync point as usual.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 flows: bool = True) -> None:
        super().__init__()
        self.path = None if path is None else os.fspath(path)
        self.flows = flows

    def __enter__(self) -> Profile:
        self.start()
        return self

    def stop(self, wait: bool = True) -> None:
        was_active = self.active
        super().stop(wait)
        if was_active and self.path is not None:
            self.write(self.path)

    @property
    def wall(self) -> float:
        """Seconds from the start of the profile to its end (or to now)."""
        end = self.t_stop if not self.active else time.perf_counter()
        return max(end - self.t_start, 0.0)

    # -- the trace ----------------------------------------------------------
    def trace(self) -> dict[str, Any]:
        """The trace as a dict in Chrome's trace-event format."""
        pid = os.getpid()
        t0 = self.t_start
        ran = [op for op in self.ops if _ran(op)]
        names = sorted({op.worker or "main" for op in ran}, key=_worker_order)
        tids = {name: i for i, name in enumerate(names)}
        events: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
             "args": {"name": "dagrt"}}]
        for name, tid in tids.items():
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                           "args": {"name": name}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": pid,
                           "tid": tid, "args": {"sort_index": tid}})
        slices: dict[int, tuple[float, float, int]] = {}
        for op in ran:
            ts = (op.t0 - t0) * 1e6
            dur = max((op.t1 - op.t0) * 1e6, 0.0)
            tid = tids[op.worker or "main"]
            slices[id(op)] = (ts, dur, tid)
            meta = op.meta or {}
            args: dict[str, Any] = {"seq": op.seq}
            if "shape" in meta:
                args["shape"] = list(meta["shape"])
            if "dtype" in meta:
                args["dtype"] = str(meta["dtype"])
            args["site"] = site_text(op.site)
            if op.device is not None:
                args["device"] = repr(op.device)
            if op.error is not None:
                args["error"] = f"{type(op.error).__name__}: {op.error}"
            events.append({"name": op.name, "cat": "op", "ph": "X", "ts": ts,
                           "dur": dur, "pid": pid, "tid": tid, "args": args})
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
                "otherData": {"producer": "dagrt", "wall_s": self.wall,
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
        """Per op name count/total/mean time, per worker busy fraction, and
        achieved parallelism (sum of op times / wall time of the profile)."""
        wall = self.wall
        per_op: dict[str, list[float]] = {}
        per_worker: dict[str, list[float]] = {}
        skipped = 0
        for op in self.ops:
            if not _ran(op):
                skipped += op.done
                continue
            d = op.t1 - op.t0
            s = per_op.setdefault(op.name, [0, 0.0])
            s[0] += 1
            s[1] += d
            w = per_worker.setdefault(op.worker or "main", [0, 0.0])
            w[0] += 1
            w[1] += d
        work = sum(s[1] for s in per_op.values())
        ops = {name: (int(c), t, t / c)
               for name, (c, t) in sorted(per_op.items(), key=lambda kv: -kv[1][1])}
        workers = {name: (int(c), t, t / wall if wall else 0.0)
                   for name, (c, t) in sorted(per_worker.items(),
                                              key=lambda kv: _worker_order(kv[0]))}
        return Summary(wall=wall, work=work, parallelism=work / wall if wall else 0.0,
                       ops=ops, workers=workers, skipped=skipped)


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


# -- waitall(progress=True) ---------------------------------------------------------

def wait_with_progress(interval: float = 0.1) -> None:
    """Wait until nothing is pending, showing ops done / total: a tqdm bar if
    tqdm is installed (the ``progress`` extra), else a line on stderr.

    The total is what was pending when the wait began plus whatever other
    threads push meanwhile.
    """
    engine = ENGINE
    pending0, pushed0 = engine.pending, engine.ops_pushed
    if pending0 == 0:
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    bar = tqdm(total=pending0, unit="op", desc="dagrt") if tqdm is not None else None
    shown = 0
    last_text = -1.0
    try:
        while True:
            pending = engine.pending
            total = pending0 + engine.ops_pushed - pushed0
            done = total - pending
            if bar is not None:
                if bar.total != total:
                    bar.total = total
                    bar.refresh()
                if done > shown:
                    bar.update(done - shown)
            else:
                now = time.perf_counter()
                if pending == 0 or now - last_text >= 0.5:
                    last_text = now
                    _text_progress(done, total)
            shown = done
            if pending == 0:
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
