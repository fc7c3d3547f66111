"""A workflow whose run parks at once on a timer, a timer `until` a duration, and an event wait (the match value is
the run's input, so a test can put markup in it), with a task step after the first timer."""

from collections.abc import Callable
from pathlib import Path

from app.bootstrap import Container, build
from app.config import Settings
from tests.integration.workflows.conftest import write_workflow
from tests.integration.workflows.test_waits import MovingClock

PARKED = """name = "parked"

[input]
user_id = "str"
ends_in = { type = "str", required = false, default = "1h" }

[[steps]]
id = "nap"
wait = "3d"

[[steps]]
id = "trial"
until = "{{ input.ends_in }}"

[[steps]]
id = "verified"
wait_for = "user.created"
match = { user_id = "{{ input.user_id }}" }
timeout = "2d"

[[steps]]
id = "after_nap"
task = "email.welcome"
after = ["nap"]
payload = { email = "a@example.com", name = "A" }
"""
MARKUP = '<b id="x">ada</b> & "co"'  # a user's own text as a match value: shown escaped, never as markup


def parked_directory(root: Path) -> Path:
    directory = root / "parked-workflows"
    write_workflow(directory, "parked", PARKED)
    return directory


def parked_container(root: Path, make_settings: Callable[..., Settings], clock: MovingClock, **env: str) -> Container:
    return build(make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(parked_directory(root)), **env), clock=clock)


__all__ = ["MARKUP", "PARKED", "MovingClock", "parked_container", "parked_directory"]
