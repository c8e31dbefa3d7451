"""``flask hhq …`` commands for operators."""

from __future__ import annotations

from flask.cli import AppGroup

hhq = AppGroup("hhq", help="户户清 operator commands.")
