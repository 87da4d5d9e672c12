"""API errors: every failure is ``{"error": {"code": ..., "message": ...}}`` with a fitting HTTP status (a store
error's by its kind: not found 404, conflict 409, invalid 422; a quota's, see ``quota_error``). ``ErrorEnvelope``
is that body's schema: every body is built through it, and ``responses`` declares it in OpenAPI."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from arena.runtime.connection import refused_credentials
from arena.store.errors import Conflict, IllegalTransition, InvalidValue, NotFound, StoreError
from arena.store.quotas import QuotaExceeded


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, headers or {}, extra


_STORE_STATUS = {NotFound: 404, Conflict: 409, IllegalTransition: 409, InvalidValue: 422}


def store_error(exc: StoreError) -> ApiError:
    """A store error as the API answers it."""
    if isinstance(exc, QuotaExceeded):
        return quota_error(exc)
    status = next((code for kind, code in _STORE_STATUS.items() if isinstance(exc, kind)), 400)
    return ApiError(status, exc.code, exc.message)


def quota_error(exc: QuotaExceeded) -> ApiError:
    """A quota refusal: 503 when the service's smoke-test queue is full, 429 when waiting helps (a rate), else
    409; the body says which quota, its limit and the use so far."""
    status = 503 if exc.quota == "smoke_queue" else 429 if exc.retry_after_s else 409
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else {}
    return ApiError(status, exc.code, exc.message, headers, quota=exc.quota, limit=exc.limit, used=exc.used)


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(description="where in the request, dotted (e.g. `query.limit`, `name`)")
    message: str


class ErrorDetail(BaseModel):
    """What went wrong: ``code`` for programs, ``message`` for people; the other fields only where named."""

    model_config = ConfigDict(extra="forbid")  # the documented fields and no others
    code: str = Field(description="machine-readable, e.g. NOT_FOUND, INVALID_REQUEST, RATE_LIMITED")
    message: str = Field(description="human-readable")
    fields: list[FieldError] | None = Field(None, description="422: each invalid part of the request")
    quota: str | None = Field(None, description="a quota refusal: which quota")
    limit: int | None = Field(None, description="a quota refusal: its limit")
    used: int | None = Field(None, description="a quota refusal: the use so far")
    scope: str | None = Field(None, description="429 TOO_MANY_SIGN_INS: the budget spent (name or address)")
    checks: dict[str, str] | None = Field(None, description="503 from /readyz: each dependency's state")


class ErrorEnvelope(BaseModel):
    """Every error answer's body."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The envelope as JSON; an extra field the schema does not document is a programming error (raises)."""
    return ErrorEnvelope(error=ErrorDetail(code=code, message=message, **extra)).model_dump(exclude_none=True)


_WHEN = {
    401: "No valid credentials: no API key or session, an unknown or revoked key, an expired session",
    403: "Not allowed: an administrator's route, or a change made with a session cookie without the CSRF header",
    404: "Nothing by that name or id (or not visible to you)",
    409: "Conflicts with the current state, or a quota is full (`quota`, `limit`, `used`)",
    413: "The request body is over the route's size limit",
    422: "The request is invalid: `fields` names each invalid part",
    429: "Too many requests: over the rate limit or a rate quota; see the Retry-After and RateLimit headers",
    503: "A dependency (Redis, the database) or a shared queue or budget is unavailable; see Retry-After",
}


_RETRY_AFTER = {"Retry-After": {"required": True, "description": "seconds to wait before trying again",
                                "schema": {"type": "integer", "minimum": 1}}}  # fmt: skip
_RATE_LIMIT = {"RateLimit-Policy": {"description": 'the rate limit, e.g. `"default";q=120;w=60`',
                                    "schema": {"type": "string"}},
               "RateLimit": {"description": 'what is left of it, e.g. `"default";r=0;t=13`',
                             "schema": {"type": "string"}}}  # fmt: skip
_HEADERS = {429: {**_RETRY_AFTER, **_RATE_LIMIT}, 503: _RETRY_AFTER}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring the envelope (and Retry-After where it is always sent) for these statuses."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        declared[status] = {"model": ErrorEnvelope, "description": _WHEN[status]}
        if status in _HEADERS:
            declared[status]["headers"] = _HEADERS[status]
    return declared


# What any /api/v1 route can answer: a bad key (refused before the route), a body over the limit, an invalid
# request, the rate limit, a dependency down.
API_ERRORS = (401, 413, 422, 429, 503)


RETRY_AFTER_S = 5
# What a dependency that is down raises: the answer is 503 (retry later), not a 500 with a stack trace.
UNAVAILABLE: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, OperationalError)


def unavailable(message: str, code: str = "SERVICE_UNAVAILABLE", **extra: Any) -> JSONResponse:
    """503 (SERVICE_UNAVAILABLE unless told) with the envelope and Retry-After."""
    body = error_body(code, message, **extra)
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


def dependency_down(exc: Exception) -> JSONResponse:
    if refused_credentials(exc):  # an operator's mistake (ARENA_REDIS_URL), not an outage: say so
        return unavailable("Redis refused the service's credentials (the password in ARENA_REDIS_URL)", "REDIS_AUTH")
    what = "the database" if isinstance(exc, OperationalError) else "Redis"
    return unavailable(f"{what} is unreachable; retry in {RETRY_AFTER_S} s")


def install(app: FastAPI) -> None:
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, lambda _request, exc: dependency_down(exc))

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, **exc.extra), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
        return await _api_error(request, store_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "message": err["msg"]}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse(error_body("INVALID_REQUEST", summary, fields=fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)
