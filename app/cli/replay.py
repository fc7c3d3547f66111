"""``flowplane workflows replay`` and ``export-scenario``: recorded runs simulated again, against an edit or as a
regression test. Both read the database and write or send nothing else."""

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from app.cli.context import CliContext, pass_context
from app.cli.simulate import player


@click.command("replay")
@click.argument("run_ids", nargs=-1)
@click.option("--against", "edited_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The edited workflow file.")
@click.option("--runs", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="How many of the latest runs of its workflow (when no RUN_ID is given).")
@click.option("--verbose", is_flag=True, help="Also list the runs that replay identically.")
@pass_context
def replay(ctx: CliContext, run_ids: tuple[str, ...], edited_file: Path, runs: int, verbose: bool) -> None:
    """Re-simulate recorded runs (their input, step outcomes and events) on the edited file and on the version each
    ran, and report each as identical or where it diverges: a step added or removed, a condition that flips, a
    payload that renders differently. No side effects: nothing is written, enqueued or published."""
    from app.workflows.loader import load_file
    from app.workflows.problems import WorkflowInvalid
    from app.workflows.recorded import recordings
    from app.workflows.replay import replay as replay_run

    chosen = player(ctx)
    try:
        edited = load_file(edited_file, tasks=chosen.registry.names(), events=chosen.catalogue.fields())
    except WorkflowInvalid as invalid:
        for problem in invalid.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    container = ctx.container
    found = recordings(container.engine, edited.name, run_ids=run_ids, limit=runs)
    if missing := set(run_ids) - {recording.run.id for recording in found}:
        raise click.ClickException(f"no run {', '.join(sorted(missing))}")
    if others := [recording.run.id for recording in found if recording.run.workflow != edited.name]:
        raise click.ClickException(f"not runs of {edited.name}: {', '.join(others)}")
    pinned = _definitions(container)
    diverging: Counter[str] = Counter()
    for recording in found:
        verdict = replay_run(recording, pinned(recording.run.version), edited, chosen.registry, chosen.catalogue)
        if not verdict.identical:
            diverging[verdict.step or "(the run)"] += 1
        if verdict.unreproduced or not verdict.identical or verbose:
            click.echo(verdict.describe())
    where = ", ".join(f"{step}: {count}" for step, count in diverging.most_common())
    click.echo(f"{len(found)} run(s) of {edited.name} replayed against {edited_file}: "
               f"{len(found) - sum(diverging.values())} identical, {sum(diverging.values())} diverge"
               + (f" ({where})" if where else ""))


@click.command("export-scenario")
@click.argument("run_id")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write it (default: tests/<workflow>_<run>.toml beside the workflows; - for stdout).")
@pass_context
def export_scenario(ctx: CliContext, run_id: str, output: Path | None) -> None:
    """Write RUN_ID as a scenario file, with what it came to as its expectations: a production surprise becomes a
    regression test that `flowplane workflows test` runs."""
    from app.workflows.recorded import as_scenario, recordings
    from app.workflows.replay import unreproduced
    from app.workflows.scenario_export import scenario_text
    from app.workflows.simulated import ScenarioError
    from app.workflows.simulation import simulate

    chosen, container = player(ctx), ctx.container
    found = recordings(container.engine, "", run_ids=[run_id])
    if not found:
        raise click.ClickException(f"no run {run_id}")
    recording = found[0]
    pinned = _definitions(container)(recording.run.version)
    scenario = as_scenario(recording)
    try:
        result = simulate(pinned, scenario, chosen.registry, chosen.catalogue)
    except ScenarioError as error:
        raise click.ClickException(f"run {run_id} cannot be simulated on its own version: {error}") from None
    current = container.workflows.get(recording.run.workflow) if recording.run.workflow in _names(container) else pinned
    target = output or chosen.directory / "tests" / f"{recording.run.workflow}_{run_id[:8]}.toml"
    beside = Path.cwd() if str(target) == "-" else target.parent
    text = scenario_text(recording, scenario, result, os.path.relpath(Path(current.path).resolve(), beside.resolve()))
    if differs := unreproduced(recording, result):
        click.echo(f"note: the simulation does not end every step as recorded ({differs}); the expectations are "
                   "the simulation's", err=True)
    if str(target) == "-":
        click.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    click.echo(f"wrote {target}")


def _definitions(container: Any) -> Any:
    cache: dict[str, Any] = {}

    def pinned(version: str) -> Any:
        if version not in cache:
            with container.new_session() as db:
                cache[version] = container.runner.definition(db, version)
        return cache[version]

    return pinned


def _names(container: Any) -> set[str]:
    return {workflow.name for workflow in container.workflows.all()}


@click.command("diff")
@click.argument("old")
@click.argument("new", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="The changes and in-flight runs as JSON.")
@pass_context
def diff(ctx: CliContext, old: str, new: Path, as_json: bool) -> None:
    """What NEW changes against OLD (a file, or a stored version's hash or its first characters): steps and edges
    added and removed, steps changed field by field; then where the runs still in flight on OLD stand, each of
    which finishes on OLD (new runs start on NEW)."""
    from app.cli.context import echo_json
    from app.workflows.changes import compare
    from app.workflows.inflight import standing, stored_version
    from app.workflows.loader import load_file
    from app.workflows.problems import WorkflowInvalid

    chosen = player(ctx)
    tasks, events = chosen.registry.names(), chosen.catalogue.fields()
    try:
        after = load_file(new, tasks=tasks, events=events)
        before = load_file(Path(old), tasks=tasks, events=events) if Path(old).is_file() else None
    except WorkflowInvalid as invalid:
        for problem in invalid.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    container = ctx.container
    if before is None:
        version = stored_version(container.engine, old)
        if version is None:
            raise click.ClickException(f"{old} is neither a file nor the hash of one stored version")
        before = _definitions(container)(version)
    changes = compare(before, after)
    groups = standing(container.engine, before.version)
    if as_json:
        echo_json({**changes.as_json(), "in_flight": [{"where": where, "runs": count} for where, count in groups]})
        return
    click.echo(f"{after.name}: {before.path} -> {new}")
    for line in changes.lines():
        click.echo(line)
    total = sum(count for _, count in groups)
    click.echo(f"{total} run(s) in flight on {before.version[:12]}; each finishes on it, new runs start on "
               f"{after.version[:12]}" + (":" if groups else ""))
    for where, count in groups:
        click.echo(f"  {count:>6}  {where}")
