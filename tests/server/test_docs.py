"""The API docs work offline: /docs and /redoc load Swagger UI and ReDoc from the server itself."""

from __future__ import annotations

import re

import pytest

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def asset_urls(html: str) -> list[str]:
    return [first or second for first, second in ASSET.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_the_servers_own_files(client, page):
    response = client.get(page)
    assert response.status_code == 200
    urls = asset_urls(response.text)
    assert urls, response.text
    assert [url for url in urls if not url.startswith("/")] == []
    scripts = [url for url in urls if url.endswith(".js")]
    assert scripts
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert len(asset.content) > 100_000 and "javascript" in asset.headers["content-type"]
    assert "cdn" not in response.text.lower()
