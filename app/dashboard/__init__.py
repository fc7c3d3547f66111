"""The operator dashboard: server-rendered pages under /dashboard, for operators (read) and admins (act)."""

import logging
import math
import urllib.parse
from typing import Any

from litestar import Request, Response, Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from app.dashboard.auth import LoginRequired, provide_viewer
from app.dashboard.forms import Forms, LoginPage
from app.dashboard.pages import Pages
from app.dashboard.playground import Playground
from app.dashboard.render import STATIC, template_config
from app.outages import SERVER_ERRORS, outage

__all__ = ["routes", "template_config"]
log = logging.getLogger(__name__)
GUARDS = {  # every response of the pages, error pages included (a router's headers skip exception handlers)
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HEADERS = [ResponseHeader(name=name, value=value) for name, value in GUARDS.items()]


def _login(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/dashboard/login?{urllib.parse.urlencode({'next': target})}", status_code=303)


def _error_page(status: int, detail: str, headers: dict[str, str] | None = None) -> Response[Any]:
    # No viewer and no CSRF token: an error page may be shown to anyone, and is never a form to submit.
    return Template(template_name="error.html", status_code=status, headers={**(headers or {}), **GUARDS},
                    context={"viewer": None, "section": "", "status": status, "detail": detail})


def _refused(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _error_page(exc.status_code, exc.detail, exc.headers)


def _invalid(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    # Otherwise the API's handler would answer a page's bad query parameter with problem JSON.
    problems = [f"{item.get('key', 'request')}: {item.get('message', 'is invalid')}"
                for item in (exc.extra if isinstance(exc.extra, list) else [])]
    return _error_page(400, "; ".join(problems) or exc.detail)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    down = outage(exc)
    if down is not None:  # the database (or another server) is down or silent: a moment's wait, not a bug
        retry_after = max(1, math.ceil(down.retry_after))
        log.warning("%s %s answered 503: the %s is unavailable", request.method, request.url.path, down.service)
        return _error_page(503, f"the {down.service} is unavailable; try again in {retry_after} s",
                           {"Retry-After": str(retry_after)})
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return _error_page(500, "an unexpected error occurred; it has been logged")


def routes() -> list[ControllerRouterHandler]:
    pages = Router(path="/", route_handlers=[Pages, Playground, Forms, LoginPage],
                   dependencies={"viewer": Provide(provide_viewer)}, response_headers=HEADERS,
                   exception_handlers={LoginRequired: _login, ValidationException: _invalid, HTTPException: _refused,
                                       # the API's own handlers for these would answer a page with problem JSON
                                       **dict.fromkeys(SERVER_ERRORS, _unexpected), Exception: _unexpected})
    static = create_static_files_router(path="/dashboard/static", directories=[STATIC], include_in_schema=False,
                                        name="dashboard-static")
    return [pages, static]
