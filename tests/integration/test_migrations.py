"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.extensions import db


def test_models_match_migrations():
    context = MigrationContext.configure(db.session.connection())
    assert compare_metadata(context, db.metadata) == []
