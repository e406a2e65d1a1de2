"""Configuration: every DAGRT_ environment variable is declared here, once.

Each :class:`Flag` carries its environment variable, default, parser and help
text; ``docs/configuration.md`` is generated from :data:`FLAGS`, and
``dagrt.config(...)`` overrides any flag for the duration of a ``with`` block.

This module imports nothing from dagrt.
"""

from __future__ import annotations

import contextlib
import operator
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 8 << 30


def _default_intra() -> int:
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return max(1, int(omp)) if omp.isdigit() else 1


def _default_inter() -> int:
    return max(1, cores() // get("intra_op_threads"))


def _default_progress() -> float:
    """1 s where someone watches (a Jupyter kernel, a terminal), else off."""
    interactive = "ipykernel" in sys.modules or (
        hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return 1.0 if interactive else 0.0


# Parsers: each takes the environment's text or a value given to ``config``,
# and returns the flag's value or raises ValueError saying what it expects.

def _parse_bool(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected 1/true/yes/on or 0/false/no/off, not {value!r}")
    return bool(value)


def _parse_engine(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("threaded", "serial"):
        raise ValueError(f"expected 'threaded' or 'serial', not {value!r}")
    return text


def _count(minimum: int) -> Callable[[Any], int]:
    """A parser of integers of at least ``minimum``."""
    def parse(value: Any) -> int:
        try:
            n = int(value.strip()) if isinstance(value, str) else operator.index(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, not {value!r}") from None
        if n < minimum:
            raise ValueError(f"expected an integer of at least {minimum}, not {n}")
        return n
    return parse


def _amount(value: Any) -> float:
    """A parser of non-negative numbers."""
    try:
        x = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, not {value!r}") from None
    if not x >= 0:
        raise ValueError(f"expected a number of at least 0, not {value!r}")
    return x


def _parse_device(value: Any) -> Any:
    """A device name (checked here) or a device object (checked where used)."""
    if not isinstance(value, str):
        if type(value).__name__ != "Device":
            raise ValueError(f"expected a device (cpu, gpu:N, cluster), not {value!r}")
        return value
    text = value.strip().lower()
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "gpu", "cuda", "cluster") or (index and not index.isdigit()):
        raise ValueError(f"expected cpu, gpu:N or cluster, not {value!r}")
    return text


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, not {value!r}")
    return value


@dataclass(frozen=True)
class Flag:
    """One configuration flag: its name, environment variable, default and help."""

    name: str
    default: Any | Callable[[], Any]
    parse: Callable[[Any], Any]  # the environment's text, or a config() value
    help: str
    default_doc: str = ""

    @property
    def env(self) -> str:
        return "DAGRT_" + self.name.upper()


FLAGS: dict[str, Flag] = {
    f.name: f
    for f in [
        Flag("engine", "threaded", _parse_engine,
             "Executor for CPU operations: `threaded` (a pool of worker threads) or "
             "`serial` (each operation runs when it is recorded; the reference)."),
        Flag("intra_op_threads", _default_intra, _count(1),
             "BLAS/OpenMP threads one operation may use, applied with threadpoolctl "
             "to the whole process while dagrt's workers are busy (and until they have "
             "been idle for 50 ms).", "`OMP_NUM_THREADS` if set, else 1"),
        Flag("switch_interval", 5e-5, _amount,
             "The interpreter's switch interval (`sys.setswitchinterval`, seconds) while "
             "dagrt's workers are busy (and until they have been idle for 50 ms): how long "
             "a worker whose NumPy call returned may wait for the GIL while another thread "
             "runs Python. CPython's default, 5 ms, made 0.3 ms kernels take up to 5 ms "
             "beside a recording thread. 0 leaves the interval alone.", "50 us"),
        Flag("inter_op_threads", _default_inter, _count(1),
             "Worker threads that run independent operations concurrently.",
             "cores // intra-op threads"),
        Flag("inline_bytes", 1 << 16, _count(0),
             "Operations whose work (about the bytes of their result) is at most this "
             "many bytes, whose inputs are ready and whose outputs are idle, run at once "
             "in the calling thread instead of paying a thread hand-off. 0 sends every "
             "operation through the scheduler."),
        Flag("inline_us", 1000.0, _amount,
             "Operations predicted to take less than this many microseconds (from "
             "the measured time per byte of earlier ones of the same kind) run at "
             "once in the recording thread when their inputs are ready: a thread "
             "hand-off and cold memory would cost more than they save. 0 disables."),
        Flag("adapt_s", 0.05, _amount,
             "Measure, while a program runs, whether sending operations the cost model "
             "finds dear to the workers pays: in windows of this many seconds, it "
             "alternates between that and running every operation in the recording "
             "thread (NumPy's way), and runs the faster regime until the next "
             "measurement (longer each time the same one wins). 0 keeps the first "
             "regime. See docs/architecture.md, The policy.", "50 ms"),
        Flag("lookahead", 16, _count(1),
             "Operations per worker that may be pending before recording blocks: "
             "enough look-ahead to find independent work; more would only allocate "
             "outputs early, into memory that is cold by the time it is written."),
        Flag("lookahead_bytes", 16 << 20, _count(0),
             "Bytes of outputs of pending operations per worker, beyond one operation "
             "per worker, before recording blocks: outputs are allocated when an "
             "operation is recorded, so this bounds how far memory use may exceed "
             "NumPy's.", "16 MiB"),
        Flag("fuse", True, _parse_bool,
             "Hold large elementwise ops until the next other op or sync point, and run "
             "chains of them as one blocked kernel spread over the workers (cache-sized "
             "blocks pass through the whole chain; temporaries nothing can observe are "
             "never written). See docs/architecture.md, Fused chains."),
        Flag("fuse_window", 64, _count(1),
             "At most this many elementwise ops are held for fusion at once."),
        Flag("fuse_block_bytes", 1 << 17, _count(1),
             "Bytes of each operand in one block of a fused or chunked kernel: small "
             "enough that a block passes through a whole chain in the cache."),
        Flag("fuse_bytes", 1 << 20, _count(0),
             "Deferred elementwise ops whose work (bytes of the result) is at least this "
             "are held for fusion; smaller ones run as recorded."),
        Flag("chunk_bytes", 1 << 20, _count(0),
             "Large deferred reductions that keep axis 0 (`m.sum(axis=1)`), order-free "
             "reductions over everything (`x.max()`) and gathers (`x[idx]`) are cut "
             "into blocks of about this many bytes, computed by every idle worker at "
             "once (results stay NumPy's to the bit; see docs/architecture.md). "
             "0 never cuts.", "1 MiB"),
        Flag("max_pending", 4096, _count(1),
             "At most this many operations may be pending; recording blocks beyond it "
             "(backpressure), so a Python loop that runs ahead cannot grow memory "
             "without bound."),
        Flag("max_pending_bytes", lambda: min(4 << 30, _total_memory() // 4), _count(0),
             "At most this many bytes of outputs of pending operations; recording "
             "blocks beyond it.", "min(4 GiB, RAM / 4)"),
        Flag("progress_after", _default_progress, _amount,
             "A sync point (`float(x)`, `print(x)`, `waitall()`...) that has waited "
             "this many seconds shows progress (ops done / pending: a tqdm bar, a "
             "text line on stderr without tqdm) until it returns. 0 turns it off.",
             "1 in a notebook or a terminal, else 0"),
        Flag("display_wait", False, _parse_bool,
             "If 1, an array displayed in a notebook (its HTML view) waits for its "
             "value; by default a pending array shows its shape, dtype, device and "
             "that it is pending, at once."),
        Flag("device", "cpu", _parse_device,
             "Where array creation puts arrays when no `device=` is given: `cpu`, "
             "`gpu:N`, `cluster` (the Dask cluster of `DAGRT_CLUSTER`), or in "
             "`config()` a device object (`dagrt.cluster(...)`, `dagrt.gpu(i)`)."),
        Flag("cluster", "local", _text,
             "The cluster `dagrt.cluster()` connects to: `local` (worker processes on "
             "this machine, started on first use) or a Dask scheduler's address "
             "(`tcp://host:8786`)."),
        Flag("cluster_segment_ops", 1024, _count(1),
             "Operations recorded on the cluster are sent as one Dask task per "
             "connected component: at once when the cluster is idle or someone waits, "
             "else once this many are queued (and four such batches per worker thread "
             "may be pending). A task costs the client, Dask's scheduler and a worker "
             "about 4 ms of CPU in all, a small operation about 25 us: at 1024 the "
             "task's share is about a sixth."),
        Flag("cluster_gc_freeze", True, _parse_bool,
             "When `dagrt.cluster()` first connects, move the objects alive then "
             "(the interpreter's modules, Dask's) to the garbage collector's "
             "permanent generation (`gc.freeze()`): operations in flight on the cluster "
             "keep thousands of small objects alive, and each of the collector's full "
             "passes would walk Dask's 60,000 objects again. A reference cycle among "
             "the frozen objects is then never collected."),
        Flag("cluster_chunk_bytes", 64 << 20, _count(0),
             "A cluster array larger than this is cut into row blocks of about this "
             "size (counting 8 bytes an element), spread over the workers: elementwise "
             "operations run block by block where the blocks are, reductions go to "
             "dask.array; other operations gather the array into one block first. "
             "0: never cut."),
        Flag("gpu_streams", 4, _count(1),
             "Compute streams per GPU (each GPU also has one device-to-host and one "
             "host-to-device copy stream)."),
        Flag("gpu_double", 0, _count(0),
             "If above 0, GPUs are CuPy's test double (`dagrt.devices.cupy_double`) with "
             "this many devices: host memory and host threads that behave as CuPy's "
             "source says, for running GPU code without a GPU (CI does).", "0 (off)"),
        Flag("malloc_tune", True, _parse_bool,
             "On glibc, raise malloc's mmap threshold (32 MiB) and trim threshold "
             "(256 MiB) at import, so large arrays freed and reallocated reuse memory "
             "instead of being faulted in again page by page (see dagrt/engine/memory.py)."),
        Flag("native", True, _parse_bool,
             "If 1, `dagrt.ndarray` is built on the compiled base class "
             "(`dagrt/array/_native.c`: the hottest small calls in C) where it was "
             "built at install; 0: the pure-Python class (same behaviour, slower small "
             "ops). Read at import."),
        Flag("log_level", "", _text,
             "If set (DEBUG, INFO, WARNING...), enable dagrt's loguru logger and print "
             "its messages at that level to stderr. DEBUG shows scheduling decisions.",
             "unset (logging disabled)"),
        Flag("profile", "", _text,
             "If set to a path, profile the whole run and write a Chrome trace there "
             "at exit (as `with dagrt.profile(path)`).", "unset"),
        Flag("check_plans", False, _parse_bool,
             "If 1, check every operation run in the calling thread against the "
             "shapes and dtypes its plan gives the scheduler, raising AssertionError "
             "on a difference (a dagrt bug: the tests turn this on)."),
        Flag("report_fallback", False, _parse_bool,
             "If 1, print at exit which NumPy functions fell back to eager evaluation "
             "and how often."),
    ]
}

def renew_after_fork(namespace: dict[str, Any], name: str, make: Callable[[], Any]) -> None:
    """Make ``namespace[name]`` (a module's lock) anew in a forked child: a
    lock another thread held at the fork would stay held there for ever."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: namespace.__setitem__(name, make()))


_lock = threading.RLock()
renew_after_fork(globals(), "_lock", threading.RLock)
_overrides: list[dict[str, Any]] = []
_cache: dict[str, Any] = {}
_listeners: list[Callable[[], None]] = []


def get(name: str) -> Any:
    """The current value of flag ``name``: innermost ``config`` block, env, default."""
    for layer in reversed(_overrides):
        if name in layer:
            return layer[name]
    try:
        return _cache[name]
    except KeyError:
        pass
    with _lock:
        value = _from_env(FLAGS[name])
        _cache[name] = value
    return value


def _from_env(flag: Flag) -> Any:
    """The flag's value from its environment variable; a bad value warns (once)
    and the default applies: a typo in the environment must not stop the
    program from importing dagrt."""
    default = flag.default() if callable(flag.default) else flag.default
    text = os.environ.get(flag.env)
    if text is not None and text.strip() != "":
        try:
            return flag.parse(text)
        except ValueError as exc:
            warnings.warn(f"dagrt: ignoring {flag.env}={text!r}: {exc}; using the default "
                          f"{default!r}", RuntimeWarning, stacklevel=2)
    return default


def source(name: str) -> str:
    """Where the current value of ``name`` comes from: override, environment, default."""
    if any(name in layer for layer in _overrides):
        return "dagrt.config"
    return "environment" if os.environ.get(FLAGS[name].env, "").strip() else "default"


def on_change(callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever a ``config`` block is entered or left."""
    _listeners.append(callback)


def reload() -> None:
    """Forget cached environment values (tests that change os.environ call this)."""
    with _lock:
        _cache.clear()
    _notify()


def _notify() -> None:
    for callback in _listeners:
        callback()


@contextlib.contextmanager
def config(**values: Any) -> Iterator[None]:
    """Override configuration flags inside a ``with`` block.

    >>> with dagrt.config(engine="serial"):
    ...     y = x + 1   # runs inline, in this thread
    """
    unknown = set(values) - set(FLAGS)
    if unknown:
        raise TypeError(f"unknown dagrt config flag(s): {sorted(unknown)}; "
                        f"known: {sorted(FLAGS)}")
    for name, value in values.items():  # bad values raise here, at the call
        try:
            values[name] = FLAGS[name].parse(value)
        except ValueError as exc:
            raise ValueError(f"dagrt.config({name}={value!r}): {exc}") from None
    with _lock:
        _overrides.append(values)
    _notify()
    try:
        yield
    finally:
        with _lock:
            _overrides.remove(values)
        _notify()


def markdown_table() -> str:
    """The table of every flag, as written into docs/configuration.md."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for flag in FLAGS.values():
        default = flag.default_doc or f"`{flag.default}`"
        if flag.default == "" and not flag.default_doc:
            default = "unset"
        rows.append(f"| `{flag.env}` | {default} | {flag.help} |")
    return "\n".join(rows) + "\n"


def write_docs(path: str = "docs/configuration.md") -> None:
    """Rewrite the generated flag table in docs/configuration.md."""
    with open(path) as f:
        text = f.read()
    head, rest = text.split("<!-- flags:begin -->\n", 1)
    tail = rest.split("<!-- flags:end -->", 1)[1]
    with open(path, "w") as f:
        f.write(f"{head}<!-- flags:begin -->\n{markdown_table()}<!-- flags:end -->{tail}")

