"""`dyngen worker`: runs generation jobs from the arq queue (scaled mode: needs DYNGEN_REDIS_URL)."""

from __future__ import annotations

import logging

from dyngen.bootstrap import build, run_job_worker
from dyngen.config import Settings
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.entrypoints import interpreter

log = logging.getLogger("dyngen.worker")


async def run_worker(settings: Settings) -> None:
    """Build the services, start the reaper, and run arq jobs until SIGTERM/SIGINT.

    Raises:
        DyngenError: DEPENDENCY_UNAVAILABLE without Redis (the embedded default runs jobs in the API process).
    """
    if not settings.redis_url:
        raise DyngenError(
            ErrorCode.DEPENDENCY_UNAVAILABLE,
            "dyngen worker needs DYNGEN_REDIS_URL; without Redis, `dyngen serve` runs jobs in-process",
        )
    services = await build(settings)
    try:
        await services.start()
        log.info("worker.started runner=%s queue=%s:jobs", services.runner_id, settings.redis_prefix)
        with interpreter.long_running():
            await run_job_worker(settings, services)  # until SIGTERM/SIGINT
    finally:
        await services.aclose()
