"""Every public NumPy name resolves in dagrt; docs/coverage.md is current."""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any

import numpy
import pytest

import dagrt
import dagrt.ops.table
from dagrt.tools import coverage as _coverage


@pytest.mark.parametrize("np_name,dg_name", list(_coverage.MODULES.items()))
def test_every_public_name_resolves(np_name: str, dg_name: str) -> None:
    np_mod = importlib.import_module(np_name)
    dg_mod = importlib.import_module(dg_name)
    missing = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dagrt.FallbackWarning)
        for name in _coverage.public_names(np_mod):
            if not hasattr(dg_mod, name):
                missing.append(name)
    assert missing == []


def test_coverage_doc_is_current() -> None:
    assert _coverage.DOC.read_text() == _coverage.document(), \
        "docs/coverage.md is stale: run `python -m dagrt docs`"


def test_every_table_function_is_lazy_or_eager_by_design() -> None:
    inv = _coverage.inventory()["numpy"]
    for d in dagrt.ops.table.OPS:
        if hasattr(numpy, d.name):
            expected = "eager" if d.kind == "eager" else "lazy"
            assert d.name in inv[expected], d.name


def test_types_and_constants_are_numpys() -> None:
    assert dagrt.float32 is numpy.float32 and dagrt.float32(1.5) == 1.5
    assert dagrt.pi == numpy.pi and dagrt.newaxis is None
    assert dagrt.integer is numpy.integer and dagrt.floating is numpy.floating
    assert dagrt.finfo(dagrt.float32).eps == numpy.finfo(numpy.float32).eps
    assert dagrt.dtype("f8") == numpy.float64
    assert isinstance(dagrt.ones(3), dagrt.ndarray)
    assert dagrt.testing.assert_raises is numpy.testing.assert_raises
    dagrt.testing.assert_equal(dagrt.arange(3.0).sum(), 3.0)  # accepts dagrt arrays


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # (NumPy's, for matrix)
def test_fallback_warns_once_and_works(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagrt.ops import fallback

    monkeypatch.setattr(fallback, "_warned", set())  # (another test may have called it)
    x = dagrt.arange(6.0).reshape(2, 3)
    with pytest.warns(dagrt.FallbackWarning, match="asmatrix"):
        first = dagrt.asmatrix(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", dagrt.FallbackWarning)
        second = dagrt.asmatrix(x)  # no second warning
    numpy.testing.assert_array_equal(numpy.asarray(first), numpy.asarray(second))
    assert isinstance(first, dagrt.ndarray)


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute"):
        dagrt.this_is_not_numpy  # noqa: B018


@pytest.mark.parametrize("name", ["string_", "float_", "NaN", "Inf"])
def test_names_numpy_removed_get_numpys_hint(name: str) -> None:
    """Python for Data Analysis, ch. 4 (2022): `np.string_` says to use `np.bytes_`."""
    with pytest.raises(AttributeError) as expected:
        getattr(numpy, name)
    with pytest.raises(AttributeError) as got:
        getattr(dagrt, name)
    assert str(got.value) == str(expected.value) and "removed" in str(got.value)


NDARRAY_NAMES = sorted(n for n in dir(numpy.ndarray) if not n.startswith("_"))


@pytest.mark.parametrize("name", NDARRAY_NAMES)
def test_every_ndarray_attribute_exists(name: str) -> None:
    x = dagrt.arange(6.0).reshape(2, 3)
    assert hasattr(x, name)


# dagrt's documented extensions (docs/architecture.md, "Differences from NumPy").
_SIGNATURE_EXTENSIONS = {
    ("numpy.random", "normal"), ("numpy.random", "uniform"),  # device= / ctx=
    ("numpy.random", "ranf"), ("numpy.random", "sample"),  # NumPy's aliases show (*args, **kwargs)
    ("numpy.ndarray", "__new__"),  # dagrt.ndarray(shape, dtype, buffer...) as numpy.ndarray
    ("numpy.ndarray", "__class_getitem__"),  # types.GenericAlias, as NumPy's
}


def _parameters(sig: inspect.Signature) -> list[tuple[str, Any, str]]:
    return [(p.name, p.kind, repr(p.default)) for p in sig.parameters.values()]


def _signature_cases() -> list[tuple[str, str]]:
    cases = []
    for np_name in _coverage.MODULES:
        module = importlib.import_module(np_name)
        for name in _coverage.public_names(module):
            obj = getattr(module, name)
            if callable(obj) and not isinstance(obj, type):
                cases.append((np_name, name))
    cases += [("numpy.ndarray", name) for name in dir(numpy.ndarray)
              if callable(getattr(numpy.ndarray, name))
              and not isinstance(getattr(numpy.ndarray, name), type)]
    return cases


@pytest.mark.parametrize("np_name,name", _signature_cases())
def test_signature_is_numpys(np_name: str, name: str) -> None:
    """``inspect.signature`` of every dagrt function and method shows NumPy's
    parameters (the array API tests and IDEs read them)."""
    np_obj = getattr(importlib.import_module(np_name) if np_name != "numpy.ndarray"
                     else numpy.ndarray, name)
    try:
        expected = inspect.signature(np_obj)
    except (TypeError, ValueError):
        pytest.skip("NumPy has no signature for it")
    dg_owner = dagrt.ndarray if np_name == "numpy.ndarray" else \
        importlib.import_module(_coverage.MODULES[np_name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dagrt.FallbackWarning)
        dg_obj = getattr(dg_owner, name)
    if (np_name, name) in _SIGNATURE_EXTENSIONS:
        return
    assert _parameters(inspect.signature(dg_obj)) == _parameters(expected)
