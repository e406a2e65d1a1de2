"""The engine: backpressure, concurrent clients, shutdown, Ctrl-C, fork,
memory release, configuration through the environment, logging."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy
import pytest
from conftest import gate, run_python

import dagrt
from dagrt.engine.scheduler import ENGINE


class _Watch:
    """An engine observer noting the largest pending counts seen at each push."""

    def __init__(self) -> None:
        self.max_pending = 0
        self.max_bytes = 0
        self.pushed = 0

    def on_push(self, op: Any) -> None:
        self.pushed += 1
        self.max_pending = max(self.max_pending, ENGINE.pending)
        self.max_bytes = max(self.max_bytes, ENGINE.pending_bytes)

    def on_ran(self, entry: Any) -> None:  # an op run now, in the calling thread
        pass

    def on_span(self, *span: Any) -> None:  # a sync wait, a stall, an annotation
        pass


@pytest.fixture
def watch() -> Any:
    w = _Watch()
    ENGINE.observers.append(w)
    try:
        yield w
    finally:
        ENGINE.observers.remove(w)


def test_backpressure_max_pending(watch: _Watch) -> None:
    with dagrt.config(engine="threaded", inline_bytes=0, max_pending=8):
        x = dagrt.ones(50_000)
        results = []
        for i in range(200):
            x = x * 1.0001 + i        # a long dependent chain, recorded far ahead
            results.append(x[:3].sum())
        dagrt.waitall()
    assert watch.pushed >= 600
    assert watch.max_pending <= 8
    expected = numpy.ones(50_000)
    for i in range(200):
        expected = expected * 1.0001 + i
    numpy.testing.assert_allclose(numpy.asarray(x), expected)


def test_backpressure_max_pending_bytes(watch: _Watch) -> None:
    one = 100_000 * 8
    with dagrt.config(engine="threaded", inline_bytes=0, max_pending_bytes=3 * one):
        arrays = [dagrt.full(100_000, float(i)) * 2 for i in range(100)]
        dagrt.waitall()
    assert watch.max_bytes <= 3 * one
    assert [float(a[7]) for a in arrays] == [2.0 * i for i in range(100)]


def test_lookahead_bytes_bound_the_memory_of_temporaries(watch: _Watch) -> None:
    """Outputs are allocated when an op is recorded: past one op per worker,
    pending outputs stay within ``lookahead_bytes`` per worker, so a loop of
    8 MB temporaries stays near NumPy's peak (it was 5x NumPy's)."""
    big = 1_000_000 * 8
    with dagrt.config(engine="threaded", inline_bytes=0, inter_op_threads=2,
                      lookahead_bytes=2 * big, fuse=False):
        x = dagrt.ones(1_000_000)
        acc = dagrt.zeros(1_000_000)
        for i in range(40):
            acc += dagrt.sin(x * i) + 1.0
        assert float(acc[0]) == float(numpy.sum(numpy.sin(numpy.arange(40.0)) + 1.0))
    assert watch.max_bytes <= 2 * 2 * big + big  # the bound, plus the op being pushed


def test_ops_held_for_fusion_are_bounded_by_max_pending_bytes(watch: _Watch) -> None:
    """Held ops' outputs are allocated but not touched (most are temporaries
    never written): the look-ahead does not count them, ``max_pending_bytes``
    and the fusion window bound them."""
    big = 1_000_000 * 8
    with dagrt.config(engine="threaded", inline_bytes=0, max_pending_bytes=10 * big):
        x = dagrt.ones(1_000_000)
        acc = dagrt.zeros(1_000_000)
        for i in range(40):
            acc += dagrt.sin(x * i) + 1.0
        assert float(acc[0]) == float(numpy.sum(numpy.sin(numpy.arange(40.0)) + 1.0))
    assert watch.max_bytes <= 10 * big + big


def test_backpressure_blocks_while_gated() -> None:
    """With the queue full behind a gate, recording blocks until it opens."""
    event = threading.Event()
    recorded = []

    def client() -> None:
        with dagrt.config(engine="threaded", inline_bytes=0, max_pending=4):
            a = gate(dagrt.ones(1000), event)
            for _ in range(10):
                a = a + 1
                recorded.append(a)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    while len(recorded) < 3 and thread.is_alive():
        thread.join(0.01)
    assert len(recorded) == 3 and thread.is_alive() and ENGINE.pending == 4
    event.set()
    thread.join(60)
    assert not thread.is_alive()
    assert float(recorded[-1][0]) == 11.0


def test_two_threads_record_and_sync() -> None:
    shared = dagrt.arange(200_000.0)
    errors: list[BaseException] = []
    results: dict[int, list[float]] = {}

    def client(k: int) -> None:
        try:
            with dagrt.config(inline_bytes=0 if k else 1 << 16):
                out = []
                x = dagrt.zeros(200_000)
                for i in range(40):
                    x += shared * k
                    x[i] = -1.0
                    y = (x * 2)[::3].sum()
                    if i % 5 == 0:
                        out.append(float(y))
                    x[i] = 0.0
                results[k] = out + [float(x.sum())]
        except BaseException as exc:  # noqa: B036 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert not errors, errors
    base = numpy.arange(200_000.0)
    for k in (1, 2):
        expected = []
        x = numpy.zeros(200_000)
        for i in range(40):
            x += base * k
            x[i] = -1.0
            if i % 5 == 0:
                expected.append(float((x * 2)[::3].sum()))
            x[i] = 0.0
        assert results[k] == expected + [float(x.sum())]


def test_exit_with_pending_work_does_not_hang() -> None:
    code = ("import dagrt as np\n"
            "a = np.ones((600, 600))\n"
            "for i in range(30):\n"
            "    a = (a @ a) / 600\n"
            "b = [np.ones(10**6) * i for i in range(20)]\n"
            "print('recorded')\n")
    proc = run_python(code, env={"DAGRT_INLINE_BYTES": "0"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "recorded" in proc.stdout


def test_ctrl_c_interrupts_waitall() -> None:
    code = ("import threading, sys\n"
            "import dagrt\n"
            "from dagrt.array.record import record\n"
            "event = threading.Event()\n"
            "a = dagrt.ones(10)\n"
            "out = dagrt.empty(10)\n"
            "with dagrt.config(inline_bytes=0):\n"
            "    record('stuck', lambda x: (event.wait(), x)[1], (a,), {}, lambda: [out],\n"
            "           [out], use_out=False)\n"
            "print('waiting', flush=True)\n"
            "dagrt.waitall()\n"
            "print('not reached', flush=True)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGRT_")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "waiting"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "KeyboardInterrupt" in err
    assert "not reached" not in out
    assert proc.returncode != 0


def test_fork_after_pending_work() -> None:
    with dagrt.config(engine="threaded", inline_bytes=0):
        a = dagrt.arange(300_000.0) * 2
        b = [a + i for i in range(10)]   # pending when we fork
        read, write = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            pid = os.fork()
        if pid == 0:  # the child: compute with its own (fresh) worker pool
            try:
                value = float((b[3] * 2 + a).sum())
                c = dagrt.arange(1000.0) @ dagrt.ones(1000)
                os.write(write, f"{value} {float(c)}".encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            reply = pipe.read()
        os.waitpid(pid, 0)
        base = numpy.arange(300_000.0) * 2
        expected = float(((base + 3) * 2 + base).sum())
        assert reply == f"{expected} {float(numpy.arange(1000.0).sum())}"
        assert float(b[9][1]) == 11.0   # the parent goes on


def test_fork_keeps_pending_errors_and_pool_workers_compute() -> None:
    """A fork waits for pending ops with the BLAS limit settled (workers held
    out of it), keeps errors for their sync points, and forked pool workers
    compute (a hang here was a worker forked inside OpenBLAS's thread change)."""
    import multiprocessing

    with dagrt.config(engine="threaded", inline_bytes=0):
        bad = dagrt.linalg.inv(dagrt.zeros((3, 3)))
        a = dagrt.ones((200, 200))
        pending = [a @ a + i for i in range(8)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            with multiprocessing.get_context("fork").Pool(2) as pool:
                sums = pool.map(_pool_matmul_sum, range(3))
        assert sums == [float(100 ** 3 * i) for i in range(3)]
        assert float(pending[-1][0, 0]) == 200 + 7
        with pytest.raises(numpy.linalg.LinAlgError):
            bad.asnumpy()  # not dropped by the fork


def _pool_matmul_sum(i: int) -> float:
    return float((dagrt.ones((100, 100)) @ (dagrt.ones((100, 100)) * i)).sum())


def test_config_change_from_another_thread_while_recording() -> None:
    """One thread records while another switches the worker count: the pool
    is swapped with nothing in flight, nothing queued is dropped."""
    results: list[float] = []

    def record() -> None:
        x = dagrt.ones(50_000)
        for _ in range(300):
            x = x * 1.0 + 1
        results.append(float(x[0]))

    with dagrt.config(engine="threaded", inline_bytes=0):
        thread = threading.Thread(target=record)
        thread.start()
        for i in range(30):
            with dagrt.config(inter_op_threads=1 + i % 2):
                (dagrt.ones(1000) + 1).sum()
        thread.join(60)
        assert not thread.is_alive()
    assert results == [301.0]


def test_buffer_released_when_unused() -> None:
    with dagrt.config(engine="threaded", inline_bytes=0):
        event = threading.Event()
        a = dagrt.arange(500_000.0)
        held = gate(a, event)
        storage = weakref.ref(a._data)
        b = a * 2                       # a pending op reads a's storage
        del a
        gc.collect()
        assert storage() is not None    # still needed by pending work
        event.set()
        b.wait_to_read()
        held.wait_to_read()
        dagrt.waitall()
        gc.collect()
        assert storage() is None        # no array, no pending op: freed
        assert float(b[3]) == 6.0
        # a temporary chain leaves nothing behind
        out = weakref.ref((dagrt.ones(500_000) * 3)._data)
        dagrt.waitall()
        gc.collect()
        assert out() is None


def test_config_block_restores() -> None:
    from dagrt import _config
    before = _config.get("engine")
    with dagrt.config(engine="serial"):
        assert _config.get("engine") == "serial"
        with dagrt.config(inline_bytes=0):
            assert _config.get("engine") == "serial"
    assert _config.get("engine") == before
    with pytest.raises(TypeError):
        with dagrt.config(no_such_flag=1):
            pass
    with pytest.raises(ValueError):
        with dagrt.config(engine="fast"):
            pass


# -- environment variables and logging (fresh interpreters) ----------------------------------

_PROBE = ("import dagrt\n"
          "from dagrt import _config\n"
          "from dagrt.engine.scheduler import ENGINE\n"
          "x = dagrt.ones(100_000) * 2\n"
          "print(float(x.sum()))\n"
          "print(_config.get('engine'), ENGINE.threaded.threads if\n"
          "      _config.get('engine') == 'threaded' else ENGINE._threaded is None)\n")


def test_env_engine_serial() -> None:
    proc = run_python(_PROBE, env={"DAGRT_ENGINE": "serial", "DAGRT_INLINE_BYTES": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["200000.0", "serial True"]


def test_env_inter_op_threads() -> None:
    proc = run_python(_PROBE, env={"DAGRT_ENGINE": "threaded", "DAGRT_INLINE_BYTES": "0",
                                   "DAGRT_INTER_OP_THREADS": "1",
                                   "DAGRT_INTRA_OP_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["200000.0", "threaded 1"]


@pytest.mark.parametrize("env", [{"DAGRT_ENGINE": "warp"}, {"DAGRT_INTER_OP_THREADS": "0"},
                                 {"DAGRT_INTER_OP_THREADS": "-3"},
                                 {"DAGRT_INLINE_BYTES": "lots"}, {"DAGRT_MALLOC_TUNE": "maybe"}])
def test_env_bad_value_warns_and_uses_the_default(env: dict[str, str]) -> None:
    """A typo in the environment does not stop the program: dagrt says which
    variable it ignores, and runs with the default."""
    proc = run_python(_PROBE, env=env)
    assert proc.returncode == 0, proc.stderr
    name, value = next(iter(env.items()))
    assert f"ignoring {name}={value!r}" in proc.stderr and "RuntimeWarning" in proc.stderr
    proc = run_python("import sys, dagrt.__main__ as m; sys.exit(m.main(['info']))", env=env)
    assert proc.returncode == 0 and name in proc.stdout, proc.stderr


@pytest.mark.parametrize("flag,value", [("inter_op_threads", "banana"),
                                        ("inter_op_threads", 0), ("inter_op_threads", 1.5),
                                        ("engine", "warp"), ("inline_bytes", -1),
                                        ("inline_us", "fast"), ("log_level", 3)])
def test_config_rejects_bad_values_at_the_call(flag: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"dagrt.config\\({flag}="):
        with dagrt.config(**{flag: value}):
            pass
    with dagrt.config(inter_op_threads="2", inline_us="10"):  # environment-style text parses
        assert dagrt._config.get("inter_op_threads") == 2


def test_oversubscription_warns_visibly() -> None:
    import dagrt.engine.scheduler as scheduler

    scheduler._WARNED.discard((64, 64))
    with pytest.warns(RuntimeWarning, match="oversubscribe"):
        with dagrt.config(engine="threaded", inter_op_threads=64, intra_op_threads=64,
                          inline_bytes=0):
            float((dagrt.ones(4) + 1).sum())


def test_logging_disabled_by_default() -> None:
    proc = run_python(_PROBE, env={"DAGRT_INLINE_BYTES": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_log_level_debug_shows_scheduling() -> None:
    proc = run_python(_PROBE, env={"DAGRT_LOG_LEVEL": "DEBUG", "DAGRT_INLINE_BYTES": "0"})
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG" in proc.stderr
    assert "ready, to threaded" in proc.stderr or "waits on" in proc.stderr


def test_log_level_keeps_the_applications_loguru_messages() -> None:
    """``DAGRT_LOG_LEVEL`` must not remove loguru's default handler: the
    application's own messages still print, and dagrt's print once."""
    program = ("from loguru import logger\nimport dagrt\n"
               "logger.info('application message')\n"
               "dagrt._log.warning('dagrt message')\n")
    proc = run_python(program, env={"DAGRT_LOG_LEVEL": "WARNING"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("application message") == 1, proc.stderr
    assert proc.stderr.count("dagrt message") == 1, proc.stderr


def test_oversubscription_warning_names_the_numbers() -> None:
    cores = len(os.sched_getaffinity(0))
    inter, intra = 2 * cores, 2
    proc = run_python(_PROBE, env={"DAGRT_LOG_LEVEL": "WARNING", "DAGRT_INLINE_BYTES": "0",
                                   "DAGRT_INTER_OP_THREADS": str(inter),
                                   "DAGRT_INTRA_OP_THREADS": str(intra)})
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "oversubscribe" in line]
    assert warning, proc.stderr
    assert (f"{inter} inter-op x {intra} intra-op threads = {inter * intra} threads "
            f"oversubscribe {cores} cores") in warning[0]


def test_flags_are_the_users_while_an_overlapping_write_is_pending() -> None:
    """NumPy makes the output of an overlapping in-place op read-only while it
    writes back through a copy; ``x.flags.writeable`` read meanwhile (a
    program deciding whether to write) is the user's flag, as in NumPy after
    the call (found by the long random-program run)."""
    def case(xp: Any) -> Any:
        p = xp.ones((1000, 1000)) * 2
        t = p.T
        xp.add(t, p, t)              # t and p overlap: a write-back on a worker
        seen = [t.flags.writeable]
        while xp is dagrt and ENGINE.pending and len(seen) < 10**6:
            seen.append(t.flags.writeable)  # (while the kernel runs)
        if t.flags.writeable:
            t[5:67] = 34 / 7
        return p, all(seen)
    with dagrt.config(engine="threaded", inline_bytes=0, fuse=False):  # (one whole op)
        for _ in range(5):
            expected, got = case(numpy), case(dagrt)
            assert got[1] and expected[1]
            numpy.testing.assert_array_equal(got[0].asnumpy(), expected[0])


def test_setting_a_flag_follows_the_writes_recorded_before() -> None:
    def case(xp: Any) -> Any:
        a = xp.ones((1000, 1000))
        a += a * 3                   # pending on a worker
        a.flags.writeable = False    # after the write, as in NumPy
        a.flags["WRITEABLE"] = False
        return a, a.flags.writeable, repr(a.flags) == repr(numpy.ones(1).flags) or None
    with dagrt.config(engine="threaded", inline_bytes=0, fuse=False):
        expected, got = case(numpy), case(dagrt)
    assert got[1] is expected[1] is False
    numpy.testing.assert_array_equal(got[0].asnumpy(), expected[0])
    assert repr(got[0].flags) == repr(expected[0].flags)


def test_pending_reader_of_a_read_only_view_reads_the_value_at_recording() -> None:
    """A read-only view (``flags.writeable = False``, ``broadcast_to``) read by a
    pending op must not see later writes to its base (item 4 of the
    adversarial findings)."""
    with dagrt.config(engine="threaded", inline_bytes=0):
        a = dagrt.zeros(100_000)
        view = a[:]
        view.flags.writeable = False
        b = view + 1
        a[...] = 5.0
        c = dagrt.broadcast_to(a, (3, 100_000)) * 2
        a[...] = 7.0
        assert float(b[0]) == 1.0 and float(c[2, 0]) == 10.0


def test_atexit_handler_registered_before_import_may_use_dagrt() -> None:
    """An ``atexit`` handler registered before ``import dagrt`` runs after
    dagrt's own shutdown: the pool must start again, not hang (item 9)."""
    script = ("import atexit\n"
              "def bye():\n"
              "    import dagrt as np\n"
              "    with np.config(inline_bytes=0):\n"
              "        print('atexit', float((np.ones(100_000) * 2).sum()))\n"
              "atexit.register(bye)\n"
              "import dagrt as np\n"
              "x = np.ones(10) + 1\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "atexit 200000.0" in result.stdout, result.stderr


def test_kernels_that_record_and_wait_do_not_hang() -> None:
    """A kernel that records dagrt ops and waits for them, on every worker at
    once: each waiting worker secedes so another can run what it waits for
    (item 8 of the adversarial findings: both workers used to wait forever)."""
    from dagrt.array.operands import new_array
    from dagrt.array.record import record

    big = dagrt.ones(100_000)

    def nested(x: Any) -> Any:
        return numpy.full(10, float((big * 2.0).sum()))

    with dagrt.config(engine="threaded", inline_bytes=0, inter_op_threads=2):
        outs = [record("nested", nested, (dagrt.ones(10) * i,), {},
                       lambda: [new_array((10,), float)], use_out=False)[0] for i in range(6)]
        done: list[list[float]] = []
        thread = threading.Thread(target=lambda: done.append([float(o[0]) for o in outs]),
                                  daemon=True)
        thread.start()
        thread.join(60)
        assert done == [[200_000.0] * 6]


def test_packaging_one_version_and_typed() -> None:
    """The version is written once (dagrt.__version__, read by the build); the
    package ships py.typed; `python -m dagrt docs` outside a checkout says why."""
    import pathlib

    import tomllib

    root = pathlib.Path(dagrt.__file__).parent
    project = tomllib.loads((root.parent / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert (root / "py.typed").exists()
    proc = run_python("import sys, dagrt.__main__ as m, dagrt.tools.coverage as c, pathlib\n"
                      "c.DOC = pathlib.Path('/nonexistent/docs/coverage.md')\n"
                      "sys.exit(m.main(['docs']))")
    assert proc.returncode == 2 and "source checkout" in proc.stderr, proc.stderr


_USER_PROGRAM = """
import dagrt as np

x = np.ones((3, 3))
y = np.linalg.inv(x + np.eye(3))
total: float = float((x @ y).sum())
with np.profile() as prof, np.annotate("step"):
    w = np.sin(x) * 2
np.waitall()
np.cancel()
print(prof.summary().parallelism, total, w.shape, np.cpu(), np.gpu(0), np.CancelledError)
"""


def test_mypy_strict_is_clean_on_a_user_program(tmp_path: Path) -> None:
    """A user's program type-checks against the installed package (py.typed;
    the public names are exported explicitly)."""
    pytest.importorskip("mypy")
    program = tmp_path / "user.py"
    program.write_text(_USER_PROGRAM)
    root = Path(dagrt.__file__).parent.parent
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                           "--no-incremental", str(program)], capture_output=True, text=True,
                          env={**os.environ, "MYPYPATH": str(root)}, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cluster_without_distributed_says_what_to_install() -> None:
    proc = run_python("import sys; sys.modules['distributed'] = None\n"
                      "import dagrt\n"
                      "try:\n"
                      "    dagrt.cluster()\n"
                      "except ModuleNotFoundError as e:\n"
                      "    print(e)\n")
    assert "pip install 'dagrt[distributed]'" in proc.stdout, proc.stderr


def test_plotting_without_matplotlib_says_what_to_install() -> None:
    proc = run_python("import sys; sys.modules['matplotlib'] = None\n"
                      "import dagrt\n"
                      "try:\n"
                      "    dagrt.plot_timeline({'traceEvents': []})\n"
                      "except ModuleNotFoundError as e:\n"
                      "    print(e)\n")
    assert "pip install 'dagrt[plot]'" in proc.stdout, proc.stderr


def blas() -> list[int]:
    """The thread counts of the process's BLAS libraries."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]


def test_blas_threads_limited_while_busy_and_given_back_when_idle() -> None:
    """The limit is set and lifted by whichever workers are first busy and
    last idle (threadpoolctl >= 3.8 ignores a thread other than the one that
    set OpenBLAS's count unless it is released: BLAS stayed at one thread)."""
    from dagrt.engine.graph import Op, Var

    before = blas()
    if not before or max(before) == 1:
        pytest.skip("BLAS runs one thread here: nothing to limit")
    seen: list[list[int]] = []
    with dagrt.config(engine="threaded", inline_bytes=0, inter_op_threads=2,
                      intra_op_threads=1):
        for _ in range(3):
            xs = [dagrt.ones(50_000) * i for i in range(8)]  # on both workers
            ENGINE.push(Op(lambda: seen.append(blas()), (), (Var(),), "probe", None))
            dagrt.waitall()
            del xs
            time.sleep(0.3)
            assert blas() == before
    assert seen and all(max(s) == 1 for s in seen)


def test_an_application_blas_limit_is_kept_after_dagrt_ran() -> None:
    """After dagrt's workers limited and restored BLAS, the application's own
    ``threadpool_limits`` still takes effect (dagrt does not keep
    threadpoolctl's controlling-thread role), and dagrt leaves it alone."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    before = blas()
    if not before or max(before) == 1:
        pytest.skip("BLAS runs one thread here")
    with dagrt.config(engine="threaded", inline_bytes=0):
        float((dagrt.ones(50_000) * 2).sum())
        dagrt.waitall()
        with threadpoolctl.threadpool_limits(1):
            assert max(blas()) == 1
            float((dagrt.ones(50_000) * 2).sum())
            dagrt.waitall()
            time.sleep(0.3)
            assert max(blas()) == 1
        float((dagrt.ones(50_000) * 2).sum())  # dagrt gives BLAS back its threads
        dagrt.waitall()
        time.sleep(0.3)
        assert blas() == before


def test_new_arrays_get_one_state_when_threads_use_them_at_once() -> None:
    """A new array shares ``FRESH`` until an op uses it; threads that record
    on it at the same moment give it one state, so their ops stay ordered."""
    from dagrt.array.ndarray import var_of
    from dagrt.engine.graph import FRESH

    for _ in range(20):
        a = dagrt.ones(3)
        assert a._var is FRESH
        start = threading.Barrier(8)
        seen: list[Any] = []

        def use(a: Any = a, start: Any = start, seen: list[Any] = seen) -> None:
            start.wait()
            seen.append(var_of(a))
        threads = [threading.Thread(target=use) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(seen) == 8 and all(v is a._var for v in seen) and a._var is not FRESH


def test_a_worker_runs_next_the_op_its_own_op_made_ready() -> None:
    """Work-first: the successor an op makes ready runs next on the same
    worker (its inputs are still in that core's cache), before older ready
    ops waiting in the shared queue."""
    from dagrt.array.record import record

    started = threading.Event()
    event = threading.Event()
    order: list[str] = []

    def head(x: Any) -> Any:
        started.set()
        event.wait(60)
        return x

    def step(x: Any, name: str) -> Any:
        order.append(name)
        return x + 1

    def op(name: str, a: Any) -> Any:
        out = dagrt.empty(100)
        record("step", step, (a, name), {}, lambda: [out], [out], use_out=False)
        return out

    with dagrt.config(engine="threaded", inline_bytes=0, inter_op_threads=1):
        a = dagrt.empty(100)
        record("head", head, (dagrt.zeros(100),), {}, lambda: [a], [a], use_out=False)
        assert started.wait(60)  # the one worker is in ``head``
        others = [op(f"other{i}", dagrt.zeros(100)) for i in range(3)]  # ready, queued
        for i in range(3):
            a = op(f"chain{i}", a)  # each waits for the one before
        event.set()
        dagrt.waitall()
    assert order == ["chain0", "chain1", "chain2", "other0", "other1", "other2"]
    assert float(a[0]) == 3.0 and all(float(o[0]) == 1.0 for o in others)


def test_a_kernel_shared_with_idle_workers_is_costed_as_on_one_worker() -> None:
    """The cost model predicts an op's time in the caller: a kernel whose
    work idle workers shared (a chunked op, a fused chain) reports its time
    times the workers that ran it, else it would look cheap and run alone in
    the caller next time."""
    from dagrt.array.record import record
    from dagrt.engine.executors import ThreadedExecutor
    from dagrt.engine.policy import POLICY

    def kernel(x: Any) -> Any:
        pool = ThreadedExecutor.current()
        assert pool is not None
        ran = pool.share(lambda: spin(0.05), 1)
        assert len(ran) == 2  # this worker and one helper
        return x

    with dagrt.config(engine="threaded", inline_bytes=0, inter_op_threads=2):
        dagrt.waitall()
        out = dagrt.empty(100)
        record("shared kernel", kernel, (dagrt.zeros(100),), {}, lambda: [out], [out],
               use_out=False, work=1000)
        dagrt.waitall()
    seconds = POLICY.costs.rates["shared kernel"] * 1000
    assert 0.095 < seconds < 1.0, seconds


def spin(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU time."""
    c0 = time.thread_time()
    while time.thread_time() - c0 < seconds:
        pass


def test_the_cost_model_learns_cpu_time_not_waits() -> None:
    """A kernel's time waiting (for the GIL, which a worker needs each time
    NumPy returns, or here asleep) is not its cost: a cost model that learnt
    it took small ops for large ones and kept them off the calling thread."""
    from dagrt.array.record import record
    from dagrt.engine.policy import POLICY

    def kernel(x: Any) -> Any:
        time.sleep(0.1)
        return x

    with dagrt.config(engine="threaded", inline_bytes=0):
        out = dagrt.empty(100)
        record("sleepy kernel", kernel, (dagrt.zeros(100),), {}, lambda: [out], [out],
               use_out=False, work=1000)
        dagrt.waitall()
    assert POLICY.costs.rates["sleepy kernel"] * 1000 < 0.05


def test_the_switch_interval_is_lowered_while_workers_run() -> None:
    """While dagrt's workers are busy the interpreter hands the GIL over every
    ``switch_interval`` seconds (a worker's kernel needs it back each time
    NumPy returns), and gets its own interval back once they are idle; an
    application's lower interval is left alone."""
    import sys

    from dagrt.engine.graph import Op, Var

    dagrt.waitall()
    time.sleep(0.3)  # workers idle: the interval is the process's own again
    before = sys.getswitchinterval()
    for mine, expected in ((5e-3, 2e-4), (1e-5, 1e-5)):
        sys.setswitchinterval(mine)
        try:
            seen: list[float] = []
            with dagrt.config(engine="threaded", switch_interval=2e-4):
                ENGINE.push(Op(lambda seen=seen: seen.append(sys.getswitchinterval()), (),
                               (Var(),), "probe", None))
                dagrt.waitall()
                time.sleep(0.3)
                assert seen[0] == pytest.approx(expected, rel=0.01)
                assert sys.getswitchinterval() == pytest.approx(mine, rel=0.01)
        finally:
            sys.setswitchinterval(before)
    with pytest.raises(ValueError, match="at least 0"):
        dagrt.config(switch_interval=-1).__enter__()


def test_a_small_op_waits_for_a_running_kernel_about_to_finish() -> None:
    """An op the policy would run now, whose input a kernel running on a
    worker is predicted to finish within ``inline_us``, waits for it and
    runs now (else each of its dependents would go to the workers too);
    one whose input is predicted to take longer goes to the scheduler."""
    from dagrt.array.record import record
    from dagrt.engine.policy import POLICY

    started = threading.Event()

    def kernel(x: Any) -> Any:
        started.set()
        time.sleep(0.05)
        return x + 1

    with dagrt.config(engine="threaded", inline_us=1000):
        for name, rate, pushed in (("quick probe", 1e-12, 0), ("long probe", 1.0, 1)):
            POLICY.costs.rates[name] = rate
            started.clear()
            x = dagrt.empty(100)
            record(name, kernel, (dagrt.zeros(100),), {}, lambda x=x: [x], [x],
                   use_out=False, work=10 ** 6)
            assert started.wait(60)
            before = ENGINE.ops_pushed
            y = x * 2.0  # 800 bytes: admitted by the policy
            assert ENGINE.ops_pushed - before == pushed, name
            assert (y.asnumpy() == 2.0).all()
    dagrt.waitall()


def test_a_kind_never_measured_runs_now_and_is_measured_alone() -> None:
    """An op whose kind the cost model has not measured runs now, in the
    calling thread, and is measured there (a worker's time is inflated by
    the recording thread and the other workers sharing the cores); the next
    one, predicted slower than ``inline_us``, goes to the scheduler."""
    from dagrt.array.record import record
    from dagrt.engine.policy import POLICY

    name = "probe of a new kind"
    POLICY.costs.rates.pop(name, None)
    POLICY.costs.alone.discard(name)
    with dagrt.config(engine="threaded", inline_us=1000):
        for pushed in (0, 1):
            out = dagrt.empty(100)
            before = ENGINE.ops_pushed
            record(name, lambda x: (spin(0.005), x)[1], (dagrt.zeros(100),), {},
                   lambda out=out: [out], [out], use_out=False, work=10 ** 6)
            assert ENGINE.ops_pushed - before == pushed
            dagrt.waitall()
            assert name in POLICY.costs.alone
            assert 0.004 < POLICY.costs.rates[name] * 10 ** 6 < 0.1
    with dagrt.config(inline_bytes=0):  # (no limit: every op to the scheduler)
        assert not POLICY.costs.cheap("a kind never seen", 10 ** 9)


def test_workers_times_only_lower_an_estimate_measured_alone() -> None:
    from dagrt.engine.policy import CostModel

    costs = CostModel()
    costs.limit = 1e-3
    assert costs.cheap("new", 10 ** 9) and not costs.cheap("new", 10 ** 9, unknown=False)
    work = 10 ** 6
    costs.observe("k", work, 4e-3, alone=False)  # never alone: a worker's time is all there is
    assert costs.rates["k"] == pytest.approx(4e-9)
    costs.observe("k", work, 1e-3)  # its first time alone replaces it
    assert costs.rates["k"] == pytest.approx(1e-9)
    costs.observe("k", work, 3e-3, alone=False)  # slower on a worker: not its own cost
    assert costs.rates["k"] == pytest.approx(1e-9)
    costs.observe("k", work, 0.2e-3, alone=False)  # faster: the estimate was too high
    assert costs.rates["k"] == pytest.approx(0.8e-9)


def test_ops_that_never_ask_the_model_are_not_learnt() -> None:
    """An op of ``small`` work or less never asks the model: its time is
    mostly fixed costs, and learnt per byte it would make the large ops of
    its kind look dear (a 32-byte setitem deferred behind a pending op made
    128 KiB ones look 109 ms long)."""
    from dagrt.engine.policy import CostModel

    costs = CostModel()
    costs.limit = 1e-3
    costs.observe("setitem", 32, 27e-6, alone=False)
    costs.observe("setitem", costs.small, 27e-6)
    assert "setitem" not in costs.rates and costs.cheap("setitem", 1 << 17) == 2  # unknown: timed
    costs.observe("setitem", 1 << 17, 30e-6)
    assert costs.rates["setitem"] == pytest.approx(30e-6 / (1 << 17))
    costs.small = -1  # (inline_bytes=0: every op asks the model, every op is learnt)
    costs.observe("tiny", 32, 1e-6)
    assert costs.rates["tiny"] == pytest.approx(1e-6 / 32)


def test_matmul_work_counts_multiply_adds() -> None:
    """``X @ W`` and ``X.T @ D`` with the same multiply-adds have the same
    work, whichever operand is larger (the compiled operator and the Python
    path alike): the cost model's time per byte then fits both."""
    from dagrt.engine.policy import POLICY
    from dagrt.ops.reductions import _contraction_work

    x, w, d = dagrt.ones((1024, 64)), dagrt.ones((64, 256)), dagrt.ones((1024, 256))
    work = 1024 * 64 * 256 * 8
    assert _contraction_work("matmul", [x, w]) == _contraction_work("matmul", [x.T, d]) == work
    assert _contraction_work("dot", [dagrt.ones(64), w]) == 64 * 256 * 8
    assert _contraction_work("matmul", [dagrt.ones((3, 1024, 64)), w]) == 3 * work
    saved = POLICY.costs.rates.get("matmul")
    try:
        with dagrt.config(engine="threaded", inline_us=1000):
            dagrt.waitall()
            for a, b, pushed in ((x, w, 0), (x.T, d, 0), (d.T, d, 1)):  # 1024x as much
                POLICY.costs.rates["matmul"] = 0.9e-3 / work  # x @ w: 0.9 ms
                before = ENGINE.ops_pushed
                a @ b
                assert ENGINE.ops_pushed - before == pushed, (a.shape, b.shape)
                dagrt.waitall()
    finally:
        if saved is not None:
            POLICY.costs.rates["matmul"] = saved


def _regime_run(costs: Any, clock: list[float], seconds: float, speed: dict[str, float],
                kinds: dict[str, str] | None = None) -> None:
    """Run ops of 1 MB (1 ms as the model predicts) for ``seconds`` of the
    fake clock, each taking ``1 ms / speed[mode]`` of it in the regime's
    mode, of kind ``kinds[mode]`` ("a" in both by default)."""
    regime = costs.regime
    end = clock[0] + seconds
    while clock[0] < end:
        mode = regime.mode
        regime.add((kinds or {}).get(mode, "a"), 10 ** 6)
        clock[0] += 1e-3 / speed[mode]


def _regime(window: float = 0.1) -> tuple[Any, list[float]]:
    from dagrt.engine.policy import CostModel

    costs = CostModel()
    costs.limit = costs.base = 1e-3
    costs.rates.update(a=1e-9, b=1e-9)
    costs.regime.window = window
    clock = [0.0]
    costs.regime.clock = lambda: clock[0]
    return costs, clock


def test_the_regime_steps_when_ops_are_counted_in_batches() -> None:
    """Ops counted several at once (the compiled path's owed ops,
    ``CostModel.grant``) take the regime's steps as one at a time would: a
    count that passes a multiple of 8 asks the clock."""
    from dagrt.engine.policy import MIN_OPS

    costs, clock = _regime()
    regime = costs.regime
    for _ in range((MIN_OPS + 15) // 15 + 1):
        costs.grant("a", 10 ** 5, 15, ask=False)
        clock[0] += 0.05
    assert regime.until > 0 and regime.ops < MIN_OPS + 15
    runs = costs.runs[("a", 10 ** 5)]
    assert costs.grant("a", 10 ** 5, 3) == (1, 15 - (runs + 4) % 16, regime.until)


def test_the_regime_keeps_the_faster_way_and_measures_again() -> None:
    """Spreading dear ops over the workers or running them in the caller: a
    program starts spread; each regime is measured in a window, the faster
    kept (spreading by a margin) for 4 times as long each time it wins
    again, 16 windows at once when it wins clearly; a change of the
    program's behaviour is found at the next measurement. (A fake clock.)"""
    from dagrt.engine.policy import CALLER, CALLER_LIMIT, MIN_OPS, SPREAD

    costs, clock = _regime()
    regime = costs.regime
    slow_spread, fast_spread = {SPREAD: 0.6, CALLER: 1.0}, {SPREAD: 1.5, CALLER: 1.0}
    _regime_run(costs, clock, 0.29, slow_spread)
    assert regime.mode == SPREAD and costs.limit == 1e-3  # the first windows: spread
    _regime_run(costs, clock, 0.25, slow_spread)  # both measured: the caller wins clearly
    assert regime.best == CALLER and regime.mode == CALLER and costs.limit == CALLER_LIMIT
    assert regime.hold == 16
    _regime_run(costs, clock, 1.95, fast_spread)  # held 16 windows, measured: spreading pays
    assert regime.best == SPREAD and regime.hold == 16
    assert regime.mode == SPREAD and costs.limit == 1e-3
    regime.reset()
    near = {SPREAD: 1.02, CALLER: 1.0}
    _regime_run(costs, clock, 0.55, near)  # within the margin: the caller
    assert regime.best == CALLER and regime.hold == 4
    _regime_run(costs, clock, 0.71, near)  # held 4 windows, the same again: 16
    assert regime.best == CALLER and regime.hold == 16
    regime.reset()  # ops of 20 ms: a measured window lasts until MIN_OPS of them
    _regime_run(costs, clock, 0.8, {SPREAD: 0.05, CALLER: 0.05})
    assert regime.mode == SPREAD and regime.measured and regime.ops < MIN_OPS
    assert clock[0] - regime.t0 > regime.window


def test_the_regime_compares_windows_of_the_same_ops() -> None:
    """Windows that ran different ops (a loop's phases) decide nothing: both
    regimes are measured again, for twice as long (up to a bound), added to
    what they ran before, until their mixes are alike."""
    from dagrt.engine.policy import CALLER, SPAN_MAX, SPREAD

    costs, clock = _regime()
    regime = costs.regime
    apart = {SPREAD: "a", CALLER: "b"}
    slow_spread = {SPREAD: 0.6, CALLER: 1.0}
    _regime_run(costs, clock, 0.55, slow_spread, apart)
    assert regime.best == SPREAD and regime.span == 2  # nothing decided
    _regime_run(costs, clock, 0.6, slow_spread, apart)
    assert regime.best == SPREAD and regime.span == 4 and regime.mode == SPREAD
    _regime_run(costs, clock, 3.0, slow_spread)  # now the same ops: decided
    assert regime.best == CALLER and regime.span == 1 and not regime.windows
    regime.reset()  # mixes that never match: measured for at most SPAN_MAX windows
    _regime_run(costs, clock, 60.0, slow_spread, apart)
    assert regime.best == SPREAD and regime.span == SPAN_MAX


def test_the_regime_is_off_where_no_op_is_admitted_by_the_cost_model() -> None:
    from dagrt.engine.policy import POLICY, SPREAD

    with dagrt.config(adapt_s=0):
        assert POLICY.costs.regime.window == 0
    with dagrt.config(inline_bytes=0, adapt_s=0.05):
        assert POLICY.costs.regime.window == 0 and POLICY.costs.limit == 0
    with dagrt.config(adapt_s=0.05):
        assert POLICY.costs.regime.window == 0.05 and POLICY.costs.regime.mode == SPREAD


def test_the_caller_regime_runs_a_chain_deferred_while_spread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A chain of dear products deferred while spread (each op's input
    pending, its writer queued) runs in the caller once the regime is the
    caller's: each op waits for its input, started or not, and runs now.
    (Before, an op waited only for a running kernel: the chain stayed on
    the workers, BLAS on one thread, 1.6x NumPy's time.)"""
    from dagrt.engine.policy import CALLER, CALLER_LIMIT, POLICY

    costs = POLICY.costs
    rng = numpy.random.default_rng(0)
    w0, x0 = rng.standard_normal((200, 200)) / 15, rng.standard_normal((200, 200))
    with dagrt.config(engine="threaded", adapt_s=0):
        monkeypatch.setattr(costs, "observe", lambda *args, **kwargs: None)
        monkeypatch.setitem(costs.rates, "matmul", 2e-3 / (200 * 200 * 8 * 200))  # 2 ms: dear
        w, x, expected = dagrt.asarray(w0), dagrt.asarray(x0), x0
        before = ENGINE.ops_pushed
        for _ in range(5):
            x, expected = x @ w, expected @ w0
        assert ENGINE.ops_pushed - before == 5  # spread: each on a worker
        costs.regime.mode, costs.limit = CALLER, CALLER_LIMIT
        before = ENGINE.ops_pushed
        for _ in range(5):
            x, expected = x @ w, expected @ w0
        assert ENGINE.ops_pushed == before  # the caller's: each now
        numpy.testing.assert_allclose(x.asnumpy(), expected, rtol=1e-12)
