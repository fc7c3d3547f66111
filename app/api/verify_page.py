"""The page a verification link opens (``GET /api/users/verify?token=…``): one small, standalone HTML page
per outcome, with the same status codes as the JSON endpoint.

The token is in the URL, so the page keeps it from going further: no external assets to fetch, no referrer
sent (``no-referrer``), nothing cached (``no-store``); and it cannot be framed or run a script."""

import base64
import hashlib
import html
import logging
import math
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from app.api.problems import REFUSALS
from app.auth.verification import Verified
from app.domain.errors import AccountDeactivated, DomainError, ExpiredToken, InvalidFields, UnknownToken
from app.outages import SERVER_ERRORS, outage

log = logging.getLogger(__name__)
STYLE = ("body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;"
         "color:#1f2933;line-height:1.5}h1{font-size:1.4rem}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MALFORMED = ("This link is not valid", "It is not a Flowplane verification link. Check that the whole link was "
              "copied from the mail.")
_SAYS: dict[type[DomainError], tuple[str, str]] = {
    UnknownToken: ("This link is not known", "Check that the whole link was copied from the mail."),
    ExpiredToken: ("This link has expired", "Verification links work for a limited time. Use the link in the most "
                   "recent mail from Flowplane."),
    AccountDeactivated: ("This account was closed", "Its email address was not verified in time."),
}


def page(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    body = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)} · Flowplane</title><style>{STYLE}</style></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>")
    return Response(body, status_code=status, media_type=MediaType.HTML, headers={**HEADERS, **(headers or {})})


def verified(done: Verified) -> Response[str]:
    if done.already:
        return page(200, "Already verified", f"{done.email} was verified before. There is nothing more to do.")
    return page(200, "Email address verified", f"Thank you: {done.email} is verified. You can close this page.")


def _refused(_: Request[Any, Any, Any], exc: DomainError) -> Response[str]:
    if isinstance(exc, InvalidFields):
        return page(422, *_MALFORMED)
    title, message = _SAYS.get(type(exc), ("This link cannot be used", str(exc)))
    return page(REFUSALS.get(type(exc), 400), title, message)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    if exc.status_code == 429:
        retry_after = (exc.headers or {}).get("Retry-After", "60")
        return page(429, "Too many attempts", f"Please try again in {retry_after} seconds.", exc.headers)
    return page(exc.status_code, "This link cannot be used", str(exc.detail), exc.headers)


def _invalid(_: Request[Any, Any, Any], exc: ValidationException) -> Response[str]:
    return page(422, *_MALFORMED)  # no token, or more than one: as the JSON endpoint answers a body without one


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    down = outage(exc)
    if down is not None:
        retry_after = max(1, math.ceil(down.retry_after))
        log.warning("%s %s answered 503: the %s is unavailable", request.method, request.url.path, down.service)
        return page(503, "Please try again shortly", f"The service is busy; try again in {retry_after} seconds.",
                    {"Retry-After": str(retry_after)})
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return page(500, "Something went wrong", "The error has been logged. Please try again later.")


# Each class the API maps to problem JSON is named again: the API's handlers and these are looked up as one table,
# along each error's classes from the most specific.
EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    **dict.fromkeys((DomainError, InvalidFields, *REFUSALS), _refused), HTTPException: _http,
    ValidationException: _invalid,
    **dict.fromkeys(SERVER_ERRORS, _unexpected), Exception: _unexpected,
}
