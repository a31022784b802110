"""`HttpVideoProvider`: video from a hosted generator that works as a job: submit, poll, download, cancel.

Everything about the remote API is configuration: the submit URL and a JSON body template, a status URL
template, an optional cancel URL template, an auth header, and dotted paths to the job id, the status and
the result URL in the answers. The result URL comes from the remote service, so it is fetched only when it
passes the SSRF rule: an http(s) URL whose host is on the allow-list (when there is one) and resolves to no
loopback, link-local, private, reserved or multicast address (unless private hosts are allowed). The
download then connects to the very address that was checked (the Host header and TLS name stay the URL's),
so a name that resolves differently a moment later (DNS rebinding) cannot redirect it. Redirects are
followed by hand, each hop checked the same way.

A job that outlives the call's deadline, or whose generation is cancelled, is cancelled upstream too (best
effort). Each job started is reported through `call.on_remote_job`, so the service keeps it with the
generation's own job; a worker carrying on after another died passes it back as `call.remote_job`, and the
provider polls that job instead of paying for a second one.

429, 5xx and refused credentials are GEN_PROVIDER_UNAVAILABLE, as is a remote job that failed (with the
remote reason) and a refused result URL (naming the rule); the deadline is GEN_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from dyngen.domain.contracts import (
    ContentMetadata,
    GenerateContentRequest,
    GeneratedContentPayload,
    GenerationType,
    PayloadType,
)
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ArtifactBlob, ProviderCall, ProviderInfo, ProviderResult, RemoteJob

log = logging.getLogger("dyngen.providers.http_video")

DEFAULT_BODY_TEMPLATE = '{"prompt": {{prompt}}, "seed": {{seed}}, "duration": {{duration}}}'
DONE = frozenset({"done", "succeeded", "success", "completed", "complete", "finished", "ready"})
FAILED = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled", "rejected"})
PLACEHOLDERS = frozenset({"prompt", "seed", "duration", "mood_from", "mood_to"})
MAX_REDIRECTS = 3
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


def _address_refused(address: str) -> str | None:
    """Why a resolved address may not be fetched from (None when it may)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # `::ffff:127.0.0.1` and 6to4 `2002:7f00:1::` reach an IPv4 address: judge that one.
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    for rule, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved or ip.is_unspecified or not ip.is_global),
    ):
        if hit:
            return rule
    return None


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """True when `host` equals an allowed host, or ends with `.suffix` for an entry `*.suffix`."""
    host = host.lower().rstrip(".")
    for raw in allowed_hosts:
        entry = raw.lower().strip().rstrip(".")
        if entry.startswith("*.") and host.endswith(entry[1:]):
            return True
        if host == entry:
            return True
    return False


async def check_url(url: str, *, allowed_hosts: Iterable[str], allow_private_hosts: bool) -> httpx.URL:
    """The URL, when the SSRF rule lets it be fetched.

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE naming the rule the URL breaks.
    """
    return (await check_address(url, allowed_hosts=allowed_hosts, allow_private_hosts=allow_private_hosts))[0]


async def check_address(
    url: str, *, allowed_hosts: Iterable[str], allow_private_hosts: bool
) -> tuple[httpx.URL, str | None]:
    """The URL and the address it was checked at, when the SSRF rule lets it be fetched.

    The address (None when private hosts are allowed and nothing is checked) is the one to connect to:
    resolving the name again at connect time could give another answer (DNS rebinding).

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE naming the rule the URL breaks.
    """
    allowed = list(allowed_hosts)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _refused("the result URL is not a URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _refused("only http(s) URLs with a host are fetched")
    if allowed and not host_allowed(parsed.host, allowed):
        raise _refused(f"host {parsed.host!r} is not in the allowed hosts")
    if allow_private_hosts:
        return parsed, None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _refused(f"host {parsed.host!r} does not resolve") from exc
    if not infos:
        raise _refused(f"host {parsed.host!r} does not resolve")
    for *_, sockaddr in infos:
        rule = _address_refused(str(sockaddr[0]))
        if rule is not None:
            raise _refused(f"host {parsed.host!r} resolves to a {rule} address (private hosts are not allowed)")
    return parsed, str(infos[0][4][0])


def pinned(url: httpx.URL, address: str | None) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """What to send so the connection goes to `address` while the server still sees `url`'s host.

    The request goes to the address; the Host header and, for https, the TLS server name (which is also
    the name the certificate is checked against) stay the URL's host.
    """
    if address is None:
        return url, {}, {}
    extensions: dict[str, Any] = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return url.copy_with(host=address), {"Host": url.netloc.decode("ascii")}, extensions


def _refused(why: str) -> DyngenError:
    return DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"result URL refused by the SSRF rule: {why}")


def _auth_headers(auth_header: str | None) -> dict[str, str]:
    if not auth_header:
        return {}
    name, sep, value = auth_header.partition(":")
    if not sep or not name.strip():
        raise ValueError("the auth header must look like 'Name: value'")  # never echo the value: it is a secret
    return {name.strip(): value.strip()}


