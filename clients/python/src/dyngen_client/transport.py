"""HTTP over urllib with retries: backoff with jitter, `Retry-After` honoured on 429 and 503, one
`Idempotency-Key` kept across the attempts of a call, a timeout per attempt."""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from dyngen_client.errors import DyngenHTTPError, DyngenUnavailableError

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = "dyngen-client-python/0.1"


class Answer:
    """One HTTP answer: status, headers (lower-case names) and the body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


def retry_after_seconds(value: Optional[str], *, now: float) -> Optional[float]:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


class Transport:
    """Sends requests to one dyngen server and retries what may be retried.

    Args:
        base_url: The server, e.g. `http://127.0.0.1:8000`.
        api_key: Sent as `Authorization: Bearer <key>` to the server's own origin only.
        timeout: Seconds per attempt (connect and each read).
        retries: Attempts after the first one, on refused connections, timeouts, 429, 502, 503, 504.
        backoff: First backoff in seconds, doubled per attempt (with jitter), capped by `max_backoff`.
        max_retry_after: The longest `Retry-After` honoured; a longer one ends the retries at once.
        sleep, clock, rng: Injected for tests (a fake sleep records the waits instead of waiting).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Optional[str] = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.25,
        max_backoff: float = 5.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Optional[random.Random] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret

    def url(self, path_or_url: str) -> str:
        """An absolute URL: a server path (`/api/...`) is joined to the base URL."""
        return urllib.parse.urljoin(self.base_url + "/", path_or_url)

    def _same_origin(self, url: str) -> bool:
        a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(self.base_url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
    ) -> Answer:
        """Send one call (retried as a whole); 2xx answers are returned, a 4xx raises `DyngenHTTPError`,
        and running out of attempts raises `DyngenUnavailableError`. The caller's headers (an
        `Idempotency-Key`) are the same on every attempt."""
        url = self.url(path)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        if self.api_key and self._same_origin(url):
            sent["Authorization"] = f"Bearer {self.api_key}"
        attempts = 1 + (self.retries if retries is None else retries)
        last: Optional[DyngenUnavailableError] = None
        for attempt in range(attempts):
            wait, last = self._attempt(method, url, data, sent, self.timeout if timeout is None else timeout)
            if last is None:
                assert isinstance(wait, Answer)
                return wait
            if attempt + 1 >= attempts or not last.retryable:
                break
            pause = self._pause(attempt, last.retry_after)
            if pause is None:
                break
            self.sleep(pause)
        assert last is not None
        raise last

    def _pause(self, attempt: int, retry_after: Optional[float]) -> Optional[float]:
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def _attempt(
        self, method: str, url: str, data: Optional[bytes], headers: Dict[str, str], timeout: float
    ) -> Tuple[Optional[Answer], Optional[DyngenUnavailableError]]:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise DyngenUnavailableError("unreachable", f"{url}: only http and https URLs", retryable=False)
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - checked above
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
                return Answer(response.status, dict(response.headers.items()), response.read()), None
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, dict(error.headers.items()) if error.headers else {}, error.read())
            error.close()
            return None, self._refusal(answer)
        except (socket.timeout, TimeoutError) as error:
            return None, DyngenUnavailableError("timeout", f"{method} {url}: no answer within {timeout}s ({error})")
        except urllib.error.URLError as error:
            if isinstance(error.reason, (socket.timeout, TimeoutError)):
                return None, DyngenUnavailableError("timeout", f"{method} {url}: no answer within {timeout}s")
            return None, DyngenUnavailableError("unreachable", f"{method} {url}: {error.reason}")
        except (ConnectionError, http.client.HTTPException, OSError) as error:
            return None, DyngenUnavailableError("unreachable", f"{method} {url}: {error!r}")

    def _refusal(self, answer: Answer) -> DyngenUnavailableError:
        try:
            payload = answer.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else answer.body[:200].decode("utf-8", "replace")
        if answer.status in RETRIED_STATUSES or answer.status >= 500:
            retry_after = retry_after_seconds(answer.headers.get("retry-after"), now=self.clock())
            return DyngenUnavailableError(
                f"http {answer.status}",
                f"{code or ''} {message}".strip(),
                status=answer.status,
                retry_after=retry_after,
                retryable=answer.status in RETRIED_STATUSES,
            )
        details = payload.get("details") if isinstance(payload, dict) else None
        raise DyngenHTTPError(answer.status, code, str(message), details if isinstance(details, list) else None)
