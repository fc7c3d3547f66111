"""``flowplane``: the one command line for serving, operating and developing Flowplane."""

import sys
from pathlib import Path

import click

from app.cli import admin, demo, operate, schedules, serve, workflows
from app.cli.context import CliContext
from app.config import ConfigError
from app.outages import SERVER_ERRORS, outage


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
    except SERVER_ERRORS as exc:  # a server down or silent: say which, not a traceback
        down = outage(exc)
        if down is None:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        click.echo(f"flowplane: the {down.service} is unavailable ({first}); is it running, and is its URL in the "
                   "settings right? (flowplane config)", err=True)
        sys.exit(1)
