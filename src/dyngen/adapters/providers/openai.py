"""`OpenAIProvider`: text content from any OpenAI-compatible chat completions endpoint (OpenAI, vLLM,
Ollama, llama.cpp server, LM Studio).

The prompt is the node's `system` and `user` templates (or the shipped defaults) rendered over the
(resolved) request: scenes, characters, lore, constraints, the player and the social context. The service
has already clamped the rating to the most restrictive of the node's, the world's and the user's maximum
and capped the intimacy band by it; the default templates state both. Output is asked for as
structured JSON (`response_format` with a JSON Schema: beats with speakers and shot descriptions, choices,
and the model's element report: the beat and a quote for each required element, an assertion for each
avoided one) and parsed into beats, dialogue and choices plus the report (`domain.elements`); malformed
output (a report that names elements it was not asked about, beats that do not exist, ...) is asked for
once more, then it is GEN_EMPTY_OUTPUT. An answer is read past a reasoning model's thinking, a code fence or
prose around its JSON (`answer_json`). A server that refuses the schema is asked for any JSON object, then
by the prompt alone, and a temperature or seed the model refuses is left out (`FORMAT_WAYS`,
`OPTIONAL_PARAMETERS`): the instance keeps to what was answered. An answer without any report (a server
that ignores schemas) is used without one: the lexicon and the judge still check it. As the judge
(`judge_elements`), the same endpoint answers yes or no with a quote per element. 429 and 5xx are
GEN_PROVIDER_UNAVAILABLE (retryable), auth errors too, a timeout is GEN_TIMEOUT. What is asked and how an
answer is read (the chat, the schemas, the parse) is `openai_chat.py`; this module holds the calls.

Every call goes through the SSRF rule (`ssrf`): the configured `base_url` may be on a private address (a
local Ollama at 127.0.0.1:11434, named by the operator), exactly that host and port; a redirect to another
private address is refused, and an answer over `max_bytes` (declared or streamed) is
GEN_PROVIDER_UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dyngen.adapters.providers.openai_chat import (
    JUDGE,
    answer_json,
    judge_schema,
    message_text,
    messages,
    parse_answer,
    response_format,
)
from dyngen.adapters.providers.ssrf import Fetched, UrlRule, guarded_request
from dyngen.domain.contracts import GenerateContentRequest, GenerationType
from dyngen.domain.elements import JudgeAnswer
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.lexicon import element_key, spoken_form
from dyngen.ports import ProviderCall, ProviderInfo, ProviderResult

log = logging.getLogger("dyngen.providers.openai")

# How a model is asked for JSON, strictest first: the answer's schema (`json_schema`), any JSON object
# (`json_object`: the system prompt still describes the shape), or only the prompt. A server that refuses a
# way (a 400 naming `response_format` or the schema: DeepSeek's API takes only `json_object`, Gemini's
# endpoint no schema with its keywords) is asked the next way at once; the instance keeps to the way that
# was answered.
FORMAT_WAYS = ("json_schema", "json_object", "prompt")
# Settings a model may refuse: OpenAI's reasoning models (o-series, gpt-5) take only the default temperature.
# A 400 naming one leaves it out of the call, and of the instance's calls once one is answered without it.
OPTIONAL_PARAMETERS = ("temperature", "seed")


def _left(until: float) -> float:
    """Seconds left until `until` (the event loop's time).

    Raises:
        DyngenError: GEN_TIMEOUT when none is left: no request is started that the caller's deadline would
            cut off (a cancelled call would go on upstream until its own bound, `plain_wire.py`).
    """
    left = until - asyncio.get_running_loop().time()
    if left <= 0:
        raise DyngenError(ErrorCode.GEN_TIMEOUT, "the model did not answer in time")
    return left


def _asked(body: dict[str, Any], way: str, dropped: frozenset[str]) -> dict[str, Any]:
    """`body` asking for JSON the `way` of `FORMAT_WAYS` (as it is for the schema), without `dropped`."""
    if (way == "json_schema" or "response_format" not in body) and not dropped:
        return body
    asked = {k: v for k, v in body.items() if k not in dropped}
    if "response_format" in asked and way != "json_schema":
        if way == "json_object":
            asked["response_format"] = {"type": "json_object"}
        else:
            del asked["response_format"]
    return asked


def _error_said(response: Fetched) -> tuple[str, str | None]:
    """What a 400 says in its own words: its error's message (lower case) and the parameter it names. Never
    the rest of its body, which may repeat the request (a validation error listing the input) and so name
    every parameter it holds."""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return response.text[:500].lower(), None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # Google's errors come as a list of one, its OpenAI-compatible endpoint's too
    if not isinstance(data, dict):
        return "", None
    error = data.get("error")
    if isinstance(error, dict):
        message, param = error.get("message"), error.get("param")
    else:
        message, param = error if error is not None else data.get("message", data.get("detail")), None
    return (message.lower() if isinstance(message, str) else ""), (param if isinstance(param, str) else None)


def _refused_parameter(said: tuple[str, str | None], sent: dict[str, Any]) -> str | None:
    """The optional parameter (`OPTIONAL_PARAMETERS`) `sent` holds that a 400 says (`_error_said`) the model
    does not take: the one OpenAI's error names in `param`, or one its message quotes as not supported."""
    message, param = said
    if param in OPTIONAL_PARAMETERS and param in sent:
        return param
    if "support" not in message:  # "unsupported", "not supported", "does not support"
        return None
    quoted = (f"{q}{name}{q}" for name in OPTIONAL_PARAMETERS if name in sent for q in "'\"`")
    return next((q[1:-1] for q in quoted if q in message), None)


# What a refusal of the way JSON was asked for names: OpenAI's field, the schema's type, or the field Gemini's
# OpenAI-compatible endpoint maps it to ("Unknown name ... at 'generation_config.response_schema...'").
_FORMAT_WORDS = ("response_format", "json_schema", "json schema", "response_schema")


def _refuses_format(said: tuple[str, str | None]) -> bool:
    """Whether a 400 says (`_error_said`) the way JSON was asked for is what the server does not take."""
    message, param = said
    return param == "response_format" or any(word in message for word in _FORMAT_WORDS)


DEFAULT_MAX_BYTES = 4 * 1024 * 1024  # a chat completion is a few kB; far more is a misbehaving server
HEALTH_TIMEOUT_S = 3.0


class OpenAISettings(BaseModel):
    """One OpenAI-compatible chat completions endpoint (`[providers.<name>] kind = "openai"`).

    The `base_url`'s own host and port may be private (a local model server): the operator named it. Any
    other private host the instance must reach (a redirect to a sibling) goes in `private_hosts`.
    """

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="The API root, e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`.")
    model: str = Field(description="The model asked for.")
    api_key: SecretStr | None = Field(default=None, description="Bearer key (none for local servers); never logged.")
    price_per_1k_tokens: float = Field(default=0.0, ge=0, description="Cost accounting per 1,000 tokens.")
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, gt=0, description="The largest answer read; a larger one is refused."
    )
    private_hosts: list[str] = Field(
        default_factory=list, description="More hosts that may resolve to private addresses (exactly these)."
    )


