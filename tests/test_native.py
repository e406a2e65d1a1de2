"""The compiled base class of ``ndarray`` (``dagrt/array/_native.c``).

Its slots run the recording path's run-now case in C (operators, ``@``,
``x[key]``, ``x[key] = v``, ``len``, iteration) and call the Python path for
everything else. These tests check that (1) the C case gives NumPy's values,
dtypes, errors and warnings for every operator, operand kind and dtype,
(2) it is taken only when the Python path would run the op now (pending
inputs, pending readers of an output, profiles and large ops take the Python
path) and (3) the pure-Python base class (``DAGRT_NATIVE=0``) still passes
the differential tests.
"""

from __future__ import annotations

import copy
import gc
import inspect
import math
import operator
import pickle
import sys
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy
import pytest
from conftest import gate, run_python

import dagrt
from dagrt import _config
from dagrt.array import ndarray as ndarray_module
from dagrt.array import record as record_module
from dagrt.array.methods import Methods
from dagrt.engine.scheduler import ENGINE

pytestmark = pytest.mark.skipif(not _config.get("native"), reason="DAGRT_NATIVE=0")

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
          operator.mod, operator.pow, operator.and_, operator.or_, operator.xor,
          operator.lshift, operator.rshift, operator.lt, operator.le, operator.eq,
          operator.ne, operator.gt, operator.ge, operator.matmul]
INPLACE = [operator.iadd, operator.isub, operator.imul, operator.itruediv,
           operator.ifloordiv, operator.imod, operator.ipow, operator.iand, operator.ior,
           operator.ixor, operator.ilshift, operator.irshift]
UNARY = [operator.neg, operator.pos, abs, operator.invert]
DTYPES = ["bool", "int8", "int64", "uint8", "float32", "float64", "complex128"]
# The other operand: same shape (``a``), Python scalars, NumPy scalars (both sides).
OTHERS = ["array", 3, -2, 2.5, 1j, True, numpy.float32(1.5), numpy.int16(7), numpy.uint8(2)]


def _values(xp: Any, dtype: str) -> tuple[Any, Any]:
    a = numpy.array([[1, 2, 3], [4, 5, 6]]).astype(dtype)
    b = numpy.array([[2, 1, 2], [3, 1, 2]]).astype(dtype)
    return xp.asarray(a), xp.asarray(b)


def _outcome(func: Any) -> Any:
    """The value (as NumPy: type, dtype, values) or the exception type."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func()
        except Exception as exc:  # noqa: BLE001 (compared with NumPy's)
            return type(exc).__mro__[1] if type(exc).__name__.startswith("_") else type(exc), \
                [str(w.category) for w in caught]
    kind = type(result)
    if isinstance(result, dagrt.ndarray):
        assert type(result._data) is numpy.ndarray
        result = result.asnumpy()
    return (kind, getattr(result, "dtype", None),
            repr(numpy.asarray(result).tolist()), [str(w.category) for w in caught])


def _both(program: Any) -> None:
    expected, actual = _outcome(lambda: program(numpy)), _outcome(lambda: program(dagrt))
    if expected[0] is numpy.ndarray:
        expected = (dagrt.ndarray, *expected[1:])
    assert actual == expected


def test_built() -> None:
    """The install built the extension (CI has a C compiler: a silent fallback
    to the Python base would only show as slower small ops)."""
    assert ndarray_module.NATIVE, "dagrt/array/_native.c was not built at install"
    assert type(dagrt.ones(2)).__mro__[1].__module__ == "dagrt.array._native"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
def test_binary_operators_match_numpy(op: Any, dtype: str) -> None:
    for other in OTHERS:
        def forward(xp: Any, other: Any = other) -> Any:
            a, b = _values(xp, dtype)
            return op(a, b if isinstance(other, str) else other)

        def reflected(xp: Any, other: Any = other) -> Any:
            a, b = _values(xp, dtype)
            return op(b if isinstance(other, str) else other, a)
        _both(forward)
        _both(reflected)


BROADCAST = [((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)), ((), (3,)), ((3,), ()),
             ((2, 3), (4,)), ((0, 3), (3,)), ((2, 1, 3), (4, 1))]


@pytest.mark.parametrize("dtype", ["int64", "float64", "bool"])
@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
def test_broadcasting_operators_and_ufuncs_match_numpy(op: Any, dtype: str) -> None:
    """Operands of different shapes run now in C too (NumPy broadcasts them,
    or raises its error at the call); so do ufunc calls, ``out=`` included."""
    for left, right in BROADCAST:
        def program(xp: Any, left: Any = left, right: Any = right) -> Any:
            a = xp.asarray((numpy.arange(math.prod(left)) % 3 + 1).astype(dtype).reshape(left))
            b = xp.asarray((numpy.arange(math.prod(right)) % 2 + 1).astype(dtype).reshape(right))
            return op(a, b)
        _both(program)
    for ufunc in ("add", "multiply", "maximum", "arctan2", "less"):
        def call(xp: Any, ufunc: str = ufunc) -> Any:
            a, b, out = xp.ones((2, 3)), xp.arange(3.0), xp.zeros((2, 3))
            r = getattr(xp, ufunc)(b[:, None][:2], b, out=out if ufunc != "less" else None)
            return [r, out, getattr(xp, ufunc)(a, b)]
        _both(call)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", INPLACE + UNARY, ids=lambda f: f.__name__)
def test_inplace_and_unary_operators_match_numpy(op: Any, dtype: str) -> None:
    if op in UNARY:
        _both(lambda xp: op(_values(xp, dtype)[0]))
        return
    for other in OTHERS:
        def program(xp: Any, other: Any = other) -> Any:
            a, b = _values(xp, dtype)
            c = op(a, b if isinstance(other, str) else other)
            assert c is a
            return a
        _both(program)


@pytest.mark.parametrize("dtype", ["int64", "float32", "bool"])
@pytest.mark.parametrize("op", BINARY + INPLACE, ids=lambda f: f.__name__)
def test_numpy_array_operands_match_numpy(op: Any, dtype: str) -> None:
    """A NumPy array beside a dagrt array (``x + df.values``), either side, its
    shape or broadcast, run now in C: NumPy's values and errors, a dagrt result."""
    for other in ([[2, 1, 2], [3, 1, 2]], [[1, 0, 1]], [1, 2]):
        n = numpy.array(other).astype(dtype)
        _both(lambda xp, n=n: op(_values(xp, dtype)[0], n.copy()))
        if op in INPLACE:  # NumPy's array, written in place (NumPy's class in both)
            _both(lambda xp, n=n: op(n.copy(), _values(xp, dtype)[0]).tolist())
        else:
            _both(lambda xp, n=n: op(n.copy(), _values(xp, dtype)[0]))


@pytest.mark.parametrize("call", [
    "xp.sin(n)", "xp.add(n, n)", "xp.add(a, n)", "xp.multiply(n, 2.5)", "xp.maximum(a, n[:1])",
    "xp.matmul(n, a.T)", "n @ a.T", "a.T @ n", "xp.less(n, a)", "xp.arctan2(n, a, out=a)",
    "xp.add(a, n[:, :2])", "xp.negative(n, out=n).tolist()", "xp.equal(a, n)"])
def test_ufuncs_of_numpy_arrays_match_numpy(call: str) -> None:
    _both(lambda xp: eval(call, {"xp": xp, "a": _values(xp, "float64")[0],
                                 "n": numpy.arange(6.0).reshape(2, 3)}))


