"""Differences from NumPy found by running NumPy's own tests (the 30 files of
``python tests/numpy_suite.py``, and others with ``--files``) with ``np``
bound to dagrt; each case pins down one fix, compared with NumPy under every
engine.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy
import pytest
from conftest import run_xp

import dagrt


def raises_as_numpy(program: Any) -> None:
    """``program(xp)`` raises the same exception type under NumPy and dagrt, at the call."""
    with pytest.raises(Exception) as theirs:
        program(numpy)
    with pytest.raises(theirs.type) as ours:
        program(dagrt)
    assert str(ours.value) == str(theirs.value)


MEANS = {
    # NumPy's mean of float16 sums in float32; into a float16 out= it would
    # sum in float16 and overflow past 65504 (a deferred mean did that)
    "whole": lambda xp: xp.mean(xp.ones(100_000, dtype="float16")),
    "method": lambda xp: xp.ones(100_000, dtype="float16").mean(),
    "rows": lambda xp: xp.ones((4, 100_000), dtype="float16").mean(axis=1),
    "rows_chunked": lambda xp: xp.ones((300_000, 4), dtype="float16").mean(axis=1),
    "columns": lambda xp: xp.ones((100_000, 3), dtype="float16").mean(axis=0),
    "dtype": lambda xp: xp.ones(100_000, dtype="float16").mean(dtype=xp.float32),
}


@pytest.mark.parametrize("case", sorted(MEANS))
@pytest.mark.parametrize("inline", [True, False])
def test_float16_mean_sums_in_float32(case: str, inline: bool, engine: str) -> None:
    with dagrt.config(inline_bytes=65536 if inline else 0):
        run_xp(MEANS[case], rtol=1e-3)


WHERE = {
    "none_values": lambda xp: xp.where(True, None, None),
    "none_one_side": lambda xp: xp.where(xp.array([True, False]), None, 1),
    "one_argument": lambda xp: xp.where(xp.array([0, 3, 0, 5])),
    "arrays": lambda xp: xp.where(xp.arange(4) > 1, xp.arange(4), -xp.arange(4)),
}


@pytest.mark.parametrize("case", sorted(WHERE))
def test_where_takes_none_as_a_value(case: str, engine: str) -> None:
    run_xp(WHERE[case])


@pytest.mark.parametrize("program", [
    lambda xp: xp.where(xp.zeros(1), x=xp.zeros(1), y=xp.zeros(1)),  # positional only
    lambda xp: xp.where(xp.zeros(1), xp.zeros(1)),
    lambda xp: xp.hypot(1, 2, 3, 4),  # more positional arguments than inputs and outputs
    lambda xp: xp.sin(1.0, None, None),
    lambda xp: xp.modf(1.0, None, None, None),
], ids=["where_keywords", "where_one_of_two", "hypot_4", "sin_3", "modf_4"])
def test_argument_errors_as_numpy(program: Any, engine: str) -> None:
    raises_as_numpy(program)


def test_positional_outputs_fewer_than_nout(engine: str) -> None:
    def program(xp: Any) -> Any:
        o = xp.zeros(3)
        frac, whole = xp.modf(xp.array([1.5, 2.25, -3.0]), o)  # the second output new
        return frac, whole, o, frac is o
    run_xp(program)


@pytest.mark.parametrize("out", [
    lambda xp: xp.empty((32, 1024)).T,  # not C-contiguous
    lambda xp: xp.empty((1024, 64))[:, ::2],
    lambda xp: xp.empty((1024, 32), dtype=xp.float32),  # not the result's dtype
    lambda xp: xp.empty((1024, 31)),
], ids=["transposed", "strided", "float32", "shape"])
@pytest.mark.parametrize("inline", [True, False])
def test_dot_out_must_be_a_c_array(out: Any, inline: bool, engine: str) -> None:
    with dagrt.config(inline_bytes=65536 if inline else 0):
        raises_as_numpy(lambda xp: xp.dot(xp.ones((1024, 16)), xp.ones((16, 32)), out(xp)))


def test_dot_out_aliasing_an_input(engine: str) -> None:
    def program(xp: Any) -> Any:
        a = xp.arange(9.0).reshape(3, 3)
        b = xp.ones((3, 3)) * 2
        result = xp.dot(a, b, out=b)
        return result, b, result is b
    run_xp(program)


def test_frombuffer_shares_the_buffer() -> None:
    """NumPy's frombuffer is a view of the buffer: read-only on bytes (writes
    raise), writing through to a bytearray, and seeing its changes."""
    ro = dagrt.frombuffer(b"\x00" * 10, "B")
    assert not ro.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        ro[0] = 1
    with pytest.raises(ValueError):
        ro.setflags(write=True)
    buffer = bytearray(8)
    w = dagrt.frombuffer(buffer, "B")
    w[1] = 7
    assert buffer[1] == 7
    buffer[2] = 9
    assert w[2] == 9 and int((w + 1)[2]) == 10
    w *= 2
    assert bytes(buffer[:3]) == b"\x00\x0e\x12"


@pytest.mark.parametrize("program", [
    lambda xp: xp.array([1, 2, 3], ndmax=0, dtype=object),
    lambda xp: xp.array([[1, 2], [3, 4]], ndmax=1, dtype=object),
    lambda xp: xp.array([[1, 2], [3, 4]]),
], ids=["ndmax_0", "ndmax_1", "default"])
def test_array_ndmax(program: Any) -> None:
    run_xp(program)


def test_random_state_class_constants() -> None:
    assert dagrt.random.RandomState()._poisson_lam_max == \
        numpy.random.RandomState()._poisson_lam_max
    with pytest.raises(AttributeError):
        dagrt.random.RandomState()._no_such_thing  # noqa: B018


class _ArrayLike:
    """A user's class written with ``import dagrt as np``: its ``__array__``
    gives a dagrt array, which NumPy's own conversion refuses."""

    def __init__(self, xp: Any, values: Any) -> None:
        self.xp, self.values = xp, values

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        return self.xp.asarray(self.values, dtype=dtype)


