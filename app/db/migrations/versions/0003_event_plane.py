"""event plane: consumed messages, analytics counts, audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import app.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumed_messages",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("processed_at", app.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id"),
    )
    op.create_index("ix_consumed_messages_processed_at", "consumed_messages", ["processed_at"])
    op.create_table(
        "event_counts",
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_type", "day"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", app.db.types.UTCDateTime(), nullable=False),
        sa.Column("received_at", app.db.types.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_audit_log_event_type", "audit_log", ["event_type"])
    op.create_index("ix_audit_log_received_at", "audit_log", ["received_at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("event_counts")
    op.drop_table("consumed_messages")