def test_numpy_array_operands_run_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """``x + n``, ``n + x`` (NumPy's dispatch to ``__array_ufunc__``), ``x += n``,
    ``np.sin(n)``, ``n @ m``, ``x[1:3] = n``: no recording (``record``)."""
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("recorded")
    for module in (sys.modules["dagrt.array.record"], sys.modules["dagrt.ops.elementwise"]):
        monkeypatch.setattr(module, "record", boom, raising=False)
    x, m, n = dagrt.arange(3.0), dagrt.ones((3, 3)), numpy.arange(3.0)
    x += n
    got = [x + n, n + x, n < x, dagrt.sin(n), n @ m, x @ n]
    x[1:3] = n[:2]
    assert [numpy.asarray(g).tolist() for g in got] == [
        [0.0, 3.0, 6.0], [0.0, 3.0, 6.0], [False, True, True],
        numpy.sin(n).tolist(), [3.0, 3.0, 3.0], 10.0]
    assert all(isinstance(g, dagrt.ndarray) for g in got[:5]) and x.tolist() == [0.0, 0.0, 1.0]


SCALAR_CALLS = ["xp.sqrt(2.0)", "xp.exp(1)", "xp.sin(xp.float32(1))", "xp.log(0.0)",
                "xp.sqrt(-1)", "xp.add(True, True)", "xp.maximum(1, 2.5)", "xp.sqrt(1j)",
                "xp.negative(xp.int8(-128))", "xp.isnan(1.0)", "xp.add(2**70, 1)",
                "xp.add(xp.datetime64('2020-01-01'), 3)", "xp.hypot(3, 4)", "xp.sin('a')"]


@pytest.mark.parametrize("call", SCALAR_CALLS)
def test_ufuncs_of_numbers_match_numpy(call: str) -> None:
    """``np.sqrt(dx * dx + dy * dy)`` in scalar code: NumPy's scalar (its type,
    warnings and errors)."""
    _both(lambda xp: eval(call, {"xp": xp}))


def test_ufuncs_of_numbers_run_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagrt.ops.elementwise import Ufunc

    monkeypatch.setattr(Ufunc, "_call", lambda *a, **k: pytest.fail("the Python path ran"))
    assert type(dagrt.sqrt(2.0)) is numpy.float64 and dagrt.exp(0) == 1.0
    with pytest.warns(RuntimeWarning, match="divide by zero") as caught:
        dagrt.log(0.0)
    assert caught[0].filename == __file__  # (the user's line)


def test_comparisons_with_strings_match_numpy() -> None:
    """``names == "Bob"`` (Python for Data Analysis, ch. 4), run now in C."""
    for other in ["Bob", b"Bob", "", numpy.str_("Joe")]:
        for op in (operator.eq, operator.ne, operator.lt, operator.ge):
            _both(lambda xp, op=op, other=other: op(xp.array(["Bob", "Joe", "Will"]), other))
            _both(lambda xp, op=op, other=other: op(xp.arange(3), other))


def test_comparisons_with_other_types_match_numpy() -> None:
    for other in ["abc", None, [1, 2, 3], (1, 2, 3), numpy.arange(3.0), object()]:
        for op in BINARY:
            _both(lambda xp, op=op, other=other: op(xp.arange(3), other))


