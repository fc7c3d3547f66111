from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from app.api.responses import problems
from app.api.schemas import ReadinessOut
from app.auth.accounts import REGISTRATION
from app.bootstrap import Container
from app.health import check_all, dependencies


@get("/health", sync_to_thread=False, tags=["health"], summary="The process is alive", responses=problems())
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", sync_to_thread=True, tags=["health"],
     summary="Every server the settings use answers and registration's workflow is loaded",
     responses={**problems(), 503: ResponseSpec(ReadinessOut, description="Not ready: checks says what is not ok",
                                                 generate_examples=False)})
def ready(container: NamedDependency[Container]) -> Response[ReadinessOut]:
    checks = check_all(dependencies(container.settings, container.engine,
                                    redis=getattr(container.huey.leased, "availability", None),
                                    rabbitmq=container.publisher.availability))
    # Without its workflow, registration answers 503: a balancer should send sign-ups elsewhere
    checks["registration_workflow"] = ("ok" if REGISTRATION in container.workflows.names() else
                                       f"missing (no valid {REGISTRATION} in {container.settings.workflows.directory}; "
                                       "see GET /api/workflows)")
    healthy = all(result == "ok" for result in checks.values())
    body = ReadinessOut(status="ready" if healthy else "unavailable", checks=checks)
    return Response(body, status_code=200 if healthy else 503)
