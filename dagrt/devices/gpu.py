"""The GPU backend: CuPy (or its test double), behind the small interface the
stream executor (``devices.streams``) and the array layer use:

``empty``, ``placeholder``, ``launch(stream, fn)``, ``record(stream)``,
``wait_event(stream, event)``, ``synchronize(event)``, ``elapsed``,
``to_host``, ``from_host``, ``pinned_empty``, ``free_cached``,
``translate(numpy_function)``, ``random``, ``seed``.

Device storage is CuPy's ``ndarray``, never treated as a NumPy array: what
the front end needs from it (writeability, views) it asks here.

``DAGRT_GPU_DOUBLE=N`` installs :mod:`dagrt.devices.cupy_double`, a test
double of CuPy with ``N`` devices, in place of CuPy: the same backend code
then runs without a GPU (CI runs every GPU test, example and benchmark so).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _config, _log

# -- backends -----------------------------------------------------------------------


class CupyBackend:
    """CUDA devices through CuPy (``module``: CuPy, or its test double)."""

    name = "cuda"

    def __init__(self, module: Any = None) -> None:
        if module is None:
            import cupy
            import cupyx

            module, self.cupyx = cupy, cupyx
        else:
            self.cupyx = module.cupyx
        self.cupy = module
        self.OutOfMemoryError = module.cuda.memory.OutOfMemoryError
        self._translated: dict[Any, Any] = {}

    def device_count(self) -> int:
        return int(self.cupy.cuda.runtime.getDeviceCount())

    def use(self, device_id: int) -> Any:
        return self.cupy.cuda.Device(device_id)

    def stream(self, device_id: int) -> Any:
        with self.use(device_id):
            return self.cupy.cuda.Stream(non_blocking=True)

    def empty(self, device_id: int, shape: Any, dtype: Any, order: Any = "C") -> Any:
        with self.use(device_id):
            return self.cupy.empty(shape, dtype, order)

    def placeholder(self, device_id: int, shape: Any, dtype: Any) -> Any:
        """A zero-byte array of ``shape`` for an allocation that failed."""
        with self.use(device_id):
            return self.cupy.broadcast_to(self.cupy.zeros((), dtype), shape)

    def launch(self, device_id: int, stream: Any, fn: Callable[[], Any]) -> None:
        with self.use(device_id), stream:
            fn()

    def record(self, device_id: int, stream: Any, timing: bool = False) -> Any:
        """An event on ``stream``; without ``timing`` a plain synchronization
        event (CUDA records timestamps only for events that ask)."""
        with self.use(device_id):
            event = self.cupy.cuda.Event(block=True, disable_timing=not timing)
            event.record(stream)
            return event

    def wait_event(self, stream: Any, event: Any) -> None:
        stream.wait_event(event)

    def synchronize(self, event: Any) -> None:
        event.synchronize()

    def elapsed(self, start: Any, end: Any) -> float:
        return self.cupy.cuda.get_elapsed_time(start, end) / 1e3

    def pinned_empty(self, shape: Any, dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        mem = self.cupy.cuda.alloc_pinned_memory(max(count * dtype.itemsize, 1))
        return np.frombuffer(mem, dtype, count).reshape(shape)

    def to_host(self, array: Any, out: np.ndarray | None = None, stream: Any = None) -> np.ndarray:
        """Without ``out``: a blocking copy (sync points). With a pinned ``out``:
        an asynchronous copy on ``stream`` (default: the current one, which is
        the copy lane inside ``launch``)."""
        if out is None:
            with self.use(array.device.id):
                return self.cupy.asnumpy(array)
        stream = stream if stream is not None else self.cupy.cuda.get_current_stream()
        array.get(stream=stream, out=out, blocking=False)
        return out

    def from_host(self, host: np.ndarray, out: Any, stream: Any = None) -> None:
        """Asynchronous when ``host`` is pinned (CuPy copies synchronously
        unless it is given a stream)."""
        out.set(host, stream=stream if stream is not None
                else self.cupy.cuda.get_current_stream())

    def free_cached(self, device_id: int = 0) -> None:
        """Free the cached blocks of ``device_id``'s pool (CuPy's default pool
        acts on the current device)."""
        with self.use(device_id):
            self.cupy.get_default_memory_pool().free_all_blocks()

    def translate(self, func: Any, kwargs: Any = ()) -> Any:
        """The CuPy function for a NumPy one called with ``kwargs`` (dagrt's
        own kernels pass unchanged). Linear algebra raises LinAlgError as
        NumPy's does. Keywords CuPy does not take: a ufunc's ``where=``
        computes everywhere and writes through ``copyto(..., where=)``; any
        other function's ``where=`` or ``initial=`` runs NumPy's on host
        copies of the operands (synchronizing the stream: correct, not fast)."""
        how = "where" if "where" in kwargs and isinstance(func, np.ufunc) else \
            "host" if "where" in kwargs or "initial" in kwargs else ""
        found = self._translated.get((func, how))
        if found is None:
            if how == "host":
                found = functools.partial(_via_host, self.cupy, func)
            else:
                found = self._find(func)
                if how:
                    found = functools.partial(_masked, self.cupy.copyto, found)
            self._translated[func, how] = found
        return found

    def _find(self, func: Any) -> Any:
        module = getattr(func, "__module__", "") or ""
        name = getattr(func, "__name__", "")
        if not (isinstance(func, np.ufunc) or module == "numpy" or module.startswith("numpy.")):
            return func
        sub = self.cupy
        for part in module.split(".")[1:]:
            if part in ("linalg", "fft", "random"):
                sub = getattr(sub, part)
            elif "stride_tricks" in part:
                sub = sub.lib.stride_tricks
        found = getattr(sub, name, None)
        if found is None:
            raise NotImplementedError(f"CuPy has no {module}.{name}: on a GPU, dagrt cannot "
                                      f"run it (copy the array to dagrt.cpu() first)")
        if sub is getattr(self.cupy, "linalg", None):
            return functools.partial(_checked_linalg, self.cupyx, found)
        return found

    def random(self, device_id: int) -> Any:
        with self.use(device_id):
            return self.cupy.random

    def seed(self, device_id: int, seed: Any) -> None:
        """Seed ``device_id``'s generator (CuPy's numbers, not NumPy's)."""
        with self.use(device_id):
            self.cupy.random.seed(seed)


