"""Command-line entry points of the engine (`flask processes ...`, `flask instances ...`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from . import definitions, instances

processes_cli = AppGroup("processes", help="Deploy and list process definitions.")
instances_cli = AppGroup("instances", help="Inspect process instances and their incidents.")


@processes_cli.command("deploy")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--actor", default="cli", help="Who deploys, for the audit log.")
@click.option("--comment", default=None, help="Why, for the version history.")
@click.option("--override-reason", default=None,
              help="Deploy although scenarios go another way, and why (audited).")
def deploy_command(files, actor, comment, override_reason):
    """Deploy FILES (default: every processes/*.bpmn). An unchanged file deploys nothing."""
    paths = [Path(f) for f in files] or sorted(Path(current_app.config["PROCESSES_DIR"]).glob("*.bpmn"))
    failed = False
    for path in paths:
        try:
            for result in definitions.deploy_file(path, current_app.config, actor, comment=comment,
                                                  override_reason=override_reason):
                state = "deployed" if result.created else "unchanged"
                click.echo(f"{path.name}: {result.process_id} version {result.version} {state}")
        except definitions.DeployError as err:
            failed = True
            for problem in err.problems:
                click.echo(f"{path.name}: refused: {problem}", err=True)
    if failed:
        sys.exit(1)


@processes_cli.command("list")
def list_command():
    """The newest version of every deployed process."""
    for row in definitions.all_latest():
        click.echo(f"{row.process_id}\tversion {row.version}\t{row.filename}\t{row.deployed_at:%Y-%m-%d %H:%M}")


@instances_cli.command("incidents")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def incidents_command(as_json):
    """Instances stopped by a failing step, oldest first."""
    rows = instances.incidents()
    if as_json:
        click.echo(json.dumps([r.summary() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no incidents")
    for row in rows:
        click.echo(f"{row.id}\t{row.process_id}\t{row.incident_task_name}\t{row.incident_error_type}: "
                   f"{row.incident_message}")


@instances_cli.command("retry")
@click.argument("instance_id")
@click.option("--actor", default="cli", help="Who retries, for the audit log.")
def retry_command(instance_id, actor):
    """Set the failed task of INSTANCE_ID back to READY and run on."""
    from .exceptions import EngineError
    try:
        row = instances.retry(instance_id, actor)
    except EngineError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(f"{row.id}: {row.status}" + (f" ({row.incident_message})" if row.incident_message else ""))
    if row.status == instances.INCIDENT:  # the retry ran into the same (or another) failure
        sys.exit(1)


def register(app):
    app.cli.add_command(processes_cli)
    app.cli.add_command(instances_cli)
    from . import calendar, scheduler
    app.cli.add_command(calendar.calendar_cli)
    scheduler.register(app)  # `flask timers ...`, `flask scheduler run`
