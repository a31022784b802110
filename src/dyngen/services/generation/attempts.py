"""One provider attempt loop: under the node's deadline, with retries and backoff, each attempt's cost
reserved and settled in the budgets, its output checked against the node's required and avoided elements
(`domain.elements`: the lexicon, the model's report, a judge when one is configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from dyngen.domain.cache_keys import ResolvedSeed
from dyngen.domain.contracts import FallbackMode, GenerateContentRequest, Simulate
from dyngen.domain.elements import ElementReport, ElementsRefusedError, content_lines, content_text, to_judge
from dyngen.domain.elements import check as check_elements
from dyngen.domain.elements import problems as element_problems
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import ElementCheck, GeneratedContentPayload
from dyngen.domain.validation import DEFAULT_MAX_RETRIES
from dyngen.ports import Clock, ElementJudge, Provider, ProviderCall, ProviderResult, RemoteJob
from dyngen.services.budgets import limits as budget_limits
from dyngen.services.budgets import spending as budgets
from dyngen.services.generation.ports import RunPorts
from dyngen.services.generation.scene_images import fetch_scene_images
from dyngen.services.machinery.container import Options
from dyngen.services.machinery.live_media import LiveArtifact

log = logging.getLogger("dyngen.generation")

Progress = Callable[[str, dict[str, Any]], Awaitable[None]]


def timeout_s(options: Options, request: GenerateContentRequest) -> float:
    """The node's deadline in seconds (its `timeoutMs`, else the deployment's default)."""
    return (request.fallback.timeout_ms or options.default_timeout_ms) / 1000


@dataclass(frozen=True, slots=True)
class Checked:
    """A provider's result that passed the element check, and how each element was verified.

    `settling` is the call's budget settlement, still under way when `run_provider` returns it (None when
    nothing was settled): whoever writes the run's record awaits it after that write, so that the two go
    in one group-commit batch rather than one after the other (issue 18: a miss through a 50 ms upstream
    spent ~4 ms waiting for its settlement's batch alone), and the answer still waits for both.
    """

    result: ProviderResult
    elements: list[ElementCheck]
    settling: asyncio.Future[None] | None = None  # awaited through `settled`


async def settled(settling: asyncio.Future[None] | None) -> None:
    """Wait until a settlement under way (`Checked.settling`, `budgets.settling`) has ended. Its failure was
    logged by `budgets`. A task cancelled by the service's shutdown (the tracked tasks are cancelled after a
    grace) ends the wait without cancelling the caller, and a caller cancelled here leaves it running; a
    write queued in a batch is this caller's own future, awaited as it is (the write stays in its batch)."""
    if settling is None or settling.done():
        return
    if isinstance(settling, asyncio.Task):
        await asyncio.wait({settling})
        return
    with contextlib.suppress(Exception):
        await settling


class settled_on_failure:  # noqa: N801 - used as a function: `async with settled_on_failure(settling):`
    """The block that stores and records a result: when it fails, the failure (a fallback, an error) is
    answered only once the settlement under way has ended, as a success is. A class, not a generator-based
    context manager: it is entered on every miss."""

    __slots__ = ("settling",)

    def __init__(self, settling: asyncio.Future[None] | None) -> None:
        self.settling = settling

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None and issubclass(kind, Exception):
            await settled(self.settling)


async def _attempt(
    provider: Provider,
    call: ProviderCall,
    request: GenerateContentRequest,
    clock: Clock,
    spent: Callable[[float], None] = lambda _: None,
    *,
    judge: ElementJudge | None = None,
    script: GeneratedContentPayload | None = None,
    script_elements: list[ElementCheck] | None = None,
) -> Checked:
    started = clock.monotonic()  # `call.deadline_s` is counted from here
    simulate = request.simulate
    if simulate is not None and simulate.latency_ms:
        await clock.sleep(simulate.latency_ms / 1000)
    if simulate is not None and (forced := simulate.forced_failure()) is not None:
        raise DyngenError(forced, "forced by simulate.fail_with")
    result = await provider.generate(call)
    spent(result.cost)  # what the call cost, even when its output is refused below
    if not content_text(result.payload).strip() and not result.artifacts:
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, f"provider '{provider.info.name}' returned no content")
    if script is not None and script_elements is not None and content_lines(result.payload) == content_lines(script):
        checks = script_elements  # the render shows the script's lines: verified when the script was
    else:
        checks = await verify_elements(
            result.payload,
            request,
            report=result.report,
            judge=judge,
            deadline_s=max(call.deadline_s - (clock.monotonic() - started), 0.001),  # what the generation left
            spent=spent,
        )
    if element_problems(checks):
        raise ElementsRefusedError(checks)
    return Checked(result, checks)


