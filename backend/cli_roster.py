"""``flask hhq import-roster FILE``: import a household roster from the console."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app

from backend.errors import DomainError
from backend.extensions import db
from backend.services import roster_import

_KINDS = (
    ("regions", "地区"),
    ("groups", "组"),
    ("households", "农户"),
    ("members", "成员"),
    ("helpers", "帮扶人"),
    ("assignments", "帮扶关系"),
)


def _progress(length: int, label: str):
    return click.progressbar(length=length, label=label, file=sys.stderr)


@click.command("import-roster")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--skip-bad-rows",
    is_flag=True,
    help="Import the households without errors and report the bad rows (default: reject all).",
)
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@click.option(
    "--max-errors", default=200, show_default=True, help="Print at most this many row errors."
)
def import_roster_command(file: Path, skip_bad_rows: bool, dry_run: bool, max_errors: int) -> None:
    """Import a household roster (CSV or XLSX) into the registry."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    with file.open("rb") as handle:
        data = handle.read(limit + 1)
    on_error = roster_import.ON_ERROR_SKIP if skip_bad_rows else roster_import.ON_ERROR_REJECT
    try:
        report = roster_import.import_roster(
            data=data,
            file_name=file.name,
            actor=None,
            on_error=on_error,
            dry_run=dry_run,
            progress=_progress,
        )
    except DomainError as exc:
        # A rejected file keeps its audit row; anything else leaves no trace.
        if exc.keep_changes:
            db.session.commit()
        else:
            db.session.rollback()
        click.echo(f"{exc.message}（{exc.code}）", err=True)
        if exc.details:
            print_report(exc.details, max_errors=max_errors)
        sys.exit(1)
    except Exception:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    print_report(report, max_errors=max_errors)


def print_report(report: dict[str, Any], *, max_errors: int = 200) -> None:
    """Print an import report for the console."""
    status = {"imported": "已导入", "validated": "校验通过（未写入）", "rejected": "已退回"}
    click.echo(
        f"文件：{report['file_name']}（{report['format']}"
        f"{'，' + report['encoding'] if report.get('encoding') else ''}）"
    )
    click.echo(f"SHA-256：{report['sha256']}")
    click.echo(
        f"结果：{status.get(report['status'], report['status'])}；"
        f"数据行 {report['rows']}，有错误的行 {report['bad_rows']}"
    )
    counts = report["counts"]
    for key, label in _KINDS:
        c = counts[key]
        line = f"{label}：新增 {c['created']}，更新 {c['updated']}，未变 {c['unchanged']}"
        if "skipped" in c:
            line += f"，跳过 {c['skipped']}"
        click.echo(line)
    not_in_file = counts["members"]["not_in_file"]
    if not_in_file:
        click.echo(f"系统中有、文件中没有的成员：{not_in_file} 人（未删除）")
    for warning in report.get("warnings", []):
        click.echo(f"提示：{warning}")
    errors = report.get("errors", [])
    if errors:
        click.echo(f"错误（共 {report['errors_total']} 条）：")
    for error in errors[:max_errors]:
        where = []
        if error.get("sheet"):
            where.append(f"工作表“{error['sheet']}”")
        if error.get("row"):
            where.append(f"第 {error['row']} 行")
        if error.get("column"):
            where.append(f"“{error['column']}”列")
        click.echo(f"  {' '.join(where) or '文件'}：{error['message']}")
    if report.get("errors_total", 0) > max_errors:
        click.echo(
            f"  ……另有 {report['errors_total'] - max_errors} 条错误未显示（可用 --max-errors 调整）。"
        )
