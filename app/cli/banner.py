"""What `flowplane up` tells a person once the API answers: where to go, and how to get into the dashboard."""

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import click
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from app.config import Settings
from app.db.models import User
from app.domain.users import Role

_WAIT_FOR_API_SECONDS = 60.0


def base_url(settings: Settings) -> str:
    """The address a browser on this machine uses: a wildcard bind is reached through the loopback."""
    host = settings.api.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host  # noqa: S104
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{settings.api.port}"


def admins(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(User)
                                      .where(col(User.role) == Role.ADMIN.value)).scalar_one())


def banner(settings: Settings, *, has_admin: bool | None, serving: bool = True) -> str:
    """``has_admin`` None: the database could not be asked."""
    base = base_url(settings)
    lines = ["", "Flowplane is up." if serving else f"Flowplane is starting (the API did not answer at {base} yet).",
             f"  API        {base}/api",
             f"  API docs   {base}/schema  (Swagger UI: {base}/schema/swagger)",
             f"  Dashboard  {base}/dashboard"]
    if not has_admin:
        lines += [("  No admin account exists yet" if has_admin is False else "  If no admin account exists yet")
                  + "; the dashboard needs one. Create it (it asks for a password):",
                  "    just admin EMAIL      (or: flowplane users create EMAIL --role admin)"]
    lines += ["  Ctrl-C stops every process.", ""]
    return "\n".join(lines)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - our own http:// address
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def announce_when_serving(settings: Settings, has_admin: Callable[[], bool],
                          echo: Callable[[str], None] = click.echo) -> threading.Thread:
    """Print the banner from a thread once /health answers (or after a minute, saying it did not)."""

    def wait_and_print() -> None:
        deadline = time.monotonic() + _WAIT_FOR_API_SECONDS
        serving = False
        while not serving and time.monotonic() < deadline:
            serving = _answers(f"{base_url(settings)}/health")
            if not serving:
                time.sleep(0.2)  # polling the child's socket: there is nothing to wait on instead
        try:
            known: bool | None = has_admin()
        except SQLAlchemyError:  # the database not reachable just now: say how, in case
            known = None
        echo(banner(settings, has_admin=known, serving=serving))

    thread = threading.Thread(target=wait_and_print, name="up-banner", daemon=True)
    thread.start()
    return thread
