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
from .array.operands import new_array
from .array.record import record
from .ops import creation, rules, shapes
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


_S_NONE = (
    "Passing an array containing `None` values to `s` is deprecated in NumPy 2.0 and "
    "will raise an error in a future version of NumPy. To use the default behaviour of "
    "the corresponding 1-D transform, pass the value matching the default for its `n` "
    "parameter. To use the default behaviour for every axis, the `s` argument can be "
    "omitted.")
_DTYPES: dict[tuple[str, np.dtype, int], np.dtype] = {}  # a transform's result dtype
_DEFAULT: Any = object()  # axes not given (fft2: (-2, -1); given as None: warns)


def _out_shape(kind: str, shape: tuple[int, ...], axes: tuple[int, ...],
               lengths: list[int | None]) -> tuple[tuple[int, ...], list[int]]:
    """The result's shape, the 1-d transforms applied in NumPy's order (c2c:
    the axes in reverse; r2c: its real axis, then the others in reverse; c2r:
    the others in order, then its real axis), each on the current length of
    its axis when its length is None (an axis may repeat: ``axes=(0, 0, 1)``);
    and each transform's length, None resolved."""
    out = list(shape)
    resolved = list(lengths)
    last = len(axes) - 1
    order = {"c2c": list(range(last, -1, -1)), "r2c": [last, *range(last - 1, -1, -1)],
             "c2r": [*range(last), last]}[kind]
    for i in order:
        axis, n = axes[i], lengths[i]
        if kind == "c2r" and i == last:
            out[axis] = resolved[i] = n if n is not None else 2 * (out[axis] - 1)
        else:
            resolved[i] = length = n if n is not None else out[axis]
            out[axis] = length // 2 + 1 if kind == "r2c" and i == last else length
    return tuple(out), resolved  # type: ignore[return-value]


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
            if size is not None and len(size) != len(axes):
                raise ValueError("Shape and axes have different lengths.")
        axes = normalize_axis_tuple(axes, a.ndim, allow_duplicate=True)
        if not one_axis:  # NumPy's _cook_nd_args: lengths from the input's shape
            lengths = [a.shape[ax] for ax in axes] if size is None else list(size)
            if size is None and kind == "c2r":
                lengths[-1] = 2 * (a.shape[axes[-1]] - 1)
            lengths = [a.shape[ax] if n == -1 else n for ax, n in zip(axes, lengths)]
        shape, resolved = _out_shape(kind, a.shape, axes, lengths)
        if not one_axis and size is not None and None in size:
            warnings.warn(_S_NONE, DeprecationWarning, stacklevel=2)
            size = tuple(resolved)  # NumPy's meaning, without its warning on a worker
        for n in resolved:
            if n < 1:
                raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
        dtype = _DTYPES.get(key := (name, a.dtype, len(axes)))
        if dtype is None or out is not None:  # NumPy's dtype (and errors), on a meta input
            meta_input = np.ones((2,) * max(len(axes), 1), a.dtype)
            meta = func(meta_input)
            if out is not None:
                out = as_dagrt(out)
                if out.shape != shape:
                    raise ValueError("output array has wrong shape.")
                func(meta_input, out=np.empty(meta.shape, out.dtype))  # NumPy's casting error
            dtype = _DTYPES[key] = meta.dtype

        def plan() -> list[ndarray]:
            order = rules.k_order(shape, [a._data]) if a.ndim == len(shape) else None
            return [new_array(shape, dtype, (a,), order)] if out is None else [out]
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
