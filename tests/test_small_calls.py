"""Small calls beyond operators and indexing, found by sweeping NumPy's API
for calls far slower than NumPy's (``bench/overhead.py`` covers the common
patterns): views of views, copies of strided views, NumPy scalars on the
left of an operator, in-place ``x.sort()``, eager functions (``np.where(c)``,
``np.copyto``, ``np.put``...) and any other ``numpy.ndarray`` method
(``tobytes``, ``partition``...). Their run-now case is C; these tests check
NumPy's values, dtypes and aliasing, that the common call takes no Python
path of dagrt's, and that a call that writes its input waits for the
pending ops that still read it.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy
import pytest
from conftest import gate

import dagrt
from dagrt import _config
from dagrt.ops import args as args_module
from dagrt.ops import methods as methods_module

pytestmark = pytest.mark.skipif(not _config.get("native"), reason="DAGRT_NATIVE=0")

PROGRAMS = [
    # views of views: NumPy's view has the owner of the memory as its base
    "m.swapaxes(0, 1)", "m.T.ravel()", "m.ravel()", "m[1:].squeeze()", "m.diagonal()",
    "m.reshape(4, 3).T", "xp.transpose(m[:, 1:])", "m[::2].reshape(-1)",
    # a copy NumPy makes as a view of a new array (a reshape of a strided view)
    "m[:, ::2].reshape(-1)", "m.T.reshape(12)", "xp.reshape(m[:, 1:], (9,))",
    # NumPy scalars first: the ufunc's override, then dagrt's ufunc
    "xp.float64(2.5) * v", "xp.float32(2.5) * v", "xp.int64(3) + i", "xp.int8(3) - i",
    "xp.uint8(200) + i.astype(xp.uint8)", "xp.bool_(True) & (i > 1)", "xp.float64(1.0) / (i + 1)",
    "xp.complex128(1j) * v", "xp.float32(2.0) ** v.astype(xp.float32)",
    "xp.multiply(xp.float64(2.0), v)", "xp.add(3, v)", "xp.float64(2.0) < v",
    # eager functions and other ndarray methods
    "xp.where(v > 1)", "xp.result_type(v, 1)", "xp.convolve(v, v)", "xp.delete(v, 1)",
    "xp.insert(v, 1, 9.0)", "xp.polyval([1, 2], v)", "xp.trim_zeros(i)", "xp.require(v)",
    "v.tobytes()", "v.searchsorted(1.5)", "i.byteswap()", "v.getfield(xp.float64)",
    "m.round(1)", "xp.round(v / 3, 2)", "xp.cumsum(m, axis=1)", "v.cumprod()",
    "xp.argsort(v[::-1])", "xp.repeat(v, 2)", "v.repeat([1, 0, 2, 1])", "m.repeat(2, axis=0)",
    # lists of views; NumPy's results that view a new array of their own
    "xp.split(v, 2)", "xp.array_split(m, 3, axis=1)", "xp.unstack(m)", "xp.hsplit(m.T, 3)",
    "xp.tile(v, 2)", "xp.tile(m, (2, 1))", "xp.roll(m, 1, axis=0)", "xp.kron(v, v)",
    "xp.take(m, [0, 2], axis=1)", "xp.searchsorted(v, [0.5, 2.5])", "v.clip(1, 2)",
    "i.clip(1.5, 2)", "m.clip(v, 5)", "xp.nonzero(v > 1)", "m.trace(1)", "xp.around(v, 1)",
    "xp.cumprod(i, dtype=xp.float32)", "xp.argsort(m, axis=0)", "xp.squeeze(m[None])",
    "xp.diagonal(m, 1)", "xp.swapaxes(m[:, None], 0, 2)", "c.real", "c.imag", "v.real",
    "v.imag", "xp.random.default_rng(1).permutation(i)", "xp.random.default_rng(1).permutation(5)",
    "xp.append(v, 1.0)", "xp.append(m, [[1, 2, 3, 4]], axis=0)", "xp.append(i, v)",
    "xp.asarray([1, 2, 3])", "xp.asarray([v, v])", "xp.asarray([1.5, 2j])", "xp.asarray([])",
]


def _shown(r: Any) -> Any:
    if isinstance(r, (dagrt.ndarray, numpy.ndarray)):
        a = numpy.asarray(r)
        return (a.tolist(), str(a.dtype), a.shape, a.flags.c_contiguous, a.flags.f_contiguous,
                a.flags.writeable)
    if isinstance(r, (tuple, list)):
        return type(r).__name__, [_shown(x) for x in r]
    return type(r).__name__, repr(r)


@pytest.mark.parametrize("program", PROGRAMS)
def test_small_calls_match_numpy(program: str) -> None:
    """Values, dtypes, types, layouts; a view's write reaches its base, a
    copy's does not."""
    def run(xp: Any) -> Any:
        g = {"xp": xp, "m": xp.arange(12.0).reshape(3, 4), "v": xp.arange(4.0),
             "i": xp.arange(4), "c": xp.asarray(numpy.array([1 + 2j, 3 - 1j]))}
        result = eval(program, g)
        shown = _shown(result)
        for r in result if isinstance(result, (tuple, list)) else (result,):
            if isinstance(r, (dagrt.ndarray, numpy.ndarray)) and r.size and \
                    numpy.asarray(r).flags.writeable and r.dtype.kind == "f":
                r.flat[0] = -7.5
        return repr((shown, *(numpy.asarray(g[k]).tolist() for k in "mvi")))
    expected = run(numpy)
    with dagrt.config(check_plans=False):  # (else functions run now take the Python path)
        assert run(dagrt) == expected
    assert run(dagrt) == expected  # the Python path, plans checked


