"""``dagrt.random``: NumPy's random functions, recorded lazily.

Every draw from a generator writes that generator's state (a zero-byte dagrt
buffer), so the scheduler runs draws in program order whatever the
concurrency: for the same seed dagrt produces exactly NumPy's numbers. The
legacy functions (``seed``, ``rand``, ``randn``...) share one ``RandomState``;
``default_rng`` returns a ``Generator`` with its own state. Distributions not
listed here evaluate their arguments and call NumPy, in order.
"""

from __future__ import annotations

import functools
import math
import operator
import types
from typing import Any

import numpy as np

from .array.ndarray import NATIVE, Recorded, ndarray, run_now, wrap
from .array.operands import new_array, operand, shape_of
from .array.record import NO_KWARGS, record, wrap_result
from .array.transfer import to_device
from .devices.registry import DEFAULT_DEVICE, device_arg
from .ops import device_draws
from .ops import fallback as _fallback
from .ops.table import public

_VALIDATE_RS = np.random.RandomState(0)
_VALIDATE_GEN = np.random.default_rng(0)


def _check_size(shape: tuple[int, ...], arrays: list[Any]) -> None:
    """NumPy's errors for parameters that do not broadcast to ``size``."""
    joint = np.broadcast_shapes(shape, *[p.shape for p in arrays])  # (NumPy's first error)
    if joint != shape:
        raise ValueError(f"Output size {shape} is not compatible with broadcast dimensions "
                         f"of inputs {joint}.")


def _host(seed: Any) -> Any:  # (a seed as NumPy takes it)
    return seed.asnumpy() if isinstance(seed, ndarray) else seed


def _sequence(*values: Any) -> bool:
    return list in map(type, values) or tuple in map(type, values)


def _size(size: Any) -> tuple[int, ...] | None:
    if size is None or isinstance(size, (int, np.integer)):
        return None if size is None else (operator.index(size),)
    return tuple(operator.index(s) for s in size)


def _permutation_kernel(impl: Any, x: Any, *, out: tuple[Any, Any], **kwargs: Any) -> None:
    out[0][...] = impl.permutation(x, **kwargs)


def _shuffle_kernel(impl: Any, *, out: tuple[Any, Any], **kwargs: Any) -> None:
    impl.shuffle(out[0], **kwargs)


def _fill_kernel(impl: Any, method: str, size: Any, *params: Any, out: tuple[Any, Any],
                 **kwargs: Any) -> None:
    getattr(impl, method)(*params, size=size, out=out[0], **kwargs)


def _state_kernel(impl: Any, func: Any, *args: Any, out: np.ndarray) -> None:
    func(impl, *args)


class _Kernels(dict):
    """method name -> (op name, the generator's bound method), made once."""

    def __init__(self, impl: Any) -> None:
        super().__init__()
        self.impl = impl

    def __missing__(self, method: str) -> tuple[str, Any]:
        kernel = self[method] = (f"random.{method}", getattr(self.impl, method))
        return kernel


