"""Generated reports: admin-only, since they describe the whole user base. No file system path leaves here."""

import json
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException

from app.api.nul import PathText
from app.api.paging import Limit, Offset
from app.api.responses import OPERATOR, problems
from app.api.security import operators
from app.bootstrap import Container
from app.db.models import Report
from app.handlers import reports

ADMIN = [operators(change=True)]


def _view(report: Report) -> dict[str, Any]:
    return {"id": report.id, "kind": report.kind, "period": report.period, "timezone": report.timezone,
            "rows": report.rows, "summary": json.loads(report.summary), "created_at": report.created_at.isoformat()}


class ReportRoutes(Controller):
    path = "/api/reports"
    tags = ["reports"]
    security = [{"bearer": []}]

    @get("/", guards=ADMIN, sync_to_thread=True, summary="Generated reports, newest first",
         responses=problems(*OPERATOR, 422, 503))
    def list_reports(
        self, container: NamedDependency[Container],
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        total, rows = reports.page(container.engine, offset=offset, limit=limit)
        return {"total": total, "offset": offset, "limit": limit, "items": [_view(row) for row in rows]}

    @get("/{report_id:str}", guards=ADMIN, sync_to_thread=True, summary="One report's CSV file",
         media_type="text/csv", responses=problems(*OPERATOR, 404, 503))
    def download(self, container: NamedDependency[Container], report_id: PathText) -> Response[bytes]:
        found = reports.download(container.engine, report_id)
        if found is None:
            raise NotFoundException(detail=f"no report {report_id}")
        return Response(found.content, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'})
