"""NumPy's semantics, exactly: aliasing views, mutation, hazards, promotion,
metadata without waiting, sync points and printing."""

from __future__ import annotations

import operator
import threading
import warnings
from typing import Any

import numpy
import pytest
from conftest import gate, make, run_xp

import dagrt
from dagrt.engine.scheduler import ENGINE

N = 400_000  # float64: 3.2 MB, far above the inline threshold


# -- views alias their base --------------------------------------------------------------

def test_view_writes_seen_through_base_and_back(engine: str) -> None:
    def case(xp: Any) -> Any:
        a = xp.zeros((4, 6))
        v = a[1:3, ::2]          # basic slice
        t = a.T                  # transpose
        r = a.reshape(2, 12)     # reshape-view
        c = r[1][::3]            # chain of views
        v += 1                   # write through a view...
        t[0, :] = 7              # ...through the transpose
        c[...] = -1              # ...through a chain
        a[3] *= 3                # through the base
        r[0, 5] = 42
        return a, v, t, r, c
    run_xp(case)


def test_views_large_noinline(noinline: None) -> None:
    def case(xp: Any) -> Any:
        a = xp.arange(float(N)).reshape(400, 1000)
        top, bottom = a[:200], a[200:]
        tt = a.T[::2]
        flat = a.reshape(-1)
        top *= 2
        bottom -= top            # reads one view, writes another of the same buffer
        tt += 1
        flat[::7] = 0
        s = a.sum()
        a[...] = a[::-1]         # overlapping self-copy
        return a, top, bottom, tt, flat[:1000], s
    run_xp(case)


def test_reshape_copy_is_not_a_view(engine: str) -> None:
    def case(xp: Any) -> Any:
        a = xp.arange(12.0).reshape(3, 4)
        c = a.T.reshape(12)      # NumPy must copy here
        v = a.reshape(4, 3)      # and can view here
        a += 100
        return c, v
    run_xp(case)


def test_view_of_pending_result(noinline: None) -> None:
    def case(xp: Any) -> Any:
        a = xp.ones(N) * 3       # pending on a worker
        v = a[::2]
        w = v.reshape(-1, 1000)
        w[0] = 5
        a[1] = v[10]
        return a, v.sum(), w[:3]
    run_xp(case)


def test_inplace_and_out(engine: str) -> None:
    def case(xp: Any) -> Any:
        a = make(xp, (300, 300), "float64")
        b = make(xp, (300, 300), "float64", seed=1)
        c = xp.empty_like(a)
        xp.add(a, b, out=c)
        xp.multiply(c, c, out=c)     # out aliases the input
        a += c
        a[::2] -= b[::2]
        xp.negative(a[:, :150], out=a[:, 150:])
        b **= 2
        xp.sqrt(b, out=b)
        return a, b, c
    run_xp(case)


# -- hazards on large arrays, every op on a worker ---------------------------------------