class _Stream:
    """A NumPy generator whose state the scheduler sees as a buffer."""

    def __init__(self, impl: Any) -> None:
        self.impl = impl
        self.state = wrap(np.empty(0, np.uint8))
        self._state = [self.state]
        self._validator = _VALIDATE_RS if isinstance(impl, np.random.RandomState) \
            else _VALIDATE_GEN
        self._kernels = _Kernels(impl)

    def draw(self, method: str, params: tuple[Any, ...], size: Any,
             kwargs: dict[str, Any] | None = None, device: Any = None) -> Any:
        """Record ``impl.<method>(*params, size=size, **kwargs)``; with a GPU
        ``device``, CuPy's generator draws instead (its numbers differ)."""
        target = device_arg(device)
        if target is not None:
            if target.kind == "cluster":  # drawn here, then sent: NumPy's numbers, in order
                return to_device(self.draw(method, params, size, kwargs, "cpu"), target)
            return device_draws.draw(target, method, params, _size(size) or (), kwargs or {},
                                     self._validator)
        if kwargs and kwargs.get("out") is not None:
            return self.fill(method, params, size, kwargs)
        given = params, kwargs or {}  # (NumPy's checks see sequences as given, not converted)
        kwargs = {k: v if isinstance(v, (type, np.dtype, str)) else operand(v)  # dtype=int
                  for k, v in kwargs.items() if v is not None} if kwargs else {}
        plain = True  # every parameter a Python float or int
        for p in params:
            if type(p) is not float and type(p) is not int:
                params, plain = tuple(map(operand, params)), False
                break
        shape = _size(size)
        arrays = []
        if not plain or kwargs:
            arrays = [p for p in (*params, *kwargs.values())
                      if isinstance(p, (ndarray, np.ndarray)) and p.dtype != object]
            if shape is None and arrays and method not in _NO_BROADCAST:
                shape = np.broadcast_shapes(*[p.shape for p in arrays])
            elif arrays and method not in _NO_BROADCAST:
                _check_size(shape, arrays)

        def check() -> np.ndarray:  # (a sample of no values: NumPy checks less)
            return self._validate(method, *given, shape if shape is not None and 0 in shape
                                  else None if arrays else 1)
        meta = check() if (not plain or kwargs) and _sequence(*given[0], *given[1].values()) \
            else None
        if shape is None:  # NumPy returns a scalar here
            self.state._quiet()
            return getattr(self.impl, method)(*params, **kwargs)

        def plan() -> list[ndarray]:
            return [new_array(shape, (meta if meta is not None else check()).dtype)]
        name, kernel = self._kernels[method]
        return record(name, functools.partial(kernel, size=shape), params, kwargs, plan,
                      None, False, 8 * math.prod(shape), self._state)[0]

    def _validate(self, method: str, params: tuple[Any, ...], kwargs: dict[str, Any],
                  size: Any) -> np.ndarray:
        """NumPy's own checks, on a sample (``_known``; where NumPy refuses the
        stand-in ones, the values themselves)."""
        def check(known: Any) -> np.ndarray:
            return np.asarray(getattr(self._validator, method)(
                *map(known, params), size=size,
                **{k: known(v) for k, v in kwargs.items()}))
        try:
            return check(_known)
        except ValueError:
            if not any(isinstance(v, (ndarray, np.ndarray)) for v in (*params, *kwargs.values())):
                raise
            return check(_host)

    def fill(self, method: str, params: tuple[Any, ...], size: Any,
             kwargs: dict[str, Any]) -> Any:
        """``impl.<method>(*params, size=size, out=out, ...)``: NumPy's numbers
        written into ``out`` (NumPy's checks of it first), in order with the draws."""
        kwargs, out = {k: v for k, v in kwargs.items() if k != "out"}, kwargs["out"]
        if not isinstance(out, ndarray):  # a NumPy array (or NumPy's error): now
            self.state._quiet()
            return getattr(self.impl, method)(*params, size=size, out=out, **kwargs)
        params, flags = tuple(map(operand, params)), out._data.flags
        stand_in = np.empty(out.shape, out.dtype, "C" if flags.c_contiguous else "F") \
            if flags.c_contiguous or flags.f_contiguous else \
            np.empty((*out.shape, 2), out.dtype)[..., 0]  # (``out``'s layout, for NumPy's checks)
        stand_in.flags.writeable = flags.writeable
        self._validate(method, params, {**kwargs, "out": stand_in}, size)
        record(f"random.{method}", functools.partial(_fill_kernel, self.impl, method, size),
               params, kwargs, lambda: [out, self.state], [out, self.state], work=out.nbytes)
        return out

    def distribution(self, method: str, names: tuple[str, ...]) -> Any:
        """A lazy ``method(*params, size=None, **options)`` of NumPy's."""
        impl_method = getattr(self.impl, method)

        @functools.wraps(impl_method)
        def draw(*args: Any, size: Any = None, **kwargs: Any) -> Any:
            n = len(names)
            if len(args) > n:  # size, then options, given positionally
                size, extra = args[n], args[n + 1:]
                kwargs.update(zip(_OPTIONS.get(method, ()), extra))
                args = args[:n]
            return self.draw(method, args, size, kwargs)
        draw.__module__ = __name__
        return draw

    def permutation(self, x: Any, **kwargs: Any) -> ndarray:
        """A permuted copy (or a permuted ``arange(x)``), in order with the draws."""
        work = 8 * max(x, 0) if type(x) is int else x._data.nbytes if type(x) is ndarray else -1
        if work >= 0 and not kwargs and run_now is not None and \
                DEFAULT_DEVICE[0] == "cpu":  # small, the state idle: in C
            done = run_now(self.impl.permutation, (x,), NO_KWARGS, work, (self.state,), None, 2)
            if done is not None:
                return done[0] if type(done) is list else wrap_result(done[0])
        if isinstance(x, (int, np.integer)):  # (arange(x): empty when negative)
            shape, dtype, arrays = (max(int(x), 0),), np.asarray(
                self._validator.permutation(1)).dtype, ()
        else:
            x = operand(x)
            shape = shape_of(x)
            if not shape:  # NumPy's error (the generator's, or RandomState's)
                self._validator.permutation(np.zeros(()), **kwargs)
            dtype, arrays = x.dtype, (x,)
        outs = [new_array(shape, dtype, arrays), self.state]
        return record("random.permutation", functools.partial(_permutation_kernel, self.impl),
                      (x,), kwargs, lambda: outs, outs, work=outs[0].nbytes)[0]

    def shuffle(self, x: Any, **kwargs: Any) -> None:
        """Shuffle ``x`` in place along its first axis, in order with the draws."""
        if not isinstance(x, ndarray):  # a NumPy array or list: mutate it now
            self.state._quiet()
            return self.impl.shuffle(x, **kwargs)
        if x.ndim == 0:  # NumPy's error (the generator's, or RandomState's)
            self._validator.shuffle(np.zeros(()), **kwargs)
        outs = [x, self.state]
        record("random.shuffle", functools.partial(_shuffle_kernel, self.impl), (), kwargs,
               lambda: outs, outs, work=x.nbytes)

    def apply(self, func: Any, *args: Any) -> None:
        """Run ``func(impl, *args)`` in order with the draws (seed, set_state)."""
        record("random.state", functools.partial(_state_kernel, self.impl, func),
               args, {}, lambda: [self.state], [self.state])

    def eager(self, name: str, qualname: str) -> Any:
        """``impl.<name>``, called in order with the draws, on evaluated inputs."""
        attr = getattr(self.impl, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def in_order(*args: Any, **kwargs: Any) -> Any:
            self.state._quiet()
            return attr(*args, **kwargs)
        return _fallback.eager_function(qualname, in_order, warn=name not in EAGER)


class Draw(Recorded):  # type: ignore[misc, valid-type]
    """A generator's method (``normal``, ``uniform``...) on one generator: a
    call with plain Python numbers, when the generator's state is idle and the
    default device is the CPU, makes NumPy's draw now in C (``array/_native.c``,
    the test of ``record``); any other call is the Python method ``_call``."""

    def __init__(self, stream: _Stream, nparams: int, call: Any) -> None:
        self.__wrapped_numpy__ = getattr(stream.impl, call.__name__)
        self._nin = nparams  # parameters before ``size`` (-1: the arguments are the shape)
        self._state, self._device, self._fast = stream.state, DEFAULT_DEVICE, 2
        self._call = self.__wrapped__ = call  # (its signature)
        self.__name__, self.__qualname__, self.__doc__ = \
            call.__name__, call.__qualname__, call.__doc__ or self.__wrapped_numpy__.__doc__

    def __repr__(self) -> str:
        return repr(self._call)

    def __reduce__(self) -> Any:  # (pickled as a bound method is: the generator's attribute)
        return getattr, (self._owner, self._attribute)

    @classmethod
    def attach(cls, generator: Any, methods: dict[str, int]) -> None:
        """Give ``generator`` a ``Draw`` for each of ``methods`` (name: parameters)."""
        if NATIVE:
            stream = generator._stream
            for name, nparams in methods.items():
                draw = cls(stream, nparams, getattr(generator, name))
                draw._owner, draw._attribute = generator, name
                setattr(generator, name, draw)


class _Drawing:
    """What ``RandomState`` and ``Generator`` share: a stream, and a ``Draw``
    for each method in ``_DRAWS`` (and each distribution once used), which a
    copy or a pickle makes anew."""

    _DRAWS: dict[str, int] = {}
    _stream: _Stream

    def __getstate__(self) -> dict[str, Any]:
        return {"_stream": self._stream}

    def __str__(self) -> str:
        return str(self._stream.impl)  # NumPy's: ``Generator(PCG64)``

    def __repr__(self) -> str:
        return f"{self} at 0x{id(self):X}"

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        Draw.attach(self, self._DRAWS)

    def _distribution(self, name: str, qualname: str) -> Any:
        """A distribution of NumPy's not defined here (lazy), or an eager method;
        NumPy's class constants (``_poisson_lam_max``)."""
        if name.startswith("_"):
            value = getattr(type(self._stream.impl), name, None)
            if value is None or callable(value) or name.startswith("__"):
                raise AttributeError(name)
            return value
        if name in DISTRIBUTIONS and hasattr(self._stream.impl, name):
            setattr(self, name, self._stream.distribution(name, DISTRIBUTIONS[name]))
            Draw.attach(self, {name: len(DISTRIBUTIONS[name])})
            return getattr(self, name)
        return self._stream.eager(name, qualname)


def _known(p: Any) -> Any:
    """A parameter as NumPy's checks at the call see it: ones (one per axis) for
    a dagrt array (values unknown) or a large NumPy array (drawn twice else)."""
    if isinstance(p, ndarray) or isinstance(p, np.ndarray) and p.size > 65536:
        return np.ones(tuple(min(n, 1) for n in p.shape), p.dtype)
    return p


# Distributions drawn lazily: positional parameters before ``size``.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "beta": ("a", "b"), "binomial": ("n", "p"), "chisquare": ("df",),
    "exponential": ("scale",), "f": ("dfnum", "dfden"), "gamma": ("shape", "scale"),
    "geometric": ("p",), "gumbel": ("loc", "scale"),
    "hypergeometric": ("ngood", "nbad", "nsample"), "laplace": ("loc", "scale"),
    "logistic": ("loc", "scale"), "lognormal": ("mean", "sigma"), "logseries": ("p",),
    "negative_binomial": ("n", "p"), "noncentral_chisquare": ("df", "nonc"),
    "noncentral_f": ("dfnum", "dfden", "nonc"), "pareto": ("a",), "poisson": ("lam",),
    "power": ("a",), "rayleigh": ("scale",), "standard_cauchy": (),
    "standard_exponential": (), "standard_gamma": ("shape",), "standard_t": ("df",),
    "triangular": ("left", "mode", "right"), "vonmises": ("mu", "kappa"),
    "wald": ("mean", "scale"), "weibull": ("a",), "zipf": ("a",), "choice": ("a",),
    "random_integers": ("low", "high"),
}
# Methods drawn eagerly by design, in order with the draws, on evaluated inputs:
# samples of vectors (shapes from the parameters' values), bytes, the rest rare.
EAGER = {"multivariate_normal", "dirichlet", "multinomial", "multivariate_hypergeometric",
         "bytes", "permuted", "tomaxint"}