def test_run_now_case_makes_no_python_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small ready operands: NumPy's operator on the storage, not the mixin's."""
    def boom(*args: Any) -> Any:
        raise AssertionError("the Python path ran")
    for name in ("__add__", "__radd__", "__iadd__", "__lt__", "__neg__", "__matmul__"):
        monkeypatch.setattr(Methods, name, boom)
    x, y = dagrt.ones(4), dagrt.arange(4.0)
    x += 2 * y
    z = -(x + 1) @ y
    assert z == -40.0 and type(z) is numpy.float64  # [2, 4, 6, 8] @ [0, 1, 2, 3]
    assert (x < 3).tolist() == [True, False, False, False]
    with dagrt.config(inline_bytes=0), pytest.raises(AssertionError, match="Python path"):
        x + 1  # every op to the scheduler: the Python path


def test_warnings_name_the_callers_line() -> None:
    """A value warning of an op run now is NumPy's, at the user's line."""
    for xp in (numpy, dagrt):
        x = xp.zeros(3)
        with pytest.warns(RuntimeWarning, match="divide") as caught:
            x / 0
        assert caught[0].filename == __file__


def test_errors_and_refusals_match_numpy() -> None:
    _both(lambda xp: pow(xp.arange(3), 2, 3))
    _both(lambda xp: xp.arange(3).__delitem__(0))
    _both(lambda xp: len(xp.zeros(())))
    _both(lambda xp: iter(xp.zeros(())))
    _both(lambda xp: xp.arange(3)[5])
    _both(lambda xp: xp.arange(6).reshape(2, 3)[1, 7])
    _both(lambda xp: xp.arange(3).__setitem__(5, 1))
    _both(lambda xp: xp.arange(3).__setitem__(0, 1e300 * 1e300) or 0)
    _both(lambda xp: xp.arange(3, dtype=xp.int8).__setitem__(0, 1000))
    _both(lambda xp: xp.ones(3) + xp.ones(4))
    _both(lambda xp: xp.ones((2, 3)) @ xp.ones((2, 3)))
    _both(lambda xp: xp.arange(4).__setitem__(xp.arange(4) > 1, xp.ones(3)))
    _both(lambda xp: xp.arange(4, dtype=xp.int8).__setitem__(xp.arange(4) > 1, 1000))


MASKED = [  # x[mask] and x[mask] = v (masks of x's shape run now in C)
    "x[x > 2]", "m[m % 2 == 0]", "x[x > 99]", "c[c.real > 0]", "(x > 1)[x > 2]",
    "set(x, x > 2, -1.5)", "set(m, m > 5, 0)", "set(x, x > 2, x[x > 2] * 2)",
    "set(i8, i8 > 1, 300)", "set(c, c.real > 0, 1j)", "set(x, x > 2, xp.float32(7))",
    "set(x, xp.zeros(5, bool), 1.0)", "set(m, m > 5, m[m > 5] + 0.5)",
]


@pytest.mark.parametrize("program", MASKED)
def test_masks_match_numpy(program: str) -> None:
    def run(xp: Any) -> Any:
        def set(a: Any, mask: Any, v: Any) -> Any:
            a[mask] = v
            return a
        g = {"xp": xp, "set": set, "x": xp.arange(5.0), "m": xp.arange(12).reshape(3, 4),
             "c": xp.asarray(numpy.array([1 + 1j, -2j, -1.0])), "i8": xp.arange(4, dtype=xp.int8)}
        return eval(program, g)
    _both(run)


def test_element_access_and_iteration_match_numpy() -> None:
    def program(xp: Any) -> Any:
        x = xp.arange(6.0)
        m = xp.arange(12).reshape(3, 4)
        m[1, 2] = -1
        m[2] = 7
        x[0] = numpy.float32(2.5)
        x[-1] = True
        rows = [r * 2 for r in m]
        total = sum(x) + max(x) + len(m) + m[1, 2] + x[3] + m[0][1]
        for r in m:
            r[0] = 9  # a row is a view: writes reach m
        return [total, *rows, m, x[1:3], m[1]]
    expected, actual = program(numpy), program(dagrt)
    assert type(actual[0]) is type(expected[0]) and actual[0] == expected[0]
    for e, a in zip(expected[1:], actual[1:]):
        assert isinstance(a, dagrt.ndarray) and a.dtype == e.dtype
        numpy.testing.assert_array_equal(a.asnumpy(), e)


def _later(event: threading.Event) -> threading.Timer:
    timer = threading.Timer(0.2, event.set)
    timer.start()
    return timer


@pytest.mark.parametrize("use", ["binary", "inplace", "getitem", "setitem", "iter", "rows",
                                 "concatenate", "mask"])
def test_pending_arrays_take_the_python_path(use: str) -> None:
    """An input still being written, or an output still being read, is not
    touched before that op finishes (the Python path orders it)."""
    with dagrt.config(engine="threaded"):
        base = numpy.arange(6.0)
        x = dagrt.asarray(base.copy()) if use != "rows" else dagrt.arange(6.0).reshape(2, 3)
        event = threading.Event()
        pending = gate(x, event)  # writes ``pending``, reads ``x``, until ``event``
        timer = _later(event)
        if use == "binary":
            result = (pending + 1).asnumpy()
            numpy.testing.assert_array_equal(result, base + 1)
        elif use == "inplace":
            x += 1  # x has a pending reader: it must see the old values
            numpy.testing.assert_array_equal(pending.asnumpy(), base)
            numpy.testing.assert_array_equal(x.asnumpy(), base + 1)
        elif use == "getitem":
            assert pending[4] == 4.0
        elif use == "setitem":
            x[0] = 100.0
            assert pending.asnumpy()[0] == 0.0 and x[0] == 100.0
        elif use == "iter":
            assert list(pending) == base.tolist()
        elif use == "mask":
            x[x > 3] = -1.0  # x has a pending reader: it must see the old values
            numpy.testing.assert_array_equal(pending.asnumpy(), base)
            assert pending[pending > 3].tolist() == [4.0, 5.0] and x.tolist()[-1] == -1.0
        elif use == "concatenate":
            with dagrt.config(check_plans=False):  # (record.now is tried)
                both = dagrt.concatenate([pending, x])
            numpy.testing.assert_array_equal(both.asnumpy(), numpy.concatenate([base, base]))
        else:
            assert [r.tolist() for r in pending] == [[0, 1, 2], [3, 4, 5]]
        timer.join()


def test_large_ops_take_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagrt.engine.policy import POLICY

    calls = []
    python_add = Methods.__add__
    monkeypatch.setattr(Methods, "__add__", lambda a, b: calls.append(1) or python_add(a, b))
    monkeypatch.setitem(POLICY.costs.rates, "add", 1.0)  # predicted slow: not run now
    big = dagrt.ones(1 << 17)  # 1 MiB: above the run-now size
    assert float((big + big).sum()) == 2 << 17 and calls == [1]


def test_ops_the_cost_model_admits_run_here_and_are_learnt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An op over the run-now size that the cost model predicts cheap runs
    now in C too, timed (a kind's first ones): the model learns its time, as
    on the Python path; once the model has its estimate, one op in 16 is
    timed, and the others run now in C just the same."""
    from dagrt.engine.policy import POLICY

    calls = []
    for name in ("__add__", "__iadd__", "__neg__", "__lt__", "__matmul__"):
        monkeypatch.setattr(Methods, name, lambda *a: calls.append(1))
    rates = POLICY.costs.rates
    guesses = {"add": 1e-15, "negative": 1e-15, "less": 1e-15, "matmul": 1e-15, "sin": 1e-15,
               "sum": 1e-15, "concatenate": 1e-15}
    for name, rate in guesses.items():
        monkeypatch.setitem(rates, name, rate)
    monkeypatch.setattr(POLICY.costs, "runs", {})  # (a kind's first ops are timed)
    monkeypatch.setattr(record_module, "_timed", None)  # (record's Python run-now case)
    base = numpy.linspace(0, 1, 1 << 14)  # 128 KiB
    x = dagrt.asarray(base.copy())
    results = [x + x, -x, x < 0.5, dagrt.sin(x), x @ x, x.sum(), dagrt.concatenate([x, x])]
    x += 1.0
    assert calls == [], "the Python path ran"
    assert all(rates[name] != rate for name, rate in guesses.items()), rates
    expected = [base + base, -base, base < 0.5, numpy.sin(base), base @ base, base.sum(),
                numpy.concatenate([base, base])]
    for got, want in zip(results, expected):
        numpy.testing.assert_array_equal(numpy.asarray(got), want)
    numpy.testing.assert_array_equal(x.asnumpy(), base + 1.0)
    monkeypatch.setitem(POLICY.costs.runs, ("sin", base.nbytes), 1008)  # (past its first)
    learnt, pushed = rates["sin"], ENGINE.ops_pushed
    for k in range(1, 16):
        assert (dagrt.sin(x) == numpy.sin(base + 1.0)).all()
        assert rates["sin"] == learnt, k  # not timed
    dagrt.sin(x)  # the 16th: timed
    assert rates["sin"] != learnt and ENGINE.ops_pushed == pushed and calls == []


