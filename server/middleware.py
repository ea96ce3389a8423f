"""Pure ASGI middleware: what a cross-site page may not send, a request body cap and deadline counted on
the wire, and the optional API token."""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import allowed_methods

TOKEN_COOKIE = "nnplay_token"
TOKEN_SUBPROTOCOL = "token."
UPLOAD_PATH = "/api/datasets"
UPLOAD_HEADER = "x-requested-with"
CSV_TYPES = ("text/csv", "text/plain", "application/csv")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
GUARDED_PATHS = ("/api/", "/docs", "/redoc", "/openapi.json")


async def _send_json(scope: Scope, send: Send, status: int, content: dict, headers: list = ()) -> None:
    """A JSON answer; on a websocket handshake, the HTTP response that refuses it."""
    prefix = "websocket." if scope["type"] == "websocket" else ""
    body = json.dumps(content).encode()
    await send(
        {
            "type": prefix + "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": prefix + "http.response.body", "body": body})


def _media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


class CrossSiteMiddleware:
    """Refuses what a page from another site can make a browser send without asking CORS first.

    A websocket handshake must come from this server's own pages (Origin host:port = Host) or from
    NNPLAY_CORS_ORIGINS; one without an Origin (not a browser) passes. POST, PUT and PATCH to /api send
    JSON (a DELETE may send nothing); a CSV upload may be text/csv with an X-Requested-With header.
    """

    def __init__(self, app: ASGIApp, cors_origins: list[str] = ()):
        self.app = app
        self.cors_origins = {origin.lower().rstrip("/") for origin in cors_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            refusal = self._websocket_refusal(Headers(scope=scope))
        elif scope["type"] == "http":
            refusal = self._request_refusal(scope, Headers(scope=scope))
        else:
            refusal = None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, detail = refusal
        await _send_json(scope, send, status, {"detail": detail})

    def _websocket_refusal(self, headers: Headers) -> tuple[int, str] | None:
        origin = headers.get("origin")
        if origin is None or origin.lower() in self.cors_origins:
            return None
        netloc = urlsplit(origin.lower()).netloc
        if netloc and netloc == headers.get("host", "").lower():
            return None
        return 403, f"websocket refused: origin {origin} is neither this server nor in NNPLAY_CORS_ORIGINS"

    def _request_refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        method, path = scope["method"], scope["path"]
        if method not in STATE_CHANGING or not path.startswith("/api/"):
            return None
        if "app" in scope and method not in allowed_methods(scope["app"], path):
            return None
        media_type = _media_type(headers)
        if media_type == "application/json" or (method == "DELETE" and not media_type):
            return None
        upload = method == "POST" and path.rstrip("/") == UPLOAD_PATH
        if upload and media_type in CSV_TYPES:
            if headers.get(UPLOAD_HEADER):
                return None
            return 403, f"a {media_type} upload needs an X-Requested-With header (any value, e.g. nnplay)"
        wanted = 'JSON {"name", "csv"}, or text/csv with an X-Requested-With header' if upload else "JSON"
        return 415, f"send {method} {path} as {wanted} (Content-Type {media_type or 'missing'})"


class BodyLimitMiddleware:
    """Reads the whole body first, counting bytes and time as they arrive: 413 past the size limit,
    408 past the deadline."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        upload_limit: int,
        timeout: float = 30.0,
        upload_path: str = UPLOAD_PATH,
    ):
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.timeout = timeout
        self.upload_path = upload_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].rstrip("/") == self.upload_path and scope["method"] == "POST"
        limit, setting = (
            (self.upload_limit, "NNPLAY_MAX_UPLOAD_BYTES")
            if upload
            else (
                self.limit,
                "NNPLAY_MAX_REQUEST_BYTES",
            )
        )
        too_large = {"detail": f"the request body is larger than {limit} bytes ({setting})"}
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_json(scope, send, 400, {"detail": "the content-length header is not a number"})
                return
            if int(declared) > limit:
                await _send_json(scope, send, 413, too_large)
                return
        chunks, size = [], 0
        with anyio.move_on_after(self.timeout) as deadline:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await _send_json(scope, send, 413, too_large)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        if deadline.cancelled_caught:
            late = f"the request body did not arrive within {self.timeout:g} s (NNPLAY_BODY_TIMEOUT_SECONDS)"
            await _send_json(scope, send, 408, {"detail": late}, [(b"connection", b"close")])
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class TokenMiddleware:
    """With a token set, the API and its docs need it; the health check and the browser app's files do not.

    Accepted: an `Authorization: Bearer` header (whose answer also sets an HttpOnly cookie, so the
    browser's download links carry it), that cookie, or on a websocket the subprotocol `token.<TOKEN>`
    offered beside `nnplay`. Never a URL query, which access logs would keep.
    """

    def __init__(self, app: ASGIApp, token: str | None, open_paths: tuple[str, ...] = ("/api/health",)):
        self.app = app
        self.token = token.encode() if token else None
        self.open_paths = open_paths

    def _supplied(self, scope: Scope) -> tuple[bytes | None, bytes | None]:
        """The token from the header or subprotocol, and the one from the cookie."""
        headers = Headers(scope=scope)
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            cookie.clear()
        morsel = cookie.get(TOKEN_COOKIE)
        from_cookie = morsel.value.encode("latin-1") if morsel else None
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            return authorization[7:].strip().encode("latin-1"), from_cookie
        for protocol in scope.get("subprotocols", ()):
            if protocol.startswith(TOKEN_SUBPROTOCOL):
                return protocol[len(TOKEN_SUBPROTOCOL) :].encode("latin-1"), from_cookie
        return None, from_cookie

    def _valid(self, supplied: bytes | None) -> bool:
        return supplied is not None and secrets.compare_digest(supplied, self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.token is None
            or scope["type"] not in ("http", "websocket")
            or scope["path"] in self.open_paths
            or not scope["path"].startswith(GUARDED_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        given, from_cookie = self._supplied(scope)
        if not (self._valid(given) or (given is None and self._valid(from_cookie))):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401, "reason": "missing or invalid token"})
                return
            detail = {"detail": "missing or invalid token: send 'Authorization: Bearer <NNPLAY_TOKEN>'"}
            await _send_json(scope, send, 401, detail, [(b"www-authenticate", b"Bearer")])
            return
        if scope["type"] != "http" or self._valid(from_cookie):
            await self.app(scope, receive, send)
            return

        cookie = f"{TOKEN_COOKIE}={self.token.decode('latin-1')}; Path=/; HttpOnly; SameSite=Strict".encode(
            "latin-1"
        )

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
