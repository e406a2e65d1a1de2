"""Warning filters as of the recording line, for kernels that run later.

NumPy warns at the call, under the filters in force there: inside
``warnings.catch_warnings()``, ``pytest.warns``, ``numpy.testing.
suppress_warnings``, a warning is ignored, raised or recorded as that block
says. A deferred kernel runs later, on a worker, when the block may be over;
Python's warning filters are process-global (``warnings.filters``, read by the
C warning machinery through the ``warnings`` module's attributes).

So the warning state becomes context-local, as Python 3.14 makes it
(``sys.flags.context_aware_warnings``): the ``warnings`` module's class gets
properties for ``filters``, ``showwarning``, ``_showwarnmsg_impl`` and
``_showwarnmsg``. Setting one (``catch_warnings`` does, on entry and exit)
sets the module's attribute as before, and the state of the calling context.
Reading one gives the calling context's state, or the module's where the
context has none. Each deferred kernel runs in a copy of its recording
context (``record.push``), so its warnings are filtered and shown as they
would have been at the recording line.

The exit of a block that collects warnings (``record=True``,
``pytest.warns``, its own ``showwarning``: an attribute set back to an
enclosing state's value) first waits for the operations recorded inside it,
so that their warnings reach the block before it ends; a block that only
filters does not wait. Dagrt's own threads never wait there. A check made
inside the block (``numpy.testing.assert_warns``, ``len(log)`` before the
block ends) sees deferred ops' warnings only after a sync point.

Not covered: a kernel that itself enters ``catch_warnings`` while the state
it was recorded in is no longer the module's restores the module's filters
to its recording state (Python's filters are not thread-safe either). On
Python 3.14 and later, or without the C ``_warnings`` module, nothing is
installed.

Imports: the configuration, ``engine.graph`` (the package's folder); the engine's ``drain`` is
given to ``install``.
"""

from __future__ import annotations

import contextvars
import dis
import functools
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable
from typing import Any

from .. import _config
from .graph import PKG_DIR

FIELDS = ("filters", "showwarning", "_showwarnmsg_impl")


class State:
    """The warning state of a context; ``used``: an op was recorded under it."""

    __slots__ = ("filters", "showwarning", "_showwarnmsg_impl", "parent", "used")

    def __init__(self, values: dict[str, Any], parent: State | None) -> None:
        self.filters = values["filters"]
        self.showwarning = values["showwarning"]
        self._showwarnmsg_impl = values["_showwarnmsg_impl"]
        self.parent = parent
        self.used = False


STATE: contextvars.ContextVar[State | None] = contextvars.ContextVar("dagrt_warnings",
                                                                     default=None)
_settle: Callable[[], None] = lambda: None  # noqa: E731 (the engine's drain)


def _deliver(showwarning: Any, impl: Any, msg: Any) -> None:
    """``warnings._showwarnmsg`` with the sinks of a recording context."""
    if showwarning is not warnings._showwarning_orig:  # type: ignore[attr-defined]
        if not callable(showwarning):
            raise TypeError("warnings.showwarning() must be set to a function or method")
        showwarning(msg.message, msg.category, msg.filename, msg.lineno, msg.file, msg.line)
        return
    impl(msg)


_LOCAL = threading.local()  # .relocate: show the next warning from the user's line
_READS = {dis.opmap[op] for op in ("LOAD_ATTR", "LOAD_METHOD") if op in dis.opmap}
_ALWAYS = [("always", None, Warning, None, 0)]  # (stores nothing in dagrt's registries)


def _field(name: str) -> property:
    def get(module: types.ModuleType) -> Any:
        if name == "filters":
            _LOCAL.relocate = relocate = _raised_in_dagrt()
            if relocate:
                return _ALWAYS
        state = STATE.get()
        return module.__dict__[name] if state is None else getattr(state, name)

    def set_(module: types.ModuleType, value: Any) -> None:
        values = module.__dict__
        state = STATE.get()
        if state is not None and getattr(state, name) is not value:
            outer = state.parent  # back to an enclosing state: a block's exit?
            while outer is not None and getattr(outer, name) is not value:
                outer = outer.parent
            if outer is not None:
                _leave(state, outer)
                parent = outer
            else:
                parent = state
        else:
            parent = state
        values[name] = value
        now = {field: values[field] if state is None else getattr(state, field)
               for field in FIELDS}
        now[name] = value
        STATE.set(State(now, parent))

    return property(get, set_, doc=f"``warnings.{name}`` of the calling context (dagrt)")


def _leave(state: State, outer: State) -> None:
    """A block ends: if it collects warnings (``record=True``, its own
    ``showwarning``), first the ops recorded in it, so that it has theirs."""
    collects = state.showwarning is not outer.showwarning or \
        state._showwarnmsg_impl is not outer._showwarnmsg_impl
    used = False
    inner: State | None = state
    while inner is not None and inner is not outer:
        used = used or inner.used
        inner.used = False
        inner = inner.parent
    if used and collects and not threading.current_thread().name.startswith("dagrt-"):
        _settle()


