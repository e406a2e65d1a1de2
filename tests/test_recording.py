"""The one recording path: where ops run, element access, scalars, observing.

Every op goes through ``array.record.record``: with ready inputs and idle
outputs a small op runs now, in the calling thread (nothing is pushed to the
scheduler); otherwise it is pushed. These tests count pushes to check the
decision for every kind of op, and check that running now gives NumPy's own
results (scalars included), that element access builds no op, and that a
profile sees ops run now without moving them.
"""

from __future__ import annotations

import threading

import numpy
import pytest
from conftest import gate

import dagrt
from dagrt.engine.scheduler import ENGINE


def _pushed(f) -> int:
    before = ENGINE.ops_pushed
    f()
    dagrt.waitall()
    return ENGINE.ops_pushed - before


SMALL_OPS = {
    "elementwise": lambda a, m: a + 1.0,
    "operator in place": lambda a, m: a.__iadd__(2.0),
    "ufunc out=": lambda a, m: dagrt.multiply(a, 2.0, out=a),
    "reduction": lambda a, m: a.sum(),
    "reduction axis": lambda a, m: m.sum(axis=0),
    "contraction": lambda a, m: m @ m,
    "fancy get": lambda a, m: a[dagrt.asarray([1, 2])],
    "fancy set": lambda a, m: a.__setitem__(dagrt.asarray([1, 2]), 0.0),
    "mask set": lambda a, m: a.__setitem__(a > 3, 0.0),
    "slice set": lambda a, m: a.__setitem__(slice(1, 3), 5.0),
    "movement": lambda a, m: dagrt.concatenate([a, a]),
    "stack": lambda a, m: dagrt.stack([a, a]),
    "where": lambda a, m: dagrt.where(a > 2, a, -a),
    "shaped": lambda a, m: dagrt.cumsum(a),
    "reshape copy": lambda a, m: m.T.reshape(-1),
    "astype": lambda a, m: a.astype(numpy.float32),
    "full": lambda a, m: dagrt.full(3, 2.0),
    "random": lambda a, m: dagrt.random.normal(size=4),
    "linalg": lambda a, m: dagrt.linalg.solve(m + dagrt.eye(3) * 5, a[:3]),
    "fft": lambda a, m: dagrt.fft.fft(a),
}


@pytest.mark.parametrize("kind", list(SMALL_OPS))
def test_small_ready_ops_run_now(kind: str) -> None:
    a = dagrt.arange(6.0)
    m = dagrt.ones((3, 3))
    dagrt.waitall()
    assert _pushed(lambda: SMALL_OPS[kind](a, m)) == 0


@pytest.mark.parametrize("kind", list(SMALL_OPS))
def test_ops_on_pending_inputs_are_scheduled(kind: str) -> None:
    if kind in ("full", "random"):
        pytest.skip("reads no array")
    with dagrt.config(engine="threaded"):
        event = threading.Event()
        a = gate(dagrt.arange(6.0), event)  # pending until the event is set
        m = gate(dagrt.ones((3, 3)), event)
        before = ENGINE.ops_pushed
        SMALL_OPS[kind](a, m)
        assert ENGINE.ops_pushed > before
        event.set()
        dagrt.waitall()


def test_no_op_is_scheduled_when_told_so() -> None:
    a = dagrt.arange(6.0)
    with dagrt.config(inline_bytes=0):
        assert _pushed(lambda: a + 1.0) == 1


def test_results_run_now_are_numpys_own() -> None:
    a = dagrt.arange(6.0)
    n = numpy.arange(6.0)
    for got, want in [(a.sum(), n.sum()), (a[2], n[2]), (dagrt.dot(a, a), numpy.dot(n, n)),
                      (a.max(), n.max()), (a.argmax(), n.argmax())]:
        assert type(got) is type(want) and got == want
    s = a.sum()
    assert {s: 1}[n.sum()] == 1  # hashable, as NumPy's scalar
    assert round(a.mean()) == 2 and isinstance(a[0], float)


