"""Registration through a real worker to a real SMTP server: the welcome mail's link verifies the user, and its
token is nowhere else — not in a payload, an outbox row, a step's output, the queue or a log line."""

import re
import uuid
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from redis import Redis
from sqlalchemy import MetaData, create_engine, select
from sqlmodel import Session

from app.api.app import create_app
from app.db.models import User
from tests.e2e.processes import poll
from tests.integration.accounts import bearer, new_user
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.tasks.smtp import Inbox
from tests.integration.workflows.conftest import finished_run, write_workflow
from tests.servers import REDIS_URL

LINK = re.compile(r"(http://127\.0\.0\.1:8000/api/users/verify\?token=(fpv_[A-Za-z0-9_-]{43}))\r?\n")
REGISTRATION = """
name = "user_registration"

[input]
user_id = "uuid"
email = "email"
name = "str"

[[steps]]
id = "welcome_email"
task = "email.welcome"
payload = { user_id = "{{ input.user_id }}", email = "{{ input.email }}", name = "{{ input.name }}", valid_for = "48h" }
"""


def _database_text(url: str) -> str:
    """Every row of every table, as text."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return "\n".join(repr(row) for table in metadata.sorted_tables
                             for row in connection.execute(select(table)))
    finally:
        engine.dispose()


def _redis_text(prefix: str) -> bytes:
    client = Redis.from_url(REDIS_URL)
    readers: dict[bytes, Any] = {b"string": lambda key: [client.get(key)], b"set": client.smembers,
                                 b"list": lambda key: client.lrange(key, 0, -1),
                                 b"zset": lambda key: client.zrange(key, 0, -1),
                                 b"hash": lambda key: [*client.hgetall(key).items()]}
    try:
        return b"\n".join(repr(readers[client.type(key)](key)).encode() for key in client.scan_iter(f"*{prefix}*"))
    finally:
        client.close()


def test_the_welcome_link_verifies_and_its_token_is_nowhere_else(world: PlaneWorld, inbox: Inbox,
                                                                 database_url: str, backend: str) -> None:
    # Given registration whose welcome mail carries a link valid 48 hours, a worker, and an SMTP server
    write_workflow(world.directory / "workflows", "user_registration", REGISTRATION)
    world.env |= {"FLOWPLANE_DATABASE__URL": database_url, "FLOWPLANE_WORKFLOWS__DIRECTORY": str(world.directory /
                  "workflows"), "FLOWPLANE_EMAIL__BACKEND": "smtp", "FLOWPLANE_EMAIL__SMTP_PORT": str(inbox.port)}
    container = world.container()
    world.start_worker(concurrency=1)
    with TestClient(create_app(container)) as client:
        # When a user registers, and the run finishes
        registered = client.post("/api/users", json=new_user(name="Grace Hopper"))
        assert registered.status_code == 201, registered.text
        run = finished_run(container, registered.json()["workflow_run_id"])
        assert run["status"] == "succeeded", run
        poll(lambda: inbox.received or None, timeout=10, what="the welcome mail")
        # Then the mail's text has the link, and opening it verifies the user
        [(link, token)] = LINK.findall(inbox.received[0].parsed().get_content())
        opened = client.get(link.removeprefix("http://127.0.0.1:8000"))
        assert opened.status_code == 200 and "Email address verified" in opened.text
        me = client.get("/api/users/me", headers=bearer(registered.json()["access_token"])).json()
        assert me["email_verified_at"] is not None
    with Session(container.engine) as db:
        user = db.get(User, uuid.UUID(run["input"]["user_id"]))
        assert user is not None and user.email_verified_at is not None
    # And the token is in no row of any table (payloads, step outputs, outbox, sent mails), no queue, no log
    world.stop_workers()
    assert token not in _database_text(database_url)
    assert token not in str(run)
    if backend == "redis":
        assert token.encode() not in _redis_text(world.env["FLOWPLANE_REDIS__KEY_PREFIX"])
    else:
        assert token not in _database_text(f"sqlite:///{world.env['FLOWPLANE_TASKS__SQLITE_PATH']}")
    logs = "".join(path.read_text() for path in Path(world.directory).glob("*.log"))
    assert "email.welcome" in logs and token not in logs