def _prompt(request: GenerateContentRequest) -> str:
    """One paragraph a video model can follow: the two scenes, the style and the content rules."""
    before, after, style = request.from_scene, request.to_scene, request.style
    parts: list[str] = []
    if before is not None:
        parts.append(f"From scene {before.id}" + (f" ({before.mood})" if before.mood else "") + ".")
        if before.summary:
            parts.append(before.summary)
    if after is not None:
        parts.append(f"To scene {after.id}" + (f" ({after.mood})" if after.mood else "") + ".")
        if after.summary:
            parts.append(after.summary)
    parts.append(
        f"A {style.transition_type.value} {request.type.value}, {style.pacing.value} pacing, "
        f"{request.duration.target:g} seconds, rated {request.constraints.rating.value}."
    )
    required = [e.replace("_", " ") for e in request.constraints.required_elements]
    avoided = [e.replace("_", " ") for e in request.constraints.avoid_elements]
    if required:
        parts.append("Show: " + ", ".join(required) + ".")
    if avoided:
        parts.append("Never show: " + ", ".join(avoided) + ".")
    return " ".join(parts)


@dataclass(slots=True)
class _Job:
    """A submitted job: its id once known, and whether it ended upstream (nothing left to cancel)."""

    id: str | None = None
    settled: bool = False


