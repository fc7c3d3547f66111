"""partial indexes for parked steps: the due time and the awaited event are set on parked steps only, and
a full index took an entry on every write of every step

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_step_runs_due_at", table_name="step_runs")
    op.drop_index("ix_step_runs_awaiting", table_name="step_runs")
    parked, awaiting = sa.text("due_at IS NOT NULL"), sa.text("awaiting IS NOT NULL")
    op.create_index("ix_step_runs_due_at", "step_runs", ["due_at"], postgresql_where=parked, sqlite_where=parked)
    op.create_index("ix_step_runs_awaiting", "step_runs", ["awaiting", "match_key"], postgresql_where=awaiting,
                    sqlite_where=awaiting)


def downgrade() -> None:
    op.drop_index("ix_step_runs_awaiting", table_name="step_runs")
    op.drop_index("ix_step_runs_due_at", table_name="step_runs")
    op.create_index("ix_step_runs_due_at", "step_runs", ["due_at"])
    op.create_index("ix_step_runs_awaiting", "step_runs", ["awaiting", "match_key"])
