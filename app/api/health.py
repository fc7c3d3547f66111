from litestar import Response, get
from litestar.di import NamedDependency

from app.api.schemas import ReadinessOut
from app.bootstrap import Container
from app.health import check_all, dependencies


@get("/health", sync_to_thread=False, tags=["health"], summary="The process is alive")
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", sync_to_thread=True, tags=["health"], summary="Every server the settings use answers")
def ready(container: NamedDependency[Container]) -> Response[ReadinessOut]:
    checks = check_all(dependencies(container.settings, container.engine))
    healthy = all(result == "ok" for result in checks.values())
    body = ReadinessOut(status="ready" if healthy else "unavailable", checks=checks)
    return Response(body, status_code=200 if healthy else 503)
