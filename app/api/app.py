"""Builds the Litestar application from a wired :class:`~app.bootstrap.Container`."""

from collections.abc import Iterator

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from sqlmodel import Session

from app import dashboard
from app.api import docs, document
from app.api.accounts import SessionRoutes, UserRoutes
from app.api.allow import allow_every_method
from app.api.bodies import JsonCheckedRequest
from app.api.events import EventRoutes
from app.api.health import health, ready
from app.api.metrics import metrics
from app.api.nul import RefuseNul
from app.api.problems import EXCEPTION_HANDLERS
from app.api.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from app.api.reports import ReportRoutes
from app.api.schedules import ScheduleRoutes
from app.api.security import provide_bearer_token, provide_principal
from app.api.tasks import TaskRoutes
from app.api.workflows import RunRoutes, WorkflowRoutes
from app.bootstrap import Container


def create_app(container: Container, limiter: Limiter | None = None) -> Litestar:
    settings = container.settings
    if limiter is None:
        redis = settings.redis
        limiter = (RedisLimiter(redis.url, redis.key_prefix, connect_timeout=redis.connect_timeout.total_seconds(),
                                timeout=redis.timeout.total_seconds(), backoff=redis.backoff.total_seconds(),
                                availability=getattr(container.huey.leased, "availability", None))
                   if redis.url
                   else MemoryLimiter())

    def provide_container() -> Container:
        return container

    def provide_db() -> Iterator[Session]:
        with container.new_session() as session:
            yield session

    return Litestar(
        route_handlers=[UserRoutes, SessionRoutes, TaskRoutes, EventRoutes, WorkflowRoutes, RunRoutes, ScheduleRoutes,
                        ReportRoutes, health, ready, metrics, *dashboard.routes()],
        dependencies={
            "container": Provide(provide_container, use_cache=True, sync_to_thread=False),
            "db": Provide(provide_db),
            "bearer_token": Provide(provide_bearer_token, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=True),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[RefuseNul],
        before_send=[allow_every_method],
        request_max_body_size=settings.api.max_body_bytes,
        request_class=JsonCheckedRequest,
        openapi_config=docs.openapi_config(),
        plugins=document.schema_plugins(container.plane.catalogue),
        state=State({"container": container, "limiter": limiter}),
        on_startup=[document.declare_headers],
        on_shutdown=[limiter.close],
        logging_config=None,
        template_config=dashboard.template_config(),
        debug=False,
    )
