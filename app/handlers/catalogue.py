"""Every task Flowplane knows, with its defaults: one table, read at a glance."""

from datetime import timedelta
from typing import Any

from app.handlers.analytics import count_event, count_events
from app.handlers.audit import append_audit, append_audit_batch
from app.handlers.cleanup import cleanup_sessions
from app.handlers.crm import sync_contact
from app.handlers.email import send_welcome
from app.handlers.expiry import expire_user
from app.handlers.onboarding import record_onboarding
from app.handlers.reminder import send_reminder
from app.handlers.reports import monthly_signups
from app.handlers.retention import apply_retention
from app.plane.events.registry import ConsumerSpec
from app.plane.tasks.policy import Priority, RetryPolicy
from app.plane.tasks.registry import TaskContext, TaskSpec


def noop(context: TaskContext, payload: dict[str, Any]) -> None:
    """Does nothing: `just bench` measures the plane with it, operators use it to probe workers."""


TASKS = [
    TaskSpec("email.welcome", send_welcome, priority=Priority.HIGH,
             retry=RetryPolicy(attempts=8, first=timedelta(seconds=2), max=timedelta(minutes=10)),
             timeout=timedelta(seconds=30), unique_ttl=timedelta(hours=24),
             description="Send the welcome mail to a new user; with a verification link given valid_for."),
    TaskSpec("email.verification_reminder", send_reminder, priority=Priority.HIGH,
             retry=RetryPolicy(attempts=8, first=timedelta(seconds=2), max=timedelta(minutes=10)),
             timeout=timedelta(seconds=30), unique_ttl=timedelta(hours=24),
             description="Remind a user to verify their address, with a new link; nothing once verified."),
    TaskSpec("users.expire", expire_user, priority=Priority.MEDIUM,
             retry=RetryPolicy(attempts=5, first=timedelta(seconds=1), max=timedelta(minutes=1)),
             timeout=timedelta(seconds=30),
             description="Deactivate an account still unverified and end its sessions; {expired: bool}."),
    TaskSpec("users.record_onboarding", record_onboarding, priority=Priority.MEDIUM,
             retry=RetryPolicy(attempts=5, first=timedelta(seconds=1), max=timedelta(minutes=1)),
             timeout=timedelta(seconds=30), description="Record that a user's welcome mail went out."),
    TaskSpec("plane.noop", noop, priority=Priority.MEDIUM, retry=RetryPolicy(attempts=1), timeout=None,
             description="Do nothing (benchmarks, probes)."),
    # Scheduled housekeeping: idempotent, so a retry or a second tick only redoes the same work.
    TaskSpec("reports.monthly_signups", monthly_signups, priority=Priority.LOW,
             retry=RetryPolicy(attempts=3, first=timedelta(seconds=30), max=timedelta(minutes=5)),
             timeout=timedelta(minutes=5),
             description="Write a month's signups-per-day report (CSV) in a timezone; default: last month."),
    TaskSpec("sessions.cleanup", cleanup_sessions, priority=Priority.LOW,
             retry=RetryPolicy(attempts=3, first=timedelta(seconds=30), max=timedelta(minutes=5)),
             timeout=timedelta(minutes=2), description="Delete expired login sessions."),
    TaskSpec("data.retention", apply_retention, priority=Priority.LOW,
             retry=RetryPolicy(attempts=3, first=timedelta(seconds=30), max=timedelta(minutes=5)),
             timeout=timedelta(minutes=10),
             description="Delete finished runs, dead letters, schedule fires and dedupe records past retention."),
]

CONSUMERS = [
    ConsumerSpec("analytics", count_event, routing_keys=("#",), batch_handler=count_events,
                 description="Events per type per day."),
    # On a headers exchange a binding names one type at most: the CRM takes every event there and skips the rest
    ConsumerSpec("crm", sync_contact, routing_keys=("user.*",),
                 description="New users become CRM contacts; marked verified or expired when registration ends."),
    ConsumerSpec("audit", append_audit, routing_keys=("#",), batch_handler=append_audit_batch,
                 description="Append-only log of every event."),
]
