"""waits and email verification: parked workflow steps (timers, awaited events), awaited events kept for
waits that park after them, users' verified and deactivated times, verification tokens

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import app.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", app.db.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("deactivated_at", app.db.types.UTCDateTime(), nullable=True))
    # Accounts made before verification existed count as verified: nothing asked them to
    op.execute(sa.text("UPDATE users SET email_verified_at = created_at"))
    op.create_table(
        "email_verifications",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", app.db.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", app.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_digest"),
    )
    op.create_index("ix_email_verifications_user_id", "email_verifications", ["user_id"])
    with op.batch_alter_table("step_runs") as batch:
        batch.add_column(sa.Column("due_at", app.db.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("awaiting", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("match_key", sa.String(length=64), nullable=True))
    op.create_index("ix_step_runs_due_at", "step_runs", ["due_at"])
    op.create_index("ix_step_runs_awaiting", "step_runs", ["awaiting", "match_key"])
    op.create_table(
        "workflow_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("match_key", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_workflow_signals_key", "workflow_signals", ["event_type", "match_key", "created_at"])
    op.create_table(
        "awaited_shapes",
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("fields", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("event_type", "fields"),
    )


def downgrade() -> None:
    op.drop_table("awaited_shapes")
    op.drop_index("ix_workflow_signals_key", table_name="workflow_signals")
    op.drop_table("workflow_signals")
    op.drop_index("ix_step_runs_awaiting", table_name="step_runs")
    op.drop_index("ix_step_runs_due_at", table_name="step_runs")
    with op.batch_alter_table("step_runs") as batch:
        batch.drop_column("match_key")
        batch.drop_column("awaiting")
        batch.drop_column("due_at")
    op.drop_index("ix_email_verifications_user_id", table_name="email_verifications")
    op.drop_table("email_verifications")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deactivated_at")
        batch.drop_column("email_verified_at")
