"""Every check result of a visit in visits.check_results; visit_checks keeps those not passed

A visit wrote ~26 check rows, which cost the database more than the rest of a submission
(heap, two indexes and WAL for each). Every query of the rows (problems raised by a visit,
household status, exports) asks only for the checks that did not pass, and the API shows all
of them with the visit. So all results move into one JSON column of the visit, in form order,
and visit_checks keeps the rows of failed or unanswered checks only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 03:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# One result as VisitCheckSchema shows it, built from a visit_checks row (alias c).
_RESULT_PG = (
    "json_build_object('check_key', c.check_key, 'label', c.label, 'area', c.area, "
    "'office_codes', c.office_codes, 'passed', c.passed, 'applicable', c.applicable, "
    "'evidence', c.evidence)"
)
# SQLite keeps booleans as 0/1 and JSON as text: both made JSON again.
_RESULT_SQLITE = (
    "json_object('check_key', c.check_key, 'label', c.label, 'area', c.area, "
    "'office_codes', json(c.office_codes), "
    "'passed', json(CASE WHEN c.passed THEN 'true' ELSE 'false' END), "
    "'applicable', json(CASE WHEN c.applicable THEN 'true' ELSE 'false' END), "
    "'evidence', json(c.evidence))"
)


def upgrade():
    op.add_column(
        "visits", sa.Column("check_results", sa.JSON(), server_default="[]", nullable=False)
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            UPDATE visits AS v SET check_results = r.results
            FROM (SELECT c.visit_id, json_agg({_RESULT_PG} ORDER BY c.id) AS results
                  FROM visit_checks AS c GROUP BY c.visit_id) AS r
            WHERE r.visit_id = v.id
            """
        )
    else:
        op.execute(
            f"""
            UPDATE visits SET check_results = (
                SELECT json_group_array(json(o.result)) FROM (
                    SELECT {_RESULT_SQLITE} AS result FROM visit_checks AS c
                    WHERE c.visit_id = visits.id ORDER BY c.id
                ) AS o
            )
            WHERE EXISTS (SELECT 1 FROM visit_checks AS c WHERE c.visit_id = visits.id)
            """
        )
    op.execute("DELETE FROM visit_checks WHERE passed")


def downgrade():
    # Every result becomes a row again, in form order (ids follow it, as before). A visit
    # without results keeps the rows it has.
    op.execute(
        "DELETE FROM visit_checks WHERE visit_id IN "
        "(SELECT id FROM visits WHERE json_array_length(check_results) > 0)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            INSERT INTO visit_checks
                (visit_id, check_key, label, area, office_codes, passed, applicable, evidence)
            SELECT v.id, e.value->>'check_key', e.value->>'label', e.value->>'area',
                   e.value->'office_codes', (e.value->>'passed')::boolean,
                   (e.value->>'applicable')::boolean, e.value->'evidence'
            FROM visits AS v
            CROSS JOIN LATERAL json_array_elements(v.check_results) WITH ORDINALITY AS e(value, n)
            ORDER BY v.id, e.n
            """
        )
    else:
        op.execute(
            """
            INSERT INTO visit_checks
                (visit_id, check_key, label, area, office_codes, passed, applicable, evidence)
            SELECT v.id, json_extract(e.value, '$.check_key'), json_extract(e.value, '$.label'),
                   json_extract(e.value, '$.area'), json_extract(e.value, '$.office_codes'),
                   json_extract(e.value, '$.passed'), json_extract(e.value, '$.applicable'),
                   json_extract(e.value, '$.evidence')
            FROM visits AS v, json_each(v.check_results) AS e
            ORDER BY v.id, e.key
            """
        )
    # Not a batch operation: on SQLite that copies the table, which the visits' foreign keys
    # refuse; ALTER TABLE ... DROP COLUMN (SQLite 3.35+) leaves them alone.
    op.drop_column("visits", "check_results")
