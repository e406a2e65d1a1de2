"""NumPy's own docstring examples, run with ``np`` bound to dagrt.

For every function of dagrt's op table (``dagrt.ops.table.OPS``, the names NumPy
has), the hand-written ones (``dagrt.ops.table.HAND_WRITTEN``), every public
``numpy.ndarray`` method or attribute and the ufunc methods (``np.add.reduce``
...), the examples of the *NumPy* docstring are collected with
:class:`doctest.DocTestFinder` and run with :class:`doctest.DocTestRunner`
(``NORMALIZE_WHITESPACE | ELLIPSIS``): the printed output is compared with the
docstring's, i.e. with NumPy's documented output.

Many examples cannot match even under NumPy (unseeded random numbers,
``# may vary`` outputs, memory addresses, matplotlib, documented output that
NumPy no longer prints). So every docstring is first run with ``np`` bound to
NumPy, at collection time; only the examples that pass there are checked under
dagrt. All the examples still run under dagrt, in order (later examples use
the names earlier ones define), but only the NumPy-passing ones must match.
The exceptions are the ``KNOWN`` dict below, each with its reason.

Two parametrizations: the default threaded engine (small ops run inline), and
``inline_bytes=0`` (every op goes through the worker threads).
"""

from __future__ import annotations

import doctest
import os
import tempfile
import traceback
import warnings
from typing import Any

import numpy
import pytest

import dagrt
from dagrt.engine.scheduler import ENGINE
from dagrt.ops import table as _ops

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

# name -> {start of an example's source: why dagrt's output differs}. Each
# entry is an example that passes under NumPy and is expected to fail under
# dagrt (the test also fails if it starts passing: remove the entry then).
_SCALAR = ("a function that returns a NumPy scalar (or a 0-d array) returns a 0-d "
           "dagrt array when the op is deferred, printed like the scalar "
           "(architecture.md, 'Where dagrt differs from NumPy')")
_SCALAR_TYPE = "type() of a scalar result is dagrt.ndarray, a 0-d array (" + _SCALAR + ")"
_SUBCLASS = ("NumPy's subclasses of numpy.ndarray (matrix, memmap) are NumPy's, not "
             "dagrt's (architecture.md, 'Where dagrt differs from NumPy')")
_DEFERRED_ERROR = ("an error inside an operation surfaces at the next sync point, with "
                   "the recording line appended to its message (architecture.md)")
KNOWN: dict[str, dict[str, str]] = {
    "bitwise_left_shift": {"print(a, type(a))": _SCALAR_TYPE,
                           "print(b, type(b))": _SCALAR_TYPE},
    "left_shift": {"print(a, type(a))": _SCALAR_TYPE, "print(b, type(b))": _SCALAR_TYPE},
    "array": {"np.array(np.asmatrix(": _SUBCLASS},
    "load": {"X[1, :]": _SUBCLASS},  # mmap_mode: a memmap
    "ndarray.astype": {'x.astype(int, casting="same_value")': _DEFERRED_ERROR},
    "ndarray.flat": {"type(x.flat)": (
        "x.flat is dagrt's iterator around NumPy's (it takes dagrt arrays as indices "
        "and values; architecture.md, 'Where dagrt differs from NumPy')")},
    "ndarray.resize": {"a.resize((1, 1))": (
        "resize checks references to the storage (NumPy views of it), not to the "
        "dagrt array: `c = a` does not prevent resizing (architecture.md)")},
}


def _targets() -> dict[str, Any]:
    """Test name -> the NumPy object whose docstring is run."""
    targets: dict[str, Any] = {}
    for name in [d.name for d in _ops.OPS] + list(_ops.HAND_WRITTEN):
        if hasattr(numpy, name):
            targets[name] = getattr(numpy, name)
    for name in dir(numpy.ndarray):
        if not name.startswith("_"):
            targets[f"ndarray.{name}"] = getattr(numpy.ndarray, name)
    for name in ("reduce", "accumulate", "reduceat", "outer", "at"):
        targets[f"ufunc.{name}"] = getattr(numpy.ufunc, name)
    return targets


def _doctest(obj: Any, name: str) -> doctest.DocTest | None:
    finder = doctest.DocTestFinder(recurse=False, exclude_empty=True)
    try:
        found = finder.find(obj, name, module=False, globs={})
    except ValueError:  # no docstring
        return None
    if not found:
        return None
    test = found[0]
    # ``import numpy as np`` would rebind ``np``: drop it (``np`` is given)
    examples = [e for e in test.examples if e.source.strip() != "import numpy as np"]
    if not examples:
        return None
    return doctest.DocTest(examples, {}, name, None, None, test.docstring)


