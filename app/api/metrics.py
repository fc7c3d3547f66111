"""``GET /metrics``: Prometheus' text format, read from shared state at each scrape (see app/metrics.py)."""

import hmac

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from prometheus_client import CollectorRegistry, generate_latest

from app.api.security import CHALLENGE
from app.bootstrap import Container
from app.metrics import FlowplaneCollector
from app.plane.events.inspect import EventInspector
from app.plane.events.topology import transport_url

TEXT_FORMAT = "text/plain; version=0.0.4"  # Litestar appends the charset


def collector(container: Container) -> FlowplaneCollector:
    settings = container.settings
    events = EventInspector(transport_url(settings), container.topology, settings.rabbitmq.management_url)
    return FlowplaneCollector(container.huey.leased, container.engine, queue=settings.tasks.queue,
                              tasks=container.registry.names(),
                              event_stats=events.stats if settings.events.enabled else None)


@get("/metrics", sync_to_thread=True, tags=["health"], summary="Prometheus metrics (text format 0.0.4)")
def metrics(request: Request, container: NamedDependency[Container]) -> Response[bytes]:  # type: ignore[type-arg]
    # Scrapers carry no user token: open unless api.metrics_token is set, then that bearer token alone.
    token = container.settings.api.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.get_secret_value().encode()):
            raise NotAuthorizedException(detail="this endpoint needs the api.metrics_token bearer token",
                                         headers=CHALLENGE)
    registry = CollectorRegistry()
    registry.register(collector(container))
    return Response(generate_latest(registry), media_type=TEXT_FORMAT)
