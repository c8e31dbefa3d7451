"""``flask hhq issue-binding-code USERNAME``: a WeChat binding code from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from backend.errors import DomainError
from backend.extensions import db
from backend.services.wechat_auth import issue_binding_code_by_operator


@click.command("issue-binding-code")
@click.argument("username")
@with_appcontext
def issue_binding_code_command(username: str) -> None:
    """Issue a one-time WeChat binding code for USERNAME and print it."""
    try:
        issued = issue_binding_code_by_operator(username=username)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(issued.code)
    click.echo(f"有效期至 {issued.expires_at.isoformat()}（仅可使用一次）", err=True)
