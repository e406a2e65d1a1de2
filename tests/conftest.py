"""Shared test machinery: run the same code under NumPy and dagrt, compare.

- ``engine`` fixture: every correctness test runs under the threaded engine
  (default policy: small ops inline), the threaded engine with
  ``inline_bytes=0`` (every op goes through the worker threads) and the serial
  engine (the reference), fused (every elementwise op held and fused) and
  adaptive (the regime flipping between spreading ops over the workers and
  running them in the caller every few ops).
- ``for_xp`` decorator (as CuPy's ``numpy_cupy_allclose``): the test function
  takes ``xp`` and returns a result; it is called with ``xp=numpy`` and with
  ``xp=dagrt`` and the results are compared: type of container, dtype and
  shape exactly, values NaN-aware. If NumPy raises, dagrt must raise the same
  exception type *at the call* (nothing is synced before), and the test is
  skipped with NumPy's reason.
- ``DAGRT_CHECK_PLANS=1``: each op run now is checked against its plan.
"""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
import sys
import warnings
from typing import Any

import numpy
import pytest

# Every op run in the calling thread is checked against its plan (the shapes
# and dtypes the scheduler would allocate): one schedule cannot differ from another.
os.environ.setdefault("DAGRT_CHECK_PLANS", "1")
import dagrt  # noqa: E402
from dagrt.engine.scheduler import ENGINE

ENGINES = ("threaded", "threaded-noinline", "serial", "fused", "adaptive")


def engine_config(name: str) -> Any:
    if name == "serial":
        return dagrt.config(engine="serial")
    if name == "threaded":
        return dagrt.config(engine="threaded")
    if name == "threaded-noinline":
        return dagrt.config(engine="threaded", inline_bytes=0)
    if name == "adaptive":  # the regime flips between spreading and the caller
        # every few ops (each op over 1 byte asks the cost model; most are dear)
        return dagrt.config(engine="threaded", inline_bytes=1, inline_us=0.5, adapt_s=1e-3)
    if name == "fused":  # every elementwise op held, fused and cut in tiny blocks;
        # reductions and gathers cut in tiny blocks
        return dagrt.config(engine="threaded", inline_bytes=0, fuse_bytes=0,
                            fuse_block_bytes=64, chunk_bytes=64)
    raise ValueError(name)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Any:
    """Run the test body under each engine configuration."""
    with engine_config(request.param):
        yield request.param


@pytest.fixture
def noinline() -> Any:
    """Threaded engine with every op sent to the workers."""
    with engine_config("threaded-noinline"):
        yield


@pytest.fixture
def deferred() -> Any:
    """Every op sent to the scheduler, under the engine already chosen (an op
    that runs now raises its errors at the call, as NumPy: tests of deferred
    errors need deferred ops)."""
    with dagrt.config(inline_bytes=0):
        yield


@pytest.fixture(autouse=True)
def _drain() -> Any:
    """No test may leave pending work or unreported errors behind."""
    yield
    ENGINE.waitall()


# -- comparison -------------------------------------------------------------------

def _is_array(x: Any) -> bool:
    return isinstance(x, (numpy.ndarray, dagrt.ndarray))


