"""`dyngen worker`: runs generation jobs from the arq queue (scaled mode: needs DYNGEN_REDIS_URL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dyngen.adapters.jobs.arq import arq_worker
from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.errors import DyngenError, ErrorCode

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
    assert services.run_job is not None
    await services.start()
    worker = arq_worker(
        redis_url=settings.redis_url,
        run=services.run_job,
        queue_name=f"{settings.redis_prefix}:jobs",
        max_jobs=settings.worker_max_jobs,
        job_timeout_s=settings.job_timeout_s,
        max_tries=settings.job_max_attempts + 2,
    )
    log.info("worker.started runner=%s queue=%s:jobs", services.runner_id, settings.redis_prefix)
    try:
        # arq's signal handler stops the worker by cancelling its main task: that is a clean stop.
        with contextlib.suppress(asyncio.CancelledError):
            await worker.async_run()
    finally:
        await worker.close()
        await services.aclose()
