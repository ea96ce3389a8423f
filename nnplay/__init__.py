"""nnplay for scripts: `nnplay.Client(url, token=...)` talks to a running nnplay server."""

from server.client import Client, ClientError

__all__ = ["Client", "ClientError"]
