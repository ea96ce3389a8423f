"""API errors: every bad request becomes a 4xx whose JSON names the field and the problem."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

log = logging.getLogger(__name__)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ApiError(Exception):
    """A client error: `status` with a message; `loc` names the offending field for 422s; extra `headers`."""

    def __init__(
        self,
        status: int,
        msg: str,
        loc: Sequence[str | int] | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.headers = headers
        if details is None and loc is not None:
            details = [{"loc": list(loc), "msg": msg, "type": "value_error"}]
        self.details = details

    def content(self) -> dict[str, Any]:
        if self.details is None:
            return {"detail": self.msg}
        return {"detail": self.details, "message": summary(self.details)}


def not_found(what: str, name: str) -> ApiError:
    return ApiError(404, f"no {what} with id {name!r}")


def readable(errors: Sequence[Mapping[str, Any]], prefix: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    """pydantic errors as [{"loc", "msg", "type"}], without echoing the input back."""
    return [
        {
            "loc": [*prefix, *error.get("loc", ())],
            "msg": str(error.get("msg", "invalid value")),
            "type": error.get("type"),
        }
        for error in errors
    ]


def summary(details: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(map(str, d['loc'])) or 'request'}: {d['msg']}" for d in details)


def validation_error(error: ValidationError, prefix: Sequence[str | int] = ("body",)) -> ApiError:
    details = readable(error.errors(include_url=False, include_input=False, include_context=False), prefix)
    return ApiError(422, summary(details), details=details)


async def _request_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    details = readable(error.errors())
    return JSONResponse({"detail": details, "message": summary(details)}, status_code=422)


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(error.content(), status_code=error.status, headers=error.headers)


@cache
def _pattern(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI schema offers on this path (Starlette's 405 names one route's at most)."""
    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        if _pattern(template).match(path):
            methods |= {method.upper() for method in operations if method.upper() in METHODS}
    return sorted(methods)


async def _http_error(request: Request, error: HTTPException) -> Response:
    cause = error.__cause__
    if error.status_code in (404, 405):
        methods = allowed_methods(request.app, request.url.path)
        api = request.url.path.startswith("/api/")
        if error.status_code == 405 or (api and methods and request.method not in methods):
            if api and not methods:
                return JSONResponse({"detail": f"no API route at {request.url.path}"}, status_code=404)
            allow = ", ".join(methods or ["GET", "HEAD"])
            return JSONResponse(
                {"detail": f"method {request.method} is not allowed here; allowed: {allow}"},
                status_code=405,
                headers={**(error.headers or {}), "Allow": allow},
            )
    if isinstance(cause, UnicodeDecodeError):
        return JSONResponse(
            {"detail": f"the request body is not UTF-8 text (byte {cause.start} cannot be decoded)"},
            status_code=400,
        )
    if isinstance(cause, RecursionError):
        return JSONResponse({"detail": "the JSON body is nested too deeply"}, status_code=400)
    if isinstance(cause, ValueError) and error.status_code == 400:
        return JSONResponse({"detail": f"the JSON body cannot be read: {cause}"}, status_code=400)
    return await http_exception_handler(request, error)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": f"internal error: {type(error).__name__}"}, status_code=500)


ERROR_BODY = {
    "type": "object",
    "properties": {"detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}},
    "required": ["detail"],
}
BODY_ERRORS = {
    "400": "the body is not UTF-8 or its JSON is nested too deeply",
    "408": "the body did not arrive in time (NNPLAY_BODY_TIMEOUT_SECONDS)",
    "413": "the body is too large (NNPLAY_MAX_REQUEST_BYTES, NNPLAY_MAX_UPLOAD_BYTES)",
    "415": "the body is not of a type the operation takes",
    "422": "a field is invalid; detail names it",
}
CROSS_SITE_ERROR = {"403": "refused as a request a page from another site could send"}
TOKEN_ERROR = {"401": "the API token (NNPLAY_TOKEN) is missing or wrong"}


def _documented_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """app.openapi with the 4xx answers every operation can give (bodies, middleware) documented.

    A POST, PUT or PATCH body is required: the API takes them as JSON only (`{}` when empty).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        settings = getattr(app.state, "settings", None)
        token = settings is not None and settings.token is not None
        for path, operations in schema.get("paths", {}).items():
            guarded = token and path.startswith("/api/") and path != "/api/health"
            for method, operation in operations.items():
                errors = dict(TOKEN_ERROR) if guarded else {}
                if method in ("post", "put", "patch", "delete"):
                    errors |= CROSS_SITE_ERROR
                if "requestBody" in operation:
                    errors |= BODY_ERRORS
                    if method != "delete":
                        operation["requestBody"]["required"] = True
                responses = operation.setdefault("responses", {})
                for status, description in errors.items():
                    responses.setdefault(
                        status,
                        {"description": description, "content": {"application/json": {"schema": ERROR_BODY}}},
                    )
        return schema

    return openapi


def install(app: FastAPI) -> None:
    app.openapi = _documented_errors(app)  # type: ignore[method-assign]  # FastAPI's way to extend the schema
    app.exception_handler(RequestValidationError)(_request_validation_error)
    app.exception_handler(ApiError)(_api_error)
    app.exception_handler(HTTPException)(_http_error)
    app.exception_handler(Exception)(_unexpected)
