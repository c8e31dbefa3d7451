"""``flask hhq …`` commands for operators."""

from __future__ import annotations

from flask.cli import AppGroup

from backend.cli_demo import demo_command
from backend.cli_notify import (
    send_notifications_command,
    sweep_deadlines_command,
    worker_command,
)
from backend.cli_photos import ship_photos_command
from backend.cli_roster import import_roster_command
from backend.cli_wechat import issue_binding_code_command

hhq = AppGroup("hhq", help="户户清 operator commands.")
hhq.add_command(demo_command)
hhq.add_command(import_roster_command)
hhq.add_command(issue_binding_code_command)
hhq.add_command(ship_photos_command)
hhq.add_command(send_notifications_command)
hhq.add_command(sweep_deadlines_command)
hhq.add_command(worker_command)
