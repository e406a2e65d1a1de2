"""Errors of operations: how an exception raised in a kernel reaches the user.

Imports: ``engine.graph``.
"""

from __future__ import annotations

import concurrent.futures
import traceback

from .graph import PKG_DIR, Op, cell_name


def annotate(exc: BaseException, op: Op) -> None:
    """Name the user's recording line in a note (the message stays NumPy's)."""
    exc.add_note(f"dagrt: raised in {op.where()}")
    exc.dagrt_site = op.site  # type: ignore[attr-defined]
    # Each sync point raises the error again, with a fresh traceback (not one
    # growing by a few frames per read). The kernel's traceback is not kept:
    # its frames hold the op's arrays (a finished frame keeps its caller and
    # its function, whose closure has the inputs); its lines outside dagrt
    # become a note.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(PKG_DIR):
        tb = tb.tb_next
    if tb is not None:
        frames = traceback.extract_tb(tb)
        for frame in frames:
            frame.filename = cell_name(frame.filename) or frame.filename
        exc.add_note("kernel traceback (most recent call last):\n"
                     + "".join(traceback.format_list(frames)).rstrip())
    exc.__traceback__ = None


class CancelledError(concurrent.futures.CancelledError):
    """An operation that was cancelled before it ran (Ctrl-C during a sync
    point, or ``dagrt.cancel()``): its outputs were never computed."""


def rethrow(error: BaseException) -> BaseException:
    """``error``, to raise again from here (with a fresh traceback)."""
    return error.with_traceback(None)