def _setitem(xp: Any, key: Any, value: Any) -> Any:
    x = xp.arange(5.0)
    x[key] = value
    return x


ARRAY_LIKES = {
    "index": lambda xp, a, i: xp.arange(3.0)[i],
    "index_tuple": lambda xp, a, i: xp.arange(6.0).reshape(2, 3)[1, i],
    "setitem_key": lambda xp, a, i: _setitem(xp, i, -1.0),
    "setitem_value": lambda xp, a, i: _setitem(xp, slice(0, 3), a),
    "zeros_like": lambda xp, a, i: xp.zeros_like(a),
    "full_like": lambda xp, a, i: xp.full_like(a, 7),
    "sin": lambda xp, a, i: xp.sin(a),
    "add": lambda xp, a, i: xp.arange(3.0) + a,
    "concatenate": lambda xp, a, i: xp.concatenate([a, a]),
    "mean": lambda xp, a, i: xp.mean(a),
    "unique": lambda xp, a, i: xp.unique(a),
    "nested": lambda xp, a, i: xp.array([a, a]),
    "nested_deeper": lambda xp, a, i: xp.array([[a], [a]], dtype=xp.float32),
    "nested_mixed": lambda xp, a, i: xp.array([a, [4, 5, 6], xp.arange(3)]),
}


@pytest.mark.parametrize("case", sorted(ARRAY_LIKES))
def test_array_like_giving_dagrt_arrays(case: str, engine: str) -> None:
    run_xp(lambda xp: ARRAY_LIKES[case](xp, _ArrayLike(xp, [3.0, 1.0, 2.0]),
                                        _ArrayLike(xp, [0, 2])))


class _Deferring:
    """An operand that claims a higher ``__array_priority__`` than an ndarray
    (and has no ``__array_ufunc__``): NumPy's operators return NotImplemented."""

    __array_priority__ = 1002

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise RuntimeError("NumPy's operators must not convert this operand")

    def __radd__(self, other: Any) -> str:
        return "radd"


OPERATORS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "lt": lambda a, b: a < b,
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
}


