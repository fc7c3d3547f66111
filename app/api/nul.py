"""A NUL character in a request's path or query is bad input: PostgreSQL text cannot hold one, so a query with it
would fail as a 500. Refused at the edge instead, before any route reads it: a 400 (the dashboard's error page
for its paths, problem JSON elsewhere, by the route's own exception handlers)."""

from typing import Annotated

from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.middleware import MiddlewareProtocol
from litestar.params import PathParameter
from litestar.types import ASGIApp, Receive, Scope, Send

# What the document says of every text in a path or a query: no NUL, since none gets past this middleware
NO_NUL = {"pattern": r"^[^\x00]*$"}
PathText = Annotated[str, PathParameter(schema_extra=NO_NUL)]


def holds_nul(path: str, query: bytes) -> bool:
    return "\x00" in path or b"%00" in query or b"\x00" in query


class RefuseNul(MiddlewareProtocol):
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and holds_nul(scope["path"], scope.get("query_string", b"")):
            raise ClientException(detail="the request's path or query holds a NUL character")
        await self.app(scope, receive, send)
