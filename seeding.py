"""`flask demo seed`: the demo accounts (handlers/demo.py lists them) and the demo cases.

For development and demonstrations only (`make run` calls it). Registered by app.py: it needs
both the inbox's accounts (web/inbox/users.py) and the domain's demo cases, so it lives beside
the application factory, not in either layer.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from handlers import demo
from web.inbox import users

demo_cli = AppGroup("demo", help="Demo data for development.")


@demo_cli.command("seed")
@click.option("--password", default=demo.DEMO_PASSWORD, show_default=True,
              help="Password of the demo accounts created now.")
@click.option("--cases/--no-cases", default=True, show_default=True,
              help="Also start demo cases when the permit procedure is deployed.")
def seed_command(password, cases):
    """Create the demo accounts (and demo cases) unless they exist."""
    for username, full_name, roles, region, language, position in demo.DEMO_USERS:
        if users.by_username(username) is not None:
            click.echo(f"user {username}: exists, left as it is")
            continue
        users.create_user(username, password, roles, region, actor="demo", full_name=full_name,
                          language=language, position=position)
        click.echo(f"user {username}: created ({', '.join(roles)}{', ' + region if region else ''}), "
                   f"password {password}")
    if cases:
        for line in demo.seed_cases(current_app.config):
            click.echo(line)
