"""Where each consumer's effect can be seen: `flowplane events applied` and the dashboard's Events page."""

import json
import os
from datetime import timedelta
from pathlib import Path

from litestar.testing import TestClient
from sqlalchemy import text

from app.api.app import create_app
from app.domain.users import Role
from app.handlers.crm import FakeCrm
from app.handlers.effects import crm_contacts
from tests.cli import invoke
from tests.e2e.processes import poll
from tests.integration.dashboard.conftest import add_user, log_in
from tests.integration.events.conftest import EventWorld


def test_what_each_consumer_applied_is_shown_by_the_cli_and_the_dashboard(events_world: EventWorld) -> None:
    container = events_world.container()
    env = {**os.environ, **events_world.env}
    before = json.loads(invoke(["events", "applied"], env, events_world.directory).stdout)
    assert {figures["applied"] for figures in before["consumers"].values()} == {0}
    assert before["audit"] == [] and before["crm_contacts"] == []

    # Given the three consumers running, when a user.created goes out
    events_world.run_consumers(container, container.consumers)
    message_id = container.plane.publish("user.created", {"user_id": "u-7", "email": "u7@example.com", "name": "U7"},
                                         correlation_id="corr-7")
    assert message_id is not None

    def applied() -> dict[str, object] | None:
        ran = invoke(["events", "applied", "--limit", "5"], env, events_world.directory)
        assert ran.returncode == 0, ran.stderr
        shown = json.loads(ran.stdout)
        return shown if all(figures["applied"] == 1 for figures in shown["consumers"].values()) else None

    # Then the CLI shows each consumer's applied message and its effects
    shown = poll(applied, timeout=30, what="the three consumers to apply user.created")
    assert set(shown["consumers"]) == {"analytics", "crm", "audit"}  # type: ignore[arg-type]
    assert [(row["event_type"], row["count"]) for row in shown["analytics"]] == [("user.created", 1)]  # type: ignore[attr-defined, index]
    assert [(row["message_id"], row["correlation_id"]) for row in shown["audit"]] == [(message_id, "corr-7")]  # type: ignore[attr-defined, index]
    assert [contact["email"] for contact in shown["crm_contacts"]] == ["u7@example.com"]  # type: ignore[attr-defined, index]

    # And so does the dashboard's Events page, to an operator
    with TestClient(create_app(container)) as client:
        log_in(client, add_user(container, Role.OPERATOR))
        page = client.get("/dashboard/events").text
    applied_section = page[page.index('id="applied"'):]
    for consumer in ("analytics", "crm", "audit"):
        assert f'<tr data-applied="{consumer}"><td>{consumer}</td><td class="num">1</td>' in applied_section
    assert message_id[:12] in applied_section and "user.created" in applied_section

    # And what was applied over a day ago no longer counts: the page reads a day of an index, not weeks of rows
    with container.engine.begin() as connection:
        connection.execute(text("UPDATE consumed_messages SET processed_at = :then"),
                           {"then": container.clock.now() - timedelta(days=2)})
    later = json.loads(invoke(["events", "applied"], env, events_world.directory).stdout)
    assert {figures["applied"] for figures in later["consumers"].values()} == {0}


def test_contacts_of_a_stand_in_crm_kept_on_another_host_are_not_made_up(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "crm.db"
    said = crm_contacts(FakeCrm(str(missing)))
    assert isinstance(said, str) and said.startswith(f"no stand-in CRM file at {missing} on this host")
    assert not missing.exists()  # read, never created
    assert crm_contacts(object()) == "kept by the CRM itself"