def _raised_in_dagrt() -> bool:
    """A warning is being raised from dagrt's code, or just below it (NumPy
    called by an op run now, in the calling thread): the warning machinery
    asks for the filters (``sys._getframe(2)``: the frame that raised)."""
    if getattr(_LOCAL, "busy", False) or threading.current_thread().name.startswith("dagrt-"):
        return False
    frame = sys._getframe(2)
    if frame.f_code.co_code[frame.f_lasti] in _READS:
        return False  # Python code reading ``warnings.filters`` (``catch_warnings``)
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_filename.startswith(PKG_DIR):
            return True
        frame = frame.f_back
    return False


def _relocated(msg: Any) -> None:
    """Warn again, under the real filters, from where NumPy would have: the
    user's line that called dagrt if the warning names dagrt's code, else
    the line it names (a user's callback, NumPy's own ``stacklevel``)."""
    frame: Any = sys._getframe(1)
    if msg.filename.startswith(PKG_DIR):
        while frame is not None and not frame.f_code.co_filename.startswith(PKG_DIR):
            frame = frame.f_back  # (below the warning machinery and NumPy: dagrt)
        while frame is not None and frame.f_code.co_filename.startswith(PKG_DIR):
            frame = frame.f_back  # below dagrt: the user's frame
        filename, lineno = (msg.filename, msg.lineno) if frame is None else \
            (frame.f_code.co_filename, frame.f_lineno)
    else:
        filename, lineno = msg.filename, msg.lineno
        frame = _frame_at(frame, filename, lineno)
    globals_ = None if frame is None else frame.f_globals
    _LOCAL.busy = True
    try:
        warnings.warn_explicit(
            msg.message, msg.category, filename, lineno,
            None if globals_ is None else globals_.get("__name__", "<string>"),
            None if globals_ is None else globals_.setdefault("__warningregistry__", {}),
            None, msg.source)  # (as ``warnings.warn``: no loader asked for the source)
    finally:
        _LOCAL.busy = False


def _frame_at(frame: Any, filename: str, lineno: int) -> Any:
    """``frame`` or the first frame below it running ``filename:lineno``."""
    while frame is not None and (frame.f_code.co_filename != filename
                                 or frame.f_lineno != lineno):
        frame = frame.f_back
    return frame


def _get_show(module: types.ModuleType) -> Any:
    if getattr(_LOCAL, "relocate", False):
        _LOCAL.relocate = False
        return _relocated
    values = module.__dict__
    state = STATE.get()
    if state is None or (state.showwarning is values["showwarning"]
                         and state._showwarnmsg_impl is values["_showwarnmsg_impl"]):
        show = values["_showwarnmsg"]
    else:
        show = functools.partial(_deliver, state.showwarning, state._showwarnmsg_impl)
    if threading.current_thread().name.startswith("dagrt-"):
        return functools.partial(_once, show)
    return show


_SHOWN: dict[tuple[Any, ...], tuple[dict[Any, Any], float]] = {}  # (registry id, *key)
_SHOWN_LOCK = threading.Lock()
_config.renew_after_fork(globals(), "_SHOWN_LOCK", threading.Lock)
_RACE_S = 0.05  # a warning a worker showed this recently for a registry entry


def _once(show: Any, msg: Any) -> None:
    """Show ``msg`` from a worker unless another worker has just shown it for
    the same registry entry. The C warning machinery checks a location's
    ``__warningregistry__`` and sets it with Python code between (the
    properties above, where the interpreter may switch threads), so two
    workers warning from one line at once both passed the check and NumPy's
    once-per-line warning was shown twice. An entry set means the filter's
    action was not ``always``: that warning shows once."""
    frame = _frame_at(sys._getframe(1), msg.filename, msg.lineno)
    registry = None if frame is None else frame.f_globals.get("__warningregistry__")
    key = (str(msg.message), msg.category, msg.lineno)
    if registry is not None and registry.get(key) is True:
        now = time.perf_counter()
        with _SHOWN_LOCK:
            seen = _SHOWN.get((id(registry), *key))
            if seen is not None and seen[0] is registry and now - seen[1] < _RACE_S:
                return
            if len(_SHOWN) > 4096:
                _SHOWN.clear()
            _SHOWN[(id(registry), *key)] = (registry, now)
    show(msg)


def _set_show(module: types.ModuleType, value: Any) -> None:
    module.__dict__["_showwarnmsg"] = value


class ContextWarnings(types.ModuleType):
    """The ``warnings`` module, with its state read and set per context."""

    filters = _field("filters")
    showwarning = _field("showwarning")
    _showwarnmsg_impl = _field("_showwarnmsg_impl")
    _showwarnmsg = property(_get_show, _set_show)


def install(settle: Callable[[], None]) -> bool:
    """Make the warning state context-local (once); ``settle()`` waits for the
    pending operations. False where Python does it itself or cannot."""
    global _settle
    _settle = settle
    if sys.version_info >= (3, 14) or "_warnings" not in sys.builtin_module_names:
        return False
    if type(warnings) is not ContextWarnings:
        warnings.__class__ = ContextWarnings
        STATE.set(State(warnings.__dict__, None))  # the importing context's
    return True


def mark_used() -> None:
    """An op recorded now runs under this context's warning state."""
    state = STATE.get()
    if state is not None:
        state.used = True
