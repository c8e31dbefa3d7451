"""``flask hhq send-notifications``, ``sweep-deadlines`` and ``worker``: the outbox and deadlines.

Each command does one pass, or keeps going with ``--loop`` (sleeping ``NOTIFY_LOOP_SECONDS``
between passes). A loop survives a database or WeChat outage: it logs the failure and tries
again on the next pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import click
from flask import current_app

from backend.extensions import db
from backend.services.deadlines import SweepReport, sweep_deadlines
from backend.services.notifications import SendReport, send_due_notifications
from backend.wechat.client import get_wechat_client

log = logging.getLogger(__name__)

_interval_option = click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    help="Seconds between passes of --loop (default: NOTIFY_LOOP_SECONDS).",
)


def _send_pass(limit: int | None) -> SendReport:
    return send_due_notifications(client=get_wechat_client(), limit=limit)


def _sweep_pass() -> SweepReport:
    report = sweep_deadlines()
    db.session.commit()
    return report


def _send_summary(report: SendReport) -> str:
    return (
        f"已发送 {report.sent} 条，用户未订阅 {report.no_subscription} 条，"
        f"稍后重试 {report.retried} 条，放弃 {report.failed} 条。"
    )


def _sweep_summary(report: SweepReport) -> str:
    return (
        f"即将到期提醒 {len(report.warned)} 个问题，逾期督办 {len(report.escalated)} 个问题，"
        f"新增消息 {report.notifications} 条。"
    )


def _run(passes: list[Callable[[], bool]], *, loop: bool, interval: float | None) -> None:
    """Run each pass once, or forever; a pass returns True when it may have more to do."""
    pause = interval if interval is not None else current_app.config["NOTIFY_LOOP_SECONDS"]
    while True:
        busy = False
        for one_pass in passes:
            try:
                busy = one_pass() or busy
            except Exception:
                db.session.rollback()
                if not loop:
                    raise
                log.exception("worker pass failed; retrying on the next pass")
            finally:
                db.session.remove()
        if not loop:
            return
        if not busy:
            time.sleep(pause)


def _sender(limit: int | None, *, quiet: bool) -> Callable[[], bool]:
    def one_pass() -> bool:
        report = _send_pass(limit)
        if report.handled or not quiet:
            click.echo(_send_summary(report))
        # A full batch means more may be waiting: go again without sleeping.
        return report.handled >= (limit or current_app.config["NOTIFY_BATCH_SIZE"])

    return one_pass


def _sweeper(*, quiet: bool) -> Callable[[], bool]:
    def one_pass() -> bool:
        report = _sweep_pass()
        if report.warned or report.escalated or not quiet:
            click.echo(_sweep_summary(report))
        return False

    return one_pass


@click.command("send-notifications")
@click.option("--loop", is_flag=True, help="Keep running, one pass every --interval seconds.")
@_interval_option
@click.option("--limit", type=click.IntRange(min=1), help="Send at most this many a pass.")
def send_notifications_command(loop: bool, interval: float | None, limit: int | None) -> None:
    """Send the queued WeChat subscribe messages that are due."""
    _run([_sender(limit, quiet=loop)], loop=loop, interval=interval)


@click.command("sweep-deadlines")
@click.option("--loop", is_flag=True, help="Keep running, one pass every --interval seconds.")
@_interval_option
def sweep_deadlines_command(loop: bool, interval: float | None) -> None:
    """Warn problems nearing their deadline and escalate overdue ones."""
    _run([_sweeper(quiet=loop)], loop=loop, interval=interval)


@click.command("worker")
@click.option("--once", is_flag=True, help="One pass of each, then exit.")
@_interval_option
@click.option("--limit", type=click.IntRange(min=1), help="Send at most this many a pass.")
def worker_command(once: bool, interval: float | None, limit: int | None) -> None:
    """Sweep deadlines and send notifications, in a loop."""
    _run(
        [_sweeper(quiet=not once), _sender(limit, quiet=not once)],
        loop=not once,
        interval=interval,
    )
