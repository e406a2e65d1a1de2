"""Profiles, traces, the recorded graph, critical paths, progress, `python -m dagrt`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy
import pytest

import dagrt
from dagrt.engine.graph import RAW, WAR, WAW
from dagrt.engine.policy import POLICY
from dagrt.engine.scheduler import ENGINE
from dagrt.tools import analysis as _analysis
from dagrt.tools import recorder as _recorder

ROOT = Path(__file__).resolve().parent.parent


def _state_is_clean() -> None:
    assert ENGINE.observers == []
    assert POLICY.inline_bytes > 0
    assert _recorder._active == 0


@pytest.fixture(autouse=True)
def _no_recording_left() -> None:
    dagrt.waitall()
    _analysis.graph_reset(record=False)
    yield
    _analysis.graph_reset(record=False)
    _state_is_clean()


def _program(n: int = 200_000) -> tuple[dagrt.ndarray, dagrt.ndarray]:
    """Two ready arrays of ones to start independent chains from."""
    a = dagrt.asarray(numpy.ones(n))
    b = dagrt.asarray(numpy.ones(n))
    dagrt.waitall()
    return a, b


def _events(trace: dict) -> tuple[list[dict], list[dict], dict[int, str]]:
    events = trace["traceEvents"]
    slices = [e for e in events if e["ph"] == "X" and e["cat"] == "op"]
    flows = [e for e in events if e["ph"] in ("s", "f")]
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    return slices, flows, names


# -- traces --------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["threaded", "serial"])
def test_trace_file_is_chrome_trace_events(tmp_path: Path, engine: str) -> None:
    a, b = _program()
    path = tmp_path / "sub" / "trace.json"
    with dagrt.config(engine=engine), dagrt.profile(path) as prof:
        for _ in range(3):
            a = a * 1.5
            b = b + 1.0
        c = a - b
        c += 2.0
    trace = json.loads(path.read_text())
    assert isinstance(trace["traceEvents"], list)
    slices, flows, names = _events(trace)

    assert len(prof.ops) == 8
    assert len(slices) == 8  # exactly one slice per op
    assert sorted(e["args"]["seq"] for e in slices) == sorted(op.seq for op in prof.ops)
    assert sorted(e["name"] for e in slices) == sorted(
        ["multiply"] * 3 + ["add"] * 3 + ["subtract", "add"])
    for e in slices:
        assert e["cat"] == "op" and e["dur"] >= 0 and e["ts"] >= 0
        assert e["args"]["shape"] == [200_000]
        assert e["args"]["dtype"] == "float64"
        assert e["args"]["site"].startswith(__file__ + ":")
        assert "test_trace_file_is_chrome_trace_events" in e["args"]["site"]
        assert e["tid"] in names and e["pid"] == os.getpid()
    # a named track per thread that ran something, under its real thread id
    assert {e["tid"] for e in slices} <= set(names)
    lanes = {names[e["tid"]] for e in slices}
    if engine == "serial":
        assert lanes == {"recording thread (MainThread)"}
        assert {e["tid"] for e in slices} == {threading.get_native_id()}
    else:
        # (the cost model runs an op it predicts cheap, or of a kind it has not
        # measured yet, in the recording thread: every op may, with inlining)
        workers = lanes - {"recording thread (MainThread)"}
        assert all(name.startswith("cpu-worker-") for name in workers), lanes
        assert workers or engine == "threaded", lanes
        workers = {t.native_id for t in threading.enumerate()
                   if t.name.startswith("dagrt-cpu-worker-")}
        assert {e["tid"] for e in slices} <= workers | {threading.get_native_id()}
    assert all(tid != os.getpid() for tid, name in names.items()  # Perfetto: "main thread"
               if name.startswith("cpu-worker-"))
    assert all(e["ts"] / 1e6 > time.time() - 600 for e in slices)  # Unix epoch, in us
    # flow arrows: paired start/finish, one pair per dependency edge
    starts = {e["id"]: e for e in flows if e["ph"] == "s"}
    finishes = {e["id"]: e for e in flows if e["ph"] == "f"}
    assert starts.keys() == finishes.keys()
    assert len(starts) == prof.graph().number_of_edges() == 7
    assert all(f["bp"] == "e" for f in finishes.values())
    for fid, s in starts.items():
        assert s["ts"] <= finishes[fid]["ts"] or s["tid"] != finishes[fid]["tid"]


def test_trace_has_the_recording_thread_counters_and_annotations() -> None:
    """What a performance engineer reads in Perfetto: the recording thread's
    sync waits and user ranges on its own track, counters, CPU time per op."""
    a, b = _program(2_000_000)  # (ops of milliseconds: the 5 ms counters see them pending)
    with dagrt.config(engine="threaded", inline_bytes=0), dagrt.profile() as prof:
        with dagrt.annotate("step 1"):
            for _ in range(5):
                a = numpy.sin(a) + 1.0
            total = float(a.sum())  # a sync point: the recording thread waits
        step = dagrt.annotate("decorated")
        step(lambda: float(numpy.cos(b).sum()))()
    assert total > 0
    trace = prof.trace()
    events = trace["traceEvents"]
    me = threading.get_native_id()
    spans = {(e["name"], e["cat"]) for e in events if e["ph"] == "X" and e["tid"] == me}
    assert {("step 1", "annotation"), ("decorated", "annotation")} <= spans
    assert ("sync wait", "runtime") in spans
    step1 = next(e for e in events if e["name"] == "step 1")
    ops = [e for e in events if e["ph"] == "X" and e["cat"] == "op" and e["name"] == "sin"]
    assert all(step1["ts"] <= e["ts"] for e in ops)  # the ops recorded inside the range
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert {"pending ops", "pending MiB", "resident memory MiB"} <= counters
    assert max(e["args"]["ops"] for e in events if e["name"] == "pending ops") >= 1
    assert all(e["args"]["cpu_ms"] >= 0 for e in ops)
    assert sum(e["args"]["cpu_ms"] for e in ops) > 0
    thread_names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert "recording thread (MainThread)" in thread_names
    assert not [t for t in threading.enumerate() if t.name == "dagrt-profile-counters"]


def test_annotate_costs_nothing_unobserved_and_nests() -> None:
    calls = []

    @dagrt.annotate("recursive")
    def f(n: int) -> int:
        calls.append(n)
        return n if n == 0 else f(n - 1)

    assert f(3) == 0  # no profile: nothing recorded, nothing fails
    with dagrt.profile() as prof:
        f(2)
    assert [s[0] for s in prof.spans if s[1] == "annotation"] == ["recursive"] * 3
    inner, middle, outer = [s for s in prof.spans if s[1] == "annotation"]
    assert outer[2] <= middle[2] <= inner[2] <= inner[3] <= middle[3] <= outer[3]


def test_summary_table() -> None:
    a, b = _program()
    with dagrt.profile() as prof:
        for _ in range(4):
            a = numpy.sin(a)
            b = numpy.cos(b)
    s = prof.summary()
    assert s.ops["sin"][0] == 4 and s.ops["cos"][0] == 4
    count, total, mean = s.ops["sin"]
    assert mean == pytest.approx(total / count)
    assert sum(c for c, _, _ in s.workers.values()) == 8
    assert s.work == pytest.approx(sum(t for _, t, _ in s.ops.values()))
    assert s.concurrency == pytest.approx(s.work / s.wall)
    assert s.parallelism == pytest.approx(s.cpu / s.wall)
    assert 0 < s.cpu and sum(s.op_cpu.values()) <= s.cpu * 1.05
    assert all(0.0 <= frac <= 1.0 + 1e-6 for _, _, frac in s.workers.values())
    text = str(s)
    assert "sin" in text and "achieved parallelism" in text and "busy" in text


def test_profiling_off_leaves_no_slices_and_no_state(monkeypatch: pytest.MonkeyPatch) -> None:
    import dagrt.engine.scheduler as scheduler

    seen = []
    real_link = scheduler.link

    def spy(op):
        seen.append(op)
        return real_link(op)

    monkeypatch.setattr(scheduler, "link", spy)
    a, b = _program()
    with dagrt.profile() as prof:
        pass
    _state_is_clean()
    with dagrt.config(inline_bytes=0):  # to the scheduler, whatever the cost model learnt
        c = a * 2.0 + b  # recorded outside any profile
        d = c.sum()
        assert float(d) == 600_000.0
    assert seen, "the spy saw no op"
    # (the engine times kernels for its cost model; profiling keeps nothing)
    assert all(op.meta is None for op in seen)  # no per-op profiling metadata built
    assert prof.ops == []
    slices, flows, _ = _events(prof.trace())
    assert slices == [] and flows == []
    with pytest.raises(RuntimeError, match="graph_reset"):
        dagrt.graph()


def test_profile_exit_does_not_swallow_errors() -> None:
    with dagrt.profile() as prof, dagrt.config(inline_bytes=0):  # deferred
        bad = dagrt.linalg.inv(dagrt.zeros((3, 3)))
        fine = dagrt.ones(3) + 1.0
    _state_is_clean()
    assert fine.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(numpy.linalg.LinAlgError):
        bad.asnumpy()
    assert "error" in json.dumps(prof.trace())


def test_nested_recorders_restore_state() -> None:
    a, _ = _program(10)
    with dagrt.record_graph() as outer:
        x = a + 1.0
        with dagrt.profile() as inner:
            y = x * 2.0
        z = y - x
    assert [op.name for op in inner.ops] == ["multiply"]
    assert [op.name for op in outer.ops] == ["add", "multiply", "subtract"]
    assert z.tolist() == [2.0] * 10


def test_profile_whole_run_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    code = ("import dagrt, numpy\n"
            "a = dagrt.asarray(numpy.ones(100000))\n"
            "b = (a * 2.0 + 1.0).sum()\n")
    env = dict(os.environ, DAGRT_PROFILE=str(path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    slices, _, names = _events(json.loads(path.read_text()))
    assert sorted(e["name"] for e in slices) == ["add", "multiply", "sum"]


# -- the graph -----------------------------------------------------------------

def test_graph_of_a_known_program_with_in_place_hazards() -> None:
    x = dagrt.asarray(numpy.arange(6.0))
    dagrt.waitall()
    with dagrt.record_graph():
        y = x * 2      # 1
        x += 1         # 2: overwrites what 1 read
        z = x + y      # 3: reads 2 and 1
        y[0] = 5       # 4: overwrites what 1 wrote and 3 read
        v = x[1:3]     # a view: its writes are writes of x
        v *= 2         # 5: overwrites what 2 wrote and 3 read
        s = z.sum()    # 6
    g = dagrt.graph()
    order = sorted(g.nodes)
    label = {seq: i + 1 for i, seq in enumerate(order)}
    g = nx.relabel_nodes(g, label)
    assert [g.nodes[i]["name"] for i in range(1, 7)] == [
        "multiply", "add", "add", "setitem", "multiply", "sum"]
    assert set(g.edges(data="kind")) == {
        (1, 2, WAR), (1, 3, RAW), (2, 3, RAW), (1, 4, WAW), (3, 4, WAR),
        (2, 5, WAW), (3, 5, WAR), (3, 6, RAW)}
    node = g.nodes[5]
    assert node["shape"] == (2,) and node["dtype"] == "float64"
    assert node["device"] == "cpu(0)"
    assert node["site"].startswith(__file__ + ":")
    assert all(d["duration"] >= 0 for _, d in g.nodes(data=True))
    assert float(s) == 51.0
    assert x.tolist() == [1.0, 4.0, 6.0, 4.0, 5.0, 6.0]
    assert y.tolist() == [5.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_graph_is_the_same_whatever_the_engine() -> None:
    def edges(engine: str) -> set:
        x = dagrt.asarray(numpy.arange(4.0))
        dagrt.waitall()
        with dagrt.config(engine=engine), dagrt.record_graph() as rec:
            y = x + 1
            x *= 3
            y[1:] = x[:3]
            w = y @ x
        float(w)
        g = rec.graph()
        first = min(g.nodes)
        return {(u - first, v - first, k) for u, v, k in g.edges(data="kind")}

    assert edges("serial") == edges("threaded")


def test_graph_reset_records_until_stopped() -> None:
    a, _ = _program(1000)
    dagrt.graph_reset()
    b = a + 1
    c = b * b
    g = dagrt.graph()  # available before the run finished
    assert [g.nodes[n]["name"] for n in sorted(g.nodes)] == ["add", "multiply"]
    dagrt.waitall()
    dagrt.graph_reset()
    assert dagrt.graph().number_of_nodes() == 0
    d = c - 1
    assert dagrt.graph().number_of_nodes() == 1
    dagrt.graph_reset(record=False)
    _state_is_clean()
    with pytest.raises(RuntimeError):
        dagrt.graph()
    del d


# -- analysis ------------------------------------------------------------------

def _hand_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for name, duration in dict(a=2.0, b=3.0, c=1.0, d=4.0, e=1.0, f=5.0).items():
        g.add_node(name, name=name, duration=duration)
    g.add_edges_from([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")])
    return g


def test_critical_path_of_a_constructed_graph() -> None:
    g = _hand_graph()
    r = dagrt.analyze(g, workers=2)
    # a-b-d-e = 2+3+4+1 = 10 beats a-c-d-e = 8 and f = 5
    assert r.critical_path == ["a", "b", "d", "e"]
    assert r.span == 10.0 and r.work == 16.0 and r.unit == "s"
    assert r.parallelism == pytest.approx(1.6)
    assert r.max_speedup() == pytest.approx(1.6)
    assert r.max_speedup(1) == 1.0
    assert r.brent_speedup() == pytest.approx(16.0 / ((16.0 - 10.0) / 2 + 10.0))
    assert "critical path" in str(r) and "a -> b -> d -> e" in str(r)


def test_critical_path_without_durations_counts_ops() -> None:
    g = _hand_graph()
    del g.nodes["f"]["duration"]
    r = dagrt.analyze(g, workers=4)
    assert r.unit == "ops" and r.work == 6 and r.span == 4
    assert len(r.critical_path) == 4 and r.critical_path[0] == "a"
    assert r.max_speedup() == pytest.approx(1.5)


def test_analyze_a_profile_and_reject_cycles() -> None:
    a, b = _program(10_000)
    with dagrt.profile() as prof:
        for _ in range(3):
            a = a * 2.0
            b = b * 3.0
    r = dagrt.analyze(prof, workers=2)
    assert r.ops == 6 and len(r.critical_path) == 3 and r.unit == "s"
    assert 1.0 <= r.parallelism <= 6.0
    with pytest.raises(ValueError, match="cycle"):
        dagrt.analyze(nx.DiGraph([(1, 2), (2, 1)]))


# -- progress ------------------------------------------------------------------

def _pending_work() -> dagrt.ndarray:
    a = dagrt.asarray(numpy.ones((300, 300)))
    with dagrt.config(inline_bytes=0):
        for _ in range(20):
            a = a @ a * 0.001
    return a


def test_waitall_progress_without_tqdm(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    for module in ("tqdm", "tqdm.auto", "tqdm.std", "tqdm.notebook"):
        monkeypatch.setitem(sys.modules, module, None)
    a = _pending_work()
    dagrt.waitall(progress=True)
    assert ENGINE.pending == 0
    err = capsys.readouterr().err
    if err:  # nothing pending by the time waitall ran: no bar at all
        assert "ops" in err and "dagrt" in err
    assert numpy.isfinite(a.asnumpy()).all()


def test_waitall_progress_with_tqdm(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    _pending_work()
    dagrt.waitall(progress=True)
    assert ENGINE.pending == 0
    dagrt.waitall(progress=True)  # nothing pending: returns at once


# -- pictures ------------------------------------------------------------------

def test_plot_timeline_and_draw_graph(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    a, b = _program(50_000)
    trace = tmp_path / "t.json"
    with dagrt.profile(trace) as prof:
        a = a * 2.0
        b = b + a
        b += 1
    png = tmp_path / "t.png"
    fig = dagrt.plot_timeline(str(trace), str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert fig.axes
    dagrt.plot_timeline(prof)  # a Profile works too, no file needed
    gpng = tmp_path / "g.png"
    dagrt.draw_graph(prof.graph(), gpng)
    assert gpng.read_bytes()[:4] == b"\x89PNG"


def _plot_ink(fig) -> tuple[float, float]:
    """(height of the first axes / figure height, fraction of non-white
    pixels inside it), from the rendered picture: an empty or collapsed plot
    area fails, whatever the file looks like."""
    fig.canvas.draw()
    pixels = numpy.asarray(fig.canvas.buffer_rgba())[..., :3]
    box = fig.axes[0].get_window_extent()
    height = pixels.shape[0]
    area = pixels[int(height - box.y1):int(height - box.y0), int(box.x0):int(box.x1)]
    return box.height / height, float((area.min(axis=-1) < 200).mean()) if area.size else 0.0


def _synthetic_trace(names: int, ops: int, lanes: int = 2) -> dict:
    events = [{"name": "thread_name", "ph": "M", "pid": 1, "tid": t,
               "args": {"name": f"cpu-worker-{t}"}} for t in range(lanes)]
    for i in range(ops):
        events.append({"name": f"op{i % names}", "cat": "op", "ph": "X", "pid": 1,
                       "tid": i % lanes, "ts": 10.0 * (i // lanes), "dur": 9.0})
    return {"traceEvents": events}


@pytest.mark.parametrize("names, ops", [(1, 1), (8, 40), (50, 10_000)])
def test_timeline_plot_area_is_not_empty(names: int, ops: int) -> None:
    """The timeline's lanes stay readable however many op names there are
    (the legend goes below the plot and lists the top ten)."""
    pytest.importorskip("matplotlib")
    fig = dagrt.plot_timeline(_synthetic_trace(names, ops))
    share, ink = _plot_ink(fig)
    assert share > 0.45, share  # the legend used to squeeze the lanes away
    assert ink > 0.3, ink
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["cpu-worker-0 (90% busy)", "cpu-worker-1 (90% busy)"] or ops == 1
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(legend) == min(names, 10) + (names > 10)
    assert fig._repr_png_()[:4] == b"\x89PNG"  # displays in a notebook without pyplot


def test_graph_picture_is_layered_and_labelled() -> None:
    pytest.importorskip("matplotlib")
    a, b = _program(50_000)
    with dagrt.config(inline_bytes=0), dagrt.profile() as prof:
        c = a * 2.0
        d = b + 1.0
        e = c + d
        e += 1
    fig = dagrt.draw_graph(prof.graph())
    _, ink = _plot_ink(fig)
    assert ink > 0.02, ink
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("multiply\n") and t.endswith(" ms") for t in texts), texts
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["read-after-write", "write-after-read", "write-after-write",
                      "critical path"]
    assert fig._repr_png_()[:4] == b"\x89PNG"


def test_bench_traced_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    with _common.traced(argparse.Namespace(trace=True), "demo"):
        x = dagrt.asarray(numpy.ones(100_000)) * 3.0
    assert float(x.sum()) == 300_000.0
    slices, _, _ = _events(json.loads((tmp_path / "demo.trace.json").read_text()))
    assert [e["name"] for e in slices] == ["multiply"]
    assert (tmp_path / "demo.png").exists()
    with _common.traced(argparse.Namespace(trace=False), "off"):
        pass
    assert not (tmp_path / "off.trace.json").exists()


# -- python -m dagrt --------------------------------------------------------------

def test_python_m_dagrt_info() -> None:
    env = dict(os.environ, DAGRT_MAX_PENDING="123", DAGRT_TYPO="1")
    env.pop("DAGRT_ENGINE", None)
    result = subprocess.run([sys.executable, "-m", "dagrt", "info"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for word in ("dagrt", "NumPy", numpy.__version__, "CuPy", "devices", "inter-op",
                 "intra-op", "cores"):
        assert word in out
    lines = {line.split()[0]: line for line in out.splitlines()
             if line.strip().startswith("DAGRT_")}
    assert "123" in lines["DAGRT_MAX_PENDING"] and "(environment)" in lines[
        "DAGRT_MAX_PENDING"]
    assert "(default)" in lines["DAGRT_ENGINE"]
    assert "unknown" in lines["DAGRT_TYPO"]
    assert set(lines) >= {f.env for f in dagrt._config.FLAGS.values()}


def _helper(a: Any) -> Any:
    return a + 1.0  # HELPER LINE


def test_profile_names_each_small_op_s_own_line() -> None:
    """Ops run now are shown at their own recording line, in a loop and in a
    helper the loop calls, whose op is as deep in the stack as the loop's
    ``x.sum()`` (the site found last time is reused only when the frame there
    runs the same code and was called from dagrt)."""
    source = Path(__file__).read_text().splitlines()

    def line_of(mark: str) -> int:
        return next(i for i, line in enumerate(source, 1) if line.endswith(mark))
    with dagrt.profile() as prof:
        x = dagrt.ones(5)
        for _ in range(4):
            s = x.sum()  # SUM LINE
            x = _helper(x)
            y = x - 3.0  # LOOP LINE
    lines: dict[str, set[int]] = {}
    for op in prof.ops:
        if op.site is not None:
            lines.setdefault(op.name, set()).add(op.site[1])
    assert lines["sum"] == {line_of("# SUM LINE")}
    assert lines["add"] == {line_of("# HELPER LINE")}
    assert lines["subtract"] == {line_of("# LOOP LINE")}
    assert float(y[0]) == 2.0 and float(s) == 5.0 + 5 * 3
