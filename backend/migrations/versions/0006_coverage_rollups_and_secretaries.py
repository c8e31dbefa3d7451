"""Coverage roll-up per household and month; party secretaries among the users

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 19:20:00.000000
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import backend.models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "household_visit_months",
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("counted_visits", sa.Integer(), nullable=False),
        sa.Column("pending_visits", sa.Integer(), nullable=False),
        sa.Column("flagged_visits", sa.Integer(), nullable=False),
        sa.Column("invalid_visits", sa.Integer(), nullable=False),
        sa.Column("other_visits", sa.Integer(), nullable=False),
        sa.Column("last_counted_visit_id", sa.Integer(), nullable=True),
        sa.Column("last_counted_at", backend.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_pending_visit_id", sa.Integer(), nullable=True),
        sa.Column("last_pending_at", backend.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", backend.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_household_visit_months_household_id_households"),
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_household_visit_months_region_id_regions"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["regions.id"],
            name=op.f("fk_household_visit_months_village_id_regions"),
        ),
        sa.ForeignKeyConstraint(
            ["last_counted_visit_id"],
            ["visits.id"],
            name=op.f("fk_household_visit_months_last_counted_visit_id_visits"),
        ),
        sa.ForeignKeyConstraint(
            ["last_pending_visit_id"],
            ["visits.id"],
            name=op.f("fk_household_visit_months_last_pending_visit_id_visits"),
        ),
        sa.PrimaryKeyConstraint("household_id", "month", name=op.f("pk_household_visit_months")),
    )
    with op.batch_alter_table("household_visit_months", schema=None) as batch_op:
        batch_op.create_index(
            "ix_household_visit_months_month_village", ["month", "village_id"], unique=False
        )

    op.create_table(
        "region_visit_months",
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("households_counted", sa.Integer(), nullable=False),
        sa.Column("households_any", sa.Integer(), nullable=False),
        sa.Column("counted_visits", sa.Integer(), nullable=False),
        sa.Column("pending_visits", sa.Integer(), nullable=False),
        sa.Column("flagged_visits", sa.Integer(), nullable=False),
        sa.Column("invalid_visits", sa.Integer(), nullable=False),
        sa.Column("other_visits", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_region_visit_months_region_id_regions")
        ),
        sa.PrimaryKeyConstraint(
            "region_id", "month", "category", name=op.f("pk_region_visit_months")
        ),
    )

    # In place, not in batch mode: on SQLite a batch would copy the users table, which every
    # other table references.
    op.add_column(
        "users",
        sa.Column("is_party_secretary", sa.Boolean(), server_default=sa.false(), nullable=False),
    )

    # Visits made before this revision: fill the roll-up from them, set-based, once.
    _backfill()


def _backfill():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        month = (
            "CAST(date_trunc('month', (v.ended_at AT TIME ZONE 'UTC') + INTERVAL '8 hours')"
            " AS DATE)"
        )
        day = "CAST((v.ended_at AT TIME ZONE 'UTC') + INTERVAL '8 hours' AS DATE)"
    else:
        month = "date(v.ended_at, '+8 hours', 'start of month')"
        day = "date(v.ended_at, '+8 hours')"
    # Same rules as backend/services/rollups.py (rebuild_household_months); kept literal here
    # because a migration must not depend on code that will change after it.
    insert = sa.text(
        f"""
        INSERT INTO household_visit_months (
            household_id, month, region_id, village_id, category, counted_visits, pending_visits, flagged_visits,
            invalid_visits, other_visits, last_counted_visit_id, last_counted_at,
            last_pending_visit_id, last_pending_at, updated_at)
        SELECT c.household_id, c.month, h.region_id, h.village_id, h.category,
            SUM(CASE WHEN c.kind = 'counted' THEN 1 ELSE 0 END),
            SUM(CASE WHEN c.kind = 'pending' THEN 1 ELSE 0 END),
            SUM(CASE WHEN c.assigned = 1 AND c.flag_count > 0 THEN 1 ELSE 0 END),
            SUM(CASE WHEN c.kind = 'invalid' THEN 1 ELSE 0 END),
            SUM(CASE WHEN c.kind = 'other' THEN 1 ELSE 0 END),
            MAX(CASE WHEN c.kind = 'counted' AND c.rn = 1 THEN c.id END),
            MAX(CASE WHEN c.kind = 'counted' AND c.rn = 1 THEN c.ended_at END),
            MAX(CASE WHEN c.kind = 'pending' AND c.rn = 1 THEN c.id END),
            MAX(CASE WHEN c.kind = 'pending' AND c.rn = 1 THEN c.ended_at END),
            :now
        FROM (
            SELECT k.*, ROW_NUMBER() OVER (
                PARTITION BY household_id, month, kind ORDER BY ended_at DESC, id DESC) AS rn
            FROM (
                SELECT b.*,
                    CASE
                        WHEN b.assigned = 0 AND b.review_status = 'invalid' THEN 'none'
                        WHEN b.assigned = 0 THEN 'other'
                        WHEN b.review_status = 'invalid' THEN 'invalid'
                        WHEN b.flag_count > 0 AND b.review_status <> 'valid' THEN 'pending'
                        ELSE 'counted'
                    END AS kind
                FROM (
                    SELECT v.id, v.household_id, v.ended_at, v.flag_count, v.review_status,
                        {month} AS month,
                        CASE WHEN EXISTS (
                            SELECT 1 FROM assignments a
                            WHERE a.household_id = v.household_id
                              AND a.helper_id = v.helper_id
                              AND a.start_date <= {day}
                              AND (a.end_date IS NULL OR a.end_date >= {day})
                        ) THEN 1 ELSE 0 END AS assigned
                    FROM visits v
                ) AS b
            ) AS k
        ) AS c
        JOIN households h ON h.id = c.household_id
        WHERE c.kind <> 'none'
        GROUP BY c.household_id, c.month, h.region_id, h.village_id, h.category
        ORDER BY c.month, h.village_id, c.household_id
        """
    ).bindparams(sa.bindparam("now", type_=backend.models.base.UTCDateTime()))
    bind.execute(insert, {"now": datetime.now(UTC)})
    op.execute(
        """
        INSERT INTO region_visit_months (
            region_id, month, category, households_counted, households_any, counted_visits,
            pending_visits, flagged_visits, invalid_visits, other_visits)
        SELECT region_id, month, category,
            SUM(CASE WHEN counted_visits > 0 THEN 1 ELSE 0 END),
            SUM(CASE WHEN counted_visits + pending_visits > 0 THEN 1 ELSE 0 END),
            SUM(counted_visits), SUM(pending_visits), SUM(flagged_visits), SUM(invalid_visits),
            SUM(other_visits)
        FROM household_visit_months
        GROUP BY region_id, month, category
        """
    )


def downgrade():
    # SQLite drops a plain column in place (3.35+), like PostgreSQL.
    op.execute("ALTER TABLE users DROP COLUMN is_party_secretary")

    with op.batch_alter_table("household_visit_months", schema=None) as batch_op:
        batch_op.drop_index("ix_household_visit_months_month_village")

    op.drop_table("household_visit_months")
    op.drop_table("region_visit_months")
