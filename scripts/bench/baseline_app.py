"""The ingest benchmark's baseline: a bare Flask + psycopg endpoint doing one INSERT per request.

``scripts/bench/ingest_bench.py`` runs it under the same gunicorn settings as the real app and
posts it the very same visit bodies, so that the ratio ingest/baseline says how much of the
machine's "Flask + one PostgreSQL write" capacity the real ingest path keeps:

    gunicorn -c gunicorn.conf.py --pythonpath scripts/bench baseline_app:app

It reads ``BASELINE_DATABASE_URL`` (a plain ``postgresql://`` URL), and the table
``bench_baseline`` must exist (the benchmark creates it with ``CREATE_TABLE_SQL``). Each worker
opens its own pool after the fork: gunicorn imports this module in every worker.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS bench_baseline (
    id bigserial PRIMARY KEY,
    client_uuid uuid NOT NULL UNIQUE,
    household_id integer NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL,
    answers jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT_SQL = (
    "INSERT INTO bench_baseline (client_uuid, household_id, started_at, ended_at, answers) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id"
)

app = Flask(__name__)
# One connection per gunicorn thread is all a worker can use at once.
_POOL_SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "4"))
pool = ConnectionPool(
    os.environ["BASELINE_DATABASE_URL"],
    min_size=_POOL_SIZE,
    max_size=_POOL_SIZE,
    open=True,
    name="baseline",
)


@app.get("/healthz")
def healthz():
    """Liveness and database check."""
    with pool.connection() as conn:
        conn.execute("SELECT 1")
    return jsonify({"status": "ok"})


@app.post("/api/v1/visits")
def create_visit():
    """Parse the JSON body and store it with one INSERT (committed when the block ends)."""
    body = request.get_json()
    with pool.connection() as conn:
        row = conn.execute(
            INSERT_SQL,
            (
                body["client_uuid"],
                body["household_id"],
                body["started_at"],
                body["ended_at"],
                Jsonb(body["answers"]),
            ),
        ).fetchone()
    return jsonify({"id": row[0], "client_uuid": body["client_uuid"]}), 201