def test_the_models_verdicts_are_kept_between_its_timed_ops(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Between two ops the cost model times, an op it admits runs now
    without asking it (``costs.grant``, once in 16 ops); the ops that did
    not ask are counted at the next ask (its ``runs``, the regime's
    progress), and a rate that rises stops the run-now case at once."""
    from dagrt.engine.policy import POLICY, TIME_EVERY

    costs = POLICY.costs
    asked: list[int] = []
    grant = costs.grant
    monkeypatch.setattr(costs, "grant", lambda *a: (asked.append(a[2]), grant(*a))[1])
    monkeypatch.setitem(costs.rates, "sin", 1e-15)
    monkeypatch.setattr(costs, "runs", {("sin", 1 << 17): 1000})  # (past its first)
    x = dagrt.ones(1 << 14)  # 128 KiB: above the run-now size
    pushed = ENGINE.ops_pushed
    with dagrt.config(check_plans=False, adapt_s=0):  # (no regime: no window's end)
        for _ in range(2 * TIME_EVERY):
            assert float(dagrt.sin(x)[0]) == math.sin(1.0)
        assert ENGINE.ops_pushed == pushed  # every one ran now
        assert len(asked) <= 5 and sum(asked) > TIME_EVERY  # (owed: ran without asking)
        monkeypatch.setitem(costs.rates, "sin", 1.0)  # now predicted dear: deferred
        y = dagrt.sin(x)
        assert ENGINE.ops_pushed == pushed + 1 and float(y[0]) == math.sin(1.0)
    assert costs.runs[("sin", 1 << 17)] == 1000 + 2 * TIME_EVERY  # (the last ask settled)


def test_profiled_ops_run_here_and_are_shown_at_their_line(tmp_path: Path) -> None:
    """Under a profile the ops run as without one, each a slice with its site."""
    import json

    trace = tmp_path / "trace.json"
    with dagrt.profile(str(trace)):
        x = dagrt.ones(8)
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        x += 2 * x; y = -x @ x; z = x < 2  # noqa: E702 (one line: one site)
    events = json.loads(trace.read_text())["traceEvents"]
    line = f"test_native.py:{line}"
    slices = {e["name"]: e["args"]["site"] for e in events if e.get("cat") == "op"}
    for name in ("multiply", "add", "negative", "matmul", "less"):
        assert line in slices[name], (name, slices)
    assert float(y) == -72.0 and z.tolist() == [False] * 8


def test_array_object_protocols() -> None:
    x = dagrt.arange(4.0)
    ref = weakref.ref(x)
    assert pickle.loads(pickle.dumps(x)).tolist() == x.tolist()
    assert copy.copy(x).tolist() == copy.deepcopy(x).tolist() == x.tolist()
    with pytest.raises(TypeError):
        hash(x)
    del x
    gc.collect()
    assert ref() is None
    with pytest.raises(AttributeError):
        dagrt.ones(2).anything = 1  # no __dict__, as NumPy's ndarray
    # a sequence, as NumPy's ndarray (NumPy reads integer arrays as sequences of ints)
    axes = dagrt.asarray([1, 0])
    assert numpy.zeros((2, 3)).transpose(axes).shape == (3, 2)
    assert dagrt.zeros((2, 3)).transpose(axes).shape == (3, 2)
    assert numpy.zeros(dagrt.asarray([2, 3])).shape == (2, 3)


def test_pure_python_base_passes_the_differential_tests() -> None:
    """``DAGRT_NATIVE=0``: the same class on its Python base, in a fresh process."""
    tests = Path(__file__).parent
    result = run_python(
        "import sys, pytest; from dagrt.array.ndarray import NATIVE; assert not NATIVE; "
        f"sys.exit(pytest.main(['-q', '-x', '-p', 'no:cacheprovider', "
        f"'{tests / 'test_regressions.py'}', '{tests / 'test_semantics.py'}']))",
        env={"DAGRT_NATIVE": "0"}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_small_draws_wait_for_pending_draws() -> None:
    """A small draw runs now only once the generator's state is idle: after
    a large draw still running on a worker, NumPy's sequence is kept."""
    with dagrt.config(engine="threaded"):
        dagrt.random.seed(3)
        numpy.random.seed(3)
        got = [dagrt.random.normal(size=1 << 18), dagrt.random.normal(size=3),
               dagrt.random.uniform(size=2)]
        want = [numpy.random.normal(size=1 << 18), numpy.random.normal(size=3),
                numpy.random.uniform(size=2)]
        for g, w in zip(got, want):
            numpy.testing.assert_array_equal(g.asnumpy(), w)


DRAWS = [  # legacy functions, then a Generator's methods; errors too
    "normal(size=10)", "normal(1.0, 2.0, (2, 3))", "normal()", "normal(0, -1.0, 3)",
    "rand()", "rand(2, 3)", "randn(4)", "rand(-1)", "randint(0, 10, size=5)", "randint(5)",
    "randint(5, 2)", "uniform(-1, 1, 7)", "uniform(size=-1)", "exponential(2.0, 4)",
    "binomial(10, 0.5, 3)", "choice(5, 3)", "standard_normal()", "random_sample((2,))",
    "normal(size=(2, 2**62))", "rng.normal(size=3)", "rng.integers(0, 10, 5)", "rng.random(3)",
    "rng.uniform(size=2)", "rng.standard_normal(3)", "rng.exponential(1.0, 3)",
    "rng.normal(0.0, 1.0, 2, 5)",
]


def test_draws_match_numpy() -> None:
    """A draw with plain numbers runs now in C: NumPy's numbers in NumPy's
    order, NumPy's types and errors."""
    for xp in (numpy, dagrt):
        xp.random.seed(7)
    rngs = {xp: xp.random.default_rng(7) for xp in (numpy, dagrt)}
    for call in DRAWS:
        _both(lambda xp, call=call: eval(f"xp.random.{call}" if not call.startswith("rng")
                                         else call, {"xp": xp, "rng": rngs[xp]}))


def test_draw_run_now_case_makes_no_python_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small draws with plain numbers do not enter ``_Stream.draw``; other
    calls, large draws and another default device take the Python path."""
    from dagrt import random as drandom
    from dagrt.devices import registry

    calls: list[str] = []
    python_draw = drandom._Stream.draw
    monkeypatch.setattr(drandom._Stream, "draw",
                        lambda self, method, *a, **k: calls.append(method) or
                        python_draw(self, method, *a, **k))
    rng = dagrt.random.default_rng(1)
    dagrt.random.normal(size=3), rng.uniform(0.0, 1.0, 4), dagrt.random.rand(2)
    assert calls == []
    dagrt.random.normal(numpy.float64(0.0), size=3)  # a NumPy scalar parameter
    dagrt.random.normal(size=1 << 18)  # large: the policy decides
    dagrt.random.normal(size=3, device="cpu")
    rng.normal(loc=1.0, size=2)
    assert calls == ["normal"] * 3 + ["normal"]
    with dagrt.config(device="cpu:0"):  # another default device: the Python path decides
        assert registry.DEFAULT_DEVICE == ["cpu:0"]
        dagrt.random.rand(2)
    assert calls[-1] == "random_sample"


LISTED = [  # functions tried with record's run-now case before their kind's code
    "xp.concatenate([a, b])", "xp.concatenate((a, b), axis=1)", "xp.concatenate([a, b], axis=None)",
    "xp.concatenate([a, c])", "xp.concatenate([a, [[1, 2, 3]]])", "xp.concatenate([])",
    "xp.concatenate([a, b], axis=2)", "xp.concatenate([a, s])", "xp.stack([a, b])",
    "xp.stack([a, b], axis=-1)", "xp.stack([a, c])", "xp.vstack([a, b])", "xp.hstack((a, b))",
    "xp.dstack([a, b])", "xp.column_stack([s, s])", "xp.concatenate([a, xp.asarray(a.T)])",
    "xp.where(a > 2, a, b)", "xp.where(a > 2, a, 0.5)", "xp.where(s > 1, 7, -7)",
    "xp.where(a > 2, s, b)", "xp.where(True, 1, 2)", "xp.where(a > 2, a, c)",
    "xp.where([True, False, True], s, s * 2)",
]


@pytest.mark.parametrize("program", LISTED)
def test_listed_run_now_case_matches_numpy(program: str) -> None:
    """``record.now``: NumPy's values, dtypes, layout and errors (plans
    unchecked, so the case is taken; the differential suites check plans)."""
    def run(xp: Any) -> Any:
        a = xp.arange(6).reshape(2, 3)
        b = xp.asarray(numpy.linspace(0, 1, 6).reshape(2, 3))
        c, s = xp.ones((3, 3), dtype=numpy.float32), xp.arange(3.0)
        result = eval(program, {"xp": xp, "a": a, "b": b, "c": c, "s": s})
        if isinstance(result, (numpy.ndarray, dagrt.ndarray)):
            assert result.flags.c_contiguous == numpy.asarray(result).flags.c_contiguous
        return result
    with dagrt.config(check_plans=False):
        _both(run)
        with pytest.MonkeyPatch.context() as patch:  # the Python path is not entered
            from dagrt.ops import shapes
            patch.setattr(shapes, "movement", None)
            x = dagrt.arange(3.0)
            assert dagrt.concatenate([x, x], axis=0).tolist() == [0, 1, 2] * 2


BUFFERS = ["arange(6.0).reshape(2, 3)", "arange(6.0).reshape(2, 3).T", "arange(10)[::3]",
           "ones(3, bool)", "asarray([1 + 2j])", "zeros((), 'f2')", "asarray(['ab', 'c'])",
           "zeros(2, [('a', 'i4'), ('b', 'f8')])", "zeros(2, 'M8[s]')", "zeros(2, 'V3')"]


STRUCTURED = [{"names": ["x"], "formats": ["i4"], "offsets": [4], "itemsize": 12},
              [(("title", "a"), "i4"), ("b", "f4", (2,))],
              {"formats": ["<i4", "<i4"], "names": ["one", "two"], "offsets": [4, 0],
               "itemsize": 8}]


@pytest.mark.parametrize("spec", STRUCTURED)
def test_structured_dtypes_numpy_misreads_from_a_buffer_export_none(spec: Any) -> None:
    """NumPy reads back neither a field's title (lost) nor explicit offsets
    (RuntimeError in ``numpy.asarray``) from its own buffer format: such an
    array exports no buffer (NumPy's ValueError where its memoryview raises
    one), and ``numpy.asarray`` reads the array interface: the values, the
    fields, the title (the gaps of explicit offsets become fields ``f0``...,
    overlapping fields one void: as NumPy reads any array interface)."""
    dtype = numpy.dtype(spec)
    x = dagrt.zeros(3, dtype)
    x[dtype.names[0]] = 7
    try:
        memoryview(numpy.zeros(1, dtype))
    except ValueError:
        with pytest.raises(ValueError):
            memoryview(x)
    else:
        with pytest.raises(BufferError):
            memoryview(x)
    got = numpy.asarray(x)
    assert numpy.shares_memory(got, x._data) and got.tobytes() == x._data.tobytes()
    if got.dtype.names:  # (overlapping fields: the interface says only 'V8', for NumPy too)
        assert got[dtype.names[0]].tolist() == [7] * 3
        assert got.dtype == dtype or "offsets" in spec


@pytest.mark.parametrize("make", BUFFERS)
def test_buffer_protocol_matches_numpy(make: str) -> None:
    """``memoryview(x)`` is the storage's own buffer (NumPy's format, shape,
    strides, bytes; NumPy's error where it has none), and NumPy, which reads
    an array-like's buffer first, gets back the same dtype and values."""
    def view(xp: Any) -> Any:
        try:
            m = memoryview(eval(f"xp.{make}", {"xp": xp}))
        except Exception as exc:  # noqa: BLE001 (compared with NumPy's)
            return type(exc)
        return m.format, m.shape, m.strides, m.readonly, m.tobytes()
    if make.endswith("'V3')"):  # NumPy's own buffer ('3x') reads back as another dtype
        assert view(dagrt) is BufferError
    else:
        assert view(dagrt) == view(numpy)
    x = eval(f"dagrt.{make}")
    expected = eval(f"numpy.{make}")
    got = numpy.asarray(x)
    assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()


