"""In a notebook: the HTML view, progress for long sync points, cancelling
queued work (Ctrl-C, ``dagrt.cancel``), error notes naming the cell, and the
example notebook run headless."""

from __future__ import annotations

import _thread
import re
import threading
import time
from pathlib import Path

import numpy
import pytest
from conftest import gate

import dagrt
from dagrt.engine.scheduler import ENGINE

ROOT = Path(__file__).resolve().parent.parent
# Every op to the scheduler, none held back by the look-ahead bound.
QUEUE_ALL = {"engine": "threaded", "inline_bytes": 0, "lookahead": 10_000,
             "lookahead_bytes": 1 << 40}


def _chain(n: int, size: int = 600) -> tuple[dagrt.ndarray, dagrt.ndarray]:
    """A chain of ``n`` matrix products, a few milliseconds each, all queued."""
    a = dagrt.asarray(numpy.random.default_rng(0).random((size, size)))
    x = a
    for _ in range(n):
        x = x @ a / size
    return a, x


# -- the HTML view ---------------------------------------------------------------------

def test_html_view_of_a_ready_array() -> None:
    text = dagrt.arange(6.0).reshape(2, 3)._repr_html_()
    assert "dagrt.ndarray" in text and "shape=(2, 3)" in text and "dtype=float64" in text
    assert "device=cpu(0)" in text and ">ready<" in text
    assert "[3., 4., 5.]" in text
    assert "&lt;" in dagrt.asarray(numpy.array(["<b>"]))._repr_html_()  # escaped


def test_html_view_of_a_pending_array_does_not_wait() -> None:
    event = threading.Event()
    with dagrt.config(engine="threaded"):
        x = gate(dagrt.ones(10), event)
        t0 = time.perf_counter()
        text = x._repr_html_()
        assert time.perf_counter() - t0 < 1.0
        assert ">pending<" in text and "shape=(10,)" in text and "1., 1." not in text
        threading.Timer(0.2, event.set).start()
        with dagrt.config(display_wait=True):  # asked to: waits for the value
            assert ">ready<" in x._repr_html_()


def test_html_view_of_a_failed_array() -> None:
    with dagrt.config(inline_bytes=0):
        failed = dagrt.linalg.inv(dagrt.zeros((2, 2))) + 1
        ENGINE.waitall(raise_errors=False)
    text = failed._repr_html_()
    assert ">failed<" in text and "LinAlgError: Singular matrix" in text


# -- progress ----------------------------------------------------------------------------

def test_a_long_sync_point_shows_progress(capsys: pytest.CaptureFixture[str]) -> None:
    with dagrt.config(**QUEUE_ALL, progress_after=0.05):
        _, x = _chain(40)
        float(x.sum())
    err = capsys.readouterr().err
    assert "dagrt" in err and "op" in err, err
    assert "IProgress" not in err


def test_a_short_sync_point_shows_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with dagrt.config(progress_after=5.0):
        float((dagrt.ones(1000) + 1).sum())
    with dagrt.config(**QUEUE_ALL, progress_after=0):  # off
        _, x = _chain(10, 200)
        float(x.sum())
    assert capsys.readouterr().err == ""


# -- cancelling ----------------------------------------------------------------------

def test_ctrl_c_at_a_sync_point_cancels_the_queued_work() -> None:
    with dagrt.config(**QUEUE_ALL, progress_after=0):
        a, x = _chain(200)
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        t0 = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            float(x.sum())
        assert time.perf_counter() - t0 < 5.0
        t0 = time.perf_counter()
        y = dagrt.asarray(numpy.eye(600)) @ a  # independent: does not queue behind
        assert float(y.sum()) == pytest.approx(float(a.sum()))
        assert time.perf_counter() - t0 < 2.0
        with pytest.raises(dagrt.CancelledError, match="cancelled before it ran"):
            float(x.sum())
        dagrt.waitall()  # a cancellation is not an error to report again
        assert ENGINE.pending == 0
        z = a @ a  # the runtime goes on
        numpy.testing.assert_allclose(z.asnumpy(), a.asnumpy() @ a.asnumpy())