class HttpVideoProvider:
    """A hosted video generator's job API over one injected `httpx.AsyncClient`. Loaded only when
    `DYNGEN_HTTP_VIDEO_SUBMIT_URL` is set (`needs_options`).

    Args:
        submit_url: Where a job is POSTed.
        status_url: GET template of a job's status, with `{id}`.
        cancel_url: POST template that cancels a job, with `{id}` (None: no cancel).
        body_template: JSON submit body with `{{prompt}}`, `{{seed}}`, `{{duration}}`, `{{mood_from}}` and
            `{{mood_to}}` placeholders, each replaced by a JSON value.
        auth_header: `Name: value` sent on every call to the API (not to the result URL); never logged.
        poll_interval_s: Seconds between status polls.
        id_path: Dotted path of the job id in the submit answer.
        status_path: Dotted path of the status in the status answer.
        result_path: Dotted path of the result URL in the status answer of a finished job.
        error_path: Dotted path of the failure reason in the status answer of a failed job.
        allowed_hosts: Hosts the result may be downloaded from (`*.example.com` for subdomains); empty: any.
        allow_private_hosts: Allow result URLs on loopback, link-local and private addresses.
        max_bytes: The largest result downloaded.
        cost_per_second: The price of one second of video (estimate and recorded cost).
        client: The shared HTTP client (bootstrap passes it; one is made when absent).

    Raises:
        ValueError: A body template that is not JSON once filled in, or a malformed auth header.
    """

    needs_options = True

    def __init__(
        self,
        *,
        submit_url: str,
        status_url: str,
        cancel_url: str | None = None,
        body_template: str = DEFAULT_BODY_TEMPLATE,
        auth_header: str | None = None,
        poll_interval_s: float = 2.0,
        id_path: str = "id",
        status_path: str = "status",
        result_path: str = "result_url",
        error_path: str = "error",
        allowed_hosts: Iterable[str] = (),
        allow_private_hosts: bool = False,
        max_bytes: int = 200 * 1024 * 1024,
        cost_per_second: float = 0.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.info = ProviderInfo(
            name="http_video",
            generation_types=frozenset({GenerationType.TRANSITION, GenerationType.VARIATION}),
            media=frozenset({"video/mp4"}),
            deterministic=False,
        )
        if "{id}" not in status_url:
            raise ValueError("the http_video status URL needs an {id} placeholder")
        if cancel_url and "{id}" not in cancel_url:
            raise ValueError("the http_video cancel URL needs an {id} placeholder")
        render_body(body_template, dict.fromkeys(PLACEHOLDERS, "x"))  # a broken template stops the start
        self._submit_url = submit_url
        self._status_url = status_url
        self._cancel_url = cancel_url
        self._template = body_template
        self._headers = _auth_headers(auth_header)
        self._poll_s = poll_interval_s
        self._id_path, self._status_path = id_path, status_path
        self._result_path, self._error_path = result_path, error_path
        self._allowed = [h for h in allowed_hosts if h.strip()]
        self._allow_private = allow_private_hosts
        self._max_bytes = max_bytes
        self._cost_per_second = cost_per_second
        self._client = client or httpx.AsyncClient()
        self._cancels: set[asyncio.Task[None]] = set()
        self._fingerprint = f"http_video:{httpx.URL(submit_url).host}"

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
                    job.id = await self._submit(call, until)
                    if call.on_remote_job is not None:
                        await call.on_remote_job(RemoteJob(self.info.name, job.id))
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
        async with asyncio.timeout_at(until):
            return RemoteJob(self.info.name, await self._submit(call, until))

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
                metadata=ContentMetadata(
                    mood=request.style.mood_to or (request.to_scene.mood if request.to_scene else None),
                    tags=list(request.constraints.required_elements),
                ),
            ),
            artifacts=[ArtifactBlob(role="video", media_type="video/mp4", data=data, primary=True)],
            cost=self.estimate_cost(request),
            fingerprint=self._fingerprint,
        )

    def _left(self, until: float) -> float:
        return max(until - asyncio.get_running_loop().time(), 0.001)

    async def _api(self, method: str, url: str, until: float, **kwargs: Any) -> Any:
        """One call to the job API, its JSON answer, HTTP failures mapped to error codes."""
        try:
            response = await self._client.request(
                method, url, headers=self._headers, timeout=self._left(until), follow_redirects=False, **kwargs
            )
        except httpx.TimeoutException:
            raise
        except httpx.HTTPError as exc:
            raise DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the video API is unreachable: {type(exc).__name__}"
            ) from exc
        status = response.status_code
        if status in (401, 403):
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the video API refused the credentials ({status})")
        if status == 429 or status >= 500:
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the video API is busy or failing ({status})")
        if status >= 400:
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the video API answered {status}")
        try:
            return response.json()
        except ValueError as exc:
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, "the video API's answer is not JSON") from exc

    async def _submit(self, call: ProviderCall, until: float) -> str:
        request = call.request
        style = request.style
        body = render_body(
            self._template,
            {
                "prompt": _prompt(request),
                "seed": call.seed % (2**31),
                "duration": request.duration.target,
                "mood_from": style.mood_from or (request.from_scene.mood if request.from_scene else None),
                "mood_to": style.mood_to or (request.to_scene.mood if request.to_scene else None),
            },
        )
        answer = await self._api("POST", self._submit_url, until, json=body)
        job_id = lookup(answer, self._id_path)
        if job_id is None or job_id == "":
            raise DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the submit answer has no job id at '{self._id_path}'"
            )
        log.info("http_video.submitted job=%s", job_id)
        return str(job_id)

    async def _poll(self, job: _Job, until: float) -> str:
        """The result URL once the job is done."""
        while True:
            result_url = await self._check(job, until)
            if result_url is not None:
                return result_url
            await asyncio.sleep(self._poll_s)  # the remote API has no push: polling is its protocol

    async def _check(self, job: _Job, until: float) -> str | None:
        """One status request: the result URL when the job is done, None while it runs.

        Raises:
            DyngenError: The job failed upstream, or finished without a result URL.
        """
        job_id = str(job.id)
        url = self._status_url.replace("{id}", quote(job_id, safe=""))
        answer = await self._api("GET", url, until)
        status = str(lookup(answer, self._status_path) or "").lower()
        job.settled = status in DONE or status in FAILED
        if status in DONE:
            result = lookup(answer, self._result_path)
            if not isinstance(result, str) or not result:
                raise DyngenError(
                    ErrorCode.GEN_EMPTY_OUTPUT, f"the finished job has no result URL at '{self._result_path}'"
                )
            log.info("http_video.done job=%s", job_id)
            return str(httpx.URL(url).join(result))
        if status in FAILED:
            reason = str(lookup(answer, self._error_path) or status)[:200]
            log.info("http_video.failed job=%s status=%s", job_id, status)
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the video job failed: {reason}")
        return None

    async def _download(self, url: str, until: float) -> bytes:
        """The result's bytes, every hop checked against the SSRF rule, at most `max_bytes`."""
        for _ in range(MAX_REDIRECTS + 1):
            target, address = await check_address(
                url, allowed_hosts=self._allowed, allow_private_hosts=self._allow_private
            )
            connect, headers, extensions = pinned(target, address)
            try:
                async with self._client.stream(
                    "GET",
                    connect,
                    headers=headers,
                    extensions=extensions,
                    timeout=self._left(until),
                    follow_redirects=False,
                ) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = str(target.join(response.headers["location"]))
                        continue
                    if response.status_code >= 400:
                        raise DyngenError(
                            ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the result download answered {response.status_code}"
                        )
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self._max_bytes:
                        raise self._too_large()
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self._max_bytes:
                            raise self._too_large()
                        chunks.append(chunk)
            except httpx.TimeoutException:
                raise
            except httpx.HTTPError as exc:
                raise DyngenError(
                    ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the result download failed: {type(exc).__name__}"
                ) from exc
            if not chunks:
                raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "the result download is empty")
            return b"".join(chunks)
        raise DyngenError(
            ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the result URL redirects more than {MAX_REDIRECTS} times"
        )

    def _too_large(self) -> DyngenError:
        return DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the result is larger than {self._max_bytes} bytes")

    async def _cancel(self, job: _Job) -> None:
        """Ask the API to drop a job still running upstream: best effort, a short timeout, and shielded, so
        a second cancellation of the caller does not stop the request half-way."""
        if not self._cancel_url or job.id is None or job.settled:
            return
        job_id = job.id
        url = self._cancel_url.replace("{id}", quote(job_id, safe=""))

        async def send() -> None:
            try:
                response = await self._client.post(url, headers=self._headers, timeout=CANCEL_TIMEOUT_S)
                log.info("http_video.cancelled job=%s status=%s", job_id, response.status_code)
            except httpx.HTTPError as exc:
                log.warning("http_video.cancel_failed job=%s error=%s", job_id, type(exc).__name__)

        task = asyncio.ensure_future(send())
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)
        await asyncio.shield(task)