def test_buffer_waits_for_pending_writes() -> None:
    import hashlib

    with dagrt.config(engine="threaded"):
        x = dagrt.arange(6.0)
        event = threading.Event()
        pending = gate(x, event)
        timer = _later(event)
        assert bytes(memoryview(pending)) == numpy.arange(6.0).tobytes()
        timer.join()
    assert hashlib.sha256(x.view(dagrt.int8)).hexdigest() == \
        hashlib.sha256(numpy.arange(6.0).view(numpy.int8)).hexdigest()


def test_generators_with_draws_copy_and_pickle() -> None:
    """A generator's ``Draw`` objects are made anew by a copy or a pickle,
    which continue NumPy's sequence from the same state."""
    import copy

    for make in (lambda xp: xp.random.default_rng(5), lambda xp: xp.random.RandomState(5)):
        mine, theirs = make(dagrt), make(numpy)
        mine.normal(size=3), theirs.normal(size=3)
        mine.exponential(2.0, 2), theirs.exponential(2.0, 2)  # a distribution made on first use
        for twin in (copy.copy(mine), copy.deepcopy(mine), pickle.loads(pickle.dumps(mine))):
            expected = copy.deepcopy(theirs)
            got = [twin.normal(size=2), twin.exponential(2.0, 2)]
            want = [expected.normal(size=2), expected.exponential(2.0, 2)]
            for g, w in zip(got, want):
                numpy.testing.assert_array_equal(numpy.asarray(g), w)
    restored = pickle.loads(pickle.dumps(dagrt.random.normal))
    assert restored.__name__ == "normal" and restored(size=2).shape == (2,)


@pytest.mark.parametrize("make", ["arange(10.0)", "arange(12).reshape(3, 4)",
                                  "asarray([True, False])", "asarray([1, 2], dtype=object)",
                                  "zeros((0,))", "asarray([1 + 2j, 3])"])
def test_reduction_methods_run_now_match_numpy(make: str) -> None:
    """``x.sum()`` and the other reductions without arguments try
    ``record.now`` first: NumPy's values, types, errors and warnings."""
    with dagrt.config(check_plans=False):
        for method in ("sum", "mean", "max", "min", "argmax", "any", "all", "std", "var",
                       "prod"):
            _both(lambda xp, method=method: getattr(eval(f"xp.{make}", {"xp": xp}), method)())


ELIDED = [  # on 512 KiB operands: NumPy elides the temporary in most of these
    "(x + 1.0) + y", "(x * 2.0) - 1.0", "2.0 - (x * 2.0)", "1.0 / (x + 1.0)",
    "(x + 1.0) / 2", "y * (x + 1.0)", "(x + 1.0) ** 2", "(x + 1.0) % 3.0",
    "(i + 1) // 2", "(i + 1) / 2", "(i + 1) << 2", "(i + 1) & i", "(i32 + 1) + 1",
    "(i32 + 1) + 2.5", "(f32 * 2.0) + 1.0", "(f32 * 2.0) + y", "(x * 2.0) + f32",
    "(xf * 2.0) + 1.0", "(xf * 2.0) + y2", "y2 + (xf * 2.0)", "(x > 0.5) | (x < 0.2)",
    "(x > 0.5) + (x < 0.2)", "(c * 1j) + 1", "(x + 1.0) + x[::-1]",
    "((x + 1.0) + 1.0) * 2.0 - 3.0", "(x + 1.0) - xp.float32(2)", "(i + 1) + xp.uint64(3)",
]


@pytest.mark.parametrize("program", ELIDED)
def test_temporaries_match_numpy(monkeypatch: pytest.MonkeyPatch, program: str) -> None:
    """Operators over the run-now size that the cost model admits run in C,
    writing into a temporary operand where NumPy would (its elision): the
    values, dtype and memory layout are NumPy's, and named operands keep
    theirs."""
    from dagrt.engine.policy import POLICY

    for name in ("add", "subtract", "multiply", "divide", "floor_divide", "remainder",
                 "power", "left_shift", "bitwise_and", "bitwise_or", "greater", "less"):
        monkeypatch.setitem(POLICY.costs.rates, name, 1e-15)

    def run(xp: Any) -> Any:
        base = numpy.linspace(0, 1, 1 << 16)
        g = {"xp": xp, "x": xp.asarray(base), "y": xp.asarray(base[::-1].copy()),
             "i": xp.arange(1 << 16), "i32": xp.arange(1 << 17, dtype=xp.int32),
             "f32": xp.asarray(base.astype(numpy.float32)),
             "xf": xp.asarray(numpy.asfortranarray(base.reshape(256, 256))),
             "c": xp.asarray(base.astype(complex)),
             "y2": xp.asarray(base[::-1].reshape(256, 256).copy())}
        before = {k: numpy.asarray(v).copy() for k, v in g.items() if k != "xp"}
        result = eval(program, g)
        for k, v in before.items():  # named operands are never written
            numpy.testing.assert_array_equal(numpy.asarray(g[k]), v)
        flags = numpy.asarray(result).flags
        return result, flags.c_contiguous, flags.f_contiguous
    expected, actual = run(numpy), run(dagrt)
    assert type(actual[0]) is dagrt.ndarray and actual[0].dtype == expected[0].dtype
    numpy.testing.assert_array_equal(actual[0].asnumpy(), expected[0])
    assert actual[1:] == expected[1:], "memory layout"


