"""``dagrt.fft``: NumPy's discrete Fourier transforms, recorded lazily.

Output lengths follow NumPy's rules: a complex transform keeps ``n`` (or the
axis length); a real-to-complex one gives ``n // 2 + 1`` along its last axis;
a complex-to-real one gives ``n`` (default ``2 * (m - 1)``). The dtype is what
NumPy gives for a two-element input of the same dtype.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .array.ndarray import ndarray
from .array.record import new_array, record
from .ops import creation, shapes
from .ops import fallback as _fallback
from .ops.args import as_dagrt, eager_call
from .ops.table import Row, adopt_all

# name -> (kind, default axes): kind is c2c, r2c or c2r
TRANSFORMS: dict[str, tuple[str, Any]] = {
    "fft": ("c2c", -1), "ifft": ("c2c", -1), "rfft": ("r2c", -1), "irfft": ("c2r", -1),
    "hfft": ("c2r", -1), "ihfft": ("r2c", -1),
    "fft2": ("c2c", (-2, -1)), "ifft2": ("c2c", (-2, -1)), "rfft2": ("r2c", (-2, -1)),
    "irfft2": ("c2r", (-2, -1)),
    "fftn": ("c2c", None), "ifftn": ("c2c", None), "rfftn": ("r2c", None),
    "irfftn": ("c2r", None),
}


_AXES_NONE = (
    "`axes` should not be `None` if `s` is not `None` (Deprecated in NumPy 2.0). In a "
    "future version of NumPy, this will raise an error and `s[i]` will correspond to the "
    "size along the transformed axis specified by `axes[i]`. To retain current behaviour, "
    "pass a sequence [0, ..., k-1] to `axes` for an array of dimension k.")


_DEFAULT: Any = object()  # axes not given (fft2: (-2, -1); given as None: warns)


def _out_shape(kind: str, shape: tuple[int, ...], axes: tuple[int, ...],
               lengths: list[int | None]) -> tuple[int, ...]:
    out = list(shape)
    for i, (axis, n) in enumerate(zip(axes, lengths)):
        last = i == len(axes) - 1
        if kind == "c2r" and last:
            out[axis] = n if n is not None else 2 * (shape[axis] - 1)
        else:
            length = n if n is not None else shape[axis]
            out[axis] = length // 2 + 1 if kind == "r2c" and last else length
    return tuple(out)


def _transform(name: str) -> Callable[..., ndarray]:
    func = getattr(np.fft, name)
    kind, default_axes = TRANSFORMS[name]
    one_axis = isinstance(default_axes, int)

    @functools.wraps(func)
    def transform(a: Any, n_or_s: Any = None, axis_or_axes: Any = _DEFAULT,
                  norm: Any = None, out: Any = None, **kwargs: Any) -> ndarray:
        if out is not None and not isinstance(out, ndarray):  # NumPy's array (or error)
            given = {"n" if one_axis else "s": n_or_s, "norm": norm, "out": out}
            if axis_or_axes is not _DEFAULT:
                given["axis" if one_axis else "axes"] = axis_or_axes
            return eager_call(func, (a,), {**given, **kwargs})
        a = as_dagrt(a)
        size = kwargs.pop("n" if one_axis else "s", n_or_s)
        axes = kwargs.pop("axis" if one_axis else "axes", axis_or_axes)
        if one_axis:
            axes = (default_axes if axes is _DEFAULT or axes is None else axes,)
            lengths: list[int | None] = [size]
        else:
            if size is not None and (axes is None or axes is _DEFAULT and default_axes is None):
                warnings.warn(_AXES_NONE, DeprecationWarning, stacklevel=2)
            if axes is _DEFAULT and default_axes is not None:
                axes = default_axes
            elif axes is None or axes is _DEFAULT:
                axes = tuple(range(-len(size), 0)) if size is not None else tuple(range(a.ndim))
            lengths = list(size) if size is not None else [None] * len(axes)
        axes = normalize_axis_tuple(axes, a.ndim, allow_duplicate=True)
        if not one_axis:  # s[i] == -1: the input's length along that axis (NumPy 2)
            lengths = [a.shape[ax] if n == -1 else n for ax, n in zip(axes, lengths)]
        shape = _out_shape(kind, a.shape, axes, lengths)
        for ax, n in zip(axes, lengths):
            if (n if n is not None else shape[ax]) < 1:
                raise ValueError(f"Invalid number of FFT data points "
                                 f"({n if n is not None else shape[ax]}) specified.")
        meta_input = np.ones((2,) * max(len(axes), 1), a.dtype)
        meta = func(meta_input)
        if out is not None:
            out = as_dagrt(out)
            if out.shape != shape:
                raise ValueError("output array has wrong shape.")
            func(meta_input, out=np.empty(meta.shape, out.dtype))  # NumPy's casting error
        dtype = meta.dtype

        def plan() -> list[ndarray]:
            return [new_array(shape, dtype, (a,))] if out is None else [out]
        call_kwargs = {"n" if one_axis else "s": size, "axis" if one_axis else "axes":
                       (axes[0] if one_axis else axes), "norm": norm, **kwargs}
        return record(f"fft.{name}", func, (a,), call_kwargs, plan,
                      None if out is None else [out], use_out=out is not None,
                      work=a._data.nbytes * max(1, int(np.log2(max(2, a.size)))))[0]
    transform.__module__ = __name__
    return transform


for _name in TRANSFORMS:
    globals()[_name] = _transform(_name)


def fftfreq(n: int, d: float = 1.0, *, device: Any = None) -> ndarray:
    """Implementation of numpy.fft.fftfreq (reads no data: computed at once)."""
    return creation.creation(Row("fftfreq", "creation", np.fft.fftfreq), (n, d),
                         {"device": device})


def rfftfreq(n: int, d: float = 1.0, *, device: Any = None) -> ndarray:
    """Implementation of numpy.fft.rfftfreq (reads no data: computed at once)."""
    return creation.creation(Row("rfftfreq", "creation", np.fft.rfftfreq), (n, d),
                         {"device": device})


def fftshift(x: Any, axes: Any = None) -> ndarray:
    """Implementation of numpy.fft.fftshift (lazy: same shape and dtype)."""
    return shapes.shaped(Row("fft.fftshift", "shaped", np.fft.fftshift, out=False),
                       x, (), {"axes": axes})


def ifftshift(x: Any, axes: Any = None) -> ndarray:
    """Implementation of numpy.fft.ifftshift (lazy: same shape and dtype)."""
    return shapes.shaped(Row("fft.ifftshift", "shaped", np.fft.ifftshift, out=False),
                       x, (), {"axes": axes})


adopt_all(globals(), np.fft)  # NumPy's signatures (inspect.signature)


def __getattr__(name: str) -> Any:
    value = _fallback.resolve(np.fft, ".fft", name)
    globals()[name] = value
    return value
