"""schedules: fires (claims and history), operator states, reports

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

import app.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_fires",
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("scheduled_at", app.db.types.UTCDateTime(), nullable=False),
        sa.Column("fired_at", app.db.types.UTCDateTime(), nullable=False),
        sa.Column("replica", sa.String(length=128), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("dispatched_id", sa.String(length=64), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("schedule", "scheduled_at"),
    )
    op.create_table(
        "schedule_states",
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("schedule"),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "period", "timezone"),
    )


def downgrade() -> None:
    op.drop_table("reports")
    op.drop_table("schedule_states")
    op.drop_table("schedule_fires")
