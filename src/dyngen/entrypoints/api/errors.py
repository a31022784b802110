"""Maps errors to HTTP once: `DyngenError` codes to status codes, request validation to 422."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import Scope

from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.wire import wire_errors

log = logging.getLogger("dyngen.api")

STATUS = {
    ErrorCode.GEN_INVALID_CONFIG: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.DEPENDENCY_UNAVAILABLE: 503,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.CONFLICT: 409,
    ErrorCode.GEN_RATE_LIMITED: 429,
}


class ErrorMessage(BaseModel):
    code: ErrorCode
    message: str


class ErrorBody(BaseModel):
    """Every error answer: a coded error, and the findings behind it (field, message, and more)."""

    error: ErrorMessage
    details: list[dict[str, Any]]


_MEANING = {
    401: "Missing, unknown or revoked API key",
    409: "The Idempotency-Key was used with another body",
    403: "The API key's scope does not allow this (or `simulate` while dev tools are off)",
    404: "No such record",
    413: "Request body over the size limit",
    415: "The body is not `application/json`",
    422: "Invalid request: every problem is listed with its field path",
    429: "Over a rate limit (per API key or per player): retry after `Retry-After` seconds",
    503: "A dependency needed for this call is unavailable",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


def error_body(code: ErrorCode, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code.value, "message": message}, "details": details or []}


def _body_model(request: Request) -> type[BaseModel] | None:
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _validation_details(request: Request, exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = exc.errors()
    model = _body_model(request)
    body_errors = [e for e in errors if tuple(e.get("loc", ()))[:1] == ("body",)]
    if model is not None and body_errors and not any(e.get("type") == "json_invalid" for e in body_errors):
        # Re-run pydantic on the body itself to get field paths with suggestions for unknown names.
        try:
            model.model_validate(exc.body)
        except ValidationError as verr:
            return wire_errors(model, verr, prefix=("body",))
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, scope: Scope) -> str:
    """Every method some route serves at the request's path (Starlette's 405 names only the first route's)."""
    allowed: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Mount):  # static files: GET and HEAD, whatever method asked
            if route.matches(scope)[0] is not Match.NONE:
                allowed.update(("GET", "HEAD"))
            continue
        allowed.update(m for m in METHODS if route.matches({**scope, "method": m})[0] is Match.FULL)
    return ", ".join(m for m in METHODS if m in allowed)


def error_response(exc: DyngenError, *, unavailable_retry_after_s: float) -> JSONResponse:
    """The answer to a `DyngenError`: its status, the error body, and the headers its status calls for
    (a 503 says when to try again: `unavailable_retry_after_s` unless the error says)."""
    status = STATUS.get(exc.code, 503)
    # RFC 9110: a 401 names the scheme to authenticate with.
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 429:
        # RFC 9110: whole seconds; at least 1, so a client never retries at once.
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s or 1)))}
    if status == 503:
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s or unavailable_retry_after_s)))}
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status, headers=headers)


def unexpected_response(exc: Exception) -> JSONResponse:
    """The answer to an error nothing expected (logged here, with its traceback): a 500 that says so."""
    log.exception("api.unexpected_error error=%s", type(exc).__name__, exc_info=exc)
    return JSONResponse(
        error_body(ErrorCode.GEN_PROVIDER_UNAVAILABLE, "internal error; the failure was logged"), status_code=500
    )


def install(app: FastAPI, *, unavailable_retry_after_s: float = 5.0) -> None:
    """Register the handlers on `app`; a 503 says when to try again (`unavailable_retry_after_s`)."""

    @app.exception_handler(DyngenError)
    async def _dyngen_error(_request: Request, exc: DyngenError) -> JSONResponse:
        return error_response(exc, unavailable_retry_after_s=unavailable_retry_after_s)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(request, exc)
        return JSONResponse(
            error_body(ErrorCode.GEN_INVALID_CONFIG, f"{len(details)} problem(s) in the request", details),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI could not decode a body it parses itself (e.g. not UTF-8/16/32 JSON): a 422 like any
            # other malformed JSON.
            detail = {"field": "body", "message": str(exc.detail), "type": "json_invalid"}
            return JSONResponse(
                error_body(ErrorCode.GEN_INVALID_CONFIG, "the body is not valid JSON", [detail]), status_code=422
            )
        if exc.status_code == 405:
            allow = allowed_methods(app, request.scope)
            return JSONResponse(
                error_body(ErrorCode.METHOD_NOT_ALLOWED, f"{request.method} is not allowed here; allowed: {allow}"),
                status_code=405,
                headers={"Allow": allow},
            )
        code = {
            404: ErrorCode.NOT_FOUND,
            403: ErrorCode.FORBIDDEN,
            413: ErrorCode.PAYLOAD_TOO_LARGE,
            415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        }.get(exc.status_code, ErrorCode.GEN_INVALID_CONFIG)
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return unexpected_response(exc)