def test_read_after_write(noinline: None) -> None:
    def case(xp: Any) -> Any:
        a = xp.zeros(N)
        a[...] = 2.0
        b = a * 3                    # must see the write
        a[: N // 2] = 1.0
        c = a.sum()
        return b, c
    run_xp(case)


def test_write_after_read(noinline: None) -> None:
    def case(xp: Any) -> Any:
        a = xp.ones(N)
        b = a * 3                    # reads a...
        s = a.sum()
        a[...] = 7.0                 # ...before this write may run
        a += 1
        return b, s, a
    run_xp(case)


def test_write_after_write(noinline: None) -> None:
    def case(xp: Any) -> Any:
        a = xp.zeros(N)
        for i in range(8):
            a[...] = i
            a[i::8] = -i             # overlapping writes, in program order
        b = xp.zeros(N)
        xp.add(a, 1, out=b)
        xp.multiply(a, 2, out=b)     # last writer wins
        return a, b
    run_xp(case)


def test_hazards_through_views(noinline: None) -> None:
    def case(xp: Any) -> Any:
        a = xp.zeros((1000, 400))
        left, right = a[:, :200], a[:, 200:]
        left += 1                    # both views share one root buffer
        total = a.sum()              # RAW through the base
        right[...] = left * 2        # reads one view, writes the other
        t = a.T
        t[:] = t * 3                 # in place via the transpose
        left[...] = 0                # WAR against the reads above
        return total, a
    run_xp(case)


def test_blocked_producer_orders_consumers() -> None:
    """A producer held back by a gate: every reader and writer of its buffer
    waits for it, whatever the thread timing."""
    with dagrt.config(engine="threaded", inline_bytes=0):
        event = threading.Event()
        src = dagrt.arange(float(N))
        a = gate(src, event)         # a cannot be written before the event
        b = a + 1                    # RAW
        a[:10] = -1                  # WAW after the gate
        src[...] = 0                 # WAR: the gate still reads src
        assert a._var.nw > 0 and not event.is_set()
        event.set()
        expected = numpy.arange(float(N))
        numpy.testing.assert_array_equal(numpy.asarray(b), expected + 1)
        expected[:10] = -1
        numpy.testing.assert_array_equal(numpy.asarray(a), expected)
        assert float(src.sum()) == 0.0


# -- dtype promotion, NEP 50 -------------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    lambda xp: xp.zeros(3, "uint8") + 3, lambda xp: xp.zeros(3, "uint8") + 300,
    lambda xp: xp.zeros(3, "uint8") - 1, lambda xp: xp.zeros(3, "int8") + 1.5,
    lambda xp: xp.zeros(3, "float32") + 2.5, lambda xp: xp.zeros(3, "float32") + 1e300,
    lambda xp: xp.zeros(3, "float32") + xp.float64(1), lambda xp: xp.zeros(3, "int16") * 2j,
    lambda xp: xp.zeros(3, "uint8") < 300, lambda xp: xp.zeros(3, "uint8") == -1,
    lambda xp: 300 + xp.zeros(3, "uint8"), lambda xp: xp.zeros(3, "uint8") + xp.int64(300),
    lambda xp: xp.zeros(3, "bool") + True, lambda xp: xp.zeros(3, "bool") + 1,
    lambda xp: xp.zeros(3, "int32") // 2.0, lambda xp: xp.ones(3, "uint64") + xp.ones(3, "i8"),
    lambda xp: xp.add(xp.zeros(3, "uint8"), 300),
    lambda xp: xp.maximum(xp.zeros(3, "float16"), 70000),
])
def test_nep50_promotion(engine: str, expr: Any) -> None:
    with numpy.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run_xp(expr)


def test_uint8_plus_300_raises_at_the_call(noinline: None) -> None:
    x = dagrt.zeros(10**6, dtype="uint8")   # a large, pending array
    with pytest.raises(OverflowError):
        x + 300
    x += 1
    with pytest.raises(OverflowError):
        x += 300
    with pytest.raises(OverflowError):
        x[0] = 300
    with pytest.raises(OverflowError):
        dagrt.add(x, 256)
    assert int(x[5]) == 1


# -- metadata without waiting --------------------------------------------------------------

def test_metadata_known_without_waiting() -> None:
    with dagrt.config(engine="threaded", inline_bytes=0):
        event = threading.Event()
        a = gate(dagrt.ones((30, 40), dtype="float32"), event)
        b = (a * 2).T[::2].reshape(20, 30).astype("int16")
        c = dagrt.matmul(a, a.T).sum(axis=0, keepdims=True)
        assert (b.shape, b.dtype, b.ndim, b.size, b.nbytes, b.itemsize) == (
            (20, 30), numpy.dtype("int16"), 2, 600, 1200, 2)
        assert b.T.shape == (30, 20) and b.device == dagrt.cpu() and len(b) == 20
        assert c.shape == (1, 30) and c.dtype == numpy.float32
        assert not event.is_set() and a._var.nw == 1 and ENGINE.pending >= 3
        event.set()
        assert int(b.sum()) == 600 * 2


