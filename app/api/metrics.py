"""``GET /metrics``: Prometheus' text format, read from shared state at each scrape (see app/metrics/)."""

import asyncio
import hmac

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException

from app.api.responses import problems
from app.api.security import CHALLENGE
from app.bootstrap import Container

TEXT_FORMAT = "text/plain; version=0.0.4"  # Litestar appends the charset


@get("/metrics", tags=["health"], summary="Prometheus metrics (text format 0.0.4)", media_type=TEXT_FORMAT,
     responses=problems(401, why={401: "api.metrics_token is set, and this request does not bear it"}))
async def metrics(request: Request, container: NamedDependency[Container]) -> Response[bytes]:  # type: ignore[type-arg]
    # Scrapers carry no user token: open unless api.metrics_token is set, then that bearer token alone.
    token = container.settings.api.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.get_secret_value().encode()):
            raise NotAuthorizedException(detail="this endpoint needs the api.metrics_token bearer token",
                                         headers=CHALLENGE)
    # Awaited, not waited on in a worker thread: scrapes waiting for slow sources must not hold the threads
    # every other request path runs on. Concurrent scrapes share one read (app/metrics/scrape.py).
    exposition = await asyncio.wrap_future(container.metrics.scrape())
    return Response(exposition.text, media_type=TEXT_FORMAT)
