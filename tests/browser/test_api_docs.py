"""The OpenAPI pages in Chromium with no network beyond the app itself: Redoc at /schema and Swagger UI at
/schema/swagger load every script, style and icon from the app, and list every operation of the document."""

from typing import Any

import httpx
import pytest

from tests.browser.conftest import DESKTOP, Server, only_the_app, screenshot

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Per page: each operation the UI drew, as JavaScript reads it from the page
DRAWN = {
    "redoc": "els => els.map(e => e.getAttribute('data-section-id')).filter(id => id.startsWith('operation/'))"
             ".map(id => id.slice('operation/'.length))",
    "swagger": "els => els.map(e => e.id)",  # opblock ids read operations-<tag>-<operationId>
}
SELECTOR = {"redoc": "[data-section-id]", "swagger": ".opblock"}


def operations(server: Server) -> dict[str, str]:
    """operationId -> "METHOD /path" of every operation in the document."""
    document = httpx.get(f"{server.url}/schema/openapi.json", timeout=10).json()
    return {operation["operationId"]: f"{method.upper()} {path}" for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS}


@pytest.mark.parametrize(("path", "ui"), [("/schema", "redoc"), ("/schema/redoc", "redoc"),
                                          ("/schema/swagger", "swagger")])
def test_the_api_docs_render_with_nothing_but_the_app(browser: Any, server: Server, path: str, ui: str) -> None:
    # Given a browser that may reach the app's own origin and nothing else
    context = browser.new_context(viewport=DESKTOP, base_url=server.url)
    context.set_default_timeout(15_000)
    refused: list[str] = []
    context.route("**/*", only_the_app(server, refused))
    try:
        page = context.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        # When the page opens
        page.goto(path)
        # Then the UI draws the operations from the document: a known one, then every one
        page.get_by_text("/api/users/me", exact=True).first.wait_for(state="visible")
        expected = operations(server)
        drawn = page.eval_on_selector_all(SELECTOR[ui], DRAWN[ui])
        if ui == "swagger":
            drawn = [next(key for key in expected if element.endswith(f"-{key}")) for element in drawn]
        assert sorted(set(drawn)) == sorted(expected), "operations the page does not show"
        screenshot(page, f"api-docs-{ui}")
        # And nothing it asked of the app failed, and nothing it asked elsewhere got past the page's own policy
        # (Redoc always draws a logo from its CDN: the Content-Security-Policy stops it in the browser)
        assert [url for url in failed if url.startswith(f"{server.url}/")] == []
        assert refused == []
    finally:
        context.close()
