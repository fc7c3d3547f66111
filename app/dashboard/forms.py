"""The dashboard's POSTs: log in, log out, and the admin actions, each checked against the CSRF token."""

import logging
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Template
from sqlmodel import Session

from app.auth import accounts
from app.bootstrap import Container
from app.dashboard import csrf
from app.dashboard.actions import ACTIONS, perform
from app.dashboard.auth import (
    Viewer,
    forget,
    login_form_cookie,
    login_rate_limit,
    notice_cookie,
    session_cookie,
    viewer_of,
)
from app.dashboard.render import page
from app.domain.errors import InvalidCredentials

log = logging.getLogger(__name__)


@dataclass
class LoginForm:
    email: str = ""
    password: str = ""
    next: str = ""
    csrf: str = ""


@dataclass
class ActionForm:
    csrf: str = ""
    target: str = ""
    back: str = ""


@dataclass
class LogoutForm:
    csrf: str = ""


def _inside(path: str) -> str:
    """Only dashboard paths are followed after a form: no open redirect."""
    return path if path.startswith("/dashboard") and "//" not in path and "\\" not in path else "/dashboard"


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class Forms(Controller):
    path = "/dashboard"
    include_in_schema = False

    @post("/login", guards=[login_rate_limit], sync_to_thread=True, status_code=303)
    def log_in(self, request: Request, db: NamedDependency[Session],  # type: ignore[type-arg]
               container: NamedDependency[Container],
               data: Annotated[LoginForm, Form]) -> Redirect | Template:
        if not csrf.valid_login(request.cookies.get(csrf.LOGIN_COOKIE), data.csrf):
            raise PermissionDeniedException(detail="the login form expired; open it again")
        try:
            login = accounts.log_in(db, container.passwords, email=data.email, password=data.password,
                                    session_ttl=container.settings.auth.session_ttl)
        except InvalidCredentials:
            return page("login.html", None, "login", status_code=401, error="wrong email or password",
                        email=data.email, next=_inside(data.next), login_csrf=data.csrf)
        return Redirect(_inside(data.next), status_code=303,
                        cookies=[session_cookie(request, login.token, login.expires_at), login_form_cookie("", 0)])

    @post("/logout", status_code=303)
    async def log_out(self, request: Request, container: NamedDependency[Container],  # type: ignore[type-arg]
                      data: Annotated[LogoutForm, Form]) -> Redirect:
        viewer = await viewer_of(request)
        if viewer is not None:
            if not csrf.valid(viewer.session_token, data.csrf):
                raise PermissionDeniedException(detail="the form's CSRF token is missing or wrong")

            def revoke() -> None:
                with container.new_session() as db:
                    accounts.log_out(db, viewer.session_token)

            await anyio.to_thread.run_sync(revoke)
        return forget(Redirect("/dashboard/login", status_code=303))

    @post("/actions/{name:str}", sync_to_thread=True, status_code=303)
    def act(self, viewer: NamedDependency[Viewer], container: NamedDependency[Container], name: FromPath[str],
            data: Annotated[ActionForm, Form]) -> Redirect:
        if not csrf.valid(viewer.session_token, data.csrf):
            log.warning("dashboard action %s refused: missing or wrong CSRF token (%s)", name, viewer.email)
            raise PermissionDeniedException(detail="the form's CSRF token is missing or wrong")
        if not viewer.can_change:
            log.warning("dashboard action %s refused: %s has the %s role", name, viewer.email, viewer.role)
            raise PermissionDeniedException(detail="this needs the admin role")
        if name not in ACTIONS:
            raise NotFoundException(detail=f"no action {name}")
        done = perform(container, viewer.principal, name, data.target)
        notice = f"{'done' if done.ok else 'failed'}: {name} {data.target} - {done.detail}"
        return Redirect(_inside(data.back), status_code=303, cookies=[notice_cookie(notice)])


class LoginPage(Controller):
    path = "/dashboard/login"
    include_in_schema = False

    @get("/")
    async def show(self, request: Request,  # type: ignore[type-arg]
                   after: Annotated[str, QueryParameter(name="next")] = "") -> Redirect | Template:
        if await viewer_of(request) is not None:
            return Redirect(_inside(after), status_code=303)
        token = request.cookies.get(csrf.LOGIN_COOKIE) or csrf.new_login_token()
        shown = page("login.html", None, "login", next=_inside(after), email="", error=None, login_csrf=token)
        shown.set_cookie(login_form_cookie(token, 3600))
        return shown
