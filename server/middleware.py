"""Pure ASGI middleware: a request body cap counted on the wire, and the optional API token."""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "nnplay_token"


async def _send_json(send: Send, status: int, content: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Reads the whole body first, counting bytes as they arrive; past the limit the answer is 413."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int, upload_path: str = "/api/datasets"):
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
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
                await _send_json(send, 400, {"detail": "the content-length header is not a number"})
                return
            if int(declared) > limit:
                await _send_json(send, 413, too_large)
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_json(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
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
    """With a token set, every request but the health check needs it.

    Accepted: an `Authorization: Bearer` header, a `?token=` query (which also sets a cookie, so a browser
    that opened the app once stays signed in), or that cookie.
    """

    def __init__(self, app: ASGIApp, token: str | None, open_paths: tuple[str, ...] = ("/api/health",)):
        self.app = app
        self.token = token.encode() if token else None
        self.open_paths = open_paths

    def _supplied(self, scope: Scope) -> tuple[bytes | None, bool]:
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"")
        if authorization[:7].lower() == b"bearer ":
            return authorization[7:].strip(), False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0].encode("latin-1"), True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
        except Exception:
            return None, False
        morsel = cookie.get(TOKEN_COOKIE)
        return (morsel.value.encode("latin-1"), False) if morsel else (None, False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.token is None
            or scope["type"] not in ("http", "websocket")
            or scope["path"] in self.open_paths
        ):
            await self.app(scope, receive, send)
            return
        supplied, from_query = self._supplied(scope)
        if supplied is None or not secrets.compare_digest(supplied, self.token):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401, "reason": "missing or invalid token"})
                return
            detail = {"detail": "missing or invalid token: send 'Authorization: Bearer <NNPLAY_TOKEN>'"}
            await _send_json(send, 401, detail, [(b"www-authenticate", b"Bearer")])
            return
        if not (from_query and scope["type"] == "http"):
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
