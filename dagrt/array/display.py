"""How a dagrt array shows in IPython and Jupyter: at once, pending or not.

Imports: the engine, the devices.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .. import _config
from ..devices.device import CPU
from ..engine.scheduler import ENGINE

_STATE_COLOURS = {"ready": "green", "pending": "darkorange", "failed": "red"}
_SUBCLASS_VIEWS: dict[type, type] = {}


def state(a: Any) -> str:
    """"ready", "pending" or "failed", for IPython's views (which wait for a
    pending array only with ``display_wait``)."""
    var = a._var
    if _config.get("display_wait") and var.nw and var.error is None:
        try:
            ENGINE.wait(var)
        except Exception:  # shown as failed
            pass
    return "failed" if var.error is not None else "pending" if var.nw else "ready"


def head(a: Any, state: str) -> str:
    data = a._data
    return (f"dagrt.ndarray shape={data.shape} dtype={data.dtype} "
            f"device={a._var.device or CPU} {state}")


def pretty(a: Any, printer: Any) -> None:
    """IPython's text view: the values once computed (as ``repr``); a
    pending or failed array says so at once instead of waiting or raising."""
    now = state(a)
    printer.text(repr(a) if now == "ready" else f"<{head(a, now)}>")


def as_html(a: Any) -> str:
    """Jupyter's view: shape, dtype, device and state, and the values once
    computed. A pending array shows at once that it is pending (unless
    ``display_wait`` is on); a failed one names its error."""
    now = state(a)
    first, _, rest = head(a, now).partition(" ")
    rest, _, _ = rest.rpartition(" ")
    title = (f"<b>{first}</b> {html.escape(rest)} "
             f"<span style='color:{_STATE_COLOURS[now]}'>{now}</span>")
    if now == "failed":
        error = a._var.error
        body = html.escape(f"{type(error).__name__}: {error}")
    elif now == "pending":
        body = "(being computed: display it again, or print it to wait for it)"
    else:
        body = html.escape(repr(a))
    return f"<div class='dagrt-array'>{title}<pre>{body}</pre></div>"


def subclass_repr(data: np.ndarray, cls: type) -> str:
    """NumPy's ``repr`` of an instance of a subclass: its class name where
    NumPy writes ``array`` (through a NumPy subclass of the same name)."""
    twin = _SUBCLASS_VIEWS.get(cls)
    if twin is None:
        twin = _SUBCLASS_VIEWS[cls] = type(cls.__name__, (np.ndarray,), {})
    return repr(data.view(twin))
