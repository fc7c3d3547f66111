"""docker-compose.yml cannot be run here, so read it: every command exists, every setting is valid."""

import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from app.cli import cli
from app.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APP_SERVICES = {name: spec for name, spec in SERVICES.items() if spec.get("image") == "flowplane:latest"}


def _resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    """The command ``flowplane ARGS`` runs, and the arguments left for it."""
    command: click.Command = cli
    while args and isinstance(command, click.Group) and not args[0].startswith("-"):
        found = command.get_command(click.Context(command), args[0])
        if found is None:
            raise AssertionError(f"no command {args[0]!r} under {command.name!r}")
        command, args = found, args[1:]
    return command, args


def test_the_production_shape_is_there() -> None:
    assert {"postgres", "redis", "rabbitmq", "mailpit", "migrate", "api", "worker", "consumers"} <= set(SERVICES)
    assert SERVICES["worker"]["deploy"]["replicas"] == 2
    assert SERVICES["scheduler"]["deploy"]["replicas"] == 2
    assert SERVICES["rabbitmq"]["image"].endswith("-management")
    assert (ROOT / "Dockerfile").is_file()


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_every_flowplane_service_runs_a_real_command(name: str) -> None:
    command = APP_SERVICES[name]["command"]
    assert command[0] == "flowplane"
    resolved, arguments = _resolve(list(command[1:]))
    assert not isinstance(resolved, click.Group), f"{command} names a group, not a command"
    resolved.make_context(resolved.name, arguments)  # raises on options or arguments it does not take


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_name_real_services_and_conditions(name: str) -> None:
    for dependency, rule in SERVICES[name].get("depends_on", {}).items():
        assert dependency in SERVICES
        assert rule["condition"] in {"service_started", "service_healthy", "service_completed_successfully"}
        if rule["condition"] == "service_healthy":
            assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_the_environment_is_valid_flowplane_settings(name: str) -> None:
    environment = {key: re.sub(r"\$\{(\w+)[^}]*\}", "placeholder", str(value))
                   for key, value in APP_SERVICES[name]["environment"].items()}
    settings = load_settings(environ=environment)
    assert settings.database.url.startswith("postgresql://")
    assert settings.redis.url and settings.rabbitmq.url
