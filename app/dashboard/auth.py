"""Who is looking: the session cookie, the login rate limit, and the roles the dashboard lets in."""

import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import PermissionDeniedException, TooManyRequestsException
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect

from app.addresses import rate_key
from app.auth.accounts import Principal, authenticate
from app.bootstrap import Container
from app.dashboard import csrf

COOKIE = "flowplane_dashboard"
NOTICE = "flowplane_notice"  # what the last action did, shown once on the next page
PATH = "/dashboard"


class LoginRequired(Exception):
    """No live session cookie: the page answers with the login form instead."""


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    session_token: str
    notice: str | None = None

    @property
    def email(self) -> str:
        return self.principal.user.email

    @property
    def role(self) -> str:
        return self.principal.role.value

    @property
    def can_change(self) -> bool:
        return self.principal.role.can_change_operations()

    @property
    def csrf(self) -> str:
        return csrf.token_for(self.session_token)


def session_cookie(request: Request, token: str, expires_at: datetime) -> Cookie:  # type: ignore[type-arg]
    # Both in seconds from now (Cookie.expires is not a timestamp): the cookie goes when the session does.
    lifetime = max(0, int((expires_at - datetime.now(UTC)).total_seconds()))
    return Cookie(key=COOKIE, value=token, path=PATH, httponly=True, samesite="strict",
                  secure=request.url.scheme == "https", max_age=lifetime, expires=lifetime)


def notice_cookie(text: str) -> Cookie:
    return Cookie(key=NOTICE, value=urllib.parse.quote(text[:300]), path=PATH, httponly=True, samesite="strict")


def login_form_cookie(token: str, max_age: int) -> Cookie:
    """The login form's token (max_age 0 drops it once logged in)."""
    return Cookie(key=csrf.LOGIN_COOKIE, value=token, path=PATH, max_age=max_age, httponly=True, samesite="strict")


def shown_notice() -> Cookie:
    return Cookie(key=NOTICE, value="", path=PATH, max_age=0, httponly=True, samesite="strict")


def forget(response: Redirect) -> Redirect:
    response.delete_cookie(COOKIE, path=PATH)
    return response


async def viewer_of(connection: ASGIConnection) -> Viewer | None:  # type: ignore[type-arg]
    """The logged-in user behind the cookie, whatever their role; None without a live session."""
    token = connection.cookies.get(COOKIE, "")
    if not token:
        return None
    container: Container = connection.app.state.container

    def lookup() -> Principal | None:
        with container.new_session() as db:
            return authenticate(db, token)

    principal = await anyio.to_thread.run_sync(lookup)
    if principal is None:
        return None
    notice = connection.cookies.get(NOTICE)
    return Viewer(principal, token, urllib.parse.unquote(notice) if notice else None)


async def provide_viewer(request: Request) -> Viewer:  # type: ignore[type-arg]
    """Operators and admins read every page; anyone else is refused."""
    viewer = await viewer_of(request)
    if viewer is None:
        raise LoginRequired()
    if not viewer.principal.role.can_read_operations():
        raise PermissionDeniedException(detail="the dashboard needs the operator or admin role")
    return viewer


async def login_rate_limit(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """The API's login limit (auth.login_rate_limit), per client address, for the login form too."""
    state = connection.app.state
    client = rate_key(connection.client.host if connection.client else None)
    decision = await state.limiter.hit(f"login:{client}", state.container.settings.auth.login_rate_limit)
    if not decision.allowed:
        raise TooManyRequestsException(detail=f"too many logins; try again in {decision.retry_after} s",
                                       headers={"Retry-After": str(decision.retry_after)})
