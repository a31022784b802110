"""The service's logging: libraries' chatty INFO lines are heard at debug only."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from dyngen.entrypoints.logs import CHATTY, configure_logging


@pytest.fixture(autouse=True)
def _levels_kept() -> Iterator[None]:
    root, kept = logging.getLogger().level, {name: logging.getLogger(name).level for name in CHATTY}
    yield
    logging.getLogger().setLevel(root)
    for name, level in kept.items():
        logging.getLogger(name).setLevel(level)


def test_a_provider_call_logs_no_line_of_httpx_at_info() -> None:
    configure_logging("info")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)  # "HTTP Request: POST ..." per call
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    assert logging.getLogger("dyngen.generation").isEnabledFor(logging.INFO)


def test_at_debug_every_library_is_heard() -> None:
    configure_logging("debug")
    assert logging.getLogger("httpx").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("alembic").isEnabledFor(logging.INFO)