async def verify_elements(
    payload: GeneratedContentPayload,
    request: GenerateContentRequest,
    *,
    report: ElementReport | None,
    judge: ElementJudge | None,
    deadline_s: float,
    spent: Callable[[float], None] = lambda _: None,
) -> list[ElementCheck]:
    """How each element of the request stands in `payload` (`domain.elements.check`); the elements the
    lexicon and the model's report leave open are put to the judge, when one is configured, in one call.
    A judge that cannot answer decides nothing (a required element it would have found stays missing)."""
    checks = check_elements(payload, request.constraints, report=report, lexicon=request.lexicon)
    pending = to_judge(checks)
    if judge is None or not pending:
        return checks
    try:
        answers, cost = await judge.judge_elements(text=content_text(payload), elements=pending, deadline_s=deadline_s)
    except DyngenError as exc:
        log.warning("elements.judge_failed code=%s elements=%d", exc.code.value, len(pending))
        return checks
    spent(cost)
    return check_elements(payload, request.constraints, report=report, lexicon=request.lexicon, judged=answers)


# The share of what is left of a node's deadline that reading the stored budget limits may take: a database
# that accepts and never answers leaves the provider, the artifacts, the record and the answer the rest
# (the configured limits apply then).
LIMITS_SHARE = 0.25
# Failures after which the provider may have billed the call: it was cut off mid-call by the deadline,
# or it answered with output that could not be used (a model asked twice).
_MAY_HAVE_BILLED = frozenset({ErrorCode.GEN_TIMEOUT, ErrorCode.GEN_EMPTY_OUTPUT})


def _spent(costs: list[float], failed: DyngenError | None, estimate: float, *, forced: Simulate | None) -> float | None:
    """What an attempt cost, for the budget: the provider's own figure when it answered; its estimate when
    it failed in a way that may still be billed (so a budget errs towards refusing, never overspending);
    None (the reservation is given back) when it never reached a paid call, or the caller was cancelled
    (the process is stopping: no ledger write is started then, and an unreleased hold expires by itself).
    """
    if costs:
        return sum(costs)  # the provider's answer, and a judge's when one was asked
    if forced is not None and forced.forced_failure() is not None:
        return None  # `simulate` failed it before the provider was called
    if failed is not None and failed.code in _MAY_HAVE_BILLED:
        return estimate
    return None


