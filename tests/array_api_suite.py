"""The array API test suite (data-apis/array-api-tests), run against NumPy and
against dagrt: every test NumPy passes must pass for dagrt.

The suite is not on PyPI and is not copied into this repository; give the
path of a checkout (with its ``array-api`` submodule, the standard's text):

    git clone --recurse-submodules https://github.com/data-apis/array-api-tests
    pip install -r array-api-tests/requirements.txt   # pytest-json-report, ndindex
    python tests/array_api_suite.py array-api-tests --max-examples 100 --seed 1

Both runs use the standard version NumPy declares (``ARRAY_API_TESTS_VERSION``
= ``numpy.__array_api_version__``), the same hypothesis seed and example
count, each in a fresh pytest process. Prints the tests NumPy passes and
dagrt does not (exit status 1 if there are any), and the reverse.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy

ROOT = Path(__file__).resolve().parent.parent


def run(suite: Path, module: str, report: Path, max_examples: int, seed: int) -> dict:
    env = dict(os.environ, ARRAY_API_TESTS_MODULE=module,
               ARRAY_API_TESTS_VERSION=numpy.__array_api_version__,
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "pytest", "array_api_tests", "-q",
                    "-p", "no:cacheprovider", f"--max-examples={max_examples}",
                    f"--hypothesis-seed={seed}", "--json-report",
                    f"--json-report-file={report}"], cwd=suite, env=env,
                   stdout=subprocess.DEVNULL, check=False)
    tests = json.loads(report.read_text())["tests"]
    return {t["nodeid"]: t for t in tests}


def _message(test: dict) -> str:
    phase = test.get("call") or test.get("setup") or {}
    return phase.get("crash", {}).get("message", "").replace("\n", " | ")[:300]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", type=Path, help="a checkout of data-apis/array-api-tests")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        results = {module: run(args.suite.resolve(), module, Path(scratch, f"{module}.json"),
                               args.max_examples, args.seed)
                   for module in ("numpy", "dagrt")}
    ref, ours = results["numpy"], results["dagrt"]

    def passed(r: dict, k: str) -> bool:
        return r.get(k, {}).get("outcome") == "passed"

    worse = sorted(k for k in ref if passed(ref, k) and not passed(ours, k))
    better = sorted(k for k in ours if passed(ours, k) and not passed(ref, k))
    print(f"array API {numpy.__array_api_version__}: {len(ref)} tests; NumPy passes "
          f"{sum(passed(ref, k) for k in ref)}, dagrt {sum(passed(ours, k) for k in ours)}")
    print(f"passed by NumPy, not by dagrt: {len(worse)}")
    for k in worse:
        print(f"  {k}: {_message(ours.get(k, {}))}")
    print(f"passed by dagrt, not by NumPy: {len(better)}")
    for k in better:
        print(f"  {k}")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