def test_temporaries_take_the_result_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """``((x + 1.0) + 1.0) * 2.0 - 3.0`` on 512 KiB, admitted by the cost
    model: one new array, as in NumPy (the temporary takes each later result,
    in C: no Python call), never a NumPy array the user holds."""
    import tracemalloc

    from dagrt.engine.policy import POLICY

    for name in ("add", "multiply", "subtract"):
        monkeypatch.setitem(POLICY.costs.rates, name, 1e-15)
    calls = []
    for name in ("__add__", "__mul__", "__sub__"):
        monkeypatch.setattr(Methods, name, lambda *a: calls.append(1))
    x = dagrt.zeros(1 << 16)
    held = numpy.zeros(1 << 16)
    tracemalloc.start()
    try:
        y = ((x + 1.0) + 1.0) * 2.0 - 3.0
        peak = tracemalloc.get_traced_memory()[1]
        z = dagrt.asarray(held) + 1.0  # a view of the user's array: never written
        w = (z + 0) * 1  # (z is named: not a temporary)
    finally:
        tracemalloc.stop()
    assert calls == [], "the Python path ran"
    assert peak < 1.5 * (1 << 19), peak  # one 512 KiB array at a time
    assert float(y[0]) == 1.0 and float(x[0]) == 0.0
    assert not held.any() and float(z[0]) == 1.0 and float(w[0]) == 1.0


def test_temporaries_read_by_pending_ops_are_not_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary that a pending op still reads takes no result: the
    operator allocates one, as if NumPy had not elided."""
    from dagrt.engine.policy import POLICY

    monkeypatch.setitem(POLICY.costs.rates, "multiply", 1e-15)
    with dagrt.config(engine="threaded"):
        event = threading.Event()
        copies = []

        def read_later(t: Any) -> Any:
            copies.append(gate(t, event))  # a pending reader of t
            return t  # then only the caller's stack holds t

        timer = _later(event)
        r = read_later(dagrt.ones(1 << 16) + 1.0) * 2.0
        numpy.testing.assert_array_equal(numpy.asarray(copies[0]), numpy.full(1 << 16, 2.0))
        numpy.testing.assert_array_equal(numpy.asarray(r), numpy.full(1 << 16, 4.0))
        timer.join()


BASIC_SET = [  # x[basic] = value: a view takes NumPy's assignment, in C when run now
    "m[1:3, 1:3] = 7", "m[1:3, 1:3] = a2", "m[1:-1, 1:-1] += a2 * 0 + m[1:-1, 1:-1]",
    "m[...] = 2.5", "m[:, 0] = row", "m[0] = row", "m[1, ...] = -1", "m[None, 1:2] = 3",
    "m[::2, ::-1] = 1", "m[1:3] = m[0:2]", "v[1:] = v[:-1]", "v[:-1] += v[1:]",
    "v[2:4] = xp.float32(1.5)", "v[2:4] = True", "i8[1:3] = 300", "i8[1:3] = 2.7",
    "b[1:3] = 5", "v[1:3] = xp.ones(3)", "m[5, 1:2] = 1", "m[1:3, 1:3] = 'x'",
    "ro[1:3] = 1", "v[1:3] = 1j", "u8[0:2] = -1", "c[1:3] = v[0:2]",
]


@pytest.mark.parametrize("program", BASIC_SET)
def test_basic_setitem_matches_numpy(program: str) -> None:
    def run(xp: Any) -> Any:
        ro = xp.arange(4.0)
        ro.flags.writeable = False
        g = {"xp": xp, "m": xp.arange(16.0).reshape(4, 4), "a2": xp.ones((2, 2)),
             "row": xp.arange(4.0) * 10, "v": xp.arange(6.0), "i8": xp.arange(4, dtype=xp.int8),
             "b": xp.zeros(4, bool), "ro": ro, "u8": xp.arange(3, dtype=xp.uint8),
             "c": xp.zeros(4, complex)}
        exec(program, g)
        return repr([(numpy.asarray(g[k]).tolist(), str(g[k].dtype))
                     for k in ("m", "v", "i8", "b", "c", "u8")])
    _both(run)


def test_basic_setitem_runs_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """``u[1:-1, 1:-1] += f`` and ``m[i:j, k] = v`` on small ready arrays: no
    Python call (the in-place op's own write back is NumPy's no-op)."""
    calls = []
    for name in ("_setitem", "_getitem"):
        monkeypatch.setattr(dagrt.ndarray, name, lambda *a, name=name: calls.append(name))
    monkeypatch.setattr(Methods, "__iadd__", lambda *a: calls.append("__iadd__"))
    u, f = dagrt.zeros((6, 6)), dagrt.ones((4, 4))
    u[1:-1, 1:-1] += f
    u[0, :] = 5.0
    u[:, 0] = dagrt.arange(6.0)
    assert calls == []
    expected = numpy.zeros((6, 6))
    expected[1:-1, 1:-1] += 1
    expected[0, :] = 5.0
    expected[:, 0] = numpy.arange(6.0)
    numpy.testing.assert_array_equal(u.asnumpy(), expected)


FANCY = [  # keys the compiled slots take now (``storage_key``): lists, NumPy integers,
    # index arrays among other indices, field names; values that are sequences of numbers
    "m[[0, 2]]", "m[:, [0, 2]]", "m[[0, 1], [1, 2]]", "m[0, [1, 2]]", "m[i, 1]", "m[1:, i]",
    "m[[True, False, True]]", "m[m[:, 0] > 2]", "m[..., [1]]", "m[None, [0], 1:]",
    "m[xp.int64(2)]", "m[xp.int32(1), xp.uint8(2)]", "v[xp.int64(-1)]", "m[[[0, 1], [1, 2]]]",
    "m[n]", "m[n, ::-1]", "m[xp.array(1), :]", "m[[0, 10]]", "m[0, [1, 20]]", "m[[1.5]]",
    "m[0, 0, 0]", "m[:, [True] * 3]", "m[[]]", "m[[True, False]]", "v[range(3)]",
    "z[[0, 1], :, [1, 2]]", "z[:, [0, 2], [1, 3]]", "z[[True, False], 1]", "z[1, ..., [0, 0]]",
    "set(m[[0, 2]], 0, 100)", "set(m[xp.array(1), :], 0, -5)",
    "set(m, (slice(None), [0, 2]), [[1, 2]] * 3)", "set(v, [1, 1, 2], [7, 8, 9])",
    "set(v, xp.int64(0), 5)", "set(v, slice(1, 3), [1, 2])", "set(m, 0, (1, 2, 3))",
    "set(v, slice(None), range(6))", "set(u8, [0, 1], [300, 1])", "set(u8, [0, 1], [1, 2, 3])",
    "set(u8, slice(0, 2), [-1, 2])", "set(v, [0, 1, 2], v[::-1][:3])",
    "set(v, slice(2, 5), v[1:4])", "set(v, [3, 4], v[[4, 3]])", "set(b, [0, 2], [1, 0.0])",
    "set(b, xp.int64(3), 2)", "set(c, [0, 1], [1j, 2])", "set(m, (i, 1), 0)",
    "set(m, [[True] * 3] * 4, 1)", "set(v, [0, 1], [[1, 2]])", "set(m, (0, [1, 20]), 1)",
    "set(v, v > 3, [1, 2])", "set(v, v > 3, [1, 2, 3])", "set(z, (1, Ellipsis, [0]), 99)",
    "set(s, 'a', [1, 2, 3])", "set(s, 'b', 7)", "s['a']", "s['c']", "set(s, 'c', 1)",
    "set(s, 'a', 'x')", "s[['b']]", "set(v, slice(0, 2), [xp.float32(1), xp.int8(2)])",
]


@pytest.mark.parametrize("program", FANCY)
def test_fancy_keys_and_sequence_values_match_numpy(program: str) -> None:
    """Values, dtypes, layout, views (writes through a result) and errors, with
    their messages, as NumPy's."""
    def run(xp: Any) -> str:
        def set(a: Any, key: Any, value: Any) -> None:
            a[key] = value
        g = {"xp": xp, "set": set, "m": xp.arange(12.0).reshape(4, 3), "v": xp.arange(6.0),
             "z": xp.arange(24).reshape(2, 3, 4), "i": xp.array([0, 2]), "n": numpy.array([0, 2]),
             "u8": xp.zeros(3, xp.uint8), "b": xp.zeros(4, bool), "c": xp.zeros(3, complex),
             "s": xp.ones(3, dtype=[("a", "f8"), ("b", "i4")])}
        try:
            result = eval(program, g)
        except Exception as exc:  # noqa: BLE001 (compared with NumPy's)
            result = f"{type(exc).__name__}: {exc}"
        if hasattr(result, "shape"):
            data = numpy.asarray(result)
            result = (data.tolist(), data.dtype, data.flags.c_contiguous, data.flags.f_contiguous)
        return repr([result] + [numpy.asarray(g[k]).tolist() for k in "mvzubcs" if k in g] +
                    [numpy.asarray(g[k]).tolist() for k in ("u8",)])
    assert run(dagrt) == run(numpy)


