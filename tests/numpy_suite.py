"""NumPy's own tests of its public API, run with ``np`` bound to dagrt.

The test files ship inside the NumPy wheel. Each chosen file is copied twice
into a scratch directory: once as it is (``import numpy as np``) and once with
that line changed to ``import dagrt as np`` (and ``from numpy import x``,
``from numpy.linalg import y`` to dagrt's); both copies run in one pytest
process each, with NumPy's own ``conftest.py``. A test counts against dagrt
when it passes for NumPy and not for dagrt.

    python tests/numpy_suite.py                 # every file below (several minutes)
    python tests/numpy_suite.py --files lib/tests/test_shape_base.py
    python tests/numpy_suite.py --update        # rewrite the expected differences

``tests/test_numpy_suite.py`` runs :data:`CI_FILES` in CI and fails on any
difference not listed in ``tests/numpy_suite_expected.txt`` (each listed id
is a known difference; docs/coverage.md explains the classes).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy

NUMPY_DIR = Path(numpy.__file__).parent
HERE = Path(__file__).parent
EXPECTED = HERE / "numpy_suite_expected.txt"

# The public API's tests (not NumPy's internals: C API, SIMD, f2py, typing, threads).
ALL_FILES = [
    "_core/tests/test_numeric.py", "_core/tests/test_shape_base.py",
    "_core/tests/test_function_base.py", "_core/tests/test_einsum.py",
    "_core/tests/test_indexing.py", "_core/tests/test_item_selection.py",
    "_core/tests/test_ufunc.py", "_core/tests/test_umath.py",
    "_core/tests/test_multiarray.py", "_core/tests/test_arrayprint.py",
    "_core/tests/test_getlimits.py", "_core/tests/test_mem_overlap.py",
    "lib/tests/test_shape_base.py", "lib/tests/test_twodim_base.py",
    "lib/tests/test_function_base.py", "lib/tests/test_arraysetops.py",
    "lib/tests/test_nanfunctions.py", "lib/tests/test_index_tricks.py",
    "lib/tests/test_stride_tricks.py", "lib/tests/test_type_check.py",
    "lib/tests/test_ufunclike.py", "lib/tests/test_histograms.py",
    "lib/tests/test_arraypad.py", "lib/tests/test_polynomial.py",
    "lib/tests/test_packbits.py",
    "linalg/tests/test_linalg.py", "linalg/tests/test_regression.py",
    "fft/tests/test_pocketfft.py", "fft/tests/test_helper.py",
    "random/tests/test_random.py",
]
# Run in CI (a few minutes on two cores).
CI_FILES = [
    "_core/tests/test_shape_base.py", "_core/tests/test_einsum.py",
    "lib/tests/test_shape_base.py", "lib/tests/test_twodim_base.py",
    "lib/tests/test_stride_tricks.py", "lib/tests/test_type_check.py",
    "lib/tests/test_ufunclike.py", "linalg/tests/test_regression.py",
    "fft/tests/test_helper.py", "fft/tests/test_pocketfft.py",
]
# Tests that crash the interpreter with np bound to dagrt: they hand the array
# to NumPy's private C test helpers, which cast it to a NumPy array unchecked.
# They run under NumPy only (so they count as differences).
CRASHERS = ["_core/tests/test_multiarray.py::TestTemporaryElide::test_extension_incref_elide",
            "_core/tests/test_multiarray.py::TestTemporaryElide::test_extension_incref_elide_stack"]
_IMPORT = re.compile(r"^import numpy as np$", re.MULTILINE)
_TESTING = re.compile(r"^from numpy\.testing import |^from numpy\.ma\.testutils import "
                      r"(?=assert_equal$)", re.MULTILINE)  # (ma's, on plain arrays)
# ``from numpy import array, linalg`` and ``from numpy.linalg import norm``
# (public modules only): the names come from the module under test too
_FROM = re.compile(r"^from numpy(\.linalg|\.fft|\.random)? import ", re.MULTILINE)


def prepare(root: Path, files: list[str], module: str, testing: str = "dagrt") -> Path:
    """Copies of ``files`` (with their data folders) under ``root/np_<module>``,
    ``np`` bound to ``module``; with ``testing="dagrt"`` the dagrt copy's
    assertions come from ``dagrt.testing`` (``numpy.testing``, accepting
    dagrt arrays)."""
    top = root / f"np_{module}"  # not "numpy": the copy must not shadow the package
    shutil.copy(NUMPY_DIR / "conftest.py", root / "conftest.py") if not (
        root / "conftest.py").exists() else None
    for name in files:
        src = NUMPY_DIR / name
        dest = top / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        for folder in ("data",):
            if (src.parent / folder).is_dir() and not (dest.parent / folder).exists():
                shutil.copytree(src.parent / folder, dest.parent / folder)
        text = src.read_text()
        if module != "numpy":
            text = _IMPORT.sub(f"import {module} as np", text)
            text = _FROM.sub(lambda m: f"from {module}{m.group(1) or ''} import ", text)
            if testing == "dagrt":
                text = _TESTING.sub("from dagrt.testing import ", text)
        dest.write_text(text)
    return top


def outcomes(root: Path, top: Path, files: list[str], timeout: int) -> dict[str, str]:
    """Run pytest on ``files`` under ``top``: each test id (relative to
    ``top``) -> passed, failed, skipped, error. All files in one process; if
    it dies (a crash, the OOM killer), again one process per file, so a crash
    loses one file's results only."""
    result = _run(root, top, [top / name for name in files], "all", timeout)
    if result is not None:
        return result
    result = {}
    for name in files:
        one = _run(root, top, [top / name], name.replace("/", "_"), timeout)
        if one is None:
            print(f"numpy_suite: {top.name}/{name}: pytest died", file=sys.stderr)
        result.update(one or {})
    return result


