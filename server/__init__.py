"""nnplay's server: REST API, live websocket stream and persistent run history over the engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nnplay")
except PackageNotFoundError:
    __version__ = "0.1.0"