@pytest.mark.parametrize("size", [3, 100_000])
@pytest.mark.parametrize("op", sorted(OPERATORS) + ["iadd", "isub"])
def test_operators_defer_to_a_higher_array_priority(op: str, size: int) -> None:
    def program(xp: Any) -> Any:
        a = xp.arange(size)
        if op == "iadd":
            a += _Deferring()
            return a
        if op == "isub":
            a -= _Deferring()
            return a
        return OPERATORS[op](a, _Deferring())
    try:
        expected = program(numpy)
    except TypeError:
        with pytest.raises(TypeError):
            program(dagrt)
    else:
        assert program(dagrt) == expected


def test_array_of_named_tuples(engine: str) -> None:
    import collections

    point = collections.namedtuple("point", "x y")
    run_xp(lambda xp: xp.array([point(1, 2), point(3.0, 4)]))
    run_xp(lambda xp: xp.array([[point(1, 2)], [point(3, xp.float64(4))]]))
    run_xp(lambda xp: xp.array([point(xp.ones(3), xp.arange(3) * 2)]))


def test_copy_module_keeps_the_layout(engine: str) -> None:
    import copy

    for copier in (copy.copy, copy.deepcopy):
        run_xp(lambda xp, c=copier: c(xp.empty((2, 2), order="F")).flags.f_contiguous)
        run_xp(lambda xp, c=copier: c(xp.arange(60.0).reshape(3, 4, 5).transpose(1, 0, 2)
                                      ).strides)


def test_array_namespace_versions() -> None:
    a = dagrt.arange(3)
    for version in (None, "2021.12", "2023.12", "2024.12"):
        assert a.__array_namespace__(api_version=version) is dagrt
    raises_as_numpy(lambda xp: xp.arange(3).__array_namespace__(api_version="2099.12"))
    raises_as_numpy(lambda xp: xp.arange(3).__array_namespace__(api_version=2024))


# -- random (NumPy's random/tests) ----------------------------------------------------------

def _fill(xp: Any, method: str, order: str, dtype: str, *params: Any) -> Any:
    g = xp.random.default_rng(7)
    out = xp.zeros((200, 300), dtype=dtype, order=order)
    assert getattr(g, method)(*params, out=out, dtype=dtype) is out
    first = out.copy()
    part = out[:100] if order == "C" else out[:, :100]
    assert getattr(g, method)(*params, out=part, dtype=dtype, size=part.shape) is part
    return first, out, g.random()  # (and the draws after, in order)