def assert_same(expected: Any, actual: Any, *, rtol: float = 1e-7, atol: float = 0.0,
                exact: bool = False, path: str = "result") -> None:
    """``actual`` (dagrt) equals ``expected`` (NumPy): container types, dtype,
    shape exactly, values NaN-aware (``exact`` or integer/bool: equal)."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, type(expected)) or (
            # namedtuples (unique_all...) are compared field by field
            isinstance(actual, tuple) and isinstance(expected, tuple)), \
            f"{path}: expected {type(expected).__name__}, got {type(actual).__name__}"
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, rtol=rtol, atol=atol, exact=exact, path=f"{path}[{i}]")
        return
    if isinstance(expected, numpy.ndarray):
        assert isinstance(actual, dagrt.ndarray), \
            f"{path}: expected a dagrt.ndarray, got {type(actual).__name__}"
    if isinstance(expected, (numpy.ndarray, numpy.generic)):
        assert isinstance(actual, (dagrt.ndarray, numpy.generic)), \
            f"{path}: expected an array or NumPy scalar, got {type(actual).__name__}"
        got = numpy.asarray(actual)
        want = numpy.asarray(expected)
        assert got.dtype == want.dtype, f"{path}: dtype {got.dtype} != {want.dtype}"
        assert got.shape == want.shape, f"{path}: shape {got.shape} != {want.shape}"
        if exact or want.dtype.kind not in "fc":
            numpy.testing.assert_array_equal(got, want, err_msg=path, strict=True)
        else:
            numpy.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True,
                                          err_msg=path, strict=True)
        return
    if isinstance(actual, dagrt.ndarray):
        raise AssertionError(f"{path}: expected {type(expected).__name__} "
                             f"{expected!r}, got a dagrt.ndarray")
    assert type(actual) is type(expected), \
        f"{path}: type {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, float) and expected != expected:
        assert actual != actual, f"{path}: {actual!r} != nan"
    elif isinstance(expected, float) and not exact:
        assert actual == pytest.approx(expected, rel=rtol, abs=atol), path
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def run_xp(func: Any, *args: Any, rtol: float = 1e-7, atol: float = 0.0,
           exact: bool = False, **kwargs: Any) -> Any:
    """Call ``func(*args, xp=numpy, **kwargs)`` and the same with dagrt; compare.

    If NumPy raises, dagrt must raise the same exception type at the call,
    then the test is skipped (NumPy rejects the combination)."""
    try:
        expected = func(*args, xp=numpy, **kwargs)
    except Exception as exc:  # NumPy rejects this combination
        np_exc = exc
    else:
        np_exc = None
    if np_exc is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dagrt.FallbackWarning)
            try:
                actual = func(*args, xp=dagrt, **kwargs)
            except Exception as exc:
                if not isinstance(exc, type(np_exc)):
                    raise AssertionError(
                        f"NumPy raised {type(np_exc).__name__}({np_exc}), dagrt raised "
                        f"{type(exc).__name__}({exc})") from exc
            else:
                ENGINE.waitall(raise_errors=False)
                raise AssertionError(
                    f"NumPy raised {type(np_exc).__name__}({np_exc}) but dagrt did not "
                    f"raise at the call (it returned {type(actual).__name__})")
        pytest.skip(f"NumPy rejects it: {type(np_exc).__name__}: {np_exc}")
    actual = func(*args, xp=dagrt, **kwargs)
    assert_same(expected, actual, rtol=rtol, atol=atol, exact=exact)
    return actual


def for_xp(func: Any = None, *, rtol: float = 1e-7, atol: float = 0.0,
           exact: bool = False) -> Any:
    """Decorator: the test takes ``xp`` and returns its result; it is run under
    NumPy and dagrt and the results are compared (see :func:`run_xp`)."""
    if func is None:
        return functools.partial(for_xp, rtol=rtol, atol=atol, exact=exact)

    @functools.wraps(func)
    def test(*args: Any, **kwargs: Any) -> None:
        run_xp(func, *args, rtol=rtol, atol=atol, exact=exact, **kwargs)

    sig = inspect.signature(func)
    test.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[p for p in sig.parameters.values() if p.name != "xp"])
    return test


# -- inputs ---------------------------------------------------------------------

def make(xp: Any, shape: Any, dtype: Any, seed: int = 0, positive: bool = False) -> Any:
    """A deterministic test array with no zeros, varied signs and magnitudes."""
    dtype = numpy.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = int(numpy.prod(shape))
    i = numpy.arange(n) + seed
    if dtype.kind == "b":
        data = (i * 7 + seed) % 3 != 0
    elif dtype.kind == "u":
        data = (i * 5 + 3 * seed) % 6 + 1
    elif dtype.kind == "i":
        data = (i * 5 + 3 * seed) % 9 - 4
        data = numpy.where(data == 0, 3, data)
        if positive:
            data = numpy.abs(data)
    elif dtype.kind == "f":
        data = ((i * 37 + 11 * seed) % 23 - 11) / 4.0 + 0.125
        if positive:
            data = numpy.abs(data)
    elif dtype.kind == "c":
        re = ((i * 37 + 11 * seed) % 23 - 11) / 4.0 + 0.125
        im = ((i * 13 + 5 * seed) % 17 - 8) / 5.0
        data = re + 1j * im
    else:
        raise ValueError(dtype)
    data = numpy.asarray(data).astype(dtype).reshape(shape)
    return xp.asarray(data) if xp is not numpy else data


def run_python(code: str, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (with dagrt importable)."""
    import os

    full_env = dict(os.environ)
    for key in list(full_env):
        if key.startswith("DAGRT_"):
            del full_env[key]
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def gate(a: Any, event: Any) -> Any:
    """A copy of ``a`` by an operation that cannot finish before ``event`` is
    set (it runs on a worker thread: use with the threaded engine)."""
    from dagrt.array.record import record

    def kernel(x: Any) -> Any:
        event.wait(60)
        return x

    out = dagrt.empty(a.shape, a.dtype)
    with dagrt.config(inline_bytes=0):
        record("gate", kernel, (a,), {}, lambda: [out], [out], use_out=False)
    return out
