"""An ``OPTIONS`` answer lists every method of its path in ``Allow``. Litestar 2 lists only the methods of the
first handler registered on a path that several handlers share, as ``GET`` and ``DELETE /api/tasks/{id}`` do
(litestar-org/litestar#4169, fixed in Litestar 3): this hook sets the header from the route itself instead."""

from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


def allow_every_method(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    template = scope.get("path_template")
    for route in scope["app"].routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            MutableScopeHeaders.from_message(message)["Allow"] = ", ".join(sorted(route.methods))
            return
