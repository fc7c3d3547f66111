"""Every error leaves the API as RFC 9457 problem-details JSON, never as a traceback."""

import logging
import math
from http import HTTPStatus
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from app.domain.errors import (
    AccountDeactivated,
    DomainError,
    EmailNotVerified,
    EmailTaken,
    ExpiredToken,
    InvalidCredentials,
    InvalidFields,
    UnknownToken,
)
from app.outages import SERVER_ERRORS, outage
from app.workflows.catalogue import UnknownWorkflow

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


def problem(status: int, detail: str | None = None, *, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(extra: Any) -> list[dict[str, str]]:
    errors = []
    for item in extra if isinstance(extra, list) else []:
        message = str(item.get("message", "is invalid")).removeprefix("Value error, ")
        errors.append({"field": str(item.get("key") or "body"), "message": message})
    return errors


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = _field_errors(exc.extra)
    if not errors:
        return problem(400, str(exc.detail))
    return problem(422, "the request has invalid fields", errors=errors)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    return problem(exc.status_code, exc.detail, headers=exc.headers)


def _invalid_fields(_: Request[Any, Any, Any], exc: InvalidFields) -> Response[dict[str, Any]]:
    errors = [{"field": field, "message": message} for field, message in exc.problems.items()]
    return problem(422, "the request has invalid fields", errors=errors)


def _email_taken(_: Request[Any, Any, Any], exc: EmailTaken) -> Response[dict[str, Any]]:
    return problem(409, str(exc), errors=[{"field": "email", "message": "is already registered"}])


# Refusals that are a plain status and the error's own message. An unknown verification link is 404 (nothing
# by that name), one past its expiry 410 (it existed, and is gone for good); a deactivated account, or an
# unverified one where verification is required, is 403 (known, and refused).
REFUSALS: dict[type[DomainError], int] = {UnknownToken: 404, ExpiredToken: 410, AccountDeactivated: 403,
                                          EmailNotVerified: 403}


def _refused(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    return problem(REFUSALS[type(exc)], str(exc))


def _invalid_credentials(_: Request[Any, Any, Any], exc: InvalidCredentials) -> Response[dict[str, Any]]:
    return problem(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="flowplane"'})


def _workflow_missing(_: Request[Any, Any, Any], exc: UnknownWorkflow) -> Response[dict[str, Any]]:
    # Reached when a use case (registration) needs a workflow the deployment does not serve: nothing was written.
    log.error("workflow %r is not loaded (workflows.directory); the request was refused", exc.name)
    return problem(503, f"the {exc.name} workflow is not available; nothing was saved, try again later",
                   headers={"Retry-After": "30"})


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A server the request needs is down or silent (refused, timed out, or skipped while it recovers)."""
    down = outage(exc)
    if down is None:
        return _unexpected(request, exc)
    retry_after = max(1, math.ceil(down.retry_after))
    log.warning("%s %s answered 503: the %s is unavailable (%s)", request.method, request.url.path, down.service,
                type(exc).__name__)
    return problem(503, f"the {down.service} is unavailable; try again in {retry_after} s",
                   headers={"Retry-After": str(retry_after)})


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "an unexpected error occurred; it has been logged")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: _validation,
    HTTPException: _http,
    InvalidFields: _invalid_fields,
    EmailTaken: _email_taken,
    InvalidCredentials: _invalid_credentials,
    **dict.fromkeys(REFUSALS, _refused),
    UnknownWorkflow: _workflow_missing,
    # A server down or silent is a 503; any other error of these classes a 500
    **dict.fromkeys(SERVER_ERRORS, _unavailable),
    Exception: _unexpected,
}
__all__ = ["EXCEPTION_HANDLERS", "MediaType", "problem"]
