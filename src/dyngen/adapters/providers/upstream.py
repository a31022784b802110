"""One call to a generation service's HTTP API (ComfyUI, a hosted video API), its failures as error codes.

The call goes through the instance's SSRF rule (`ssrf.guarded_request`: the URL checked and the connection
pinned to the address checked, redirects not followed) and reads at most `max_bytes` of the answer. Every
outcome a provider cannot use is GEN_PROVIDER_UNAVAILABLE naming `who` answered what; a timeout is left to
the caller (it becomes GEN_TIMEOUT against the node's deadline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from dyngen.adapters.providers.ssrf import Fetched, UrlRule, guarded_request
from dyngen.domain.errors import DyngenError, ErrorCode

# The largest answer of a job API (JSON documents: a job, a history entry); files have their own cap.
API_MAX_BYTES = 16 * 1024 * 1024


def _unavailable(message: str) -> DyngenError:
    return DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, message)


async def call_upstream(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    who: str,
    route: str,
    headers: dict[str, str],
    timeout_s: float,
    rule: UrlRule,
    max_bytes: int = API_MAX_BYTES,
    usable: Callable[[int], bool] = lambda status: status < 400,
    **kwargs: Any,
) -> Fetched:
    """The answer of `method url`, when its status is `usable`.

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE for a URL the rule refuses, a transport failure, an answer
            over `max_bytes`, refused credentials, a busy or failing service (429, 5xx) or any other
            unusable status; httpx.TimeoutException as it is.
    """
    try:
        response = await guarded_request(
            client,
            method,
            url,
            rule=rule,
            timeout_s=timeout_s,
            max_bytes=max_bytes,
            what=who.removeprefix("the "),
            body_what=f"{who.removeprefix('the ')} answer",
            headers=headers,
            max_redirects=0,
            **kwargs,
        )
    except httpx.TimeoutException:
        raise
    except httpx.HTTPError as exc:
        raise _unavailable(f"{who} is unreachable: {type(exc).__name__}") from exc
    status = response.status_code
    if usable(status):
        return response
    if status in (401, 403):
        raise _unavailable(f"{who} refused the credentials ({status})")
    if status == 429 or status >= 500:
        raise _unavailable(f"{who} is busy or failing ({status}) at {route}")
    raise _unavailable(f"{who} answered {status} to {route}")


def json_answer(response: Fetched, *, who: str, route: str, empty_ok: bool = False) -> Any:
    """The answer's JSON; with `empty_ok`, None for an empty body (ComfyUI's `/interrupt` and `/queue`)."""
    if empty_ok and not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise _unavailable(f"{who}'s answer to {route} is not JSON") from exc