async def run_provider(  # noqa: PLR0915 - one attempt loop: reserve, call, settle, back off
    ports: RunPorts,
    request: GenerateContentRequest,
    provider: Provider,
    seed: ResolvedSeed,
    progress: Progress | None = None,
    *,
    remote_job: RemoteJob | None = None,
    deadline: float | None = None,
    script: GeneratedContentPayload | None = None,
    script_elements: list[ElementCheck] | None = None,
    stream: LiveArtifact | None = None,
) -> tuple[Checked | None, DyngenError | None, int]:
    """Try the provider within the node's deadline, retrying when the fallback mode is `retry`.

    `remote_job` (a job the provider started upstream for an earlier run of this generation) is handed
    to the first attempt; each job the provider starts upstream is told to `progress`. A pipeline's
    stages share one `deadline` (monotonic; default: the node's timeout from now); its render stage gets
    the `script` to render and how the script's elements were verified (`script_elements`), which stand
    for a render that shows the script's very lines. `stream` is handed to the first attempt (a video
    served while it renders); once it was released to a player, a failed attempt is not retried.

    Returns the checked result (or None), the last error (or None) and the number of attempts made.
    """
    on_remote_job = None
    on_progress = None
    if progress is not None:
        report = progress

        async def on_remote_job(job: RemoteJob) -> None:
            await report("progress", {"remote_job": {"provider": job.provider, "id": job.id}})

        async def on_progress(data: dict[str, Any]) -> None:
            await report("progress", {"upstream": data})

    fb = request.fallback
    limit_s = timeout_s(ports.options, request)
    retries = (
        (fb.max_retries if fb.max_retries is not None else DEFAULT_MAX_RETRIES) if fb.mode is FallbackMode.RETRY else 0
    )
    if deadline is None:
        deadline = ports.clock.monotonic() + limit_s
    # The images' lookup gets what is left of the deadline, at most as long as a record write may take.
    images = await fetch_scene_images(
        request=request,
        provider=provider,
        records=ports.repository,
        artifacts=ports.artifacts,
        tasks=ports.tasks,
        within_s=min(ports.options.record_timeout_s, deadline - ports.clock.monotonic()),
    )
    error: DyngenError | None = None
    attempt = 0
    while attempt <= retries:
        remaining = deadline - ports.clock.monotonic()
        if remaining <= 0:
            error = DyngenError(ErrorCode.GEN_TIMEOUT, f"no content within the node's {limit_s * 1000:.0f} ms")
            break
        attempt += 1
        if progress is not None:
            await progress("progress", {"attempt": attempt, "provider": provider.info.name})
        call = ProviderCall(
            request=request,
            seed=seed.value,
            attempt=attempt,
            deadline_s=remaining,
            images=images,
            remote_job=remote_job if attempt == 1 else None,
            on_remote_job=on_remote_job,
            on_progress=on_progress,
            script=script,
            stream=stream if attempt == 1 else None,
        )
        estimate = provider.estimate_cost(request)
        try:
            # The estimate is held in the node's budget and the global cap before the call (or refused).
            # The limits set in the editor apply over the configured ones (read only when a ledger counts).
            policy = ports.options.budgets
            if ports.ledger is not None:
                policy = await budget_limits.current_policy(
                    policy=policy, limits=ports.limits, within_s=remaining * LIMITS_SHARE
                )
            hold = await budgets.reserve(
                node_id=request.node_id,
                provider=provider.info.name,
                estimate=estimate,
                deadline_s=remaining,
                ledger=ports.ledger,
                policy=policy,
                clock=ports.clock,
            )
        except DyngenError as exc:
            error = exc
            break
        costs: list[float] = []
        failed: DyngenError | None = None
        checked: Checked | None = None
        settling: asyncio.Future[None] | None = None
        try:
            async with asyncio.timeout(remaining):
                checked = await _attempt(
                    provider,
                    call,
                    request,
                    ports.clock,
                    costs.append,
                    judge=ports.judge,
                    script=script,
                    script_elements=script_elements,
                )
        except TimeoutError:
            error = failed = DyngenError(ErrorCode.GEN_TIMEOUT, f"no content within the node's {limit_s * 1000:.0f} ms")
        except DyngenError as exc:
            if not exc.code.is_generation_failure:
                raise
            error = failed = exc
        except Exception as exc:  # a provider bug must become a coded failure and a fallback, never a 500
            log.exception("provider.crashed provider=%s", provider.info.name)
            error = failed = DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"provider '{provider.info.name}' failed: {type(exc).__name__}"
            )
        finally:
            actual = _spent(costs, failed, estimate, forced=request.simulate)
            if checked is None or failed is not None:
                await budgets.settle(hold=hold, actual=actual, ledger=ports.ledger, clock=ports.clock)
            else:  # under way while the caller stores and records the result
                settling = budgets.settling(hold=hold, actual=actual, ledger=ports.ledger, clock=ports.clock)
                if isinstance(settling, asyncio.Task):
                    ports.tasks.adopt("budget-settle", settling)  # finished on close even when nobody awaits it
        if checked is not None and failed is None:
            ports.metrics.provider_call(provider=provider.info.name, outcome="ok")
            return replace(checked, settling=settling), None, attempt
        assert error is not None
        ports.metrics.provider_call(provider=provider.info.name, outcome=error.code.value)
        if attempt > retries or not error.code.retryable or (stream is not None and stream.released):
            break
        backoff = ports.options.retry_backoff_ms / 1000 * 2 ** (attempt - 1)
        await ports.clock.sleep(max(0.0, min(backoff, deadline - ports.clock.monotonic())))
    return None, error, attempt
