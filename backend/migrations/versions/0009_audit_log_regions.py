"""The region of each audit event, so that a town reads its own events only

A county runs several towns on one deployment: a town's admin and 镇纪委 must read their own
town's audit events, not every town's. Each event gets the region subtree it belongs to. Old
events are given one where it can be told: the household, problem or report they name, else
the region of the actor's grants when those are all in one place. The rest stay without one,
and only readers over a whole district see them.

The backfill is the one write to old audit rows this project makes: it adds the scope of an
event, not a change to what the event records. PostgreSQL's append-only trigger is set aside
for that statement alone, inside the migration's transaction.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 05:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The region of an old event, most specific first (alias a is the audit row).
_TARGET_REGION = """
    CASE a.target_type
        WHEN 'household' THEN
            (SELECT h.region_path FROM households AS h WHERE CAST(h.id AS VARCHAR(64)) = a.target_id)
        WHEN 'problem' THEN
            (SELECT p.region_path FROM problems AS p WHERE CAST(p.id AS VARCHAR(64)) = a.target_id)
        WHEN 'report' THEN
            (SELECT r.region_path FROM reports AS r WHERE CAST(r.id AS VARCHAR(64)) = a.target_id)
        WHEN 'user' THEN
            (SELECT MIN(rg.path) FROM role_grants AS g JOIN regions AS rg ON rg.id = g.region_id
             WHERE CAST(g.user_id AS VARCHAR(64)) = a.target_id HAVING COUNT(DISTINCT rg.path) = 1)
    END
"""
# A user's grants all in one region: that region (the app takes the deepest region holding
# them all; an old event of someone granted in several places is left to the district).
_ACTOR_REGION = """
    (SELECT MIN(rg.path) FROM role_grants AS g JOIN regions AS rg ON rg.id = g.region_id
     WHERE g.user_id = a.actor_user_id HAVING COUNT(DISTINCT rg.path) = 1)
"""


def upgrade():
    op.add_column("audit_logs", sa.Column("region_path", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_audit_logs_region_path"), "audit_logs", ["region_path"])

    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update")
    op.execute(
        f"""
        UPDATE audit_logs SET region_path = (
            SELECT COALESCE({_TARGET_REGION}, {_ACTOR_REGION})
            FROM audit_logs AS a WHERE a.id = audit_logs.id
        )
        """
    )
    if postgresql:
        op.execute("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_update")


def downgrade():
    op.drop_index(op.f("ix_audit_logs_region_path"), table_name="audit_logs")
    op.drop_column("audit_logs", "region_path")
