"""Host memory: glibc allocator thresholds suited to large, short-lived arrays.

With the default thresholds glibc returns the top of the heap to the OS
whenever a couple of megabytes there are free, and serves each array over
128 KiB with a fresh ``mmap``, so memory that dagrt (which keeps a few
outputs alive while it looks ahead) frees and reallocates is faulted in again
page by page. Measured on the heat example: 234,000 page faults and 2.45 s by
default, 15,000 and 1.98 s with the thresholds below. NumPy's own strictly
nested temporaries mostly escape this through glibc's dynamic threshold.

``tune()`` raises the mmap threshold to glibc's maximum (32 MiB) and the trim
threshold to 256 MiB (at most that much freed memory is kept for reuse). It
does nothing on other C libraries, or with ``DAGRT_MALLOC_TUNE=0``.
Imports nothing from dagrt but the configuration.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from .. import _config, _log

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


def tune() -> bool:
    """Apply the thresholds; True if glibc accepted them."""
    if not _config.get("malloc_tune"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _log.debug("glibc mallopt: mmap threshold {} MiB, trim threshold {} MiB: {}",
                 MMAP_THRESHOLD >> 20, TRIM_THRESHOLD >> 20, "ok" if ok else "refused")
    return ok
