"""``flowplane``: the one command line for serving, operating and developing Flowplane."""

import sys
from pathlib import Path

import click

from app.cli import admin, demo, operate, schedules, serve, workflows
from app.cli.context import CliContext
from app.config import ConfigError


@click.group()
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Settings file (default: $FLOWPLANE_CONFIG or ./config.toml).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Flowplane: declarative workflows on one message plane."""
    ctx.obj = CliContext(config_path)


for command in (serve.api, serve.up, serve.worker, serve.consumers, operate.tasks, operate.events, admin.db,
                admin.users, admin.sessions, admin.show_config, demo.demo, workflows.workflows,
                serve.scheduler, schedules.schedules):
    cli.add_command(command)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"flowplane: {exc}", err=True)
        sys.exit(2)
