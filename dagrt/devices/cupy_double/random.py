"""``cupy.random`` of the CuPy double: a ``RandomState`` per device.

As CuPy's, draws advance the generator's state on the host at the call (so
they are ordered by the calls) and are written by a kernel on the current
stream; the numbers are not NumPy's (CuPy uses cuRAND; the double uses
Philox), only reproducible from ``seed``.
"""

from __future__ import annotations

from typing import Any

import numpy

from .core import _alloc, _enqueue, _host, _sync, ndarray, runtime

_ALIASES = {"random_sample": "random", "rand": "random", "randn": "standard_normal",
            "random": "random", "randint": "integers", "ranf": "random", "sample": "random"}
# CuPy 14.2's ``cupy.random`` functions and ``RandomState`` methods (cupy/random/__init__.py):
# the legacy API; no ``integers`` (that is ``cupy.random.Generator``'s)
CUPY = {"beta", "binomial", "bytes", "chisquare", "choice", "dirichlet", "exponential", "f",
        "gamma", "geometric", "gumbel", "hypergeometric", "laplace", "logistic", "lognormal",
        "logseries", "multinomial", "multivariate_normal", "negative_binomial",
        "noncentral_chisquare", "noncentral_f", "normal", "pareto", "permutation", "poisson",
        "power", "rand", "randint", "randn", "random", "random_integers", "random_sample",
        "ranf", "rayleigh", "sample", "shuffle", "standard_cauchy", "standard_exponential",
        "standard_gamma", "standard_normal", "standard_t", "triangular", "uniform", "vonmises",
        "wald", "weibull", "zipf"}


class RandomState:
    """``cupy.random.RandomState(seed=None)``."""

    def __init__(self, seed: Any = None) -> None:
        self.seed(seed)

    def seed(self, seed: Any = None) -> None:
        self._gen = numpy.random.Generator(numpy.random.Philox(seed))

    def _draw(self, name: str, *args: Any, size: Any = None, dtype: Any = None,
              **kwargs: Any) -> Any:
        if any(isinstance(a, ndarray) for a in (*args, *kwargs.values())):
            _sync()  # parameters on the device: read them
        args, kwargs = _host(args), _host(kwargs)
        if name == "integers":
            value = self._gen.integers(*args, size=size, dtype=dtype or numpy.int64, **kwargs)
        else:
            value = getattr(self._gen, name)(*args, size=size, **kwargs)
            if dtype is not None:
                value = numpy.asarray(value).astype(dtype)
        host = numpy.asarray(value)
        if size is None and name != "choice":
            return host[()] if host.ndim == 0 else host  # a scalar, as CuPy
        out = _alloc(host.shape, host.dtype)
        target = out._a
        _enqueue(f"random.{name}", lambda: numpy.copyto(target, host))
        return out

    def rand(self, *size: int, dtype: Any = float) -> ndarray:
        return self._draw("random", size=size, dtype=dtype)

    def randn(self, *size: int, dtype: Any = float) -> ndarray:
        return self._draw("standard_normal", size=size, dtype=dtype)

    def shuffle(self, a: ndarray) -> None:
        order = self._gen.permutation(len(a))
        target = a._a
        _enqueue("random.shuffle", lambda: target.__setitem__(slice(None), target[order]))

    def permutation(self, num: Any) -> ndarray:
        if isinstance(num, ndarray):
            out = num.copy()
            self.shuffle(out)
            return out
        return self._draw("permutation", num, size=None) if False else \
            self._write(self._gen.permutation(num))

    def _write(self, host: numpy.ndarray) -> ndarray:
        out = _alloc(host.shape, host.dtype)
        target = out._a
        _enqueue("random.write", lambda: numpy.copyto(target, host))
        return out

    def __getattr__(self, name: str) -> Any:
        target = _ALIASES.get(name, name)
        if name not in CUPY or not hasattr(numpy.random.Generator, target):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._draw(target, *args, **kwargs)


_states: dict[int, RandomState] = {}


def get_random_state() -> RandomState:
    device = runtime.getDevice()
    state = _states.get(device)
    if state is None:
        state = _states[device] = RandomState()
    return state


def seed(seed: Any = None) -> None:
    get_random_state().seed(seed)


def __getattr__(name: str) -> Any:
    if name not in CUPY:
        raise AttributeError(f"module 'cupy.random' has no attribute {name!r}")
    return getattr(get_random_state(), name)