# -- sync points ----------------------------------------------------------------------------

SYNCS = {
    "asnumpy": lambda x: getattr(x, "asnumpy", x.copy)(), "np.asarray": numpy.asarray,
    "np.array": numpy.array, "item": lambda x: x[3].item(), "item(i)": lambda x: x.item(2),
    "tolist": lambda x: x[:4].tolist(), "float": lambda x: float(x[1]),
    "int": lambda x: int(x[2]), "bool": lambda x: bool(x[0]),
    "complex": lambda x: complex(x[2]), "index": lambda x: operator.index(x[2].astype(int)),
    "range": lambda x: list(range(x[3].astype("int64"))), "repr": lambda x: repr(x[:5]),
    "str": lambda x: str(x[:5]), "format": lambda x: format(x[1], ".3f"),
    "fstring": lambda x: f"{x[2]:>8.2f}", "len+iter": lambda x: [float(v) for v in x[:3]],
    "contains": lambda x: 4.0 in x,
    "wait_to_read": lambda x: (getattr(x, "wait_to_read", list)(), x[0])[1],
    "waitall": lambda x: (dagrt.waitall(), x[:2].tolist())[1],  # (harmless under NumPy)
}


@pytest.mark.parametrize("name", list(SYNCS))
def test_sync_point(engine: str, name: str) -> None:
    sync = SYNCS[name]

    def case(xp: Any) -> Any:
        x = xp.arange(float(N)) % 7 + 1
        x[0] = 0
        result = sync(x)
        x += 1                   # a copy must not change afterwards (asarray aliases)
        if xp is dagrt:
            dagrt.waitall()      # np.asarray(x) is x's storage: let the write land
        if isinstance(result, numpy.ndarray):  # a sync point returns NumPy's type
            return str(result.dtype), result.shape, result.tobytes()
        return result
    run_xp(case)


def test_sync_waits_only_for_what_it_needs() -> None:
    with dagrt.config(engine="threaded", inline_bytes=0):
        event = threading.Event()
        blocked = gate(dagrt.ones(N), event)
        y = dagrt.arange(float(N)) * 2
        assert float(y.sum()) == float((numpy.arange(float(N)) * 2).sum())
        assert y.tolist()[:2] == [0.0, 2.0]
        assert repr(y[:2]) == "array([0., 2.])"
        assert blocked._var.nw == 1 and not event.is_set()   # still pending
        event.set()
        blocked.wait_to_read()
        dagrt.waitall()
        assert blocked._var.nw == 0


# -- printing -----------------------------------------------------------------------------

PRINTS = [lambda xp: xp.arange(10), lambda xp: xp.arange(12.0).reshape(3, 4) / 7,
          lambda xp: xp.array(3.25), lambda xp: xp.array([True, False]),
          lambda xp: xp.array([1 + 2j, -3j]), lambda xp: xp.arange(5000.0),
          lambda xp: xp.zeros((0, 3)), lambda xp: xp.arange(6, dtype="uint8").reshape(2, 3),
          lambda xp: xp.array([xp.nan, xp.inf, -1e-12]), lambda xp: xp.array(7)[()],
          lambda xp: xp.arange(24).reshape(2, 3, 4).T, lambda xp: xp.arange(4.0).sum(),
          lambda xp: xp.arange(4).reshape(2, 2).max(axis=1)]


@pytest.mark.parametrize("index", range(len(PRINTS)))
def test_print_identical(engine: str, index: int, capsys: pytest.CaptureFixture[str]) -> None:
    expected_array = PRINTS[index](numpy)
    actual_array = PRINTS[index](dagrt)
    print(expected_array)
    expected = capsys.readouterr().out
    print(actual_array)
    assert capsys.readouterr().out == expected
    assert str(actual_array) == str(expected_array)
    assert repr(actual_array) == repr(expected_array)  # array(3.25), np.float64(6.0)
    with numpy.printoptions(precision=2, threshold=5):
        assert repr(actual_array) == repr(expected_array)
    if expected_array.ndim == 0:
        assert format(actual_array, "") == format(expected_array, "")


