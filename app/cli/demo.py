"""`flowplane demo`: walk a registration through the system (starting it if it is not running): register,
read the verification link from the welcome mail, follow it, and print the registration workflow's timeline:
each step, where it ran, when it became ready, how long it queued and how long it took (a wait's parked time
included)."""

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
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


def _answers(base: str) -> bool:
    try:
        _call(f"{base}/health")
    except (urllib.error.URLError, OSError):
        return False
    return True


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


@contextmanager
def _running(base: str, start: bool) -> Iterator[None]:
    """The system at ``base``: the one already running, or `flowplane up` started here and stopped after."""
    if _answers(base):
        yield
        return
    if not start:
        raise click.ClickException(f"the API at {base} does not answer; start it with `just up`")
    from app.files import private_file
    from app.supervisor import flowplane_command

    log = Path("var") / "demo-up.log"
    private_file(log)  # var/ holds the databases: if this makes it, it must be private too
    click.echo(f"nothing answers at {base}: starting `flowplane up` (its log: {log})")
    with log.open("ab") as sink:
        process = subprocess.Popen(flowplane_command("up"), stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while not _answers(base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException(f"`flowplane up` did not come up; see {log}")
            time.sleep(0.2)
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        click.echo("stopped what the demo started")


def _ms(start: str | None, end: str | None) -> str:
    if not start or not end:
        return "-"
    return f"{(datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000:.0f} ms"


def timeline(run: dict[str, Any]) -> list[str]:
    """One line per step: ready (since the run started), queued (ready until a worker took it), took (a
    worker's run, or a wait's parked time) and, for task steps only, the attempts."""
    name = max([4, *(len(step["id"]) for step in run["steps"])]) + 2
    what = max([4, *(len(f"{step['kind']} {step['target']}") for step in run["steps"])]) + 2
    lines = [f"run {run['id']}: {run['workflow']} {run['status']} in {_ms(run['created_at'], run['finished_at'])}",
             f"  {'step':<{name}}{'what':<{what}}{'where':<28}{'ready at':>10}{'queued':>10}{'took':>10}  status"]
    for step in run["steps"]:
        where = step["worker"] or ("-" if step["status"] in ("skipped", "cancelled") else {
            "event": "the outbox -> event plane", "wait_for": "parked: no process", "wait": "parked: no process",
        }.get(step["kind"], "-"))  # a step that never ran went nowhere
        ready = _ms(run["created_at"], step["ready_at"])
        queued = _ms(step["ready_at"], step["started_at"])  # only a task is queued: the rest never start
        took = _ms(step["ready_at"], step["finished_at"]) if step["kind"].startswith("wait") \
            else _ms(step["started_at"], step["finished_at"])
        attempts = f" (attempts: {step['attempts']})" if step["kind"] == "task" and step["attempts"] else ""
        lines.append(f"  {step['id']:<{name}}{step['kind'] + ' ' + step['target']:<{what}}{where:<28}{ready:>10}"
                     f"{queued:>10}{took:>10}  {step['status']}{attempts}")
    return lines


@click.command()
@click.option("--url", default=None, help="The API (default: http://<api.host>:<api.port>).")
@click.option("--wait", "seconds", type=float, default=30.0, show_default=True,
              help="How long to wait for each effect.")
@click.option("--start/--no-start", default=True, show_default=True,
              help="Start `flowplane up` for the demo when nothing answers at the URL.")
@pass_context
def demo(ctx: CliContext, url: str | None, seconds: float, start: bool) -> None:
    """Register a demo user through the HTTP API and show the registration workflow run to its end."""
    settings = ctx.settings
    base = url or f"http://{settings.api.host}:{settings.api.port}"
    with _running(base, start):
        ok = _walk(ctx, base, seconds)
    if not ok:
        raise SystemExit(1)
    click.echo("the whole registration ran: API -> outbox -> task plane + event plane -> effects")


def _verify(base: str, settings: Any, email: str, seconds: float) -> bool:
    """Follow the welcome mail's link, as the user would: what the run waits for before it goes on."""
    if settings.email.backend != "file":
        click.echo(f"  the verification link went to {email} over SMTP: follow it (the run waits for it), or run "
                   f"`flowplane events publish user.email_verified '{{...}}'`")
        return True
    found: list[str] = []

    def link() -> str | None:  # says where the link is, never the token itself
        token = _link(Path(settings.email.mail_dir), email)
        if token:
            found.append(token)
        return f"in the mail to {email}" if token else None

    if _wait("verification link", link, seconds, "is `flowplane worker` running?") is None:
        return False
    token = found[-1]
    try:
        verified = _call(f"{base}/api/users/verify", "POST", {"token": token})
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"the link was refused: {exc.code} {exc.read().decode(errors='replace')}") from None
    click.echo(f"  ok   POST {base}/api/users/verify: {verified['email']} verified at {verified['email_verified_at']}")
    return True


def _link(directory: Path, recipient: str) -> str | None:
    """The token of the verification link in the newest mail to ``recipient`` (shown shortened)."""
    from email import policy
    from email.parser import BytesParser

    for path in sorted(directory.glob("*.eml"), key=lambda found: found.stat().st_mtime_ns, reverse=True):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        body = message.get_body(("plain",))
        if str(message["To"]) != recipient or body is None:
            continue
        found = re.search(r"/api/users/verify\?token=([\w-]+)", body.get_content())
        if found:
            return found.group(1)
    return None


def _walk(ctx: CliContext, base: str, seconds: float) -> bool:
    from app.db.engine import make_engine
    from app.db.models import AuditEntry, ConsumedMessage, SentEmail
    from app.workflows.views import run_detail

    settings = ctx.settings
    email = f"demo-{uuid.uuid4().hex[:8]}@example.com"
    click.echo(f"POST {base}/api/users  {email}")
    try:
        login = _call(f"{base}/api/users", "POST", {"email": email, "name": "Demo User",
                                                     "password": uuid.uuid4().hex})
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise click.ClickException(f"registration was refused: {exc.code} {detail}") from None

    click.echo(f"  ok   user {login['user']['id']} created; workflow run {login['workflow_run_id']} started")
    engine = make_engine(settings.database)

    def finished() -> str | None:
        run = run_detail(engine, login["workflow_run_id"])
        return run["status"] if run and run["status"] != "running" else None

    def mail() -> str | None:
        with Session(engine) as db:
            sent = db.execute(select(col(SentEmail.message_id)).where(
                col(SentEmail.recipient) == email, col(SentEmail.sent_at).is_not(None))).scalar()  # not a claim
        if sent and settings.email.backend == "file":
            return f"{sent}, read it in {Path(settings.email.mail_dir).resolve()}/"
        return f"{sent}, sent over SMTP to {settings.email.smtp_host}:{settings.email.smtp_port}" if sent else None

    def consumers() -> str | None:
        with Session(engine) as db:
            entry = db.execute(select(AuditEntry).where(col(AuditEntry.payload).contains(email))).scalar()
            if entry is None:
                return None
            applied = db.execute(select(col(ConsumedMessage.consumer)).where(
                col(ConsumedMessage.message_id) == entry.message_id)).scalars().all()
        return ", ".join(sorted(applied)) if len(applied) == 3 else None

    try:
        if not _verify(base, settings, email, seconds):
            return False
        status = _wait("registration run finished", finished, seconds, "is `flowplane worker` running?")
        run = run_detail(engine, login["workflow_run_id"])
        for line in timeline(run) if run else []:
            click.echo(line)
        found = [status == "succeeded",
                 _wait("welcome mail", mail, seconds, "is `flowplane worker` running?") is not None,
                 _wait("user.created applied by", consumers, seconds, "are `flowplane consumers` running?") is not None]
    finally:
        engine.dispose()
    return all(found)
