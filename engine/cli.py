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


@processes_cli.command("migrate")
@click.argument("process_id")
@click.option("--to-version", "to_version", type=int, required=True, help="The version to move running instances to.")
@click.option("--map", "pairs", multiple=True, metavar="OLD=NEW", help="A renamed activity (BPMN ids); repeatable.")
@click.option("--dry-run", is_flag=True, help="Only the preview: which instances can move, and why not.")
@click.option("--actor", default="cli", help="Who migrates, for the audit log.")
def migrate_command(process_id, to_version, pairs, dry_run, actor):
    """Move the running instances of PROCESS_ID to another version; one line per instance.
    Exits 1 when any instance cannot move."""
    from . import migration
    from .exceptions import EngineError
    mapping = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            click.echo(f"error: --map {pair!r}: write OLD=NEW", err=True)
            sys.exit(2)
        mapping[old] = new
    try:
        target = migration.version(process_id, to_version)
        verdicts = (migration.preview(target, mapping) if dry_run else migration.migrate(target, mapping, actor))
    except EngineError as err:
        details = "; ".join(f"{k}: {', '.join(v)}" for k, v in getattr(err, "errors", {}).items())
        click.echo(f"error: {err}" + (f" ({details})" if details else ""), err=True)
        sys.exit(1)
    word = "can move" if dry_run else "moved"
    for v in verdicts:
        click.echo(f"{v.instance_id}\t{v.business_key or ''}\t" + (word if v.can_move else "refused: " + "; ".join(v.problems)))
    click.echo(f"{sum(v.can_move for v in verdicts)} of {len(verdicts)} {word} to version {to_version}")
    if not all(v.can_move for v in verdicts):
        sys.exit(1)


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


@instances_cli.command("incident")
@click.argument("instance_id")
def incident_command(instance_id):
    """INSTANCE_ID's incident: where and what failed, the likely fix, the failed task's input."""
    from . import incidents
    from .exceptions import NotFound
    try:
        row = instances.get(instance_id)
    except NotFound as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if row.status != instances.INCIDENT:
        click.echo(f"error: instance {instance_id} has no open incident ({row.status})", err=True)
        sys.exit(1)
    view = incidents.describe(row)
    for key in ("process_id", "business_key", "task", "error_type", "message", "hint", "at"):
        click.echo(f"{key}: {view[key] if view[key] is not None else '—'}")
    click.echo("input: " + json.dumps(incidents.failed_task_input(row), ensure_ascii=False, indent=2, default=str))


@instances_cli.command("edit-data")
@click.argument("instance_id")
@click.option("--set", "assignments", multiple=True, required=True, metavar="KEY=JSON",
              help="A top-level field and its new value as JSON (a bare word is a string); repeatable.")
@click.option("--reason", required=True, help="Why the data is corrected (audited).")
@click.option("--actor", default="cli", help="Who corrects it, for the audit log.")
def edit_data_command(instance_id, assignments, reason, actor):
    """Correct the data of INSTANCE_ID's failed task before a retry; prints the diff."""
    from . import edits
    from .exceptions import EngineError
    changes = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            click.echo(f"error: --set {assignment!r}: write KEY=JSON", err=True)
            sys.exit(2)
        try:
            changes[key] = json.loads(raw)
        except ValueError:
            changes[key] = raw
    try:
        diff = edits.edit_data(instance_id, actor, changes, reason)
    except EngineError as err:
        details = "; ".join(f"{k}: {', '.join(v)}" for k, v in getattr(err, "errors", {}).items())
        click.echo(f"error: {err}" + (f" ({details})" if details else ""), err=True)
        sys.exit(1)
    click.echo(json.dumps(diff, ensure_ascii=False, indent=2, default=str))


@instances_cli.command("retry")
@click.argument("instance_ids", nargs=-1)
@click.option("--same-error-as", help="Retry every open incident stopped by this instance's error.")
@click.option("--actor", default="cli", help="Who retries, for the audit log.")
def retry_command(instance_ids, same_error_as, actor):
    """Set the failed task of each INSTANCE_ID back to READY and run on; one line per case.
    Exits 1 when any case was refused or failed again."""
    from . import incidents
    from .exceptions import EngineError
    if bool(instance_ids) == bool(same_error_as):
        click.echo("error: give instance ids or --same-error-as, not both, not neither", err=True)
        sys.exit(2)
    if same_error_as:
        try:
            instance_ids = incidents.same_error_ids(same_error_as)
        except EngineError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
    try:
        results = incidents.retry_many(list(instance_ids), actor)
    except EngineError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    for result in results:
        if result.outcome == "refused":
            click.echo(f"error: {result.message}", err=True)
        else:
            click.echo(f"{result.instance_id}: {result.status}" + (f" ({result.message})" if result.message else ""))
    if any(r.outcome != "moved_on" for r in results):  # a script must not take a failure for success
        sys.exit(1)


def register(app):
    app.cli.add_command(processes_cli)
    app.cli.add_command(instances_cli)
    from . import calendar, retention, scheduler
    app.cli.add_command(calendar.calendar_cli)
    retention.register(app)  # `flask retention run`
    scheduler.register(app)  # `flask timers ...`, `flask scheduler run`
