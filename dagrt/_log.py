"""dagrt's logging, through loguru, which is imported only when needed.

Importing loguru costs about as much as importing NumPy, so ``import dagrt``
imports it only if the application already did, or if ``DAGRT_LOG_LEVEL`` is
set. A later message imports it then (if the application has imported it in
the meantime). As a library should, dagrt disables its own messages
(``logger.disable("dagrt")``) when it first takes loguru's logger; an
application shows them with ``logger.enable("dagrt")`` after its first dagrt
call, or with ``DAGRT_LOG_LEVEL``.

``DEBUG`` is true when ``DAGRT_LOG_LEVEL`` is DEBUG or TRACE: only then do the
per-operation messages (scheduling decisions) cost anything.

Imports nothing from dagrt but the configuration.
"""

from __future__ import annotations

import sys
from typing import Any

from . import _config

DEBUG = False
_logger: Any = None


def logger() -> Any:
    """loguru's logger, or None while neither dagrt nor the application uses loguru."""
    global _logger
    if _logger is None and ("loguru" in sys.modules or _config.get("log_level")):
        from loguru import logger as loguru_logger

        loguru_logger.disable("dagrt")
        _logger = loguru_logger
    return _logger


def setup() -> None:
    """At import: with ``DAGRT_LOG_LEVEL``, print dagrt's messages at that level
    to stderr. Handlers the application added stay; loguru's default handler,
    if it is still there, goes on printing everything but dagrt's messages."""
    global DEBUG
    level = _config.get("log_level").upper()
    log = logger()
    if not level or log is None:
        return
    try:  # loguru's default handler (stderr, every level) would print dagrt's DEBUG
        log.remove(0)  # lines too: it goes on for everything else (the application's)
    except ValueError:  # the application already replaced it: its handlers stay
        pass
    else:
        log.add(sys.stderr, filter=lambda record: not record["name"].startswith("dagrt"))
    log.enable("dagrt")
    log.add(sys.stderr, level=level, filter=lambda record: record["name"].startswith("dagrt"))
    DEBUG = level in ("DEBUG", "TRACE")


def debug(message: str, *args: Any) -> None:
    log = logger()
    if log is not None:
        log.opt(depth=1).debug(message, *args)


def warning(message: str, *args: Any) -> None:
    log = logger()
    if log is not None:
        log.opt(depth=1).warning(message, *args)
