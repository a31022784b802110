"""`HttpVideoProvider`: video from a hosted generator that works as a job: submit, poll, download, cancel.

Everything about the remote API is configuration: either a preset (`replicate`, `fal`: see
`http_video_presets`) with a model and a key, or the generic form: the submit URL and a JSON body
template, a status URL template, an optional cancel URL template, headers, and dotted paths to the job id,
the status and the result URL in the answers. The body reaches the scene images too (`{{from_image_url}}`
signed, `{{from_image_b64}}`). The result URL comes from the remote service, so it is fetched only when it
passes the SSRF rule (`ssrf`), connected to the very address that was checked, each redirect checked the
same way, at most `max_bytes` read. URLs an answer names for the job (Replicate's `urls.get`) must be on
the API's own host: the credentials go nowhere else. The API's own calls go through the rule too: its
configured URLs' `host:port` may be private (the operator named them), any other private address only when
named in `private_hosts`.

A job that outlives the call's deadline, or whose generation is cancelled, is cancelled upstream too (best
effort). Each job started is reported through `call.on_remote_job`, so the service keeps it with the
generation's own job; a worker carrying on after another died passes it back as `call.remote_job`, and the
provider polls that job instead of paying for a second one.

429, 5xx and refused credentials are GEN_PROVIDER_UNAVAILABLE, as is a remote job that failed (with the
remote reason, secrets scrubbed) and a refused result URL (naming the rule); the deadline is GEN_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from dyngen import defaults
from dyngen.adapters.providers.http_video_presets import PRESETS, Preset
from dyngen.adapters.providers.http_video_settings import HttpVideoSettings
from dyngen.adapters.providers.ssrf import (
    UrlRule,
    check_address,
    check_url,
    guarded_get,
    guarded_request,
    host_allowed,
    pinned,
    secret_parts,
)
from dyngen.adapters.providers.upstream import API_MAX_BYTES, call_upstream, json_answer
from dyngen.domain import prompts
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, PayloadType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import ContentMetadata, GeneratedContentPayload
from dyngen.ports import ArtifactBlob, ProviderCall, ProviderInfo, ProviderResult, RemoteJob

# The SSRF rule moved to `ssrf`; these names stay importable from here.
__all__ = ["HttpVideoProvider", "HttpVideoSettings", "check_address", "check_url", "host_allowed", "pinned"]

log = logging.getLogger("dyngen.providers.http_video")

DEFAULT_BODY_TEMPLATE = '{"prompt": {{prompt}}, "seed": {{seed}}, "duration": {{duration}}}'
DONE = frozenset({"done", "succeeded", "success", "completed", "complete", "finished", "ready"})
FAILED = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled", "rejected"})
PLACEHOLDERS = frozenset(
    {
        "prompt",
        "seed",
        "duration",
        "mood_from",
        "mood_to",
        "from_image_url",
        "to_image_url",
        "from_image_b64",
        "to_image_b64",
    }
)
CANCEL_TIMEOUT_S = 5.0
_PLACEHOLDER = re.compile(r'"\{\{(\w+)\}\}"|\{\{(\w+)\}\}')


def render_body(template: str, values: dict[str, Any]) -> Any:
    """The JSON body: each `{{name}}` (quoted or not) replaced by the JSON value of `values[name]`.

    Raises:
        ValueError: An unknown placeholder, or a template that is not JSON once filled in.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise ValueError(f"unknown placeholder {{{{{name}}}}} in the body template")
        return json.dumps(values[name], ensure_ascii=False)

    return json.loads(_PLACEHOLDER.sub(fill, template))


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (`data.id`, `output.0.url`), None when it is not there."""
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def scene_image_values(call: ProviderCall, sign_url: Callable[[str], str | None] | None) -> dict[str, str | None]:
    """`from_image_url`, `to_image_url` (signed artifact URLs, absolute under DYNGEN_PUBLIC_URL) and
    `from_image_b64`, `to_image_b64` (the image bytes, base64): None for a scene without a stored image."""
    values: dict[str, str | None] = {}
    for end, scene in (("from", call.request.from_scene), ("to", call.request.to_scene)):
        name = scene.image if scene is not None else None
        data = call.images.get(name) if name else None
        values[f"{end}_image_b64"] = base64.b64encode(data).decode("ascii") if data else None
        values[f"{end}_image_url"] = sign_url(name) if name and data and sign_url is not None else None
    return values


def _auth_headers(auth_header: str | None) -> dict[str, str]:
    if not auth_header:
        return {}
    name, sep, value = auth_header.partition(":")
    if not sep or not name.strip():
        raise ValueError("the auth header must look like 'Name: value'")  # never echo the value: it is a secret
    return {name.strip(): value.strip()}


def script_prompt(script: GeneratedContentPayload) -> str:
    """A pipeline's beats as shots a video model can follow, in order and timed: what the camera shows
    (the beat's shot description, else its line), who speaks and what."""
    shots: list[str] = []
    for number, beat in enumerate(script.beats or [], 1):
        end = beat.start + beat.duration
        spoken = beat.kind == "dialogue" and beat.speaker
        seen = beat.shot or (f"close on {beat.speaker}, speaking" if spoken else beat.text)
        said = f' {beat.speaker} says: "{beat.text}"' if spoken else ""
        shots.append(f"Shot {number} ({beat.start:g}-{end:g} s): {seen.rstrip('.')}.{said}")
    return " ".join(shots)


def video_prompt(
    request: GenerateContentRequest, script: GeneratedContentPayload | None = None, role: str = "prompt"
) -> str:
    """What a video model is told: the node's `prompt` (or `negative_prompt`) template, else the shipped
    default (`defaults/prompts/`), rendered over the request's variables: scene titles and summaries, the
    characters present, style, duration and the content rules (`domain/prompts.py`); with a pipeline's
    `script`, its shots come first in the prompt.

    Raises:
        DyngenError: GEN_INVALID_CONFIG for a node's template that cannot render.
    """
    text = prompts.render(request, role, defaults.prompt_templates(request.type.value))
    if role == "prompt" and script is not None and script.beats:
        return f"{script_prompt(script)} {text}".strip()
    return text


@dataclass(slots=True)
class _Job:
    """A submitted job: its id once known, the URLs its answers named, whether it ended upstream (nothing
    left to cancel), and its result URL when the submit answer already had it (`Prefer: wait`)."""

    id: str | None = None
    settled: bool = False
    status_url: str | None = None
    cancel_url: str | None = None
    response_url: str | None = None
    result_url: str | None = None


class HttpVideoProvider:
    """A hosted video generator's job API over one injected `httpx.AsyncClient`. Loaded only when it is
    configured (`needs_options`); `settings_model` is what an instance is configured with.

    Args:
        submit_url: Where a job is POSTed (a preset builds it).
        status_url: GET template of a job's status, with `{id}`.
        cancel_url: POST template that cancels a job, with `{id}` (None: no cancel).
        body_template: JSON submit body with the `PLACEHOLDERS`, each replaced by a JSON value.
        auth_header: `Name: value` sent on every call to the API (not to the result URL); never logged.
        headers: More headers sent on every call to the API; never logged.
        preset: `replicate` or `fal`: the vendor's URLs, paths, auth and statuses (see `http_video_presets`).
        model: The preset's model.
        api_key: The preset's key, sent as the vendor expects.
        base_url: The preset's API root (default: the vendor's).
        prefer_wait_s: Replicate's `Prefer: wait=N` (0: poll from the start).
        poll_interval_s: Seconds between status polls.
        id_path: Dotted path of the job id in the submit answer.
        status_path: Dotted path of the status in the status answer.
        result_path: Dotted path of the result URL in the status answer of a finished job.
        error_path: Dotted path of the failure reason in the status answer of a failed job.
        allowed_hosts: Hosts the result may be downloaded from (`*.example.com` for subdomains); empty: any.
        allow_private_hosts: Deprecated (one release): lets exactly the hosts of the configured URLs resolve
            to private addresses on any port, as if named in `private_hosts`; nothing else.
        private_hosts: Exactly these hosts may resolve to private addresses. The configured URLs' own
            `host:port` always may (the operator named them): a local API works with neither key.
        max_bytes: The largest result downloaded.
        cost_per_second: The price of one second of video (estimate and recorded cost).
        sign_url: Signs a stored artifact's name into an absolute URL (`{{from_image_url}}`).
        client: The shared HTTP client (bootstrap passes it; one is made when absent).

    Raises:
        ValueError: A body template that is not JSON once filled in, or a malformed auth header.
    """

    needs_options = True
    settings_model = HttpVideoSettings

    def __init__(
        self,
        *,
        submit_url: str | None = None,
        status_url: str | None = None,
        cancel_url: str | None = None,
        body_template: str | None = None,
        auth_header: str | None = None,
        headers: Mapping[str, str] | None = None,
        preset: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        prefer_wait_s: int = 0,
        poll_interval_s: float = 2.0,
        id_path: str = "id",
        status_path: str = "status",
        result_path: str = "result_url",
        error_path: str = "error",
        allowed_hosts: Iterable[str] = (),
        allow_private_hosts: bool = False,
        private_hosts: Iterable[str] = (),
        max_bytes: int = 200 * 1024 * 1024,
        cost_per_second: float = 0.0,
        sign_url: Callable[[str], str | None] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.info = ProviderInfo(
            name="http_video",
            generation_types=frozenset({GenerationType.TRANSITION, GenerationType.VARIATION}),
            media=frozenset({"video/mp4"}),
            deterministic=False,
            remote=True,
            uses_scene_images=True,
        )
        self._headers = {**_auth_headers(auth_header), **dict(headers or {})}
        self._preset: Preset | None = None
        if preset is not None:
            if preset not in PRESETS or not model:
                raise ValueError(f"http_video preset must be one of {sorted(PRESETS)}, with a model")
            options = {"base_url": base_url} if base_url else {}
            self._preset = PRESETS[preset](model, body_template=body_template, **options)
            p = self._preset
            submit_url, status_url, cancel_url, body_template = (
                p.submit_url,
                p.status_url,
                p.cancel_url,
                p.body_template,
            )
            id_path, status_path, result_path, error_path = p.id_path, p.status_path, p.result_path, p.error_path
            if api_key:
                self._headers[p.auth_format[0]] = p.auth_format[1].format(key=api_key)
            if prefer_wait_s and preset == "replicate":
                self._headers["Prefer"] = f"wait={prefer_wait_s}"
        if not submit_url or not status_url or "{id}" not in status_url:
            raise ValueError("the http_video status URL needs an {id} placeholder")
        if cancel_url and "{id}" not in cancel_url:
            raise ValueError("the http_video cancel URL needs an {id} placeholder")
        body_template = body_template or DEFAULT_BODY_TEMPLATE
        render_body(body_template, dict.fromkeys(PLACEHOLDERS, "x"))  # a broken template stops the start
        self._secrets = secret_parts([*self._headers.values(), api_key or ""])
        self._submit_url = submit_url
        self._status_url = status_url
        self._cancel_url = cancel_url
        self._template = body_template
        self._poll_s = poll_interval_s
        self._id_path, self._status_path = id_path, status_path
        self._result_path, self._error_path = result_path, error_path
        own_urls = [submit_url, status_url, cancel_url or ""]
        private = list(private_hosts)
        if allow_private_hosts:  # deprecated: now only the instance's own hosts, on any port
            private += [httpx.URL(u.replace("{id}", "x")).host for u in own_urls if u]
        # The API's own configured URLs may be private (the operator named them); results and redirects
        # elsewhere are checked. `allowed_hosts` is about results only.
        self._rule = UrlRule.for_instance(own_urls, private_hosts=private, allowed_hosts=allowed_hosts)
        self._api_rule = dataclasses.replace(self._rule, allowed_hosts=())
        self._api_host = httpx.URL(submit_url).host
        self._max_bytes = max_bytes
        self._cost_per_second = cost_per_second
        self._sign_url = sign_url
        self._client = client or httpx.AsyncClient()
        self._cancels: set[asyncio.Task[None]] = set()
        self._fingerprint = f"http_video:{self._api_host}" + (f":{model}" if self._preset else "")

    @classmethod
    def from_settings(
        cls,
        settings: HttpVideoSettings,
        *,
        client: httpx.AsyncClient | None = None,
        sign_url: Callable[[str], str | None] | None = None,
    ) -> HttpVideoProvider:
        """An instance configured by its settings model."""
        return cls(**settings.options(), client=client, sign_url=sign_url)

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        """The price of `duration.target` seconds of video."""
        return round(request.duration.target * self._cost_per_second, 6)

    async def generate(self, call: ProviderCall) -> ProviderResult:
        loop = asyncio.get_running_loop()
        until = loop.time() + call.deadline_s
        job = _Job()
        resumed = (
            call.remote_job if call.remote_job is not None and call.remote_job.provider == self.info.name else None
        )
        try:
            async with asyncio.timeout_at(until):
                if resumed is not None:
                    job.id = resumed.id
                    log.info("http_video.resumed job=%s", job.id)
                else:
                    await self._submit(call, job, until)
                    if call.on_remote_job is not None:
                        await call.on_remote_job(RemoteJob(self.info.name, str(job.id)))
                result_url = await self._poll(job, until)
                data = await self._download(result_url, until)
        except (TimeoutError, httpx.TimeoutException) as exc:
            await self._cancel(job)
            raise DyngenError(ErrorCode.GEN_TIMEOUT, "the video job did not finish in time") from exc
        except (asyncio.CancelledError, DyngenError):
            await self._cancel(job)
            raise
        return self._result(call, data)

    async def submit(self, call: ProviderCall) -> RemoteJob:
        """Start the job upstream (within `call.deadline_s`)."""
        until = asyncio.get_running_loop().time() + call.deadline_s
        job = _Job()
        async with asyncio.timeout_at(until):
            await self._submit(call, job, until)
        return RemoteJob(self.info.name, str(job.id))

    async def poll(self, job: RemoteJob, call: ProviderCall) -> ProviderResult | None:
        """One status check: the downloaded result once the job is done, None while it runs."""
        until = asyncio.get_running_loop().time() + call.deadline_s
        async with asyncio.timeout_at(until):
            result_url = await self._check(_Job(id=job.id), until)
            if result_url is None:
                return None
            return self._result(call, await self._download(result_url, until))

    async def cancel(self, job: RemoteJob) -> None:
        """Ask upstream to drop the job (best effort)."""
        await self._cancel(_Job(id=job.id))

    def _result(self, call: ProviderCall, data: bytes) -> ProviderResult:
        request = call.request
        return ProviderResult(
            payload=GeneratedContentPayload(
                type=PayloadType.VIDEO,
                duration=request.duration.target,
                # No element tags: a generated video is not known to show what was asked (`unverified`).
                metadata=ContentMetadata(
                    mood=request.style.mood_to or (request.to_scene.mood if request.to_scene else None)
                ),
            ),
            artifacts=[ArtifactBlob(role="video", media_type="video/mp4", data=data, primary=True)],
            cost=self.estimate_cost(request),
            fingerprint=self._fingerprint,
        )

    def _left(self, until: float) -> float:
        return max(until - asyncio.get_running_loop().time(), 0.001)

    def _scrub(self, text: str) -> str:
        """`text` with every secret this instance sends replaced: an upstream error may echo a header."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _own_url(self, url: str) -> str:
        """A URL an answer named, when it is on the API's own host (the credentials go only there).

        Raises:
            DyngenError: GEN_PROVIDER_UNAVAILABLE for a URL elsewhere.
        """
        try:
            host = httpx.URL(url).host
        except httpx.InvalidURL as exc:
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, "the video API named a URL that is not one") from exc
        if host != self._api_host:
            raise DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the video API named a job URL on another host ({host!r})"
            )
        return url

    async def _api(self, method: str, url: str, until: float, **kwargs: Any) -> Any:
        """One call to the job API, its JSON answer, HTTP failures mapped to error codes."""
        route = urlsplit(url).path or "/"
        response = await call_upstream(
            self._client,
            method,
            url,
            who="the video API",
            route=route,
            headers=self._headers,
            timeout_s=self._left(until),
            rule=self._api_rule,
            **kwargs,
        )
        return json_answer(response, who="the video API", route=route)

    async def _submit(self, call: ProviderCall, job: _Job, until: float) -> None:
        request = call.request
        style = request.style
        body = render_body(
            self._template,
            {
                "prompt": video_prompt(request, call.script),
                "negative_prompt": video_prompt(request, role="negative_prompt"),
                "seed": call.seed % (2**31),
                "duration": request.duration.target,
                "mood_from": style.mood_from or (request.from_scene.mood if request.from_scene else None),
                "mood_to": style.mood_to or (request.to_scene.mood if request.to_scene else None),
                **scene_image_values(call, self._sign_url),
            },
        )
        answer = await self._api("POST", self._submit_url, until, json=body)
        job_id = lookup(answer, self._id_path)
        if job_id is None or job_id == "":
            raise DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the submit answer has no job id at '{self._id_path}'"
            )
        job.id = str(job_id)
        self._named_urls(job, answer)
        if self._preset is not None and self._preset.response_url is None:
            # Replicate's answer is the prediction itself: with `Prefer: wait` it may be done already.
            job.result_url = self._settle(job, answer, self._submit_url)
        log.info("http_video.submitted job=%s", job.id)

    def _named_urls(self, job: _Job, answer: Any) -> None:
        preset = self._preset
        if preset is None:
            return
        for attr, path in (
            ("status_url", preset.status_url_path),
            ("cancel_url", preset.cancel_url_path),
            ("response_url", preset.response_url_path),
        ):
            named = lookup(answer, path) if path else None
            if isinstance(named, str) and named:
                setattr(job, attr, self._own_url(named))

    def _template_url(self, template: str | None, job: _Job) -> str | None:
        return template.replace("{id}", quote(str(job.id), safe="")) if template else None

    async def _poll(self, job: _Job, until: float) -> str:
        """The result URL once the job is done."""
        while job.result_url is None:
            job.result_url = await self._check(job, until)
            if job.result_url is None:
                await asyncio.sleep(self._poll_s)  # the remote API has no push: polling is its protocol
        return job.result_url

    async def _check(self, job: _Job, until: float) -> str | None:
        """One status request: the result URL when the job is done, None while it runs.

        Raises:
            DyngenError: The job failed upstream, or finished without a result URL.
        """
        url = job.status_url or str(self._template_url(self._status_url, job))
        answer = await self._api("GET", url, until)
        if self._preset is not None and self._preset.response_url is not None:
            status = str(lookup(answer, self._status_path) or "").lower()
            if status not in self._preset.done:
                return self._settle(job, answer, url)
            url = job.response_url or str(self._template_url(self._preset.response_url, job))
            answer = await self._api("GET", url, until)
            answer = {**answer, self._status_path: "completed"} if isinstance(answer, dict) else answer
        return self._settle(job, answer, url)

    def _settle(self, job: _Job, answer: Any, url: str) -> str | None:
        status = str(lookup(answer, self._status_path) or "").lower()
        done = self._preset.done if self._preset else DONE
        failed = self._preset.failed if self._preset else FAILED
        job.settled = status in done or status in failed
        if status in done:
            result = lookup(answer, self._result_path)
            if isinstance(result, list):  # Replicate: a model that makes several files lists them
                result = next((r for r in result if isinstance(r, str) and r), None)
            if not isinstance(result, str) or not result:
                raise DyngenError(
                    ErrorCode.GEN_EMPTY_OUTPUT, f"the finished job has no result URL at '{self._result_path}'"
                )
            log.info("http_video.done job=%s", job.id)
            return str(httpx.URL(url).join(result))
        if status in failed:
            reason = self._scrub(str(lookup(answer, self._error_path) or status))[:200]
            log.info("http_video.failed job=%s status=%s", job.id, status)
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the video job failed: {reason}")
        return None

    async def _download(self, url: str, until: float) -> bytes:
        """The result's bytes, every hop checked against the SSRF rule, at most `max_bytes`."""
        data, _ = await guarded_get(
            self._client, url, rule=self._rule, timeout_s=self._left(until), max_bytes=self._max_bytes
        )
        return data

    async def _cancel(self, job: _Job) -> None:
        """Ask the API to drop a job still running upstream: best effort, a short timeout, and shielded, so
        a second cancellation of the caller does not stop the request half-way."""
        url = job.cancel_url or self._template_url(self._cancel_url, job)
        if not url or job.id is None or job.settled:
            return
        job_id = job.id
        method = self._preset.cancel_method if self._preset else "POST"

        async def send() -> None:
            try:
                response = await guarded_request(
                    self._client,
                    method,
                    url,
                    rule=self._api_rule,
                    timeout_s=CANCEL_TIMEOUT_S,
                    max_bytes=API_MAX_BYTES,
                    what="video API cancel",
                    headers=self._headers,
                    max_redirects=0,
                )
                log.info("http_video.cancelled job=%s status=%s", job_id, response.status_code)
            except httpx.HTTPError as exc:
                log.warning("http_video.cancel_failed job=%s error=%s", job_id, type(exc).__name__)
            except DyngenError as exc:
                log.warning("http_video.cancel_failed job=%s error=%s", job_id, exc.message)

        task = asyncio.ensure_future(send())
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)
        await asyncio.shield(task)