def _run(root: Path, top: Path, paths: list[Path], tag: str, timeout: int
         ) -> dict[str, str] | None:
    report = root / f"{top.name}_{tag}.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--import-mode=importlib", f"--junitxml={report}", "--rootdir", str(root),
         "-W", "ignore::DeprecationWarning", "--continue-on-collection-errors",
         *([f"--timeout={timeout}"] if _has_timeout() else []),
         *(f"--deselect={top.name}/{test}" for test in CRASHERS if top.name == "np_dagrt"),
         *map(str, paths)],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), check=False)
    if not report.exists():
        return None
    result = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        test_id = test_id.split(".", 1)[1] if test_id.startswith(top.name + ".") else test_id
        kinds = {child.tag for child in case}
        result[test_id] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                           else "skipped" if "skipped" in kinds else "passed")
    return result


def _has_timeout() -> bool:
    try:
        import pytest_timeout  # noqa: F401
    except ImportError:
        return False
    return True


def compare(files: list[str], timeout: int = 60, testing: str = "dagrt"
            ) -> tuple[dict[str, str], dict[str, str]]:
    """NumPy's and dagrt's outcomes for ``files``, by test id."""
    with tempfile.TemporaryDirectory(prefix="numpy_suite_") as tmp:
        root = Path(tmp)
        theirs = outcomes(root, prepare(root, files, "numpy"), files, timeout)
        ours = outcomes(root, prepare(root, files, "dagrt", testing), files, timeout)
    return theirs, ours


def differences(theirs: dict[str, str], ours: dict[str, str]) -> list[str]:
    """Tests that pass for NumPy and not for dagrt."""
    return sorted(t for t, o in theirs.items() if o == "passed" and ours.get(t) != "passed")


# Why a test differs, by a piece of its id (docs/architecture.md, "Where dagrt
# differs from NumPy").
REASONS = {
    "testapplyalongaxis": "apply_along_axis calls the function with NumPy arrays (eager); "
                          "x.view(np.ndarray) with np bound to dagrt cannot view one",
    "testexpanddims::test_subclasses": "masked arrays are NumPy's (a subclass of numpy.ndarray)",
    "stride_tricks": "the test calls numpy.lib._stride_tricks_impl, NumPy's own functions",
    "subclass": "subclasses of ndarray: see docs/architecture.md",
    "memoryview": "dagrt arrays do not export the buffer protocol (np.asarray(x) does)",
}


def reason(test_id: str) -> str:
    return next((why for key, why in REASONS.items() if key in test_id.lower()), "")


def expected_version() -> str:
    """The NumPy version the expected differences were listed with."""
    if not EXPECTED.exists():
        return ""
    first = EXPECTED.read_text().splitlines()[0]
    return first.rpartition("NumPy ")[2].strip()


def expected() -> set[str]:
    if not EXPECTED.exists():
        return set()
    return {line.split("#")[0].strip() for line in EXPECTED.read_text().splitlines()
            if line.split("#")[0].strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", nargs="*", default=None)
    parser.add_argument("--ci", action="store_true", help="only the files CI runs")
    parser.add_argument("--update", action="store_true",
                        help="write the differences to tests/numpy_suite_expected.txt")
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--testing", choices=["dagrt", "numpy"], default="dagrt",
                        help="the dagrt copy's assertions: dagrt.testing or numpy.testing")
    args = parser.parse_args()
    files = args.files or (CI_FILES if args.ci or args.update else ALL_FILES)
    theirs, ours = compare(files, args.timeout, args.testing)
    diff = differences(theirs, ours)
    passed_np = sum(o == "passed" for o in theirs.values())
    passed_both = passed_np - len(diff)
    print(f"{len(files)} files ({args.testing}.testing), {len(theirs)} tests: NumPy passes "
          f"{passed_np}, dagrt passes {passed_both} of those "
          f"({100 * passed_both / max(1, passed_np):.1f}%)")
    by_file: dict[str, int] = {}
    for t in diff:
        by_file[t.split("::")[0]] = by_file.get(t.split("::")[0], 0) + 1
    for name, n in sorted(by_file.items(), key=lambda kv: -kv[1]):
        print(f"  {n:5d}  {name}")
    if args.update:
        EXPECTED.write_text(
            "# Tests of NumPy's CI_FILES that pass for NumPy and not for dagrt "
            f"(tests/numpy_suite.py --update), NumPy {numpy.__version__}\n" +
            "".join(f"{t}  # {reason(t)}\n" for t in diff))
    elif args.files is None:
        for t in diff:
            print(t)


if __name__ == "__main__":
    main()
