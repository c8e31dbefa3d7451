"""``flask hhq demo``: load the synthetic demo town into an empty database."""

from __future__ import annotations

import unicodedata

import click

from backend.extensions import db
from backend.services import demo as demo_service


@click.command("demo")
@click.option("--seed", default=demo_service.DEFAULT_SEED, show_default=True, help="Random seed.")
@click.option(
    "--households",
    default=demo_service.DEFAULT_HOUSEHOLDS,
    show_default=True,
    help="Number of households.",
)
@click.option(
    "--poor",
    default=demo_service.DEFAULT_POOR,
    show_default=True,
    help="Registered poor households (建档立卡贫困户).",
)
@click.option(
    "--villages", default=demo_service.DEFAULT_VILLAGES, show_default=True, help="Villages."
)
@click.option("--force", is_flag=True, help="Load even though the database is not empty.")
@click.option(
    "--if-empty", "if_empty", is_flag=True, help="Do nothing (exit 0) if the database is not empty."
)
def demo_command(
    seed: int, households: int, poor: int, villages: int, force: bool, if_empty: bool
) -> None:
    """Build the synthetic Tuqiao demo town (fake names, IDs and phones) and print the logins."""
    if if_empty and not demo_service.database_is_empty():
        click.echo("Database is not empty: demo town not loaded.")
        return
    try:
        summary = demo_service.build_demo_town(
            households=households, poor=poor, villages=villages, seed=seed, force=force
        )
    except demo_service.DemoError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    s = summary
    click.echo(
        f"Demo town loaded in {s.seconds:.1f}s: {s.villages} villages, {s.groups} groups, "
        f"{s.households} households ({s.members} members), {s.helpers} helpers, "
        f"{s.users} users, {s.cards} cards."
    )
    click.echo(
        f"  建档立卡贫困户 {s.poor} (已脱贫 {s.poor_lifted}, 未脱贫 {s.poor_not_lifted}), "
        f"监测对象 {s.monitored}, 低保 {s.dibao}, 特困 {s.tekun}, 残疾 {s.disabled}, "
        f"一般农户 {s.ordinary}"
    )
    click.echo(format_logins())


def format_logins() -> str:
    """The demo logins as an aligned text table."""
    rows = demo_service.demo_logins()
    width = max(_width(label) for label, _, _ in rows)
    lines = ["Demo logins (all fake data):"]
    lines += [
        f"  {label}{' ' * (width - _width(label))}  {user:<16} {password}"
        for label, user, password in rows
    ]
    lines.append("  Other helpers: helper_<village>_<n>, cadres: cadre_<village> (same password).")
    return "\n".join(lines)


def _width(text: str) -> int:
    # Chinese characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
