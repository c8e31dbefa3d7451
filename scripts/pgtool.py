"""Tiny PostgreSQL helper for scripts: ping, create or drop a database (no psql needed)."""

from __future__ import annotations

import sys

import psycopg
from psycopg import sql


def main(argv: list[str]) -> int:
    """Run ``ping URL``, ``create URL NAME`` or ``drop URL NAME``."""
    command, url = argv[0], argv[1]
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return 1
    with conn:
        if command == "create":
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(argv[2])))
        elif command == "drop":
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(argv[2]))
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
