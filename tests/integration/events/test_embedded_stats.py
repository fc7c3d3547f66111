"""On the embedded transport the number of consumers cannot be known: the stats say "unknown", never 0."""

import json
from pathlib import Path

from app.bootstrap import build
from app.config import load_settings
from app.plane.events.inspect import inspector_for
from tests.cli import invoke
from tests.conftest import TEST_ENV


def test_embedded_stats_say_unknown_consumers_and_still_count_messages(tmp_path: Path) -> None:
    env = {**TEST_ENV, "FLOWPLANE_DATABASE__URL": f"sqlite:///{tmp_path / 'flowplane.db'}"}
    settings = load_settings(environ=env)
    container = build(settings)
    try:
        assert container.topology.embedded
        stats = inspector_for(settings, container.topology).stats()
    finally:
        container.close()
    assert set(stats["consumers"]) == {"analytics", "crm", "audit"}
    assert all(figures["consumers"] is None and figures["ready"] == 0 for figures in stats["consumers"].values())

    printed = invoke(["events", "stats"], env, tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert {figures["consumers"] for figures in json.loads(printed.stdout)["consumers"].values()} == {"unknown"}