WRITES = [  # calls that write their first argument
    ("xp.put(a, [0, 2], [9.0, 8.0])", "put"), ("xp.copyto(a, 5.0)", "copyto"),
    ("xp.place(a, a > 1, [7.0])", "place"), ("xp.putmask(a, a > 1, 6.0)", "putmask"),
    ("a.sort()", "sort"), ("a.partition(1)", "partition"), ("a.fill(2.0)", "fill"),
    ("xp.fill_diagonal(a.reshape(2, 2), 4.0)", "fill_diagonal"),
]


@pytest.mark.parametrize("program", [p for p, _ in WRITES])
def test_calls_that_write_match_numpy(program: str) -> None:
    def run(xp: Any) -> Any:
        a = xp.asarray(numpy.array([3.0, 1.0, 2.0, 0.5]))
        g = {"xp": xp, "a": a}
        exec(program, g)
        return numpy.asarray(a).tolist()
    assert run(dagrt) == run(numpy)


@pytest.mark.parametrize("program", [p for p, _ in WRITES])
def test_calls_that_write_wait_for_pending_readers(program: str) -> None:
    """A pending op still reads the array: the write comes after it (the
    run-now case in C is taken only for arrays no pending op uses)."""
    with dagrt.config(engine="threaded"):
        event = threading.Event()
        a = dagrt.asarray(numpy.array([3.0, 1.0, 2.0, 0.5]))
        before = gate(a, event)  # reads ``a`` once ``event`` is set
        timer = threading.Timer(0.2, event.set)
        timer.start()
        exec(program, {"xp": dagrt, "a": a})
        assert before.tolist() == [3.0, 1.0, 2.0, 0.5]
        timer.join()
        expected = numpy.array([3.0, 1.0, 2.0, 0.5])
        exec(program, {"xp": numpy, "a": expected})
        assert a.tolist() == expected.tolist()


def test_common_calls_take_no_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run-now case is C: the Python code behind each call is not run
    for small ready (idle, where the call writes) arrays; a pending input
    takes it, with the same result."""
    calls: list[str] = []

    def spy(module: Any, name: str) -> None:
        impl = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, **k: (calls.append(name), impl(*a, **k))[1])

    spy(args_module, "host_arguments")  # eager functions' Python path
    spy(methods_module, "_getattr")  # other ndarray methods' Python path
    spy(methods_module, "record")  # x.sort()'s
    spy(methods_module, "elementwise")  # __array_ufunc__'s
    m, v = dagrt.arange(12.0).reshape(3, 4), dagrt.arange(4.0)
    assert m.swapaxes(0, 1)._var is m._var and m.T.ravel()._var is not m._var
    assert (numpy.float64(2.0) * v).tolist() == [0.0, 2.0, 4.0, 6.0]
    assert dagrt.where(v > 1)[0].tolist() == [2, 3]
    dagrt.copyto(v, 1.0)
    assert v.tobytes() == numpy.ones(4).tobytes()
    w = dagrt.asarray(numpy.array([3.0, 1.0, 2.0]))
    w.sort()
    assert w.tolist() == [1.0, 2.0, 3.0] and calls == []
    big = dagrt.arange(100_000.0)  # eager functions run now whatever the size: in C too
    assert big.searchsorted(3.5) == 4 and dagrt.take(big, [1, 2]).tolist() == [1.0, 2.0]
    assert dagrt.result_type(big, 1) == numpy.float64 and dagrt.trace(big.reshape(100, -1)) > 0
    assert len(big.tobytes()) == 800_000 and calls == []
    with dagrt.config(engine="threaded"):
        event = threading.Event()
        pending = gate(dagrt.asarray(numpy.array([2.0, 1.0])), event)
        opener = threading.Timer(0.2, event.set)  # still pending when tobytes is called
        opener.start()
        assert pending.tobytes() == numpy.array([2.0, 1.0]).tobytes()
        opener.join()
    assert calls == ["_getattr"]


@pytest.mark.parametrize("program", [
    "xp.random.default_rng(0).permutation(-1)", "xp.random.default_rng(0).permutation(a0)",
    "xp.random.RandomState(0).permutation(a0)", "xp.random.default_rng(0).permutation(0)",
    "xp.random.default_rng(0).permutation(m, axis=1)", "xp.random.RandomState(0).permutation(m)",
])
def test_permutations_match_numpy(program: str) -> None:
    """Values from the same seed, and NumPy's own errors (a 0-d array: the
    generator's ``AxisError``, ``RandomState``'s ``IndexError``)."""
    def run(xp: Any) -> Any:
        try:
            r = eval(program, {"xp": xp, "a0": xp.asarray(3), "m": xp.arange(6.0).reshape(2, 3)})
        except Exception as exc:  # noqa: BLE001 (compared with NumPy's)
            return type(exc).__name__, str(exc)
        return numpy.asarray(r).tolist(), str(r.dtype)
    assert run(dagrt) == run(numpy)
