"""Bearer-token authentication and per-client rate limits, as Litestar dependencies and guards."""

import anyio.to_thread
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard
from sqlmodel import Session

from app.addresses import rate_key
from app.auth.accounts import Principal, authenticate
from app.durations import Rate

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="flowplane"'}


def _refuse(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail=detail, headers=CHALLENGE)


def provide_bearer_token(request: Request) -> str:  # type: ignore[type-arg]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refuse("a bearer token is required")
    return token.strip()


def provide_principal(bearer_token: NamedDependency[str], db: NamedDependency[Session]) -> Principal:
    principal = authenticate(db, bearer_token)
    if principal is None:
        raise _refuse("the token is invalid, expired or revoked")
    return principal


def rate_limited(name: str) -> Guard:
    """A guard spending one hit of ``auth.<name>_rate_limit`` for the calling client address."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
        state = connection.app.state
        rate: Rate = getattr(state.container.settings.auth, f"{name}_rate_limit")
        client = rate_key(connection.client.host if connection.client else None)
        decision = await state.limiter.hit(f"{name}:{client}", rate)
        if not decision.allowed:
            raise TooManyRequestsException(
                detail=f"too many requests; try again in {decision.retry_after} s",
                headers={"Retry-After": str(decision.retry_after)},
            )

    return guard


def operators(*, change: bool) -> Guard:
    """Operator endpoints: ``operator`` and ``admin`` read; only ``admin`` changes anything."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
        scheme, _separator, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _refuse("a bearer token is required")
        container = connection.app.state.container

        def lookup() -> Principal | None:
            with container.new_session() as db:
                return authenticate(db, token.strip())

        principal = await anyio.to_thread.run_sync(lookup)
        if principal is None:
            raise _refuse("the token is invalid, expired or revoked")
        allowed = principal.role.can_change_operations() if change else principal.role.can_read_operations()
        if not allowed:
            raise PermissionDeniedException(detail=f"this needs the {'admin' if change else 'operator'} role")
        connection.state.principal = principal

    return guard