_OPTIONS = {"choice": ("replace", "p")}
_NO_BROADCAST = {"choice"}  # its parameter is a population, not a broadcast operand


class RandomState(_Drawing):
    """NumPy's legacy ``RandomState``, drawing lazily (NumPy's numbers)."""

    _DRAWS = {"rand": -1, "randn": -1, "random_sample": 0, "random": 0, "ranf": 0,
              "sample": 0, "standard_normal": 0, "uniform": 2, "normal": 2, "randint": 2}

    def __init__(self, seed: Any = None) -> None:
        self._stream = _Stream(np.random.RandomState(_host(seed)))
        Draw.attach(self, self._DRAWS)

    def seed(self, seed: Any = None) -> None:
        self._stream.apply(lambda impl, s: impl.seed(s), seed)

    def get_state(self, legacy: bool = True) -> Any:
        self._stream.state._value()
        return self._stream.impl.get_state(legacy=legacy)

    def set_state(self, state: Any) -> None:
        self._stream.apply(lambda impl, s: impl.set_state(s), state)

    def rand(self, *args: int) -> Any:
        return self._stream.draw("random_sample", (), args or None)

    def randn(self, *args: int) -> Any:
        return self._stream.draw("standard_normal", (), args or None)

    def random_sample(self, size: Any = None) -> Any:
        return self._stream.draw("random_sample", (), size)

    random = ranf = sample = random_sample

    def standard_normal(self, size: Any = None) -> Any:
        return self._stream.draw("standard_normal", (), size)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None, *,
                device: Any = None, ctx: Any = None) -> Any:
        return self._stream.draw("uniform", (low, high), size,
                                 device=device if device is not None else ctx)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None, *,
               device: Any = None, ctx: Any = None) -> Any:
        return self._stream.draw("normal", (loc, scale), size,
                                 device=device if device is not None else ctx)

    def randint(self, low: Any, high: Any = None, size: Any = None, dtype: Any = int) -> Any:
        return self._stream.draw("randint", (low, high), size, {"dtype": dtype})

    def permutation(self, x: Any) -> Any:
        return self._stream.permutation(x)

    def shuffle(self, x: Any) -> None:
        self._stream.shuffle(x)

    def __getattr__(self, name: str) -> Any:
        return self._distribution(name, f"numpy.random.RandomState.{name}")


