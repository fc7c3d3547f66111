"""Workflow scenarios as pytest tests, for this project and any other that writes workflows for Flowplane.

Installed with the package (entry point ``pytest11``), it does nothing until told where scenario files live::

    [tool.pytest.ini_options]
    flowplane_scenarios = ["workflows/tests"]
    testpaths = ["tests", "workflows/tests"]

Each ``*.toml`` file there is a test: its workflow is simulated in memory (no servers) and every expectation it
states is checked; a failure names each unmet one at its line. The summary then lists the `when` branches,
retry paths and wait outcomes no scenario exercised (``flowplane workflows test --strict`` fails on them)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_INI = "flowplane_scenarios"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(_INI, type="paths", default=[],
                  help="Directories of Flowplane workflow scenario files (*.toml) to run as tests.")


def _directories(config: pytest.Config) -> list[Path]:
    return [Path(path).resolve() for path in config.getini(_INI)]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".toml" and file_path.resolve().parent in _directories(parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def runtest(self) -> None:
        played = _player(self.config).play(self.path)
        if not played.ok:
            raise ScenarioFailed("\n".join(played.problems + played.failures))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"scenario {self.path} did not come out as expected:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.name}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The paths no scenario exercised. Played again here (milliseconds each): under pytest-xdist the items ran in
    other processes, whose simulations this one never saw."""
    if not config.getini(_INI) or hasattr(config, "workerinput"):
        return
    from app.workflows.expectations import gaps, merged
    from app.workflows.playing import scenario_files

    player = _player(config)
    played = [player.play(path) for path in scenario_files(_directories(config))]
    results = [each.result for each in played if each.result is not None]
    lines: list[str] = []
    for version in dict.fromkeys(result.workflow.version for result in results):
        facts = merged(result.facts for result in results if result.workflow.version == version)
        workflow = next(result.workflow for result in results if result.workflow.version == version)
        lines += gaps(workflow, facts, player.registry)
    if lines:
        terminalreporter.section("workflow paths no scenario exercised")
        for line in lines:
            terminalreporter.line(line)


def _player(config: pytest.Config) -> Any:
    cached = getattr(config, "_flowplane_player", None)
    if cached is not None:
        return cached
    from app.bootstrap import event_declarations, task_registry
    from app.config import load_settings
    from app.workflows.playing import Player

    settings = load_settings()
    directory = Path(settings.workflows.directory)
    if not directory.is_absolute():
        directory = config.rootpath / directory
    config._flowplane_player = player = Player(task_registry(settings),  # type: ignore[attr-defined]
                                               event_declarations(settings)[0], directory)
    return player