def test_pending_scalar_results_are_lazy_0d_arrays() -> None:
    with dagrt.config(engine="threaded"):
        event = threading.Event()
        a = gate(dagrt.arange(6.0), event)
        s = a.sum()
        first = a[0]
        assert isinstance(s, dagrt.ndarray) and s.shape == ()
        assert isinstance(first, dagrt.ndarray) and first.shape == ()
        event.set()
        assert float(s) == 15.0 and float(first) == 0.0


def test_element_access_builds_no_op() -> None:
    m = dagrt.zeros((4, 4))
    x = dagrt.arange(10.0)
    dagrt.waitall()

    def loop() -> None:
        for i in range(4):
            for j in range(4):
                m[i, j] = i * j + x[i]
        assert sum(x) == 45.0 and max(x) == 9.0 and len(x) == 10
        assert [float(row[1]) for row in m] == [0.0, 2.0, 4.0, 6.0]

    assert _pushed(loop) == 0
    numpy.testing.assert_array_equal(m.asnumpy(),
                                     numpy.fromfunction(lambda i, j: i * j + i, (4, 4)))


def test_element_access_waits_for_pending_writes() -> None:
    with dagrt.config(engine="threaded"):
        event = threading.Event()
        x = gate(dagrt.arange(5.0), event)
        threading.Timer(0.05, event.set).start()
        assert list(x) == [0.0, 1.0, 2.0, 3.0, 4.0]   # iteration waits
        y = dagrt.zeros(3)
        event2 = threading.Event()
        z = gate(y, event2)                            # a pending read of y
        y[0] = 7.0                                     # recorded after that read
        event2.set()
        assert z.tolist() == [0.0, 0.0, 0.0] and y.tolist() == [7.0, 0.0, 0.0]


def test_iteration_sees_writes_recorded_while_iterating() -> None:
    x = dagrt.arange(4.0)
    seen = []
    with dagrt.config(inline_bytes=0):  # every write below is deferred
        for v in x:
            seen.append(float(v))
            x += 1.0
    assert seen == [0.0, 2.0, 4.0, 6.0]  # as NumPy: each element read after the writes


def test_errors_of_ops_run_now() -> None:
    a = dagrt.ones(3)
    with pytest.raises(ValueError):
        a + dagrt.ones(4)                     # argument error: raised at the call
    with pytest.raises(numpy.linalg.LinAlgError):  # value error of an op run now: too,
        dagrt.linalg.inv(dagrt.zeros((2, 2)))      # as NumPy
    with dagrt.config(inline_bytes=0):  # deferred: at the next sync point
        bad = dagrt.linalg.inv(dagrt.zeros((2, 2)))
        with pytest.raises(numpy.linalg.LinAlgError):
            bad.asnumpy()
    assert (a + 1.0).tolist() == [2.0, 2.0, 2.0]  # the runtime is unharmed


def test_named_arrays_are_never_elided() -> None:
    a = dagrt.ones((300, 300))
    b = dagrt.ones((300, 300))
    t = a * b
    keep = t
    r = (t + 1.0) + (a * b)   # t is named: its storage must not take a result
    temp = (a * b) + 1.0      # a temporary may
    assert float(keep[0, 0]) == 1.0 and float(t[0, 0]) == 1.0
    assert float(r[0, 0]) == 3.0 and float(temp[0, 0]) == 2.0
    n = numpy.ones((300, 300))
    c = dagrt.asarray(n) + 1.0
    assert n[0, 0] == 1.0 and float(c[0, 0]) == 2.0
    n = numpy.arange(1e5)         # the user's storage: never a temporary's
    b = dagrt.asarray(n) + 1
    assert n[:3].tolist() == [0.0, 1.0, 2.0] and b[:3].tolist() == [1.0, 2.0, 3.0]


