"""The browser app from the web/ folder at "/", and Plotly.js from the installed plotly package."""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def install(app: FastAPI, web_dir: Path) -> None:
    """Mount last: every path the API does not claim is looked up in web_dir."""

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    async def read_plotly() -> FileResponse:
        return FileResponse(
            PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    if web_dir.is_dir():
        app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
        return

    @app.get("/", include_in_schema=False)
    async def read_index() -> JSONResponse:
        return JSONResponse(
            {"detail": f"the browser app is not installed at {web_dir} (NNPLAY_WEB_DIR)"}, 404
        )
