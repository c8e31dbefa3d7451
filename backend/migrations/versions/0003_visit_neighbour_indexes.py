"""Indexes for a helper's neighbouring visits

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:05:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index("ix_visits_helper_ended", ["helper_id", "ended_at"], unique=False)
        batch_op.create_index("ix_visits_helper_started", ["helper_id", "started_at"], unique=False)


def downgrade():
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index("ix_visits_helper_started")
        batch_op.drop_index("ix_visits_helper_ended")
