"""Random draws on a device (a GPU): CuPy's generator, one per device, its
draws in order as on the host, seeded by ``dagrt.random.seed`` (CuPy's
numbers, not NumPy's: docs/coverage.md).

Imports: the array layer.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..array.ndarray import ndarray
from ..array.operands import new_array
from ..array.record import record

_device_states: dict[Any, ndarray] = {}
_device_seed: list[Any] = []  # the last ``seed(s)``, for devices that draw later


def _seed_device(device: Any, state: ndarray, seed: Any) -> None:
    """Seed ``device``'s generator (CuPy's), in order with its draws."""
    record("random.seed", functools.partial(_device_seed_kernel, device), (seed,), {},
           lambda: [state], [state])


def _device_seed_kernel(device: Any, seed: Any, *, out: Any) -> None:
    device.backend.seed(device.id, seed)


def _device_kernel(device: Any, method: str, params: tuple[Any, ...], shape: Any, *,
                   out: Any, **kwargs: Any) -> None:
    if method == "integers":  # a Generator's: CuPy's module has the legacy randint
        method, low, high = "randint", *(tuple(params) + (None,))[:2]
        if kwargs.pop("endpoint", False):  # [low, high], not [low, high)
            low, high = (low + 1, None) if high is None else (low, high + 1)
        params = (low, high)
    out[0][...] = getattr(device.backend.random(device.id), method)(*params, size=shape,
                                                                    **kwargs)


def draw(device: Any, method: str, params: tuple[Any, ...], shape: tuple[int, ...],
         kwargs: dict[str, Any], validator: Any) -> ndarray:
    """``method(*params, size=shape, **kwargs)`` drawn on ``device`` (``validator``:
    a NumPy generator of the kind drawn from, for NumPy's checks and dtype)."""
    dtype = np.asarray(getattr(validator, method)(*params, size=1, **kwargs)).dtype
    out = new_array(shape, dtype, device=device)
    state = _device_states.get(device)
    if state is None or state._var.device is not device:  # (a device made anew: reset)
        # draws on one device run in order, as on the host
        state = _device_states[device] = new_array((0,), np.uint8, device=device)
        if _device_seed:  # seeded before this device drew
            _seed_device(device, state, _device_seed[0])
    outs = [out, state]
    return record(f"random.{method}", functools.partial(_device_kernel, device, method),
                  (params, shape), kwargs, lambda: outs, outs)[0]


def seed_devices(seed: Any) -> None:
    """``dagrt.random.seed(seed)``: each device's generator, now or when it first draws."""
    _device_seed[:] = [seed]
    for device, state in list(_device_states.items()):
        if getattr(state._var.device.executor, "closed", False):  # a device reset
            del _device_states[device]
        else:
            _seed_device(state._var.device, state, seed)