class _Recorder(doctest.DocTestRunner):
    """Records which examples fail (by index), and how."""

    def __init__(self) -> None:
        super().__init__(verbose=False, optionflags=FLAGS)
        self.failed_examples: dict[int, str] = {}
        self._index: dict[int, int] = {}

    def run_test(self, test: doctest.DocTest, module: Any) -> dict[int, str]:
        self._index = {id(e): i for i, e in enumerate(test.examples)}
        test = doctest.DocTest(test.examples, {"np": module}, test.name, None, None,
                               test.docstring)
        old_err = numpy.geterr()
        cwd = os.getcwd()
        try:  # examples write files (np.save("test.npy")): in a scratch directory
            with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings(), \
                    numpy.printoptions():
                os.chdir(scratch)
                warnings.simplefilter("ignore")
                try:
                    self.run(test, out=lambda s: None, clear_globs=True)
                finally:
                    ENGINE.waitall(raise_errors=False)  # deferred ops see these filters
        finally:
            os.chdir(cwd)
            numpy.seterr(**old_err)
        return self.failed_examples

    def report_start(self, out: Any, test: Any, example: Any) -> None:
        pass

    def report_success(self, out: Any, test: Any, example: Any, got: str) -> None:
        pass

    def report_failure(self, out: Any, test: Any, example: Any, got: str) -> None:
        self.failed_examples[self._index[id(example)]] = f"expected:\n{example.want}got:\n{got}"

    def report_unexpected_exception(self, out: Any, test: Any, example: Any,
                                    exc_info: Any) -> None:
        self.failed_examples[self._index[id(example)]] = \
            "raised:\n" + "".join(traceback.format_exception_only(*exc_info[:2]))


def _run(test: doctest.DocTest, module: Any) -> dict[int, str]:
    return _Recorder().run_test(test, module)


def _collect() -> dict[str, tuple[doctest.DocTest, frozenset[int]]]:
    """Test name -> (its doctest, the indices of the examples NumPy passes)."""
    result = {}
    for name, obj in _targets().items():
        test = _doctest(obj, name)
        if test is None:
            continue
        failed = _run(test, numpy)
        passing = frozenset(range(len(test.examples))) - frozenset(failed)
        if passing:
            result[name] = (test, passing)
    return result


CASES = _collect()


# KNOWN entries that differ only when every op is deferred: an op that runs now
# returns NumPy's own scalar, and raises its errors at the call.
DEFERRED_ONLY = {("ndarray.astype", 'x.astype(int, casting="same_value")'),
                 ("bitwise_left_shift", "print(a, type(a))"),
                 ("bitwise_left_shift", "print(b, type(b))"),
                 ("left_shift", "print(a, type(a))"), ("left_shift", "print(b, type(b))")}


def _check(name: str, deferred: bool = False) -> None:
    test, passing = CASES[name]
    known = {k: v for k, v in KNOWN.get(name, {}).items()
             if deferred or (name, k) not in DEFERRED_ONLY}
    failed = _run(test, dagrt)
    unexpected = []
    used = set()
    for i in sorted(passing & failed.keys()):
        source = test.examples[i].source
        key = next((k for k in known if source.startswith(k)), None)
        if key is not None:
            used.add(key)
        else:
            unexpected.append(f"example {i}: >>> {source.rstrip()}\n{failed[i]}")
    assert not unexpected, f"{name}: {len(unexpected)} of {len(passing)} examples differ " \
        f"from NumPy:\n\n" + "\n\n".join(unexpected)
    stale = sorted(set(known) - used)
    assert not stale, f"{name}: KNOWN entries that now pass (remove them): {stale}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_docstring(name: str) -> None:
    with dagrt.config(engine="threaded"):
        _check(name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_docstring_noinline(name: str) -> None:
    with dagrt.config(engine="threaded", inline_bytes=0):
        _check(name, deferred=True)


def test_collection() -> None:
    """The collection found the docstrings, NumPy passes most examples, and
    every KNOWN entry names a collected function."""
    examples = sum(len(t.examples) for t, _ in CASES.values())
    passing = sum(len(p) for _, p in CASES.values())
    assert len(CASES) > 300 and passing > examples // 2, (len(CASES), examples, passing)
    assert set(KNOWN) <= set(CASES), sorted(set(KNOWN) - set(CASES))
