"""mail claims: a sent_emails row is taken before the mail goes out, and marked sent after

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

import app.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite changes a column's nullability only by copying the table
    with op.batch_alter_table("sent_emails") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("claimed_until", app.db.types.UTCDateTime(), nullable=True))
        batch.alter_column("sent_at", existing_type=app.db.types.UTCDateTime(), nullable=True)


def downgrade() -> None:
    # The old table has no place for a claim whose mail has not gone out: its task, run again, sends it
    op.execute(sa.text("DELETE FROM sent_emails WHERE sent_at IS NULL"))
    with op.batch_alter_table("sent_emails") as batch:
        batch.alter_column("sent_at", existing_type=app.db.types.UTCDateTime(), nullable=False)
        batch.drop_column("claimed_until")
        batch.drop_column("claim_token")
