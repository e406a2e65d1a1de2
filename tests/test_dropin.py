"""Issue 12's classes of drop-in differences, each pinned under every engine:
NumPy's results for ``==`` without a loop, ``**`` with NumPy's special-cased
exponents, ``clip`` without bounds, ``fft`` with ``out=`` and ``s=-1``, the
layout of ``*_like``, argument errors at the call, the public submodule paths
and the protocol methods generic code calls.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy
import pytest
from conftest import make, run_xp

import dagrt

HERE_DAGRT = Path(dagrt.__file__).parent

def _f_order(xp: Any) -> Any:
    return xp.asfortranarray(make(xp, (3, 4), "float64"))


def _permuted(xp: Any) -> Any:
    return make(xp, (2, 3, 4), "float64").transpose(1, 2, 0)


CASES = {
    "eq_str": lambda xp: (xp.ones(3) == "a", xp.ones(3) != "a", "a" == xp.ones(3)),
    "eq_void": lambda xp: (xp.zeros(2, "V4") == xp.zeros(2, "V4"),
                           xp.zeros(2, "V4") != xp.zeros(2, "V4")),
    "eq_pending_str": lambda xp: (xp.arange(3.0) * 2) == "x",
    "clip_no_bounds": lambda xp: (xp.clip(xp.arange(5)), xp.clip(xp.arange(5.0), None, None)),
    "bool_pow_2": lambda xp: (xp.ones(3, bool) ** 2, xp.arange(3, dtype=xp.uint8) ** 2),
    "reflected_pow": lambda xp: (2 ** xp.arange(4.0), 0.5 ** xp.arange(4.0),
                                 -1 ** xp.arange(4.0), 2 ** xp.arange(4)),
    "fftn_repeated_axes": lambda xp: [
        getattr(xp.fft, name)(make(xp, (4, 6), "complex128" if name != "rfftn" else "float64"),
                              s=s, axes=axes)
        for name in ("fftn", "rfftn", "irfftn") for axes, s in (
            ((0, 0, 1), (10, 20, 40)), ((0, 0, 1), (1, 4, 1)), ((1, 1), None),
            ((1, 0, 1), None), ((0, 1), (-1, 5)))],
    "fft2_out": lambda xp: _fft_out(xp, "fft2", (4, 4), complex),
    "fft2_out_complex64": lambda xp: _fft_out(xp, "fft2", (4, 4), numpy.complex64),
    "rfft_out": lambda xp: _fft_out(xp, "rfft", (4, 3), complex),
    "fftn_s_minus_one": lambda xp: xp.fft.fftn(make(xp, (3, 4), "float64"), s=(-1, 5),
                                               axes=(0, 1)),
    "fftn_s_without_axes_warns": lambda xp: xp.fft.fftn(xp.ones((3, 4)), s=(3, 5)),
    "irfftn_s_minus_one": lambda xp: xp.fft.irfftn(make(xp, (3, 4), "complex128"),
                                                   s=(-1, -1), axes=(0, 1)),
    "like_keeps_layout": lambda xp: [
        (f(x), f(x).strides) for f in (xp.zeros_like, xp.ones_like, xp.empty_like,
                                       lambda a: xp.full_like(a, 7))
        for x in (_f_order(xp), _permuted(xp), _f_order(xp)[::2])][:1] + [
        f(x).strides for f in (xp.zeros_like, xp.ones_like, xp.empty_like,
                               lambda a: xp.full_like(a, 7, dtype=int))
        for x in (_f_order(xp), _permuted(xp), _f_order(xp)[::2])],
    "concatenate_out_and_dtype": lambda xp: xp.concatenate(
        [xp.ones(2)], out=xp.zeros(2), dtype=float),
    "stack_out_and_dtype": lambda xp: xp.stack([xp.ones(2)], out=xp.zeros((1, 2)), dtype=float),
    "fft_out_wrong_shape": lambda xp: xp.fft.fft2(xp.ones((4, 4)), out=xp.zeros((4, 3), complex)),
    "fft_out_wrong_kind": lambda xp: xp.fft.fft2(xp.ones((4, 4)), out=xp.zeros((4, 4))),
    "sliding_window_view": lambda xp: _windows(xp),
    "repr_of_0d": lambda xp: [repr(v) for v in _zero_d(xp)],
    "astype_unsized_string": lambda xp: [(xp.array(v).astype(t), xp.array(v).astype(t).dtype)
                                         for v in (1.0, 3, True, [1, "ab"]) for t in "US"],
    "concatenate_casting": lambda xp: xp.concatenate(
        (xp.array([1.1, 2.2]), xp.array([3.3])), out=xp.empty(3, "f4"), casting="no"),
    "concatenate_string_from_object": lambda xp: xp.concatenate(([None], [1]), dtype="S"),
    "hstack_casting_dtype": lambda xp: xp.hstack(
        (xp.array([1, 2]), xp.array([2.5])), casting="safe", dtype=xp.int64),
    "array_wrap": lambda xp: (xp.arange(3.0).__array_wrap__(numpy.arange(2)),
                              xp.arange(3.0).__array_wrap__(numpy.array(2.0), None, True)),
}


def _zero_d(xp: Any) -> list[Any]:
    """0-d results: NumPy's scalars where NumPy gives scalars (pending or not),
    0-d arrays where it gives arrays."""
    x = xp.arange(6.0) * 2
    return [x.sum(), xp.array(1.0), x[2], x[...], xp.ones(()), (x * 1).reshape(2, 3)[0, 1],
            xp.asarray(3) + 1, xp.linalg.det(xp.eye(2) * 2), xp.array(1.0).astype("U")]


def _fft_out(xp: Any, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
    out = xp.zeros(shape, dtype)
    result = getattr(xp.fft, name)(make(xp, (4, 4), "float64"), out=out)
    return result is out, out


def _windows(xp: Any) -> Any:
    stride_tricks = importlib.import_module(f"{xp.__name__}.lib.stride_tricks")
    x = xp.arange(10.0) * 2  # pending under the scheduling engines
    w = stride_tricks.sliding_window_view(x, 3)
    s = stride_tricks.as_strided(x, (3, 3), (8, 8))
    s[0, 1] = -1.0  # writes x[1] (as_strided aliases, as NumPy's)
    x[5] = 100.0  # the windows alias x
    return w.sum(axis=1), w.flags.writeable, x, w[4]


@pytest.mark.parametrize("case", list(CASES))
def test_dropin(case: str, engine: str) -> None:
    run_xp(CASES[case])


SUBMODULES = ["testing", "ma", "polynomial", "polynomial.polynomial", "typing", "exceptions",
              "dtypes", "char", "strings", "rec", "ctypeslib", "lib", "lib.stride_tricks",
              "lib.scimath", "lib.npyio", "lib.array_utils", "lib.mixins", "lib.format",
              "linalg", "fft", "random"]


@pytest.mark.parametrize("name", SUBMODULES)
def test_public_submodule_paths_import(name: str) -> None:
    """``import dagrt.<path>`` works wherever ``import numpy.<path>`` does."""
    np_module = importlib.import_module(f"numpy.{name}")
    module = importlib.import_module(f"dagrt.{name}")
    public = [n for n in getattr(np_module, "__all__", dir(np_module)) if not n.startswith("_")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert all(hasattr(module, n) for n in public[:50])
    if not (HERE_DAGRT / (name.replace(".", "/") + ".py")).exists() and \
            not (HERE_DAGRT / name.replace(".", "/")).is_dir():
        assert module is np_module  # NumPy's own, not a second copy of it
        assert np_module.__spec__.name == f"numpy.{name}"


def test_missing_submodule_still_raises() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("dagrt.no_such_module")


def test_from_imports_of_numpy_paths() -> None:
    from dagrt.lib.array_utils import normalize_axis_index
    from dagrt.polynomial import Polynomial

    from dagrt.testing import assert_allclose

    assert normalize_axis_index(-1, 3) == 2
    from dagrt.testing import _gen_alignment_data  # NumPy's private helpers too

    assert _gen_alignment_data is numpy.testing._gen_alignment_data
    assert dagrt.__config__ is numpy.__config__
    assert dagrt.lib.stride_tricks.as_strided(dagrt.arange(4.0), (2,), (16,)).tolist() == [0, 2]
    assert Polynomial([1, 2])(dagrt.asarray(2.0)) == 5.0
    assert_allclose(dagrt.arange(3.0), [0, 1, 2])


def test_array_namespace_info() -> None:
    info = dagrt.__array_namespace_info__()
    np_info = numpy.__array_namespace_info__()
    assert info.default_device() in info.devices() and dagrt.cpu() in info.devices()
    assert info.capabilities() == np_info.capabilities()
    assert info.default_dtypes() == np_info.default_dtypes()
    assert info.dtypes(kind="integral") == np_info.dtypes(kind="integral")


def test_protocol_methods() -> None:
    """What generic code and type annotations call on an array type."""
    assert dagrt.ndarray[Any, numpy.dtype[numpy.float64]] is not None  # annotations
    x = dagrt.arange(3.0)
    with pytest.raises(ValueError, match="cannot delete array elements"):
        del x[0]
    assert x.__array_finalize__(None) is None
    y = dagrt.ndarray.__new__(dagrt.ndarray, (0,))  # (as NumPy's pickles: shape given)
    y.__setstate__(numpy.arange(4.0).__reduce__()[2])
    numpy.testing.assert_array_equal(y, numpy.arange(4.0))
    numpy.testing.assert_array_equal(pickle.loads(pickle.dumps(x + 1)), [1.0, 2.0, 3.0])


def test_ufuncs_equal_numpys() -> None:
    """Code that finds ufuncs in lists, sets and dicts finds dagrt's."""
    assert dagrt.add == numpy.add and numpy.add == dagrt.add and dagrt.add != numpy.subtract
    assert hash(dagrt.sin) == hash(numpy.sin) and {numpy.sin: 1}[dagrt.sin] == 1
    ops = [numpy.sin, numpy.cos]
    ops.remove(dagrt.sin)
    assert ops == [numpy.cos] and dagrt.cos in ops
    assert pickle.loads(pickle.dumps(dagrt.add)) is dagrt.add
    assert dagrt.abs is dagrt.absolute and dagrt.add.nin == 2


@pytest.mark.skipif(sys.version_info < (3, 12), reason="the buffer protocol in Python: PEP 688")
def test_buffer_protocol() -> None:
    x = dagrt.arange(4.0) * 2  # pending under the scheduling engines
    assert memoryview(x).tolist() == [0.0, 2.0, 4.0, 6.0]
    assert bytes(dagrt.arange(3, dtype="u1")) == b"\x00\x01\x02"