def test_format_spec_scalar(engine: str) -> None:
    x = dagrt.asarray(3.14159) * 2
    assert f"{x:.2f}" == f"{numpy.float64(3.14159) * 2:.2f}"
    assert f"{dagrt.sum(dagrt.ones(10)):e}" == f"{10.0:e}"


# -- errstate and warnings inside deferred ops -------------------------------------------------

def test_errstate_applies_to_deferred_ops(noinline: None) -> None:
    x = dagrt.zeros(N)
    with dagrt.errstate(divide="ignore", invalid="ignore"):
        y = 1.0 / x                  # runs on a worker, after the block ends
        z = x / x
    assert numpy.isinf(numpy.asarray(y)).all() and numpy.isnan(numpy.asarray(z)).all()
    with dagrt.errstate(divide="raise"):
        w = 1.0 / x
    with pytest.raises(FloatingPointError):
        w.asnumpy()


def test_warning_filters_at_recording(noinline: None) -> None:
    """A deferred op's warnings follow the filters of its recording line (the
    suite runs under filterwarnings=error: a worker would raise here)."""
    x = dagrt.ones(N, dtype=complex)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numpy.exceptions.ComplexWarning)
        y = x.astype(float)          # NumPy would warn (and be silenced) here
    assert float(y.sum()) == N


@pytest.mark.parametrize("engine_name", ["threaded", "serial"])
def test_warnings_recorded_in_a_block_reach_it(engine_name: str) -> None:
    """catch_warnings(record=True), pytest.warns and NumPy's suppress_warnings
    see the warnings of deferred ops recorded inside them, with the user's line,
    before the block ends, as under NumPy."""
    from conftest import engine_config

    with engine_config(engine_name), dagrt.config(inline_bytes=0):
        x = dagrt.zeros(N)
        with warnings.catch_warnings(record=True) as log:
            warnings.simplefilter("always")
            y = dagrt.log(x)                 # deferred
            line = _line()
        assert [w.category for w in log] == [RuntimeWarning]
        assert log[0].filename == __file__ and log[0].lineno == line - 1
        with pytest.warns(RuntimeWarning, match="divide by zero"):
            z = dagrt.log(x)
        with warnings.catch_warnings():  # (deprecated in NumPy 2.4, still used)
            warnings.simplefilter("ignore", DeprecationWarning)
            with numpy.testing.suppress_warnings() as sup:
                seen = sup.record(RuntimeWarning)
                dagrt.divide(1.0, x)
            assert len(seen) == 1  # (inside the block, only after a sync point)
        assert numpy.isneginf(y.asnumpy()).all() and numpy.isneginf(z.asnumpy()).all()


def _line() -> int:
    import sys
    return sys._getframe(1).f_lineno


def test_warnings_ignored_or_raised_as_the_recording_block_says(noinline: None) -> None:
    """Ops recorded in a block that only filters run after it, as it said;
    ops recorded outside run inside an unrelated block, as outside."""
    x = dagrt.zeros(N)
    release = threading.Event()
    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = dagrt.log(gate(x, release))  # runs after the block: still ignored
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            b = dagrt.log(gate(x, release))  # runs after the block: still an error
        c = dagrt.log(gate(x, release))      # recorded outside: warns...
        with warnings.catch_warnings():      # ...though it runs inside this block
            warnings.simplefilter("ignore")
            release.set()
            assert numpy.isneginf(a.asnumpy()).all() and numpy.isneginf(c.asnumpy()).all()
    assert [str(w.message) for w in outside] == ["divide by zero encountered in log"]
    with pytest.raises(RuntimeWarning, match="divide by zero") as info:
        b.asnumpy()
    assert "test_semantics.py" in "".join(getattr(info.value, "__notes__", []))
    with pytest.warns(RuntimeWarning):       # the engine goes on
        assert numpy.isneginf(dagrt.log(x).asnumpy()).all()


