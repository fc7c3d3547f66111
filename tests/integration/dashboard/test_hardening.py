"""The dashboard's edges: the session cookie lives as long as the session, error pages are as guarded as the
others and carry no CSRF token, and an offset no page has is a 400 page, never a 500."""

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from typing import Any

import pytest
from litestar.testing import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.dashboard import reads
from app.dashboard.auth import COOKIE
from app.domain.users import Role
from tests.integration.dashboard.conftest import Clients, add_user, csrf_of, login_form

GUARDS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")
TOKEN = re.compile(r"[0-9a-f]{64}")


def test_the_session_cookie_expires_with_the_session(container: Container) -> None:
    email = add_user(container, Role.OPERATOR)
    with TestClient(create_app(container)) as client:
        response = client.post("/dashboard/login", data=login_form(client, email), follow_redirects=False)
    header = next(value for value in response.headers.get_list("set-cookie") if value.startswith(f"{COOKIE}="))
    morsel = SimpleCookie(header)[COOKIE]
    ttl = container.settings.auth.session_ttl
    expires = parsedate_to_datetime(morsel["expires"])
    assert abs(expires - (datetime.now(UTC) + ttl)) < timedelta(minutes=1), header
    assert abs(int(morsel["max-age"]) - ttl.total_seconds()) < 60, header


def _error_pages(container: Container, as_role: Clients, monkeypatch: pytest.MonkeyPatch) -> dict[int, Any]:
    def broken(_: Container) -> dict[str, Any]:
        raise RuntimeError("a page that fails")

    operator = as_role(Role.OPERATOR)
    pages = {404: operator.get("/dashboard/runs/nope"), 403: as_role(Role.USER).get("/dashboard/tasks")}
    monkeypatch.setattr(reads, "overview", broken)
    pages[500] = operator.get("/dashboard")
    return pages


def test_error_pages_send_the_headers_every_page_sends(container: Container, as_role: Clients,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    normal = as_role(Role.OPERATOR).get("/dashboard/tasks")
    assert normal.status_code == 200
    for name in GUARDS:
        assert normal.headers.get(name), f"a normal page sends no {name}"
    for status, page in _error_pages(container, as_role, monkeypatch).items():
        assert page.status_code == status and "text/html" in page.headers["content-type"], page.text
        for name in GUARDS:
            assert page.headers.get(name) == normal.headers[name], f"{status} page: {name}"
        assert page.headers.get("cache-control") == "no-store", status


def test_error_pages_carry_no_csrf_token(container: Container, as_role: Clients,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = {csrf_of(as_role(Role.OPERATOR))}
    for status, page in _error_pages(container, as_role, monkeypatch).items():
        assert 'name="csrf"' not in page.text, status
        assert not tokens & set(TOKEN.findall(page.text)), status


@pytest.mark.parametrize("path", ["/dashboard/tasks", "/dashboard/tasks?state=pending", "/dashboard/runs"])
@pytest.mark.parametrize("offset", [str(2**63), str(2**63 - 1), "9" * 5000, "-1", "ten"])
def test_an_offset_no_page_has_is_a_400_page(as_role: Clients, path: str, offset: str) -> None:
    separator = "&" if "?" in path else "?"
    response = as_role(Role.OPERATOR).get(f"{path}{separator}offset={offset}")
    assert response.status_code == 400, response.text
    assert "text/html" in response.headers["content-type"]
    assert "offset" in response.text
