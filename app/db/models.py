"""Tables. API and CLI never expose these directly: they map them to their own DTOs."""

import uuid
from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.db.types import UTCDateTime


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, default="user")
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    email_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deactivated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # an account that never verified


class EmailVerification(SQLModel, table=True):
    """A link sent to verify an address: the token itself is never stored, only its SHA-256 digest.
    Used once; a second use by the same user answers as the first did."""

    __tablename__ = "email_verifications"

    token_digest: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthSession(SQLModel, table=True):
    """A login: the token itself is never stored, only its SHA-256 digest."""

    __tablename__ = "sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    token_digest: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class OutboxMessage(SQLModel, table=True):
    """A task or event written in the producer's transaction; the relay sends it after commit."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # "task" | "event"
    envelope: str  # Envelope JSON
    options: str  # delivery options JSON (priority, eta, retry policy, timeout, headers)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class TaskUniqueKey(SQLModel, table=True):
    """A unique task key claimed until ``expires_at``: a second enqueue returns ``task_id``."""

    __tablename__ = "task_unique_keys"

    key: str = Field(primary_key=True, max_length=255)
    task_id: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class DeadLetter(SQLModel, table=True):
    """A task that exhausted its retries or failed permanently, kept for inspection and retry."""

    __tablename__ = "dead_letters"

    id: str = Field(primary_key=True, max_length=64)  # the task id
    queue: str = Field(max_length=64)
    task: str = Field(max_length=128, index=True)
    envelope: str
    options: str
    error: str
    traceback: str
    attempts: int
    first_enqueued_at: datetime = Field(sa_type=UTCDateTime)
    failed_at: datetime = Field(sa_type=UTCDateTime, index=True)


class SentEmail(SQLModel, table=True):
    """A mail's claim, then its record, under the task's idempotency key: one copy of the task sends it.

    Until ``sent_at`` is set, the copy holding ``claim_token`` may send until ``claimed_until``; after that
    another copy may take the claim over. Rows written before migration 0007 are sent and carry no claim."""

    __tablename__ = "sent_emails"

    idempotency_key: str = Field(primary_key=True, max_length=160)
    message_id: str = Field(max_length=255)
    recipient: str = Field(max_length=254)
    claim_token: str | None = Field(default=None, max_length=32)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ConsumedMessage(SQLModel, table=True):
    """A message a consumer has applied: written in the same transaction as its effects."""

    __tablename__ = "consumed_messages"

    consumer: str = Field(primary_key=True, max_length=64)
    message_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime = Field(sa_type=UTCDateTime, index=True)


class EventCount(SQLModel, table=True):
    """The analytics consumer's view: events per type per day (UTC)."""

    __tablename__ = "event_counts"

    event_type: str = Field(primary_key=True, max_length=128)
    day: date = Field(primary_key=True)
    count: int = 0


class AuditEntry(SQLModel, table=True):
    """The audit consumer's append-only log of every event."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=64, unique=True)
    event_type: str = Field(max_length=128, index=True)
    correlation_id: str | None = Field(default=None, max_length=64)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    payload: str



class Onboarding(SQLModel, table=True):
    """That a user's welcome mail went out: the registration workflow's last step records it."""

    __tablename__ = "onboardings"

    user_id: uuid.UUID = Field(primary_key=True, foreign_key="users.id", ondelete="CASCADE")
    welcome_message_id: str = Field(max_length=255)
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class WorkflowVersion(SQLModel, table=True):
    """A workflow file's text as a run started on it: runs finish on the version they began with."""

    __tablename__ = "workflow_versions"

    version: str = Field(primary_key=True, max_length=64)  # sha256 of the file
    name: str = Field(max_length=128, index=True)
    path: str = Field(max_length=500)
    source: str
    created_at: datetime = Field(sa_type=UTCDateTime)


