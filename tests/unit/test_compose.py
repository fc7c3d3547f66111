"""docker-compose.yml cannot be run here, so read it: every command exists, every setting is valid."""

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from app.api.health import health, ready
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
    environment = _interpolated(APP_SERVICES[name]["environment"])
    settings = load_settings(environ=environment)
    assert settings.database.url.startswith("postgresql://")
    assert settings.redis.url and settings.rabbitmq.url


# What each server image ships that the file calls: a new image (or a command it does not ship) must be added here
# knowingly, since no test can run the image.
IMAGE_PROGRAMS = {
    "postgres": {"postgres", "pg_isready"},
    "redis": {"redis-server", "redis-cli"},
    "rabbitmq": {"rabbitmq-server", "rabbitmq-diagnostics"},
    "axllent/mailpit": {"/mailpit", "wget"},  # Alpine-based: BusyBox's wget
}
LONG_RUNNING = ("api", "worker", "consumers", "scheduler")
VARIABLES_DOC = ROOT / "docs" / "operations.md"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
HEALTH_PATHS = {path for handler in (health, ready) for path in handler.paths}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<kind>:?[-?])(?P<value>[^}]*))?\}|(?<!\$)\$(?P<bare>[A-Za-z_]\w*)")


def _strings(node: Any) -> list[str]:
    """Every string the file holds, keys and values, comments left out (compose interpolates no comment)."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    return [node] if isinstance(node, str) else []


def _variables() -> dict[str, str | None]:
    """Each ${VAR} the file reads, with its default (None: required, the file refuses to start without it)."""
    found: dict[str, str | None] = {}
    for text in _strings(COMPOSE):
        for match in INTERPOLATION.finditer(text.replace("$$", "")):  # $$ is a literal dollar
            name = match["name"] or match["bare"]
            default = match["value"] if match["kind"] in (":-", "-") else None
            if name not in found or default is None:  # one use without a default makes it required
                found[name] = default
    return found


def _program(test: list[str] | str) -> list[str]:
    """The argv a health check runs (CMD-SHELL and string forms split as the shell would, roughly)."""
    if isinstance(test, str):
        return shlex.split(test)
    kind, *argv = test
    assert kind in ("CMD", "CMD-SHELL"), f"a health check test starts with CMD or CMD-SHELL, not {kind!r}"
    return shlex.split(argv[0]) if kind == "CMD-SHELL" else argv


def test_the_file_needs_variables_and_each_is_documented() -> None:
    variables = _variables()
    assert variables, "the secrets come from the environment"
    doc = VARIABLES_DOC.read_text()
    for name, default in variables.items():
        lines = [line for line in doc.splitlines() if f"`{name}`" in line]
        assert lines, f"{name} (docker-compose.yml) is not documented in {VARIABLES_DOC.relative_to(ROOT)}"
        if default is None:
            assert any("required" in line for line in lines), f"{name} has no default: document it as required"
        else:
            assert any(default in line for line in lines), f"document {name}'s default {default!r}"


def test_the_readme_names_the_required_variables() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, default in _variables().items():
        if default is None:
            assert name in readme, f"the README's deploy commands must set {name}"


@pytest.mark.parametrize("name", sorted(set(SERVICES) - set(APP_SERVICES)))
def test_every_server_runs_its_image_own_command(name: str) -> None:
    spec = SERVICES[name]
    image = spec["image"].rsplit(":", 1)[0]
    assert image in IMAGE_PROGRAMS, f"{name}: say in IMAGE_PROGRAMS what {image} ships"
    assert "entrypoint" not in spec, f"{name} replaces its image's entrypoint"
    command = spec.get("command")  # none: the image's own
    if command is not None:
        assert isinstance(command, list) and command and all(isinstance(arg, str) and arg for arg in command)
        assert command[0] in IMAGE_PROGRAMS[image], f"{name} runs {command[0]!r}, which {image} is not known to ship"
    if "healthcheck" in spec:
        assert _program(spec["healthcheck"]["test"])[0] in IMAGE_PROGRAMS[image]


@pytest.mark.parametrize("name", sorted(name for name, spec in SERVICES.items() if "healthcheck" in spec))
def test_every_health_check_has_a_test_and_sane_timings(name: str) -> None:
    check = SERVICES[name]["healthcheck"]
    argv = _program(check["test"])
    assert argv and all(argv), f"{name}'s health check runs nothing"
    assert argv[0] != "NONE" and not check.get("disable")
    seconds = {key: _seconds(check[key]) for key in ("interval", "timeout", "start_period") if key in check}
    assert seconds.get("timeout", 30) <= seconds.get("interval", 30), f"{name}: a check outlasts its interval"
    assert int(check.get("retries", 3)) >= 1


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_flowplane_service_has_a_real_health_check(name: str) -> None:
    assert name in APP_SERVICES, f"{name} is a Flowplane service"
    assert "healthcheck" in APP_SERVICES[name], f"{name} has no health check"
    argv = _program(APP_SERVICES[name]["healthcheck"]["test"])
    if argv[0] == "flowplane":
        resolved, arguments = _resolve(argv[1:])
        assert not isinstance(resolved, click.Group), f"{argv} names a group, not a command"
        resolved.make_context(resolved.name, arguments)
        return
    if argv[0] == "python":
        assert argv[1] == "-c", argv
        compile(argv[2], f"{name}'s health check", "exec")
    else:
        assert argv[0] in ("curl", "wget"), f"{name}'s health check runs {argv[0]!r}: teach this test about it"
    url = re.search(r"https?://(?:127\.0\.0\.1|localhost):(\d+)(/[\w/]*)", " ".join(argv))
    assert url, f"{name}'s health check asks no local URL"
    environment = _interpolated(APP_SERVICES[name]["environment"])
    assert int(url[1]) == load_settings(environ=environment).api.port, "the check asks another port than the API's"
    assert url[2] in HEALTH_PATHS, f"the API serves no {url[2]} (app/api/health.py serves {sorted(HEALTH_PATHS)})"


@pytest.mark.parametrize("program", sorted({_program(spec["healthcheck"]["test"])[0] for spec in APP_SERVICES.values()
                                            if "healthcheck" in spec}))
def test_the_image_provides_what_health_checks_call(program: str) -> None:
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert base, "the Dockerfile names no base image"
    if program == "python":
        assert base[1].startswith("python:"), "python comes with the python base image only"
    elif program == "flowplane":
        assert re.search(r"^RUN pip install \.", DOCKERFILE, re.MULTILINE), "the image installs the project"
        assert re.search(r'^flowplane = "app\.cli:main"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    else:
        assert re.search(rf"(apt-get|apk)[^\n]*install[^\n]*\b{re.escape(program)}\b", DOCKERFILE), (
            f"health checks call {program}, which the Dockerfile does not install")


def _seconds(duration: str) -> float:
    parts = re.fullmatch(r"((\d+)h)?((\d+)m(?!s))?((\d+)s)?((\d+)ms)?", str(duration))
    assert parts and any(parts.groups()), f"not a compose duration: {duration!r}"
    hours, minutes, seconds, millis = (int(parts[index] or 0) for index in (2, 4, 6, 8))
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _interpolated(environment: dict[str, object]) -> dict[str, str]:
    """As compose would: a variable's default where it has one, a stand-in value for a required one."""
    return {key: re.sub(r"\$\{(\w+)(?::?-([^}]*))?[^}]*\}", lambda match: match[2] if match[2] is not None
                        else "placeholder", str(value)) for key, value in environment.items()}
