"""Administration: migrations, users, sessions, settings."""

import sys
from typing import TYPE_CHECKING

import click
from pydantic import SecretStr

from app import logs
from app.cli.context import CliContext, pass_context
from app.redaction import MASK, is_secret_name, redact_url

if TYPE_CHECKING:
    from sqlalchemy import Engine


@click.group()
def db() -> None:
    """Database schema migrations."""


def _engine(ctx: CliContext) -> "Engine":
    from app.db.engine import make_engine

    return make_engine(ctx.settings.database, query_timeout=0)  # an operator's command: DDL may take long


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_context
def db_upgrade(ctx: CliContext, revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from app.db import migrate

    logs.configure("info")
    engine = _engine(ctx)
    migrate.upgrade(engine, revision)
    click.echo(f"{redact_url(ctx.settings.database.url)} is at revision {migrate.current_revision(engine)}")


@db.command("downgrade")
@click.argument("revision")
@pass_context
def db_downgrade(ctx: CliContext, revision: str) -> None:
    """Revert migrations down to REVISION ('base' empties the schema)."""
    from app.db import migrate

    logs.configure("info")
    migrate.downgrade(_engine(ctx), revision)


@db.command("current")
@pass_context
def db_current(ctx: CliContext) -> None:
    """Print the applied revision and the newest one available."""
    from app.db import migrate

    current, head = migrate.current_revision(_engine(ctx)), migrate.head_revision()
    click.echo(f"current: {current or 'none'}  head: {head}")
    if current != head:
        sys.exit(1)


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration changes.")
@pass_context
def db_revision(ctx: CliContext, message: str) -> None:
    """Autogenerate a migration from the difference between the models and the database."""
    from app.db import migrate

    migrate.new_revision(_engine(ctx), message)


@click.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.argument("email")
@click.option("--name", default=None, help="Display name (default: the part of EMAIL before @).")
@click.option("--role", type=click.Choice(["user", "operator", "admin"]), default="user", show_default=True)
@pass_context
def users_create(ctx: CliContext, email: str, name: str | None, role: str) -> None:
    """Create a user. The password is prompted for, or read from standard input when piped."""
    from app.auth.accounts import create_user
    from app.domain.errors import DomainError
    from app.domain.users import Role

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    container = ctx.container
    try:
        with container.new_session() as session, session.begin():
            user = create_user(session, container.passwords, email=email, name=name or email.split("@")[0],
                               password=password, role=Role(role), verified=True)  # the operator vouches
        click.echo(f"created {user.role} {user.email} ({user.id})")
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def sessions() -> None:
    """Login sessions."""


@sessions.command("cleanup")
@pass_context
def sessions_cleanup(ctx: CliContext) -> None:
    """Delete expired sessions and say how many."""
    from app.auth.accounts import delete_expired_sessions

    with ctx.container.new_session() as session:
        click.echo(f"deleted {delete_expired_sessions(session)} expired sessions")


@click.command("config")
@pass_context
def show_config(ctx: CliContext) -> None:
    """Check the settings and print them as TOML, with every secret redacted."""
    settings = ctx.settings
    for section, values in settings.model_dump(mode="json").items():
        click.echo(f"[{section}]")
        fields = type(getattr(settings, section)).model_fields
        for key, value in values.items():
            if value is None or (value == "" and _unset_by_default(fields[key].default)):
                # unset: say so, and what that means, rather than print "" or None (an empty string set over a
                # default that is not empty is a value, and printed as one)
                click.echo(f"# {key} is not set: {fields[key].description or 'optional'}")
            else:
                click.echo(f"{key} = {_toml_value(_shown(key, value))}")
        click.echo()


def _unset_by_default(default: object) -> bool:
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    return default is None or default == ""


def _shown(key: str, value: object) -> object:
    if isinstance(value, str) and key.endswith("url"):
        return redact_url(value)
    # Secret settings dump as asterisks already (SecretStr); any other with a secret's name is masked too.
    return MASK if value and is_secret_name(key) else value


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
