"""The service's logging: one line per record at the configured level, for the API, the CLI and workers."""

from __future__ import annotations

import logging

# Libraries whose INFO lines say nothing an operator acts on, heard only at debug: Alembic's migration steps
# (a dozen on a fresh database) and httpx's line per request (every provider call: "HTTP Request: POST ...",
# which also cost ~3 % of the event loop's time on a miss through an upstream, issue 18).
CHATTY = ("alembic", "httpx")


def configure_logging(level: str) -> None:
    """Log at `level` (a name: `info`, `debug`, ...)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")  # unless handlers are set up
    logging.getLogger().setLevel(level.upper())
    quiet = logging.getLevelName(level.upper()) != logging.DEBUG
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)