def test_warning_state_is_per_context_and_restored() -> None:
    """The module's attributes still behave as Python's: set, restored, read."""
    before = warnings.filters, warnings.showwarning
    with warnings.catch_warnings(record=True):
        assert warnings.filters is not before[0]
        warnings.simplefilter("ignore")
        assert warnings.filters[0][0] == "ignore"
    assert (warnings.filters, warnings.showwarning) == before
    assert warnings.__dict__["filters"] is warnings.filters
    # Python code inside dagrt's package reads the real filters too (the
    # warning machinery alone is handed another list, to raise warnings again)
    from dagrt.engine.graph import PKG_DIR
    exec(compile("import warnings\nwith warnings.catch_warnings():\n"
                 "    warnings.simplefilter('ignore')\n", PKG_DIR + "inside.py", "exec"))
    assert warnings.filters is before[0]


def test_deferred_warnings_name_the_recording_line_once_per_line(tmp_path: Any) -> None:
    """NumPy's RuntimeWarning from a kernel run on a worker names the user's
    line (not dagrt's), and two lines warn twice, as under NumPy."""
    import subprocess
    import sys

    script = tmp_path / "warns.py"
    script.write_text(
        "import dagrt as np\n"
        "with np.config(inline_bytes=0):\n"
        "    x = np.zeros(100_000)\n"
        "    a = np.log(x)\n"
        "    b = np.log(x)\n"
        "    for _ in range(3):\n"
        "        c = np.log(x)\n"
        "    np.waitall()\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=120, check=True)
    lines = [line for line in result.stderr.splitlines() if "RuntimeWarning" in line]
    assert sorted(line.split(": ")[0] for line in lines) == [
        f"{script}:4", f"{script}:5", f"{script}:7"], result.stderr


WARNING_PROGRAM = """\
import warnings
import {module} as np
x = np.zeros(3)
a = np.log(x)
b = np.log(x)
for _ in range(3):
    c = np.log(x)
d = np.nanmean(np.full(3, np.nan))
e = np.ones(2, dtype=complex).astype(float)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    f = np.log(x)
with warnings.catch_warnings(record=True) as log:
    warnings.simplefilter("always")
    g = np.log(x)
print(len(log), log[0].lineno)
with warnings.catch_warnings():
    warnings.simplefilter("error")
    try:
        h = float(np.log(x)[0])  # (dagrt: at this sync point, with the recording line)
    except RuntimeWarning as exc:
        print("raised", exc)
k = np.zeros(2) / 0
"""


@pytest.mark.parametrize("size", ["small", "large"])
def test_warnings_as_numpys(tmp_path: Any, size: str) -> None:
    """Warnings of ops run now (small) or on a worker (large) name the user's
    line, once per line, under the filters of the recording line: the same
    output as NumPy's."""
    import subprocess
    import sys

    program = WARNING_PROGRAM if size == "small" else \
        WARNING_PROGRAM.replace("zeros(3)", "zeros(400_000)").replace("full(3", "full(400_000")
    outputs = []
    for module in ("numpy", "dagrt"):
        script = tmp_path / "warns.py"
        script.write_text(program.format(module=module))
        result = subprocess.run([sys.executable, str(script)], capture_output=True,
                                text=True, timeout=120, check=True,
                                env={**__import__("os").environ, "DAGRT_INLINE_BYTES": "0"}
                                if size == "large" else None)
        lines = result.stderr.splitlines()
        warned = ["\n".join(lines[i:i + 2]) for i in range(0, len(lines), 2)]
        # (ops on two workers warn in the order they run)
        outputs.append((result.stdout, warned if size == "small" else sorted(warned)))
    assert outputs[1] == outputs[0]


def test_a_line_warns_once_when_workers_warn_from_it_at_once(tmp_path: Any) -> None:
    """Workers that warn from one line at the same moment show NumPy's
    once-per-line warning once (the registry check and its update are not
    atomic in CPython's warning machinery: dagrt's worker threads dedupe)."""
    import subprocess
    import sys

    script = tmp_path / "warns.py"
    # (a fused group of the three ops of a loop, cut into independent chains
    # that run on both workers at once)
    lines = "".join(f"a = np.log(x)\nb = np.log(x)\nfor _ in range(3):\n"
                    f"    c = np.log(x)  # {i}\nnp.waitall()\n" for i in range(10))
    script.write_text(f"import dagrt as np\nx = np.zeros(400_000)\n{lines}")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=120, check=True, env={**__import__("os").environ,
                                                          "DAGRT_INLINE_BYTES": "0"})
    assert result.stderr.count("RuntimeWarning: divide by zero encountered in log") == 30, \
        result.stderr


