"""The scheduled jobs are called as the worker calls them: the registry's handler, a Context, the services."""

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from app.bootstrap import Container
from app.handlers import Services
from app.mail import make_mailer
from app.plane.envelope import Envelope
from app.plane.tasks.handling import Context

RunTask = Callable[[str, dict[str, Any]], Mapping[str, Any]]


@pytest.fixture
def run_task(container: Container) -> RunTask:
    # The container's engine rather than a second one: nothing is left open when the test ends.
    services = Services(settings=container.settings, engine=container.engine,
                        mailer=make_mailer(container.settings.email), crm=None)

    def run(name: str, payload: dict[str, Any]) -> Mapping[str, Any]:
        envelope = Envelope(kind="task", type=name, payload=payload)
        result = container.registry[name].handler(Context(envelope, services), payload)
        assert result is not None
        return result

    return run
