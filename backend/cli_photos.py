"""``flask hhq ship-photos``: ship photos spooled while the object store was down."""

from __future__ import annotations

import logging
import sys
import time

import click
from flask import current_app

from backend.extensions import db
from backend.services.photos import ShipReport, ship_spooled_photos
from backend.storage import get_storage

log = logging.getLogger(__name__)


@click.command("ship-photos")
@click.option("--loop", is_flag=True, help="Keep running, one pass every --interval seconds.")
@click.option(
    "--interval", default=60.0, show_default=True, type=click.FloatRange(min=1), help="Seconds."
)
@click.option("--limit", type=click.IntRange(min=1), help="Ship at most this many objects a pass.")
def ship_photos_command(loop: bool, interval: float, limit: int | None) -> None:
    """Ship spooled photo files to storage and mark their photos as stored."""
    storage = get_storage(current_app)
    while True:
        try:
            report = ship_spooled_photos(storage=storage, limit=limit)
            db.session.commit()
        except Exception:
            db.session.rollback()
            if not loop:
                raise
            # A loop outlives a database restart: report and try again next time.
            log.exception("ship-photos pass failed")
        else:
            if report.shipped or report.failed or report.photos_stored or not loop:
                click.echo(_summary(report))
        finally:
            db.session.remove()
        if not loop:
            # Non-zero while files wait, so cron and monitoring notice an outage.
            sys.exit(1 if report.failed else 0)
        time.sleep(interval)


def _summary(report: ShipReport) -> str:
    return (
        f"已转存 {report.shipped} 个文件，失败 {report.failed} 个；"
        f"{report.photos_stored} 张照片已完成存储，仍待转存 {report.photos_pending} 张。"
    )