def test_profile_sees_ops_run_now_on_the_callers_track(tmp_path) -> None:
    a = dagrt.arange(8.0)
    dagrt.waitall()
    with dagrt.profile(tmp_path / "t.json") as prof:
        pushed = ENGINE.ops_pushed
        b = a * 2.0
        b += 1.0
        c = b.sum()
        assert ENGINE.ops_pushed == pushed  # observing moved nothing to the workers
    names = [op.name for op in prof.ops]
    assert names == ["multiply", "add", "sum"]
    assert {op.worker for op in prof.ops} == {"main"}
    assert all(op.site and op.site[0] == __file__ for op in prof.ops)
    assert prof.graph().number_of_edges() == 2
    assert float(c) == 64.0


@pytest.mark.parametrize("xp", [numpy, dagrt], ids=["numpy", "dagrt"])
def test_index_array_set_takes_sequences_as_numpy(xp) -> None:
    s = xp.zeros(4, dtype=[("a", "i4"), ("b", "f8")])
    s[xp.asarray([1, 3])] = (5, 2.5)          # a tuple is one structured element
    x = xp.arange(5.0)
    x[xp.asarray([0, 1])] = [7, 8]
    assert numpy.asarray(s).tolist() == [(0, 0.0), (5, 2.5), (0, 0.0), (5, 2.5)]
    assert numpy.asarray(x).tolist() == [7.0, 8.0, 2.0, 3.0, 4.0]


POSITIONAL_OUT = {
    "matmul": lambda xp, a, o: xp.matmul(a, a, o),
    "dot": lambda xp, a, o: xp.dot(a, a, o),
    "dot method": lambda xp, a, o: a.dot(a, o),
    "cumsum": lambda xp, a, o: xp.cumsum(a, 0, None, o),
    "round": lambda xp, a, o: xp.round(a * 1.26, 1, o),
    "concatenate": lambda xp, a, o: xp.concatenate([a[:1], a[1:]], 0, o),
}


@pytest.mark.parametrize("name", list(POSITIONAL_OUT))
def test_positional_out_is_written(engine: str, name: str) -> None:
    """Issue 13, item 2: ``np.matmul(a, b, o)`` and friends write ``o``."""
    results = []
    for xp in (numpy, dagrt):
        a = xp.arange(4.0).reshape(2, 2) + 1
        o = xp.zeros((2, 2))
        returned = POSITIONAL_OUT[name](xp, a, o)
        assert returned is o or returned is None or xp is numpy
        results.append(numpy.asarray(o).tolist())
    assert results[0] == results[1]


def test_metadata_functions_do_not_wait() -> None:
    """np.shape / ndim / size of a pending array answer at once (NumPy's own
    functions dispatch to dagrt's through ``__array_function__``)."""
    with dagrt.config(engine="threaded"):
        event = threading.Event()
        x = gate(dagrt.ones((2, 3)), event)
        assert dagrt.shape(x) == numpy.shape(x) == (2, 3)
        assert dagrt.ndim(x) == numpy.ndim(x) == 2
        assert dagrt.size(x) == 6 and numpy.size(x, -1) == 3
        assert ENGINE.pending  # nothing waited for the gate
        event.set()


def test_kernels_run_from_the_recording_line_of_each_code_object() -> None:
    """``caller_at`` finds a site's calling function by the code object's
    identity (hashing a module's code object digests all of it: 7 us a
    lookup) and never confuses two code objects."""
    from dagrt.array.sites import caller_at

    made = {}
    for name in ("first.py", "second.py"):
        code = compile("\n\nx = 1\n", name, "exec")
        made[name] = (code, caller_at((code, 0), {"__name__": name}))
        assert caller_at((code, 0), made[name][1].__globals__) is made[name][1]
    for name, (_, at) in made.items():
        assert at.__code__.co_filename == name
        assert at(max, (1, 2), {}) == 2