def test_fancy_keys_run_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """``m[i, 1]``, ``x[[0, 1]] = [5, 6]``, ``x[np.int64(k)]``, ``s['a']`` of small
    ready arrays: NumPy's indexing on the storage, no Python call."""
    calls = []
    for name in ("_setitem", "_getitem"):
        monkeypatch.setattr(dagrt.ndarray, name, lambda *a, name=name: calls.append(name))
    m, v, i = dagrt.arange(12.0).reshape(4, 3), dagrt.arange(6.0), dagrt.array([0, 2])
    s = dagrt.zeros(2, dtype=[("a", "f8")])
    got = [m[i, 1], m[[0, 1], [1, 2]], m[:, [0, 2]], v[numpy.int64(2)], m[m[:, 0] > 2], s["a"]]
    v[[0, 1]] = [5, 6]
    m[numpy.int64(1), 2] = -1.0
    m[0] = (7, 8, 9)
    s["a"] = [1.5, 2.5]
    assert calls == []
    assert [numpy.asarray(g).tolist() for g in got] == [
        [1.0, 7.0], [1.0, 5.0], [[0.0, 2.0], [3.0, 5.0], [6.0, 8.0], [9.0, 11.0]], 2.0,
        [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0], [9.0, 10.0, 11.0]], [1.5, 2.5]]  # (a view)
    assert v.tolist()[:2] == [5.0, 6.0] and m.tolist()[:2] == [[7.0, 8.0, 9.0], [3.0, 4.0, -1.0]]
    assert s["a"].tolist() == [1.5, 2.5] and got[-1].base is s


NOW_FUNCTIONS = [  # run now in C (record.now_view, run_now) with plans unchecked
    "m.reshape(4, 3)", "m.reshape((2, 6), order='F')", "m.T.reshape(-1)", "m.ravel()",
    "m.T.ravel()", "m.ravel('F')", "m.ravel('K')", "m.flatten()", "m.T.flatten('A')",
    "m.copy()", "m.T.copy()", "m.T.copy('K')", "xp.copy(m.T)", "m.astype(xp.float32)",
    "m.astype('int8')", "m.T.astype(int)", "m.astype(m.dtype, copy=False)",
    "xp.transpose(m)", "xp.transpose(m, (1, 0))", "xp.squeeze(m[None])", "xp.expand_dims(m, 1)",
    "xp.swapaxes(m, 0, 1)", "xp.moveaxis(m, 0, -1)", "xp.flip(m)", "xp.diagonal(m)",
    "xp.broadcast_to(v, (2, 4))", "xp.real(c)", "xp.imag(c)", "xp.imag(m)", "xp.atleast_2d(v)",
    "xp.zeros(3)", "xp.zeros((2, 2), dtype=int)", "xp.empty(0)", "xp.arange(5)",
    "xp.arange(1, 2, 0.25)", "xp.linspace(0, 1, 5)", "xp.linspace(0, 1, 5, retstep=True)",
    "xp.eye(3, k=1)", "xp.zeros_like(m)", "xp.empty_like(m).shape", "xp.tri(3)",
    "xp.tril_indices(3)", "xp.dot(m, m.T)", "xp.dot(v, v)", "xp.outer(v, v)",
    "xp.inner(v, v)", "xp.sort(v[::-1])", "xp.argsort(v[::-1])", "xp.cumsum(m, axis=1)",
    "xp.round(m / 7, 2)", "xp.tril(m)", "m.sum(axis=0)", "m.sum(0)", "m.sum(0, xp.float32)",
    "m.max(1, keepdims=True)", "m.argmax(axis=0)", "xp.mean(m, axis=1)", "m.std(0, ddof=1)",
    "m.sum(axis=(0, 1))", "xp.max(m, 0, initial=100.0)", "m.sum(where=m > 3)",
    "xp.full(3, 2.5)", "xp.full((2, 2), 1, dtype=int)", "xp.full(3, 300, dtype=xp.int8)",
    "xp.ones(2)", "xp.ones((2, 3), dtype=xp.int8)", "xp.ones_like(m)", "xp.full_like(m, 7)",
    "xp.full_like(v, 1.5, dtype=int)", "m.fill(3)", "v.fill(xp.nan)", "xp.add(v, v, out=v)",
    "xp.add(v, v, out=v) is v", "xp.exp(m, out=m)", "xp.add(v, 1.0, out=(v,))",
    "xp.add(m, m, out=xp.empty((2, 2)))", "xp.sin(v, out=xp.empty(4, dtype=int))",
    "xp.divmod(v, 2, out=v)", "xp.add(v, v, out=ro)", "xp.negative(3.0, out=v)",
    "xp.multiply(m, v, out=m)", "xp.cumsum(v, 0, None, w) is w", "xp.dot(v, v[:, None], w[:1])",
    "xp.take(v, [1, 2], None, w[:2])", "xp.round(v / 3, 1, w)",
    "xp.array([1.0, 2.0])", "xp.array([v, v])", "xp.array(v)", "xp.array(v) is v",
    "xp.array(v, copy=False) is v", "xp.array(m, 'f4', ndmin=3)", "xp.array(3)",
    "xp.array([[1, 2], [3.5, 4]], order='F')", "xp.array([1, 'a'])", "xp.array([m, m.T.T])",
    "xp.concatenate([v, v])", "xp.concatenate((m, m), axis=1)", "xp.stack([v, v], axis=-1)",
    "xp.concatenate([v, [1.0, 2.0]])", "xp.vstack([v, v])",
    "xp.add.outer(v, v)", "xp.subtract.outer(v, 2.5)", "xp.multiply.outer(m, v[:2])",
    "xp.add.outer(v, [1, 2], dtype=int)", "xp.maximum.outer(v[:2], numpy.arange(3.0))",
    "xp.linalg.norm(numpy.arange(3.0))", "xp.sort(numpy.arange(3.0)[::-1])",
    "xp.cumsum(numpy.arange(3))", "xp.sum(numpy.ones((2, 2)), axis=0)",
]