def test_cancel_drops_what_has_not_started() -> None:
    from dagrt.array.record import record

    started, release = threading.Event(), threading.Event()

    def kernel(x: numpy.ndarray) -> numpy.ndarray:
        started.set()
        release.wait(30)
        return x

    with dagrt.config(**QUEUE_ALL):
        source = dagrt.asarray(numpy.ones(10))
        running = dagrt.empty(10)
        record("slow", kernel, (source,), {}, lambda: [running], [running], use_out=False)
        later = running * 2
        assert started.wait(10)
        dagrt.cancel()
        release.set()
        numpy.testing.assert_array_equal(running.asnumpy(), numpy.ones(10))  # it ran
        with pytest.raises(dagrt.CancelledError):
            later.asnumpy()
        dagrt.waitall()
        again = running * 3  # recorded after cancel(): runs
        numpy.testing.assert_array_equal(again.asnumpy(), numpy.full(10, 3.0))


# -- errors name the cell -----------------------------------------------------------

def test_error_note_names_the_ipython_cell() -> None:
    shell_module = pytest.importorskip("IPython.core.interactiveshell")
    shell = shell_module.InteractiveShell.instance()
    try:
        shell.run_cell("import dagrt\nfrom dagrt.engine.scheduler import ENGINE")
        result = shell.run_cell(
            "with dagrt.config(inline_bytes=0):\n"
            "    x = dagrt.linalg.inv(dagrt.zeros((2, 2)))\n"
            "try:\n"
            "    float(x[0, 0])\n"
            "except Exception as e:\n"
            "    error = e\n")
        assert result.success
        error = shell.user_ns["error"]
        assert str(error) == "Singular matrix"  # NumPy's message, unchanged
        assert re.search(r"recorded at Cell In\[\d+\], line 2$", error.__notes__[0]), \
            error.__notes__
    finally:
        shell_module.InteractiveShell.clear_instance()


# -- the example notebook, run headless --------------------------------------------------

def _outputs(cell: dict, kind: str) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o["output_type"] == kind]


def _png_ink(png: str) -> float:
    """Fraction of non-white pixels of a base64 PNG."""
    import base64
    import io

    from matplotlib import image

    pixels = image.imread(io.BytesIO(base64.b64decode(png)), format="png")[..., :3]
    return float((pixels.min(axis=-1) < 0.8).mean())


@pytest.mark.timeout(180)
def test_example_notebook_runs_headless(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    notebook = nbformat.read(ROOT / "examples" / "notebook.ipynb", as_version=4)
    t0 = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert time.perf_counter() - t0 < 60
    cells = {c["source"].splitlines()[0]: c for c in notebook.cells
             if c["cell_type"] == "code"}

    def cell(prefix: str) -> dict:
        return next(c for first, c in cells.items() if first.startswith(prefix))

    shown = _outputs(cell("with np.config(inline_bytes=0):  # every"), "execute_result")
    html = shown[0]["data"]["text/html"]
    assert "dagrt.ndarray" in html and "shape=(600, 600)" in html
    assert ">pending<" in html or ">ready<" in html
    progress = "".join(o["text"] for o in _outputs(cell("with np.config(progress_after"),
                                                   "stream") if o["name"] == "stderr")
    assert "dagrt" in progress and "op" in progress and "IProgress" not in progress
    summary = "".join(o["text"] for o in _outputs(cell("with np.profile("), "stream"))
    assert "achieved parallelism" in summary and "matmul" in summary
    assert (tmp_path / "notebook.trace.json").exists()
    for picture in ("np.plot_timeline(prof)", "np.draw_graph(prof.graph())"):
        data = _outputs(cell(picture), "execute_result")[0]["data"]
        assert _png_ink(data["image/png"]) > 0.02, picture  # displayed, and not empty
    error = _outputs(cell("float(after.sum())"), "error")[0]
    assert error["ename"] == "LinAlgError" and error["evalue"] == "Singular matrix"
    traceback = "\n".join(error["traceback"])
    assert re.search(r"recorded at Cell In\[\d+\], line 2", traceback), traceback
    assert _outputs(cell("float((a @ b).sum())"), "execute_result")  # the runtime goes on
    assert _outputs(cell("import os, signal"), "error")[0]["ename"] == "KeyboardInterrupt"
    after = "".join(o["text"] for o in _outputs(cell("import time"), "stream"))
    assert "cancelled: op" in after, after
    seconds = float(re.search(r"after the interrupt: ([0-9.]+) s", after).group(1))
    assert seconds < 5.0  # not behind the cancelled work (hundreds of products)