class Generator(_Drawing):
    """NumPy's ``Generator`` (from ``default_rng``), drawing lazily."""

    _DRAWS = {"random": 0, "standard_normal": 0, "normal": 2, "uniform": 2, "integers": 2}

    def __init__(self, bit_generator: Any) -> None:
        self._stream = _Stream(np.random.Generator(bit_generator))
        Draw.attach(self, self._DRAWS)

    @classmethod
    def _of(cls, impl: np.random.Generator) -> Generator:
        self = cls.__new__(cls)
        self._stream = _Stream(impl)
        Draw.attach(self, self._DRAWS)
        return self

    @property
    def bit_generator(self) -> Any:
        return self._stream.impl.bit_generator

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        return self._stream.draw("random", (), size, {"dtype": dtype, "out": out})

    def standard_normal(self, size: Any = None, dtype: Any = np.float64,
                        out: Any = None) -> Any:
        return self._stream.draw("standard_normal", (), size, {"dtype": dtype, "out": out})

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None) -> Any:
        return self._stream.draw("normal", (loc, scale), size)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> Any:
        return self._stream.draw("uniform", (low, high), size)

    def permutation(self, x: Any, axis: int = 0) -> Any:
        return self._stream.permutation(x, axis=axis) if axis else self._stream.permutation(x)

    def shuffle(self, x: Any, axis: int = 0) -> None:
        self._stream.shuffle(x, axis=axis)

    def integers(self, low: Any, high: Any = None, size: Any = None,
                 dtype: Any = np.int64, endpoint: bool = False) -> Any:
        return self._stream.draw("integers", (low, high), size,
                                 {"dtype": dtype, "endpoint": endpoint})

    def spawn(self, n_children: int) -> list[Generator]:
        """Independent child generators, as NumPy's ``spawn`` (dagrt's)."""
        self._stream.state._quiet()
        return [Generator._of(child) for child in self._stream.impl.spawn(n_children)]

    def __getattr__(self, name: str) -> Any:
        return self._distribution(name, f"numpy.random.Generator.{name}")


