"""Drop the unused index on visit_checks.area

Every visit writes ~25 check rows and every row updated this index, which no query uses:
checks are read by visit (ix_visit_checks_visit_id), problems and coverage by area come from
their own tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 22:05:00.000000
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_visit_checks_area", table_name="visit_checks")


def downgrade():
    op.create_index("ix_visit_checks_area", "visit_checks", ["area"], unique=False)