# -- layout of deferred outputs ------------------------------------------------------------

def _layout(a: Any) -> tuple[bool, bool, list[int]]:
    """Contiguity and the strides of the axes longer than one (a length-1
    axis's stride is NumPy's choice and means nothing)."""
    return (a.flags.c_contiguous, a.flags.f_contiguous,
            [s for s, d in zip(a.strides, a.shape) if d > 1])


LAYOUT_OPS = {
    "add": lambda xp, a, b, ax: a + b, "sin": lambda xp, a, b, ax: xp.sin(a),
    "a + b[0]": lambda xp, a, b, ax: a + b[:1], "sum": lambda xp, a, b, ax: a.sum(axis=ax),
    "max keepdims": lambda xp, a, b, ax: a.max(axis=ax, keepdims=True),
    "cumsum": lambda xp, a, b, ax: xp.cumsum(a, axis=ax),
    "argsort": lambda xp, a, b, ax: xp.argsort(a, axis=ax),
    "tril": lambda xp, a, b, ax: xp.tril(a), "sinc": lambda xp, a, b, ax: xp.sinc(a),
    "concatenate": lambda xp, a, b, ax: xp.concatenate([a, b], axis=ax),
    "einsum": lambda xp, a, b, ax: xp.einsum("ij...,ij...->ji...", a, b),
    "block": lambda xp, a, b, ax: xp.block([[a, b]] if a.ndim == 2 else [[[a, b]]]),
    "fft": lambda xp, a, b, ax: xp.fft.fft(a, axis=ax),
    "rfftn": lambda xp, a, b, ax: xp.fft.rfftn(a),
}


@pytest.mark.parametrize("name", sorted(LAYOUT_OPS))
@pytest.mark.parametrize("seed", range(12))
def test_deferred_outputs_take_numpys_layout(name: str, seed: int) -> None:
    """F-ordered, transposed and strided inputs give results laid out as
    NumPy lays out its own (order="K"), whether the op ran now or was
    deferred; a reduction's values depend on it (its iteration order)."""
    rng = numpy.random.default_rng(seed)
    ndim = 2 + seed % 2
    shape = tuple(int(n) for n in rng.integers(2, 6, ndim))

    def strided() -> Any:
        perm = rng.permutation(ndim)
        step = rng.integers(1, 3, ndim)
        base = rng.standard_normal([shape[i] * step[i] for i in perm])
        base = base.transpose(numpy.argsort(perm))
        return base[tuple(slice(None, None, int(s)) for s in step)]

    a0, b0 = strided(), strided()
    ax = int(rng.integers(ndim))
    expected = LAYOUT_OPS[name](numpy, a0, b0, ax)
    with dagrt.config(inline_bytes=0):
        got = LAYOUT_OPS[name](dagrt, dagrt.asarray(a0), dagrt.asarray(b0), ax)
        numpy.testing.assert_array_equal(got.asnumpy(), expected, strict=True)
        assert _layout(got._data) == _layout(expected)