def _masked(copyto: Callable[..., Any], func: Callable[..., Any], *args: Any, out: Any,
            where: Any = True, **kwargs: Any) -> None:
    """``func(*args, out=out, where=where)`` for a function without ``where=``."""
    kwargs.pop("casting", None)
    copyto(out, func(*args, **kwargs), casting="unsafe", where=where)


def _via_host(cupy: Any, func: Callable[..., Any], *args: Any, out: Any = None,
              **kwargs: Any) -> Any:
    """NumPy's ``func`` on host copies of the device operands, its result sent
    back (the copies run on the current stream, after what the op waits for)."""
    def host(x: Any) -> Any:
        if isinstance(x, cupy.ndarray):
            return cupy.asnumpy(x)
        if type(x) in (list, tuple):
            return type(x)(host(v) for v in x)
        return x
    result = func(*host(args), **{k: host(v) for k, v in kwargs.items()})
    if out is None:
        return cupy.asarray(result)
    out[...] = cupy.asarray(np.asarray(result, out.dtype))
    return out


def _checked_linalg(cupyx: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """CuPy's linear algebra gives NaN for singular input unless asked to check."""
    with cupyx.errstate(linalg="raise"):
        return func(*args, **kwargs)


_backend: Any = None


def backend() -> Any:
    """The GPU backend: CuPy if it imports and sees a device (or CuPy's test
    double, with ``DAGRT_GPU_DOUBLE``), else None."""
    global _backend
    if _backend is None:
        _backend = False  # looked once; a later use_backend() may install one
        try:
            doubles = _config.get("gpu_double")
            if doubles:
                from . import cupy_double

                cupy_double.cuda.SETTINGS["devices"] = doubles
                candidate = CupyBackend(cupy_double)
            else:
                candidate = CupyBackend()
            if candidate.device_count() > 0:
                _backend = candidate
        except Exception as exc:  # no CuPy, no driver, no device
            _log.debug("no CUDA backend: {!r}", exc)
    return _backend or None


def use_backend(new: Any) -> Any:
    """Install a backend (tests install CuPy's double); returns the old one."""
    global _backend
    old, _backend = _backend, new
    return old