class WorkflowRun(SQLModel, table=True):
    __tablename__ = "workflow_runs"

    id: str = Field(primary_key=True, max_length=32)
    workflow: str = Field(max_length=128, index=True)
    version: str = Field(max_length=64, foreign_key="workflow_versions.version")
    status: str = Field(max_length=16, index=True)  # running | succeeded | failed | cancelled
    input: str  # JSON
    correlation_id: str | None = Field(default=None, max_length=64)
    error: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StepRun(SQLModel, table=True):
    __tablename__ = "step_runs"

    run_id: str = Field(primary_key=True, max_length=32, foreign_key="workflow_runs.id", ondelete="CASCADE")
    step_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=8)  # task | event
    target: str = Field(max_length=128)
    status: str = Field(max_length=16, index=True)
    attempts: int = 0
    task_id: str | None = Field(default=None, max_length=64)  # the envelope that carries the step
    worker: str | None = Field(default=None, max_length=128)  # host:pid of the worker that last ran it
    output: str | None = None  # JSON
    error: str | None = None
    ready_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # A parked wait (status waiting): when its timer falls due, and the event it awaits with the digest of
    # its match values. Cleared when it wakes. Their indexes are partial, so they hold parked steps only:
    # a full index would take an entry (NULL) on every write of every step, and most steps never wait.
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    awaiting: str | None = Field(default=None, max_length=128)
    match_key: str | None = Field(default=None, max_length=64)

    __table_args__ = (
        Index("ix_step_runs_due_at", "due_at", postgresql_where=text("due_at IS NOT NULL"),
              sqlite_where=text("due_at IS NOT NULL")),
        Index("ix_step_runs_awaiting", "awaiting", "match_key", postgresql_where=text("awaiting IS NOT NULL"),
              sqlite_where=text("awaiting IS NOT NULL")),
    )


class WorkflowSignal(SQLModel, table=True):
    """An awaited event as published, under the key each awaited shape of match fields gives it: a wait that
    parks after the event (a click within a second of the mail) still finds it."""

    __tablename__ = "workflow_signals"
    __table_args__ = (Index("ix_workflow_signals_key", "event_type", "match_key", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event_type: str = Field(max_length=128)
    match_key: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    payload: str  # JSON
    created_at: datetime = Field(sa_type=UTCDateTime)


class AwaitedShape(SQLModel, table=True):
    """Which match fields some workflow version waits on for an event type: a published event is keyed by
    each shape, and only events some workflow awaits cost more than this one look-up."""

    __tablename__ = "awaited_shapes"

    event_type: str = Field(primary_key=True, max_length=128)
    fields: str = Field(primary_key=True, max_length=500)  # the field names, sorted, comma-separated


class ScheduleFire(SQLModel, table=True):
    """One tick of a schedule. Its primary key is the claim: the replica that inserts it fires the tick,
    every other replica finds it taken and skips."""

    __tablename__ = "schedule_fires"

    schedule: str = Field(primary_key=True, max_length=128)
    scheduled_at: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    fired_at: datetime = Field(sa_type=UTCDateTime)
    replica: str = Field(max_length=128)
    trigger: str = Field(max_length=16)  # cron | catch_up | manual
    outcome: str = Field(max_length=16)  # dispatched | skipped | failed
    detail: str | None = None
    target_kind: str = Field(max_length=16)
    dispatched_id: str | None = Field(default=None, max_length=64)  # the run or task it started
    duration_ms: float = 0.0


class ScheduleState(SQLModel, table=True):
    """Operator switches that every replica honours. The row is written when a scheduler first loads the
    schedule, and ``updated_at`` (that moment, or the last pause or resume) bounds what a catch-up may fire."""

    __tablename__ = "schedule_states"

    schedule: str = Field(primary_key=True, max_length=128)
    paused: bool = False
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Report(SQLModel, table=True):
    """A generated report; its CSV lives under var/reports/. One per kind and period: a re-run replaces it."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("kind", "period", "timezone"),)

    id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=64)
    period: str = Field(max_length=32)  # e.g. 2026-10
    timezone: str = Field(max_length=64)
    path: str = Field(max_length=500)
    rows: int = 0
    summary: str  # JSON: totals shown without opening the CSV
    created_at: datetime = Field(sa_type=UTCDateTime)


class OperatorAction(SQLModel, table=True):
    """The operator audit log (app/audit.py): one row per dashboard action, and per wake from the API or CLI."""

    __tablename__ = "operator_actions"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    user_id: uuid.UUID  # no foreign key: the record outlives the account
    email: str = Field(max_length=254)
    action: str = Field(max_length=64)
    target: str = Field(max_length=200)
    outcome: str = Field(max_length=16)  # ok | failed
    detail: str | None = None