@pytest.mark.parametrize("program", NOW_FUNCTIONS)
def test_functions_run_now_match_numpy(program: str) -> None:
    """Views, copies, creation, contractions and sorts of small ready arrays
    run now in C: NumPy's values, dtypes, layouts, and views that alias."""
    def run(xp: Any) -> Any:
        ro = xp.arange(4.0)
        ro.flags.writeable = False
        g = {"xp": xp, "m": xp.arange(12.0).reshape(3, 4), "v": xp.arange(4.0),
             "c": xp.asarray(numpy.array([1 + 2j, 3 - 1j])), "ro": ro, "w": xp.zeros(4),
             "numpy": numpy}
        result = eval(program, g)
        results = result if isinstance(result, tuple) else (result,)
        out = []
        for r in results:
            if isinstance(r, (dagrt.ndarray, numpy.ndarray)):
                flags = numpy.asarray(r).flags
                out.append((numpy.asarray(r).tolist(), str(r.dtype), r.shape,
                            flags.c_contiguous, flags.f_contiguous, flags.writeable))
                if flags.writeable and r.size and r.dtype.kind == "f":
                    r.flat[0] = -7.5  # a view writes its base, a copy does not
            else:
                out.append(r)
        return repr((out, *(numpy.asarray(g[k]).tolist() for k in "mvw")))
    with dagrt.config(check_plans=False):
        _both(run)


def test_functions_run_now_wait_for_pending_copies() -> None:
    """A copy of a pending array is not made now (it would read unfinished
    values): the recording path orders it; a view of it is made at once."""
    with dagrt.config(engine="threaded", check_plans=False):
        event = threading.Event()
        x = dagrt.arange(6.0)
        pending = gate(x, event)
        timer = _later(event)
        t = pending.reshape(2, 3).T  # a view of pending storage: at once
        copies = [pending.copy(), pending.astype(numpy.int32), t.ravel(), t.flatten()]
        assert not event.is_set()
        expected = numpy.arange(6.0).reshape(2, 3).T
        numpy.testing.assert_array_equal(t.asnumpy(), expected)
        for c, e in zip(copies, [numpy.arange(6.0), numpy.arange(6), expected.ravel(),
                                 expected.ravel()]):
            numpy.testing.assert_array_equal(c.asnumpy(), e)
        timer.join()


EAGER = [  # functions NumPy runs at once, run now in C on small ready inputs
    "xp.nonzero(v)", "xp.count_nonzero(m)", "xp.searchsorted(v, 2.5)", "xp.diff(v)",
    "xp.unique(m % 3)", "xp.argwhere(m > 5)", "xp.median(m, axis=0)", "xp.isclose(v, v)",
    "xp.real_if_close(v)", "xp.real_if_close(v) is v", "xp.trim_zeros(v)",
    "xp.meshgrid(v, v)", "xp.histogram(v, bins=2)",
    "xp.shares_memory(v, v[1:])", "xp.array2string(v)", "xp.diag(v)", "xp.diag(m)",
    "xp.take(v, [0, 2])", "xp.searchsorted(v, v[::-1])", "xp.unique(v, return_counts=True)",
]


@pytest.mark.parametrize("program", EAGER)
def test_eager_functions_run_now_match_numpy(program: str) -> None:
    """Values, and views that alias their input (a write through one reaches it)."""
    def run(xp: Any) -> Any:
        g = {"xp": xp, "m": xp.arange(12.0).reshape(3, 4), "v": xp.arange(4.0)}
        result = eval(program, g)
        flat = [result] if not isinstance(result, (tuple, list)) else list(result)
        shown = []
        for r in flat:
            if isinstance(r, (dagrt.ndarray, numpy.ndarray)):
                shown.append((numpy.asarray(r).tolist(), str(r.dtype)))
                if numpy.asarray(r).flags.writeable and r.size and r.dtype.kind == "f":
                    r.flat[0] = -7.5
            else:
                shown.append(r)
        return repr((shown, numpy.asarray(g["m"]).tolist(), numpy.asarray(g["v"]).tolist()))
    _both(run)


def test_now_functions_behave_as_numpys_functions() -> None:
    """The functions whose run-now case is C (``NowFunction``) pickle by
    name, have NumPy's signature, and bind as methods when stored on a class
    exactly when NumPy's do."""
    import inspect
    import pickle

    from dagrt.ops.namespace import NowFunction

    for name in ("zeros", "empty", "arange", "sum", "mean", "dot", "sort", "unique", "nonzero"):
        f = getattr(dagrt, name)
        assert type(f) is NowFunction, name
        assert pickle.loads(pickle.dumps(f)) is f
        assert inspect.signature(f) == inspect.signature(getattr(numpy, name)), name
        assert f.__wrapped_numpy__ is getattr(numpy, name) and f.__module__ == "dagrt"

    class Holder:
        zeros, sum = dagrt.zeros, dagrt.sum
        np_zeros, np_sum = numpy.zeros, numpy.sum

    h = Holder()
    assert (h.zeros(2) == 0).all() and (h.np_zeros(2) == 0).all()  # built-ins: not bound
    assert h.sum() is h and h.np_sum() is h  # Python functions: bound (np.sum(h) is h)


def test_now_functions_take_python_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common call makes no Python call; calls outside the run-now
    conditions (a refused keyword, a positional ``out``, a first argument
    that is no dagrt array, keywords for a contraction, plans checked) take
    the Python implementation, with NumPy's results."""
    calls: list[str] = []

    def spy(name: str) -> None:
        f = getattr(dagrt, name)
        impl = f._call
        monkeypatch.setattr(f, "_call", lambda *a, **k: (calls.append(name), impl(*a, **k))[1])

    for name in ("zeros", "sum", "dot", "cumsum", "unique", "array", "concatenate"):
        spy(name)
    v, w = dagrt.arange(4.0), dagrt.zeros(4)
    with dagrt.config(check_plans=False):
        calls.clear()
        dagrt.zeros(3), dagrt.sum(v), v.sum(axis=0), dagrt.dot(v, v), dagrt.cumsum(v)
        dagrt.unique(v), dagrt.array([1.0, 2.0]), dagrt.array([v, v]), dagrt.concatenate([v, v])
        dagrt.concatenate([v, v], axis=0)
        assert calls == []
        assert dagrt.array(v, copy=False) is v and calls[-1] == "array"
        assert dagrt.concatenate([v, v], 0).shape == (8,) and calls[-1] == "concatenate"
        calls.clear()
        assert dagrt.zeros(3, device="cpu").shape == (3,) and calls == ["zeros"]
        assert dagrt.sum([1, 2]) == 3 and calls[-1] == "sum"
        assert dagrt.cumsum(v, 0, None, w) is w and calls[-1] == "cumsum"  # positional out
        o = dagrt.empty(())
        assert dagrt.dot(v, v, out=o) is o and calls[-1] == "dot"
        calls.clear()
        with dagrt.config(check_plans=True):
            dagrt.sum(v)
        assert calls == ["sum"]
        dagrt.sum(v)
        assert calls == ["sum"]


def test_numpy_reads_dtypes_it_cannot_read_from_an_interface_through_array() -> None:
    """NumPy 2's ``StringDType`` (its array interface: TypeError in
    ``numpy.asarray``) and user dtypes (read back as ``'V8'``): no array
    interface, so ``numpy.asarray(x)`` takes ``__array__``, NumPy's array."""
    from numpy._core._rational_tests import rational

    for values, dtype in ((["a", "bc"], numpy.dtypes.StringDType()),
                          ([rational(1), rational(2)], numpy.dtype(rational))):
        x = dagrt.array(values, dtype=dtype)
        got = numpy.asarray(x)
        assert got.dtype == dtype and got.tolist() == values and numpy.shares_memory(got, x._data)
        assert not hasattr(x, "__array_interface__")
    assert dagrt.ones(2).__array_interface__["shape"] == (2,)
