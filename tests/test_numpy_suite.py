"""NumPy's own tests of its public API pass for dagrt (tests/numpy_suite.py):
the files CI runs, each a fresh pytest process under NumPy and under dagrt.
Every test NumPy passes and dagrt does not is listed, with its class, in
tests/numpy_suite_expected.txt; a new one fails this test, and so does a
listed one that passes now (remove it). With another NumPy version than the
list was made with, test ids may differ: then only the pass rate is checked.
"""

from __future__ import annotations

import numpy
import numpy_suite
import pytest


@pytest.mark.timeout(900)  # two pytest runs of NumPy's files
def test_numpy_public_api_tests_pass_for_dagrt() -> None:
    theirs, ours = numpy_suite.compare(numpy_suite.CI_FILES)
    passed = sum(o == "passed" for o in theirs.values())
    assert passed > 500, "NumPy's own test files did not run"
    diff = set(numpy_suite.differences(theirs, ours))
    rate = 1 - len(diff) / passed
    if numpy_suite.expected_version() != numpy.__version__:
        assert rate >= 0.9, f"dagrt passes {rate:.1%} of the tests NumPy passes"
        return
    expected = numpy_suite.expected()
    assert not diff - expected, f"new differences from NumPy: {sorted(diff - expected)}"
    assert not expected - diff, f"listed differences that pass now: {sorted(expected - diff)}"