class OpenAIProvider:
    """Chat completions over one injected `httpx.AsyncClient`. Loaded only when `DYNGEN_OPENAI_BASE_URL`
    is set (`needs_options`).

    Args:
        base_url: The API root, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
        model: Model name.
        api_key: Bearer key (None for local servers that need none).
        client: The shared HTTP client (bootstrap passes it; one is made when absent).
        price_per_1k_tokens: Cost accounting per 1,000 tokens (0: unknown).
        max_bytes: The largest answer read (declared or streamed); a larger one is GEN_PROVIDER_UNAVAILABLE.
        private_hosts: Hosts beyond `base_url`'s own that may resolve to private addresses.
    """

    needs_options = True
    settings_model = OpenAISettings

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        price_per_1k_tokens: float = 0.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        private_hosts: Sequence[str] = (),
    ) -> None:
        self.info = ProviderInfo(
            name="openai",
            generation_types=frozenset(GenerationType),
            media=frozenset({"application/json"}),
            deterministic=False,
            remote=True,
        )
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient()
        self._price = price_per_1k_tokens
        self._max_bytes = max_bytes
        self._rule = UrlRule.for_instance([self._url], private_hosts=private_hosts)
        self._way = 0  # the index in FORMAT_WAYS this server takes
        self._dropped: frozenset[str] = frozenset()  # OPTIONAL_PARAMETERS the model refused

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        # About one token per 4 characters, ~12 words a second of content, plus the prompt.
        expected_tokens = 300 + request.duration.target * 16
        return round(expected_tokens / 1000 * self._price, 6)

    async def _complete(self, request: GenerateContentRequest, seed: int, until: float) -> tuple[str, int]:
        body = {
            "model": self._model,
            "messages": messages(request),
            "response_format": response_format(request),
            "seed": seed % (2**31),
            "temperature": 0.8,
        }
        return await self._post(body, until)

    async def _post(self, body: dict[str, Any], until: float) -> tuple[str, int]:
        """One chat completion: the answer's text and the tokens it used (asked again the next way of
        `FORMAT_WAYS` when the server refuses the way `body` asks for JSON, or without an optional parameter
        the model refuses), every request within what is left until `until` (the event loop's time)."""
        way, dropped = self._way, self._dropped
        while True:  # at most 5 requests: each refusal drops a parameter or moves to the next way
            sent = _asked(body, FORMAT_WAYS[way], dropped)
            response = await self._send(sent, _left(until))
            if response.status_code != 400:
                break
            said = _error_said(response)
            if (name := _refused_parameter(said, sent)) is not None:
                dropped |= {name}
            elif "response_format" in sent and way + 1 < len(FORMAT_WAYS) and _refuses_format(said):
                way += 1
            else:
                break
        if response.status_code >= 400:
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the model answered {response.status_code}")
        self._learn(way, dropped)
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            text = message_text(message)
            tokens = int((data.get("usage") or {}).get("total_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
            raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "the model's answer is not a chat completion") from exc
        refusal = message.get("refusal")
        if not text and isinstance(refusal, str) and refusal.strip():  # OpenAI's structured outputs: it declined
            raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, f"the model refused: {refusal.strip()[:200]}")
        return text, tokens

    def _learn(self, way: int, dropped: frozenset[str]) -> None:
        """Keep to what a call was answered with: what one request refused (a schema too large for it) is
        not taken for what the server refuses until another way is answered."""
        if way > self._way:
            log.warning("openai.format_refused model=%s way=%s", self._model, FORMAT_WAYS[way])
            self._way = way
        if not dropped <= self._dropped:
            log.warning("openai.parameter_refused model=%s left_out=%s", self._model, ",".join(sorted(dropped)))
            self._dropped |= dropped

    async def _send(self, body: dict[str, Any], deadline_s: float) -> Fetched:
        """The server's answer to a chat completion, its status not yet judged but for refused keys, a busy or
        failing server (raised as GEN_PROVIDER_UNAVAILABLE) and a timeout (GEN_TIMEOUT)."""
        try:
            response = await guarded_request(
                self._client,
                "POST",
                self._url,
                rule=self._rule,
                timeout_s=deadline_s,
                max_bytes=self._max_bytes,
                what="model",
                body_what="model's answer",
                headers=self._headers,
                json=body,
            )
        except httpx.TimeoutException as exc:
            raise DyngenError(ErrorCode.GEN_TIMEOUT, "the model did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the model is unreachable: {type(exc).__name__}"
            ) from exc
        if response.status_code in (401, 403):
            raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the model refused the key ({response.status_code})")
        if response.status_code == 429 or response.status_code >= 500:
            raise DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the model is busy or failing ({response.status_code})"
            )
        return response

    async def generate(self, call: ProviderCall) -> ProviderResult:
        tokens = 0
        until = asyncio.get_running_loop().time() + call.deadline_s  # one deadline for every request of the call
        for _ in range(2):  # malformed output is asked for once more
            text, used = await self._complete(call.request, call.seed, until)
            tokens += used
            parsed = parse_answer(text, call.request)
            if parsed is not None:
                return ProviderResult(
                    payload=parsed[0],
                    tokens=tokens,
                    cost=round(tokens / 1000 * self._price, 6),
                    fingerprint=f"openai:{self._model}",
                    report=parsed[1],
                )
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "the model's output was not the JSON asked for, twice")

    async def judge_elements(
        self, *, text: str, elements: Sequence[str], deadline_s: float
    ) -> tuple[dict[str, JudgeAnswer], float]:
        """Ask the model, as a judge, whether `text` has each element: yes or no, with the words that show it."""
        keys = [element_key(e) for e in elements]
        body = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": JUDGE},
                {
                    "role": "user",
                    "content": json.dumps(
                        {"text": text, "elements": [{"id": k, "meaning": spoken_form(k)} for k in keys]},
                        ensure_ascii=False,
                    ),
                },
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "verdicts", "strict": True, "schema": judge_schema(keys)},
            },
            "temperature": 0,
        }
        until = asyncio.get_running_loop().time() + deadline_s
        for _ in range(2):  # malformed output is asked for once more
            answer, tokens = await self._post(body, until)
            cost = round(tokens / 1000 * self._price, 6)
            try:
                rows = answer_json(answer)["answers"]
                found = {
                    element_key(str(r["element"])): JudgeAnswer(
                        occurs=bool(r["occurs"]), quote=str(r.get("quote") or "").strip() or None
                    )
                    for r in rows
                    if isinstance(r, dict)
                }
            except (ValueError, KeyError, TypeError):
                continue
            return {k: v for k, v in found.items() if k in keys}, cost
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "the judge's output was not the JSON asked for, twice")

    async def health(self) -> None:
        """Raises when the endpoint does not answer (a models listing, which every compatible server has)."""
        response = await guarded_request(
            self._client,
            "GET",
            self._url.removesuffix("/chat/completions") + "/models",
            rule=self._rule,
            timeout_s=HEALTH_TIMEOUT_S,
            max_bytes=self._max_bytes,
            what="model",
            body_what="models listing",
            headers=self._headers,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"models listing answered {response.status_code}")
