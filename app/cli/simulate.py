"""``flowplane workflows simulate`` and ``test``: a workflow file run in memory on a virtual clock, by itself or
by scenario files that state what it must come to."""

import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from app.cli.context import CliContext, echo_json, pass_context
from app.workflows.wording import span, timeline_line


def player(ctx: CliContext) -> Any:
    from app.bootstrap import event_declarations, task_registry
    from app.workflows.playing import Player

    settings = ctx.settings
    return Player(task_registry(settings), event_declarations(settings)[0], Path(settings.workflows.directory))


@click.command("simulate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--input", "raw_input", default=None, help="The run's input as a JSON object (overrides the scenario's).")
@click.option("--scenario", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A scenario file: task outcomes, events that arrive, the input.")
@click.option("--json", "as_json", is_flag=True, help="The timeline as JSON.")
@pass_context
def simulate(ctx: CliContext, file: Path, raw_input: str | None, scenario: Path | None, as_json: bool) -> None:
    """Run FILE in memory on a virtual clock: no database, queue or broker. Prints each move of the run (virtual
    time, step, attempt, outcome, rendered payload, what it would send); exit 1 if FILE or the scenario is invalid."""
    from dataclasses import replace

    from app.workflows.loader import load_file
    from app.workflows.problems import WorkflowInvalid
    from app.workflows.scenarios import check_against, load_scenario
    from app.workflows.simulated import Scenario, ScenarioError
    from app.workflows.simulation import HORIZON, MAX_MOVES
    from app.workflows.simulation import simulate as play

    chosen = player(ctx)
    try:
        workflow = load_file(file, tasks=chosen.registry.names(), events=chosen.catalogue.fields())
        loaded = load_scenario(scenario) if scenario is not None else None
    except WorkflowInvalid as invalid:
        _fail([str(problem) for problem in invalid.problems])
    plan = loaded.scenario if loaded is not None else Scenario(input={})
    if raw_input is not None:
        plan = replace(plan, input=_json_object(raw_input))
    if loaded is not None and (problems := check_against(loaded, workflow, chosen.catalogue.fields())):
        _fail([str(problem) for problem in problems])
    began = time.perf_counter()
    try:
        result = play(workflow, plan, chosen.registry, chosen.catalogue)
    except ScenarioError as error:
        where = loaded.where(error.path) if loaded is not None else "--input"
        _fail([f"{where}: {error}"])
    spent = time.perf_counter() - began
    if as_json:
        echo_json(result.as_json())
        return
    click.echo(f"{workflow.name} ({workflow.version[:12]}), {file}: simulated in {spent * 1000:.1f} ms")
    for entry in result.timeline:
        click.echo(timeline_line(entry))
    if result.cut_short:
        click.echo(f"(cut short: more than {MAX_MOVES} moves, or past {HORIZON.days} days; more were due)")
    click.echo(f"run {result.status} at +{span(result.ended)} (virtual time)")


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Also exit 1 when a condition, retry or wait outcome is not exercised.")
@pass_context
def test(ctx: CliContext, paths: tuple[Path, ...], strict: bool) -> None:
    """Play scenario files (default: the tests directory beside the workflows) and check what each expects; then
    name each `when` branch, retry path and wait outcome no scenario exercised. Exit 1 on a failed scenario."""
    from app.workflows.expectations import gaps, merged
    from app.workflows.playing import scenario_files

    chosen = player(ctx)
    files = scenario_files(paths or [chosen.directory / "tests"])
    if not files:
        raise click.ClickException(f"no scenario files in {', '.join(map(str, paths or [chosen.directory / 'tests']))}")
    played = [chosen.play(path) for path in files]
    for each in played:
        if each.ok and each.result is not None:
            click.echo(f"ok    {each.path}  ({each.result.workflow.name}: {each.result.status} at "
                       f"+{span(each.result.ended)})")
        else:
            click.echo(f"FAIL  {each.path}")
            for line in each.problems + each.failures:
                click.echo(f"      {line}")
    workflows = {each.result.workflow.version: each.result.workflow for each in played if each.result is not None}
    missing: list[str] = []
    for version, workflow in workflows.items():
        facts = merged(each.result.facts for each in played if each.result is not None
                       and each.result.workflow.version == version)
        missing += gaps(workflow, facts, chosen.registry)
    if missing:
        click.echo("not exercised by any scenario:")
        for line in missing:
            click.echo(f"      {line}")
    failed = sum(not each.ok for each in played)
    click.echo(f"{len(played)} scenario(s), {failed} failed, {len(missing)} path(s) not exercised")
    if failed or (strict and missing):
        sys.exit(1)


def _json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--input") from None
    if not isinstance(value, dict):
        raise click.BadParameter("expected a JSON object", param_hint="--input")
    return value


def _fail(lines: list[str]) -> NoReturn:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(1)