@pytest.mark.parametrize("method", ["random", "standard_normal", "standard_exponential",
                                    "standard_gamma"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["f4", "f8"])
def test_generator_out(method: str, order: str, dtype: str, engine: str) -> None:
    params = (2.5,) if method == "standard_gamma" else ()
    run_xp(lambda xp: _fill(xp, method, order, dtype, *params))


GENERATOR_ERRORS = {
    "out_dtype": lambda xp: xp.random.default_rng(1).random(out=xp.empty(3, "f4")),
    "out_size": lambda xp: xp.random.default_rng(1).random(out=xp.empty(3), size=4),
    "out_strided": lambda xp: xp.random.default_rng(1).random(out=xp.empty((4, 2))[:, 0]),
    "out_readonly": lambda xp: xp.random.default_rng(1).standard_normal(
        out=xp.broadcast_to(xp.zeros(3), (2, 3))),
    "gamma_out_f": lambda xp: xp.random.default_rng(1).standard_gamma(
        [1, 2, 3], out=xp.empty((2, 3), order="F")),
    "choice_p_none": lambda xp: xp.random.default_rng(1).choice(xp.arange(3), 4, p=[None] * 3),
    "bit_generator_class": lambda xp: xp.random.Generator(xp.random.MT19937),
    "shuffle_0d": lambda xp: xp.random.default_rng(1).shuffle(xp.array(3)),
    "size_mismatch": lambda xp: xp.random.default_rng(1).normal(
        xp.ones(3), xp.ones((4, 3)), size=(10, 4, 2)),
    "size_not_output": lambda xp: xp.random.default_rng(1).standard_gamma(
        xp.ones((4, 3)), size=3),
}


@pytest.mark.parametrize("case", sorted(GENERATOR_ERRORS))
def test_generator_errors(case: str) -> None:
    raises_as_numpy(GENERATOR_ERRORS[case])


def _pending_params(xp: Any) -> Any:
    low = xp.zeros(100_000, dtype=xp.int64) + 5  # (ones would be refused: low >= high)
    g = xp.random.default_rng(xp.arange(4))
    p = xp.ones(4) / 4
    return (g.integers(low, low + 3), g.choice(4, 6, p=p * 1), g.zipf(xp.full(3, 2.0) + 1),
            g.integers(0, 0, size=(3, 0, 4)), g.integers(10, 10, size=0),
            xp.random.RandomState(xp.arange(3)).random(), g._poisson_lam_max)


def test_generator_parameters_not_known_yet(engine: str) -> None:
    run_xp(_pending_params)


# -- io (NumPy's lib/tests/test_io.py) -------------------------------------------------------

def _mmap_writes(xp: Any, path: Any) -> Any:
    xp.save(path, xp.arange(200_000.0).reshape(2, -1))
    b = xp.load(path, mmap_mode="r+")
    b[0][0] = 5.0
    b[1] *= 2.0  # (large enough to be deferred)
    xp.sin(b[0], out=b[0])
    del b
    after = xp.asarray(numpy.load(path))  # NumPy's own read of the file, at once
    c = xp.load(path, mmap_mode="r")
    with pytest.raises(ValueError, match="read-only"):
        c[0] = 1.0
    return after, c[:, :3], (c * 1).sum()


def test_load_mmap_writes_reach_the_file(tmp_path: Any, engine: str) -> None:
    run_xp(lambda xp: _mmap_writes(xp, tmp_path / f"{xp.__name__}.npy"))


def test_genfromtxt_masked_result() -> None:
    import io

    text = "A,B\n0,1.5\n2,-999.00"
    for xp in (numpy, dagrt):
        test = xp.genfromtxt(io.StringIO(text), dtype=None, delimiter=",",
                             missing_values="-999.0", names=True, usemask=True)
        assert isinstance(test, numpy.ma.MaskedArray)
        assert test.mask.tolist() == [(False, False), (False, True)]


# -- array creation and conversion (NumPy's _core/tests/test_api.py, test_array_coercion.py) ---

def _astype_no_copy(xp: Any, size: int) -> Any:
    a = xp.arange(size, dtype="f4").reshape(2, -1) * 1
    same = a.astype("f4", copy=False) is a
    f = a.astype("f4", order="F", copy=False)  # the layout asked for: a copy
    t = a.T.astype("f4", order="F", copy=False)
    return same, f is a, f.flags.f_contiguous, f, t.flags.f_contiguous


@pytest.mark.parametrize("size", [6, 600_000])
def test_astype_copy_false_keeps_the_order_asked(size: int, engine: str) -> None:
    run_xp(lambda xp: _astype_no_copy(xp, size))
    raises_as_numpy(lambda xp: xp.arange(3).astype(xp.float64, copy=xp._CopyMode.NEVER))
    raises_as_numpy(lambda xp: xp.astype(xp.arange(3), xp.float64, copy=xp._CopyMode.ALWAYS))


def test_list_holding_itself() -> None:
    def program(xp: Any) -> Any:
        items: list[Any] = []
        items.append(items)
        arr = xp.array([items, items, items], dtype=object)
        target = xp.zeros(1, dtype=object)
        target[...] = [xp.arange(2)]
        return arr.shape, target.shape
    assert program(dagrt) == program(numpy)


# -- NEP 18 and NEP 35 (NumPy's _core/tests/test_overrides.py, lib/tests/test_mixins.py) -----

class _Duck:
    """A duck array (NEP 18): it implements NumPy's functions it knows."""

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in (numpy.sum, numpy.concatenate, numpy.zeros, numpy.reshape, numpy.dot):
            return ("duck", func.__name__)
        return NotImplemented


DUCK_CALLS = {
    "sum": lambda xp, d: xp.sum(d),
    "concatenate": lambda xp, d: xp.concatenate([xp.ones(2), d]),
    "zeros_like": lambda xp, d: xp.zeros(3, like=d),
    "reshape": lambda xp, d: xp.reshape(d, (3, 1)),
    "dot": lambda xp, d: xp.dot(xp.ones(2), d),
    "method": lambda xp, d: xp.ones(3).sum(),
}


@pytest.mark.parametrize("case", sorted(DUCK_CALLS))
def test_functions_dispatch_to_duck_arrays(case: str) -> None:
    assert DUCK_CALLS[case](dagrt, _Duck()) == DUCK_CALLS[case](numpy, _Duck())


def test_duck_arrays_refusing() -> None:
    raises_as_numpy(lambda xp: xp.mean(_Duck()))  # (NotImplemented: NumPy's TypeError)
    for xp in (numpy, dagrt):  # (NumPy's message names the types: dagrt's array here)
        with pytest.raises(TypeError, match="no implementation found for 'numpy.stack'"):
            xp.stack([xp.ones(2), _Duck()])
    raises_as_numpy(lambda xp: xp.ones(3, like=1))  # ``like=`` without the protocol
    for like in (None, dagrt.ones(2), numpy.ones(2)):
        assert type(dagrt.ones(3, like=like)) is dagrt.ndarray
        assert type(dagrt.array([1, 2], like=like)) is dagrt.ndarray


class _Units:
    """A units-like type (NEP 13) built on NumPy's operator mixin."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = tuple(x.value if isinstance(x, _Units) else x for x in inputs)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        return None if method == "at" else _Units(result)


def test_gufunc_and_ufunc_methods_dispatch() -> None:
    for xp in (numpy, dagrt):
        product = xp.matmul(_Units(xp.array([1.0, 2.0])), xp.array([1.0, 2.0]))
        assert isinstance(product, _Units) and float(product.value) == 5.0
        assert isinstance(xp.array([1.0, 2.0]) @ _Units(xp.array([1.0, 2.0])), _Units)
        units = _Units(xp.array([1, 2, 3, 4]))
        assert xp.negative.at(units, xp.array([0, 1])) is None
        assert list(units.value) == [-1, -2, 3, 4]


def test_stringdtype_elements() -> None:
    def program(xp: Any) -> Any:
        a = xp.array(["abc", "de", ""], dtype=numpy.dtypes.StringDType(na_object=numpy.nan))
        a[1] = "xyz" * 50
        a[2] = numpy.nan
        a[0] = 1.5  # (NumPy's conversion)
        return a[0], a[1], bool(numpy.isnan(a[2]))
    assert program(dagrt) == program(numpy)


def test_divmod_and_matmul_defer_to_array_ufunc_none() -> None:
    from numpy.polynomial import Polynomial

    p = Polynomial([1, 2, 3])
    for xp in (numpy, dagrt):
        quotient, remainder = divmod(xp.array(2.0), p)
        assert isinstance(quotient, Polynomial) and list(remainder.coef) == [2.0]
        with pytest.raises(TypeError):
            xp.ones(2) @ p


def test_eager_functions_take_named_tuples(engine: str) -> None:
    import collections

    pair = collections.namedtuple("pair", "x y")
    run_xp(lambda xp: [tuple(map(float, v)) for v in xp.nditer(pair(xp.arange(3.0), xp.ones(3)))])
    run_xp(lambda xp: xp.unique(pair(xp.arange(3), xp.arange(3))))


def test_matrix_transpose_attribute_is_a_view(engine: str) -> None:
    """``x.mT`` was NumPy's attribute of the storage: a NumPy array, so a write
    through it bypassed dagrt's ordering (and a pending ``x`` was read early)."""
    def program(xp: Any) -> Any:
        x = xp.arange(24.0).reshape(2, 3, 4)
        y = x.mT
        y[0, 1, 2] = -1.0
        x += 1
        return [x, y, y.flags.c_contiguous, type(y) is type(x)]
    run_xp(lambda xp: program(xp))
    raises_as_numpy(lambda xp: xp.arange(3.0).mT)


def test_array_function_checks_its_arguments() -> None:
    """``x.__array_function__(func, types, args, kwargs)`` with ``args`` not a
    tuple or ``kwargs`` not a dict: NumPy's TypeError (an AttributeError before)."""
    raises_as_numpy(lambda xp: xp.array([1, 2]).__array_function__(
        numpy.reshape, (xp.ndarray,), xp.array([1, 2]), (2, 1)))
    raises_as_numpy(lambda xp: xp.array([1, 2]).__array_function__(
        numpy.reshape, (xp.ndarray,), (xp.array([1, 2]),), (2, 1)))


@pytest.mark.parametrize("make", [
    lambda xp: (xp.arange(60.0) * 2).reshape(3, 4, 5).transpose(1, 0, 2),
    lambda xp: (xp.arange(60.0) * 2).reshape(3, 4, 5)[:, ::2].transpose(2, 0, 1),
    lambda xp: (xp.arange(24.0) * 2).reshape(4, 6)[::2, ::3].T])
def test_copy_in_k_order_keeps_the_axes_order(engine: str, make: Any) -> None:
    """``x.copy(order="K")`` and ``x.astype(dt)`` of a pending permuted array
    (and every copy without the compiled base, ``DAGRT_NATIVE=0``) took C
    order where NumPy keeps the order of the axes in memory."""
    run_xp(lambda xp: [(c := make(xp).copy(order="K")).strides, c,
                       (t := make(xp).astype("float32")).strides, t])


MASKED = ["np.mean(mx)", "mx.mean()", "np.sum(mx)", "np.sin(mx)", "np.add(mx, x)", "x + mx",
          "mx + x", "np.concatenate([mx, mx])", "np.maximum.reduce(mx)", "np.std(mx)",
          "np.where(mx > 2, mx, 0)", "np.clip(mx, 0, 3)", "np.cumsum(mx)", "np.argmax(mx)",
          "np.max(mx)", "np.exp(mx).sum()", "np.abs(mx)", "np.average(mx)", "np.var(mx)",
          "x[mx > 2]", "np.ma.mean(x)", "np.nanmean(mx)"]


@pytest.mark.parametrize("expression", MASKED)
def test_masked_arrays_get_numpys_functions(expression: str) -> None:
    """A masked array given to a dagrt function, ufunc or operator: NumPy's
    result (its mask honoured); dagrt computed on the data, ignoring the
    mask (``np.mean(mx)`` of scipy-lectures' "Advanced NumPy": -17.6, not 2.75)."""
    def program(xp: Any) -> Any:
        x = xp.array([1, 2, 3, -99, 5])
        mx = numpy.ma.MaskedArray(numpy.array([1, 2, 3, -99, 5]), mask=[0, 0, 0, 1, 0])
        return eval(expression, {"np": xp, "x": x, "mx": mx})  # noqa: S307
    ours, theirs = program(dagrt), program(numpy)
    assert type(ours) is type(theirs) or isinstance(ours, dagrt.ndarray)
    assert repr(numpy.ma.asarray(ours) if isinstance(theirs, numpy.ma.MaskedArray) else
                numpy.asarray(ours)) == repr(theirs if isinstance(
                    theirs, numpy.ma.MaskedArray) else numpy.asarray(theirs))


def test_setting_dtype_reinterprets_in_place(engine: str) -> None:
    """``x.dtype = "<i2"`` (scipy-lectures' "Advanced NumPy") raised
    AttributeError; views taken before keep reading the same memory."""
    def program(xp: Any) -> Any:
        x = xp.array([1, 2, 3, 4], dtype=xp.uint8)
        before = x[:2]
        x.dtype = "<i2"
        y = x.view("<i4")
        x[1] = 5
        return [x, y, before, x.dtype, x.shape]
    run_xp(lambda xp: program(xp))
    raises_as_numpy(lambda xp: setattr(xp.arange(3, dtype=xp.uint8), "dtype", "<i2"))
    raises_as_numpy(lambda xp: setattr(xp.ones((3, 4))[:, ::2], "dtype", "<i4"))


def test_a_list_numpy_returns_as_it_is_is_the_callers() -> None:
    """``np.diff(x, n=0) is x`` for a list ``x`` (NumPy's ``TestDiff.test_n``):
    the run-now case gave NumPy its own copy of the list, and returned that."""
    for xp in (numpy, dagrt):
        x, t = [0, 1, 2], (0, 1)
        assert xp.diff(x, n=0) is x and xp.diff(t, n=0) is t
        assert xp.diff(x).tolist() == [1, 1]


def test_solve_and_lstsq_take_the_class_of_b() -> None:
    """NumPy's ``solve``/``lstsq`` wrap with ``b``'s ``__array_wrap__``
    (``TestSolve.test_0_size``): a subclass's ``b`` gives its class."""
    for xp in (numpy, dagrt):
        class Sub(xp.ndarray):
            pass
        a, b = xp.eye(2) * 2.0, xp.ones((2, 1)).view(Sub)
        assert type(xp.linalg.solve(a, b)) is Sub and type(xp.linalg.solve(a[:0, :0], b[:0])) is Sub
        assert type(xp.linalg.solve(a.view(Sub), xp.ones(2))) is xp.ndarray
        assert type(xp.linalg.lstsq(a, b)[0]) is Sub


def test_a_tuple_subclass_is_an_index_of_several_axes(engine: str) -> None:
    """NumPy's ``TestIndexing.test_tuple_subclass``: ``arr[TupleSubclass(([1],
    [1]))]`` is ``arr[[1], [1]]``, not an index array of shape (2, 1); a named
    tuple too."""
    import collections

    class Key(tuple):
        __slots__ = ()
    Point = collections.namedtuple("Point", "row col")

    def program(xp: Any) -> Any:
        arr = xp.arange(25.0).reshape(5, 5)
        got = [arr[Key(([1], [1]))], arr[Key(([1], [1])),], arr[Point(1, 2)],
               arr[Point(slice(1, 3), [0, 1])]]
        arr[Key(([1], [2]))] = -1.0
        arr[Point(0, slice(None))] = 2.0
        return [*got, arr]
    run_xp(program)


@pytest.mark.parametrize("make", ["xp.arange(5, device={})", "xp.zeros(5, device={})",
                                  "xp.asarray([], device={})", "xp.empty_like([], device={})"])
def test_device_errors_are_numpys(make: str) -> None:
    """NumPy's ``TestDevice``: its messages (a test matching them passes on dagrt)."""
    for xp in (numpy, dagrt):
        arr = eval(make.format("'cpu'"), {"xp": xp})  # noqa: S307
        assert arr.device == "cpu" and arr.to_device("cpu") is arr
        with pytest.raises(ValueError, match=r'Device not understood. Only "cpu" is allowed, '
                                             r"but received: nonsense"):
            eval(make.format("'nonsense'"), {"xp": xp})  # noqa: S307
        with pytest.raises(AttributeError, match=r"attribute 'device' of '(numpy.|)ndarray' "
                                                 r"objects is not writable"):
            arr.device = "other"
        with pytest.raises(ValueError, match=r"The stream argument in to_device\(\) is not "):
            arr.to_device("cpu", stream=1)


def test_sizeof_counts_the_memory_an_array_owns() -> None:
    """NumPy's ``TestSizeOf``: ``sys.getsizeof`` (memory profilers) counts an
    array's data when it owns it; a view's is smaller (it was 64 bytes for all)."""
    import sys

    for xp in (numpy, dagrt):
        d = xp.ones(100)
        assert sys.getsizeof(d) > 800 and sys.getsizeof(d[...]) < sys.getsizeof(d)
        assert sys.getsizeof(d) < sys.getsizeof(d.reshape(100, 1, 1).copy())
        old = sys.getsizeof(d)
        d.resize(50)
        assert old > sys.getsizeof(d)
        d.resize(150)
        assert old < sys.getsizeof(d)
        with pytest.raises(TypeError):
            d.__sizeof__("a")


def test_pickles_are_numpys() -> None:
    """NumPy's ``TestPickling.test_non_contiguous_array`` and
    ``TestZeroSizeFlexible.test_pickle``: a non-contiguous array pickles its
    elements in-band with protocol 5 (dagrt gave an out-of-band buffer), and a
    field view of dtype ``S0``/``U0`` comes back as ``S0``/``U0`` (was ``S1``)."""
    for xp in (numpy, dagrt):
        for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
            a = xp.arange(12).reshape(3, 4)[:, :2]
            buffers: list[Any] = []
            back = pickle.loads(pickle.dumps(a, protocol=proto, buffer_callback=buffers.append
                                             if proto >= 5 else None))
            assert buffers == [] and back.tolist() == a.tolist() and type(back) is xp.ndarray
            for dt in ("S", "U"):
                zs = xp.zeros(10, dtype=[("x", dt, 0)])["x"]
                assert pickle.loads(pickle.dumps(zs, protocol=proto)).dtype == zs.dtype
            c = xp.arange(6.0).reshape(2, 3).T
            assert pickle.loads(pickle.dumps(c, protocol=proto)).flags.f_contiguous


@pytest.mark.parametrize("call", ["xp.matmul(a, b, out=(a,))", "xp.dot(a, b, out=c)",
                                  "xp.matmul(b[::-1], b, out=(a,))", "xp.add(a, b, out=(c,))"])
def test_out_given_as_a_tuple_returns_numpys(call: str) -> None:
    """``np.matmul(a, b, out=(c,))`` returns ``c`` (dagrt returned the tuple)."""
    for xp in (numpy, dagrt):
        g = {"xp": xp, "a": xp.arange(4.0).reshape(2, 2), "b": xp.ones((2, 2)),
             "c": xp.zeros((2, 2))}
        r = eval(call, g)  # noqa: S307
        out = g["a"] if "(a,)" in call else g["c"] if "out=c" in call else None
        assert type(r) is xp.ndarray and (out is None or r is out)


def test_docstring_examples_einsum_views_and_generator_repr() -> None:
    """Found running the Examples of NumPy's docstrings with ``np`` bound to
    dagrt: ``np.einsum('ii->i', a)[:] = 1`` wrote a copy (the run-now case copied
    NumPy's view of the input), ``np.diag(m)`` was a writeable copy (NumPy's is a
    read-only view), ``print(rng)`` showed dagrt's object, not ``Generator(PCG64)``."""
    for xp in (numpy, dagrt):
        a = xp.zeros((3, 3))
        xp.einsum("ii->i", a)[:] = 1
        assert a.tolist() == numpy.eye(3).tolist()
        m = xp.arange(9.0).reshape(3, 3)
        d = xp.diag(m)
        assert not d.flags.writeable and xp.shares_memory(d, m)
        assert xp.shares_memory(xp.einsum("ij->ji", m), m)
        for rng in (xp.random.default_rng(1), xp.random.RandomState(1)):
            assert str(rng) == str(rng._stream.impl if xp is dagrt else rng)
            assert repr(rng).startswith(str(rng) + " at 0x")
        assert str(xp.random.default_rng(0)) == "Generator(PCG64)"


@pytest.mark.filterwarnings("ignore::dagrt.FallbackWarning")
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # (NumPy's, for matrix)
def test_bmat_of_a_string_reads_the_callers_names() -> None:
    """``np.bmat('A,B; C,D')`` (its docstring's example): NumPy looks the names
    up in its caller's frame, which was dagrt's wrapper (NameError)."""
    A, B = numpy.ones((2, 2)), numpy.eye(2)  # noqa: N806 (the docstring's names)
    expected = numpy.asarray(numpy.bmat("A,B; B,A"))
    A, B = dagrt.asarray(A), dagrt.asarray(B)  # noqa: N806
    numpy.testing.assert_array_equal(numpy.asarray(dagrt.bmat("A,B; B,A")), expected)


def test_linalg_arguments_that_are_arrays_still_work() -> None:
    """``matrix_power(a, n)`` with a 0-d array ``n`` (NumPy takes it through
    ``operator.index``): the kept dtype probes must not need a hashable ``n``."""
    for xp in (numpy, dagrt):
        a = xp.eye(2) * 2
        assert xp.linalg.matrix_power(a, xp.array(3)).tolist() == [[8.0, 0.0], [0.0, 8.0]]
        with pytest.raises(TypeError, match="exponent must be an integer"):
            xp.linalg.matrix_power(a, 1.5)