def default_rng(seed: Any = None) -> Generator:
    """A new ``Generator``, as ``numpy.random.default_rng(seed)`` (or ``seed``'s)."""
    return seed if isinstance(seed, Generator) else Generator._of(
        np.random.default_rng(_host(seed)))


def get_bit_generator() -> Any:
    """The legacy functions' bit generator (NumPy's, shared), after the draws."""
    _global._stream.state._value()
    return _global._stream.impl._bit_generator


def set_bit_generator(bitgen: Any) -> None:
    """Give the legacy functions ``bitgen``, in order with the draws."""
    _global._stream.apply(lambda impl, b: impl.__init__(b), bitgen)


get_bit_generator.__dagrt_eager__ = set_bit_generator.__dagrt_eager__ = True  # type: ignore


_global = RandomState()


def seed(seed: Any = None) -> None:
    """Seed the legacy generator, in order with pending draws; and the GPUs'
    generators (their numbers are CuPy's, not NumPy's)."""
    _global.seed(seed)
    device_draws.seed_devices(seed)


seed = public(seed, np.random.seed, __name__, "seed")  # (not bound on a class, as NumPy's)
random_sample = random = ranf = sample = _global.random_sample
rand, randn, standard_normal = _global.rand, _global.randn, _global.standard_normal
uniform, normal, randint = _global.uniform, _global.normal, _global.randint
permutation, shuffle = _global.permutation, _global.shuffle
get_state, set_state = _global.get_state, _global.set_state


def __getattr__(name: str) -> Any:
    """Other legacy functions (choice, permutation, shuffle...) run eagerly, in
    order with the draws; other names (BitGenerator types...) are NumPy's."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name in DISTRIBUTIONS:
        value = getattr(_global, name)
    elif hasattr(np.random.RandomState, name) and not name.startswith("_"):
        value = _global._stream.eager(name, f"numpy.random.{name}")
    else:
        value = _fallback.resolve(np.random, ".random", name)
    if type(value) is types.FunctionType:
        value = public(value, getattr(np.random, name, None), __name__, name)
    globals()[name] = value
    return value
