"""`flowplane demo`: walk a registration through the running system and show each effect arrive."""

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlmodel import Session, col

from app.cli.context import CliContext, pass_context


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None, token: str = "") -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise click.ClickException(f"--url must be http(s), got {url!r}")
    data = json.dumps(body).encode() if body else None
    request = urllib.request.Request(url, method=method, data=data)  # noqa: S310 (checked just above)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the operator's own API)
        result: dict[str, Any] = json.load(response)
        return result


def _wait(what: str, check: Callable[[], Any], seconds: float, hint: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            click.echo(f"  ok   {what}: {found}")
            return found
        time.sleep(0.2)
    click.echo(f"  MISSING {what} after {seconds:.0f} s — {hint}")
    return None


@click.command()
@click.option("--url", default=None, help="The API (default: http://<api.host>:<api.port>).")
@click.option("--wait", "seconds", type=float, default=20.0, show_default=True,
              help="How long to wait for each effect.")
@pass_context
def demo(ctx: CliContext, url: str | None, seconds: float) -> None:
    """Register a demo user against the running API (`just up`) and watch the mail and the events arrive."""
    from app.db.engine import make_engine
    from app.db.models import AuditEntry, ConsumedMessage, SentEmail

    settings = ctx.settings
    base = url or f"http://{settings.api.host}:{settings.api.port}"
    email = f"demo-{uuid.uuid4().hex[:8]}@example.com"
    click.echo(f"POST {base}/api/users  {email}")
    try:
        login = _call(f"{base}/api/users", "POST",
                      {"email": email, "name": "Demo User", "password": uuid.uuid4().hex})
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"the API at {base} does not answer ({exc}); start it with `just up`") from None
    user = login["user"]
    click.echo(f"  ok   user {user['id']} created, token expires {login['expires_at']}")
    me = _call(f"{base}/api/users/me", token=login["access_token"])
    click.echo(f"  ok   GET /api/users/me -> {me['email']} ({me['role']})")

    engine = make_engine(settings.database)

    def mail() -> str | None:
        with Session(engine) as db:
            sent = db.execute(select(col(SentEmail.message_id)).where(col(SentEmail.recipient) == email)).scalar()
        if sent and settings.email.backend == "file":
            return f"{sent} in {Path(settings.email.mail_dir)}/"
        return str(sent) if sent else None

    def consumers() -> str | None:
        with Session(engine) as db:
            entry = db.execute(select(AuditEntry).where(col(AuditEntry.payload).contains(email))).scalar()
            if entry is None:
                return None
            applied = db.execute(select(col(ConsumedMessage.consumer)).where(
                col(ConsumedMessage.message_id) == entry.message_id)).scalars().all()
        return ", ".join(sorted(applied)) if len(applied) == 3 else None

    missing = [
        _wait("welcome mail sent", mail, seconds, "is `flowplane worker` running?") is None,
        _wait("user.created applied by", consumers, seconds, "are `flowplane consumers` running?") is None,
    ]
    engine.dispose()
    if any(missing):
        raise SystemExit(1)
    click.echo("the whole registration flow ran: API -> outbox -> task plane + event plane -> effects")
