"""Login, logout, the cookie's flags, and who may see the dashboard."""

from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

from app.api.app import create_app
from app.bootstrap import Container, build
from app.config import Settings
from app.dashboard.auth import COOKIE
from app.domain.users import Role
from tests.integration.accounts import PASSWORD
from tests.integration.dashboard.conftest import Clients, add_user, csrf_of, log_in, login_form


def _set_cookie(response: Any) -> str:
    return str(next(value for value in response.headers.get_list("set-cookie") if value.startswith(f"{COOKIE}=")))


def test_login_sets_an_httponly_strict_cookie_and_logout_revokes_it(container: Container) -> None:
    email = add_user(container, Role.ADMIN)
    with TestClient(create_app(container)) as client:
        # Given the login form, when an admin logs in over http
        response = client.post("/dashboard/login", data=login_form(client, email), follow_redirects=False)
        # Then the token travels in an HttpOnly, SameSite=Strict cookie, not Secure on plain http
        assert response.status_code == 303 and response.headers["location"] == "/dashboard"
        cookie = _set_cookie(response).lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
        assert "secure" not in cookie
        assert PASSWORD not in response.text
        token = client.cookies[COOKIE]
        assert client.get("/dashboard").status_code == 200
        # When they log out with the form's CSRF token
        response = client.post("/dashboard/logout", data={"csrf": csrf_of(client)}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
        # Then the session is revoked: the old token no longer opens a page
        client.cookies.set(COOKIE, token)
        assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_the_cookie_is_secure_over_https(container: Container) -> None:
    email = add_user(container, Role.OPERATOR)
    with TestClient(create_app(container), base_url="https://testserver.local") as client:
        response = client.post("/dashboard/login", data=login_form(client, email), follow_redirects=False)
    assert "secure" in _set_cookie(response).lower().split("; ")


def test_a_wrong_password_shows_the_form_again(container: Container) -> None:
    email = add_user(container, Role.ADMIN)
    with TestClient(create_app(container)) as client:
        response = client.post("/dashboard/login", data=login_form(client, email, "wrong password!"))
    assert response.status_code == 401
    assert "wrong email or password" in response.text and COOKIE not in response.headers.get("set-cookie", "")


def test_pages_send_a_stranger_to_the_login_form(client: TestClient[Any]) -> None:
    response = client.get("/dashboard/tasks?state=dead", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Ftasks%3Fstate%3Ddead"
    assert client.get("/dashboard/login").status_code == 200


def test_after_login_only_dashboard_paths_are_followed(container: Container) -> None:
    email = add_user(container, Role.ADMIN)
    with TestClient(create_app(container)) as client:
        for target, expected in (("//evil.example/x", "/dashboard"), ("https://evil.example", "/dashboard"),
                                 ("/dashboard/runs", "/dashboard/runs")):
            client.cookies.clear()
            response = client.post("/dashboard/login", data=login_form(client, email, next=target),
                                   follow_redirects=False)
            assert response.headers["location"] == expected


def test_the_user_role_is_refused(as_role: Clients) -> None:
    response = as_role(Role.USER).get("/dashboard")
    assert response.status_code == 403
    assert "operator or admin role" in response.text


def test_logging_out_needs_the_csrf_token(as_role: Clients) -> None:
    client = as_role(Role.OPERATOR)
    assert client.post("/dashboard/logout", data={}).status_code == 403
    assert client.post("/dashboard/logout", data={"csrf": "0" * 64}).status_code == 403
    assert client.get("/dashboard").status_code == 200  # still logged in


def test_pages_forbid_framing_and_inline_scripts(as_role: Clients) -> None:
    policy = as_role(Role.OPERATOR).get("/dashboard").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy


def test_logging_in_again_gives_a_new_csrf_token(container: Container, as_role: Clients) -> None:
    first = csrf_of(as_role(Role.ADMIN))
    with TestClient(create_app(container)) as other:
        log_in(other, "admin@example.com")
        assert csrf_of(other) != first


def test_the_login_form_spends_the_login_rate_limit(make_settings: Callable[..., Settings]) -> None:
    container = build(make_settings(FLOWPLANE_AUTH__LOGIN_RATE_LIMIT="2/hour"))
    try:
        with TestClient(create_app(container)) as client:
            form = login_form(client, "x@example.com", "wrong password")
            codes = [client.post("/dashboard/login", data=form, follow_redirects=False).status_code for _ in range(3)]
    finally:
        container.close()
    assert codes == [401, 401, 429]


def test_a_login_without_the_forms_token_is_refused(container: Container) -> None:
    email = add_user(container, Role.ADMIN)
    with TestClient(create_app(container)) as client:
        # A cross-site form has neither the cookie nor the token; one without the other fails too
        bare = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
        form = login_form(client, email)
        forged = client.post("/dashboard/login", data={**form, "csrf": "x" * 43}, follow_redirects=False)
        client.cookies.clear()
        no_cookie = client.post("/dashboard/login", data=form, follow_redirects=False)
    assert [bare.status_code, forged.status_code, no_cookie.status_code] == [403, 403, 403]
    assert COOKIE not in (bare.headers.get("set-cookie", "") + no_cookie.headers.get("set-cookie", ""))
