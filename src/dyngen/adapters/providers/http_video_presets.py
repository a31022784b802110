"""Presets of `http_video`: the documented job APIs of hosted video services, so an instance is
`preset = "replicate"`, `model = "owner/name"` plus a key.

- **replicate** (https://replicate.com/docs/reference/http): `POST /v1/models/{owner}/{name}/predictions`
  (or `POST /v1/predictions` with `"version"` for a `owner/name:version` or bare version id), body
  `{"input": {...}}`, `Authorization: Bearer <key>`, optional `Prefer: wait=N`. The answer is a prediction:
  `id`, `status` (starting, processing, succeeded, failed, canceled), `output` (a URL or a list of them),
  `error`, and `urls.get` / `urls.cancel` to poll and cancel (`POST`).
- **fal** (https://docs.fal.ai/model-endpoints/queue): `POST https://queue.fal.run/{model}` with the input
  as the body, `Authorization: Key <key>`. The answer holds `request_id`, `status_url`, `response_url`
  and `cancel_url`; the status is IN_QUEUE, IN_PROGRESS or COMPLETED; the result is a `GET` of
  `response_url` (`video.url`); cancel is a `PUT` of `cancel_url`.

A resumed job knows only its id, so each preset also knows how to build those URLs from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPLICATE_BASE = "https://api.replicate.com"
FAL_BASE = "https://queue.fal.run"


@dataclass(frozen=True, slots=True)
class Preset:
    """How one vendor's job API is spoken.

    Attributes:
        name: The preset's name.
        submit_url: Where a job is POSTed.
        status_url: Status URL template with `{id}`, for a job known only by its id.
        cancel_url: Cancel URL template with `{id}`.
        cancel_method: HTTP method of the cancel call.
        response_url: Template of the URL the result document is read from once done (None: the status
            answer holds it).
        body_template: JSON submit body with placeholders.
        auth_format: The auth header built from the key (`{key}`).
        id_path / status_path / result_path / error_path: Dotted paths in the answers.
        status_url_path / cancel_url_path / response_url_path: Dotted paths of the URLs an answer names.
        done / failed: Status values that end a job.
    """

    name: str
    submit_url: str
    status_url: str
    cancel_url: str
    cancel_method: str
    body_template: str
    auth_format: tuple[str, str]
    id_path: str
    status_path: str
    result_path: str
    error_path: str
    response_url: str | None = None
    status_url_path: str | None = None
    cancel_url_path: str | None = None
    response_url_path: str | None = None
    done: frozenset[str] = field(default_factory=frozenset)
    failed: frozenset[str] = field(default_factory=frozenset)


def replicate(model: str, *, base_url: str = REPLICATE_BASE, body_template: str | None = None) -> Preset:
    """Replicate's predictions API for `owner/name` (official model) or `owner/name:version` / a version id."""
    base = base_url.rstrip("/")
    owner_name, _, version = model.partition(":")
    inputs = '{"prompt": {{prompt}}, "seed": {{seed}}, "duration": {{duration}}, "start_image": {{from_image_url}}}'
    if version or "/" not in owner_name:
        submit = f"{base}/v1/predictions"
        body = '{"version": ' + f'"{version or owner_name}"' + ', "input": ' + (body_template or inputs) + "}"
    else:
        submit = f"{base}/v1/models/{owner_name}/predictions"
        body = '{"input": ' + (body_template or inputs) + "}"
    return Preset(
        name="replicate",
        submit_url=submit,
        status_url=f"{base}/v1/predictions/{{id}}",
        cancel_url=f"{base}/v1/predictions/{{id}}/cancel",
        cancel_method="POST",
        body_template=body,
        auth_format=("Authorization", "Bearer {key}"),
        id_path="id",
        status_path="status",
        result_path="output",
        error_path="error",
        status_url_path="urls.get",
        cancel_url_path="urls.cancel",
        done=frozenset({"succeeded"}),
        failed=frozenset({"failed", "canceled", "aborted"}),
    )


def fal(model: str, *, base_url: str = FAL_BASE, body_template: str | None = None) -> Preset:
    """fal.ai's queue API for a model id such as `fal-ai/kling-video/v1/standard/image-to-video`."""
    base = base_url.rstrip("/")
    # Requests live under the app id (the first two segments), whatever the model's sub-path.
    app = "/".join(model.strip("/").split("/")[:2])
    requests = f"{base}/{app}/requests/{{id}}"
    return Preset(
        name="fal",
        submit_url=f"{base}/{model.strip('/')}",
        status_url=f"{requests}/status",
        cancel_url=f"{requests}/cancel",
        cancel_method="PUT",
        response_url=requests,
        body_template=body_template
        or '{"prompt": {{prompt}}, "seed": {{seed}}, "duration": {{duration}}, "image_url": {{from_image_url}}}',
        auth_format=("Authorization", "Key {key}"),
        id_path="request_id",
        status_path="status",
        result_path="video.url",
        error_path="error",
        status_url_path="status_url",
        cancel_url_path="cancel_url",
        response_url_path="response_url",
        done=frozenset({"completed"}),
        failed=frozenset({"failed", "error", "cancelled"}),
    )


PRESETS = {"replicate": replicate, "fal": fal}
