"""The reports API: admins only, newest first, the CSV as an attachment, 404 for what is not there."""

from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from app.bootstrap import Container
from app.domain.users import Role
from tests.integration.accounts import login_as
from tests.integration.jobs.conftest import RunTask


def test_admins_list_and_download_reports(client: TestClient[Any], container: Container, run_task: RunTask) -> None:
    user, operator, admin = (login_as(client, container, role) for role in (Role.USER, Role.OPERATOR, Role.ADMIN))
    older = run_task("reports.monthly_signups", {"month": "2026-10", "timezone": "Europe/Paris"})
    newer = run_task("reports.monthly_signups", {"month": "2026-10", "timezone": "UTC"})

    # Nobody without a token; neither users nor operators: reports describe the whole user base
    for path in ("/api/reports", f"/api/reports/{older['report_id']}"):
        assert client.get(path).status_code == 401
        for headers in (user, operator):
            denied = client.get(path, headers=headers)
            assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"

    listed = client.get("/api/reports", headers=admin)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 2 and [item["id"] for item in body["items"]] == [newer["report_id"], older["report_id"]]
    item = body["items"][1]
    assert set(item) == {"id", "kind", "period", "timezone", "rows", "summary", "created_at"}
    assert (item["kind"], item["period"], item["timezone"], item["rows"]) == ("monthly_signups", "2026-10",
                                                                              "Europe/Paris", 31)
    assert item["summary"]["signups"] == 0
    assert str(Path.cwd()) not in listed.text and ".csv" not in listed.text

    csv_file = next(Path("var/reports").glob("*Europe_Paris.csv"))
    download = client.get(f"/api/reports/{older['report_id']}", headers=admin)
    assert download.status_code == 200 and download.content == csv_file.read_bytes()
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == 'attachment; filename="signups-2026-10-Europe_Paris.csv"'

    missing = client.get("/api/reports/no-such-report", headers=admin)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    # A row whose file was removed is as missing as no row at all
    csv_file.unlink()
    assert client.get(f"/api/reports/{older['report_id']}", headers=admin).status_code == 404
