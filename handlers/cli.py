"""Command-line entry points of the permit domain.

`flask reference ...` administers the reference data (every change audited);
`flask notifications send-pending` and `flask police deliver-replies` run one pass of what
the scheduler's sweep does, for cron or by hand; `flask documents verify | move-out` check the
decision documents against the document store and move older ones' bytes into it.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from engine import clock
from engine.db import db

from . import notifications, permit_import, police, quota, reference, validity
from .tax import DEFAULT_TABLES, DEFAULT_REGIONAL_COEFFICIENT

reference_cli = AppGroup("reference", help="Administer reference data: quotas, MCI, tax rates, "
                                           "coefficients, citizenships, simulator lists.")
notifications_cli = AppGroup("notifications", help="The notification outbox.")
police_cli = AppGroup("police", help="Police coordination.")
cases_cli = AppGroup("cases", help="Operate permit cases: cancel one with a reason; index their deadlines.")
permits_cli = AppGroup("permits", help="The permit register: permits issued before this system, validity watches.")
documents_cli = AppGroup("documents", help="Decision documents and the document store (DOCUMENT_STORE_DIR).")

ACTOR = click.option("--actor", default="cli", show_default=True, help="Who changes it, for the audit log.")

# Development only: generous quotas around the current year, people the simulators know.
DEV_QUOTA_UNITS = 1000
DEV_POLICE_WATCH = [
    {"iin": "880515400008", "reason": "Entry to the Republic of Kazakhstan is banned (development data)"},
    {"passport_no": "N0000001", "reason": "The passport is reported lost (development data)"},
]
DEV_POLICE_SILENT = [{"iin": "920320350008"}]
DEV_EMPLOYER_IIN, DEV_WORKER_IIN = "771212400000", "900101300007"


def register(app):
    app.cli.add_command(reference_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(police_cli)
    app.cli.add_command(permits_cli)
    app.cli.add_command(cases_cli)
    app.cli.add_command(documents_cli)


@cases_cli.command("move")
@click.argument("case_id")
@click.argument("activity")
@click.option("--set", "assignments", multiple=True, metavar="KEY=JSON", help="A field to set on the activity.")
@click.option("--reason", required=True, help="Why the case is moved (audited).")
@ACTOR
def move_case_command(case_id, activity, assignments, reason, actor):
    """Restart CASE_ID at ACTIVITY (a BPMN id the case has reached before)."""
    import json as _json
    from engine.exceptions import EngineError
    from . import cases
    case = cases.get(case_id)
    if case is None:
        _fail(f"no case {case_id}")
    data = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            _fail(f"--set {assignment!r}: write KEY=JSON")
        try:
            data[key] = _json.loads(raw)
        except ValueError:
            data[key] = raw
    try:
        row = cases.move(case, actor, activity, data, reason)
    except (ValueError, EngineError) as err:
        details = "; ".join(f"{k}: {', '.join(v)}" for k, v in getattr(err, "errors", {}).items())
        _fail(f"{err}" + (f" ({details})" if details else ""))
    click.echo(f"{case_id}: moved to {activity}, now {row.status}")


@cases_cli.command("index-deadlines")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10000),
              help="Cases read and committed at a time.")
def index_deadlines_command(batch):
    """Write the statutory deadline rows of the compliance report for every case (those filed
    before the report read stored deadlines); running it again rewrites only what differs."""
    from . import compliance
    click.echo(f"{compliance.index_existing(batch)} cases indexed")


@cases_cli.command("cancel")
@click.argument("case_id")
@click.option("--reason", required=True, help="Why the case is cancelled (audited).")
@ACTOR
def cancel_case_command(case_id, reason, actor):
    """End CASE_ID where it stands: tasks, timers, jobs closed, a held quota unit released,
    outcome `cancelled`."""
    from engine.exceptions import EngineError
    from . import cases
    case = cases.get(case_id)
    if case is None:
        _fail(f"no case {case_id}")
    try:
        changed = cases.cancel(case, actor, reason)
    except (ValueError, EngineError) as err:
        _fail(str(err))
    click.echo(f"{case_id}: cancelled" if changed else f"{case_id}: was cancelled before")


@documents_cli.command("verify")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100000),
              help="Document rows read at a time.")
@click.option("--unreferenced", is_flag=True,
              help="Also list the files of the store that no document row names (never deleted).")
def documents_verify_command(batch, unreferenced):
    """Check every decision document's bytes against its recorded SHA-256: exit 1 listing each
    one missing from the store or altered."""
    from . import documents_pdf
    checked, problems = documents_pdf.verify(batch)
    for problem in problems:
        click.echo(problem)
    if unreferenced:
        files = documents_pdf.unreferenced()
        for digest in files:
            click.echo(f"unreferenced\t{digest}")
        click.echo(f"{len(files)} file(s) in the store that no document row names")
    click.echo(f"{checked} document(s) checked, {len(problems)} problem(s)")
    if problems:
        sys.exit(1)


@documents_cli.command("move-out")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 10000),
              help="Documents moved and committed at a time.")
@ACTOR
def documents_move_out_command(batch, actor):
    """Move the bytes of documents issued before the document store out of their rows into it
    (each checked, written durably and read back before its row is cleared); safe to rerun."""
    from . import documents_pdf
    try:
        moved, problems = documents_pdf.move_out(batch, actor=actor,
                                                 progress=lambda n: click.echo(f"{n} moved", err=True))
    except OSError as err:  # the store cannot be written: the batch in hand was not committed
        db.session.rollback()
        _fail(f"the document store {current_app.config['DOCUMENT_STORE_DIR']} cannot be written: {err}; "
              f"documents moved before this batch stay moved, run it again once it can")
    for problem in problems:
        click.echo(problem)
    click.echo(f"{moved} document(s) moved to the store, {len(problems)} left in their rows")
    if problems:
        sys.exit(1)


def development_data(config, today: date) -> dict:
    """The data `load-dev` loads: the law's figures, the configured defaults, and test people."""
    years = [today.year - 1, today.year, today.year + 1]
    return {
        "mci": {str(y): v for y, v in DEFAULT_TABLES["mci"].items()},
        "tax_rate": {str(y): v for y, v in DEFAULT_TABLES["rate_mci_per_month"].items()},
        "regional_coefficient": {reference.ALL_REGIONS: DEFAULT_REGIONAL_COEFFICIENT},
        "eligible_citizenship": list(config["ELIGIBLE_CITIZENSHIPS"]),
        "quota": {reference.ALL_REGIONS: {str(y): DEV_QUOTA_UNITS for y in years}},
        "police_watch": DEV_POLICE_WATCH,
        "police_silent": DEV_POLICE_SILENT,
        "esutd_contract": [{"number": f"DEV-{today.year}-1", "employer_iin": DEV_EMPLOYER_IIN,
                            "worker_iin": DEV_WORKER_IIN, "starts_on": f"{today.year}-01-01"}],
    }


@reference_cli.command("load-dev")
@ACTOR
def load_dev_command(actor):
    """Load development reference data (idempotent: only what differs is changed and audited)."""
    today = clock.local_today()
    _load(development_data(current_app.config, today), actor)


@reference_cli.command("load")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@ACTOR
def load_command(file, actor):
    """Load reference data from a JSON FILE (the shape `show --json` prints)."""
    try:
        data = json.load(file)
    except ValueError as err:
        _fail(f"{file.name} is not JSON: {err}")
    _load(data, actor)


@reference_cli.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--unmasked", is_flag=True, help="Show IINs and passport numbers in full.")
def show_command(as_json, unmasked):
    """Everything loaded (IINs and passport numbers masked)."""
    data = reference.snapshot(masked=not unmasked)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for region, years in data["quota"].items():
        for year, units in years.items():
            usage = quota.usage(region, int(year))
            click.echo(f"quota\t{region}\t{year}\t{units}\tused {usage['used']}")
    for year, amount in data["mci"].items():
        click.echo(f"mci\t{year}\t{amount} KZT")
    for year, rate in data["tax_rate"].items():
        click.echo(f"tax_rate\t{year}\t{rate} MCI per month")
    for region, value in data["regional_coefficient"].items():
        click.echo(f"regional_coefficient\t{region}\t{value}")
    click.echo("eligible_citizenship\t" + " ".join(data["eligible_citizenship"]))
    for name in reference.POLICE_LISTS:
        for entry in data[f"police_{name}"]:
            click.echo(f"police_{name}\t#{entry['id']}\tIIN {entry['iin'] or '-'}\t"
                       f"passport {entry['passport_no'] or '-'}\t{entry['reason'] or ''}")
    for contract in data["esutd_contract"]:
        click.echo(f"esutd_contract\t{contract['number']}\t{contract['employer_iin']} -> "
                   f"{contract['worker_iin']}\t{contract['starts_on']}..{contract['ends_on'] or ''}"
                   + (f"\tterminated {contract['terminated_on']}" if contract["terminated_on"] else ""))


@reference_cli.command("set-quota")
@click.argument("region")
@click.argument("year", type=int)
@click.argument("units", type=int)
@ACTOR
def set_quota_command(region, year, units, actor):
    """Set REGION's quota for YEAR to UNITS permits."""
    _change(lambda: reference.set_quota(region, year, units, actor=actor,
                                        regions=current_app.config["REGIONS"]))
    usage = quota.usage(region.upper(), year)
    if usage["used"] > units:
        click.echo(f"warning: {usage['used']} units are already in use, more than the new quota; "
                   f"nothing is revoked, new holds are refused", err=True)


@reference_cli.command("set-mci")
@click.argument("year", type=int)
@click.argument("amount_kzt", type=int)
@ACTOR
def set_mci_command(year, amount_kzt, actor):
    """Set the monthly calculation index (KZT) for YEAR."""
    _change(lambda: reference.set_mci(year, amount_kzt, actor=actor))


@reference_cli.command("set-tax-rate")
@click.argument("year", type=int)
@click.argument("rate")
@ACTOR
def set_tax_rate_command(year, rate, actor):
    """Set the IIT prepayment rate (MCI per month) for YEAR."""
    _change(lambda: reference.set_tax_rate(year, rate, actor=actor))


@reference_cli.command("set-coefficient")
@click.argument("region")
@click.argument("coefficient")
@ACTOR
def set_coefficient_command(region, coefficient, actor):
    """Set REGION's coefficient of the IIT prepayment."""
    _change(lambda: reference.set_regional_coefficient(region, coefficient, actor=actor,
                                                       regions=current_app.config["REGIONS"]))


@reference_cli.command("add-citizenship")
@click.argument("code")
@ACTOR
def add_citizenship_command(code, actor):
    """Make citizens of CODE (ISO 3166-1 alpha-2) eligible for a permit."""
    _change(lambda: reference.add_citizenship(code, actor=actor))


@reference_cli.command("remove-citizenship")
@click.argument("code")
@ACTOR
def remove_citizenship_command(code, actor):
    """Make citizens of CODE no longer eligible."""
    _change(lambda: reference.remove_citizenship(code, actor=actor))


@reference_cli.command("police-add")
@click.argument("list_name", type=click.Choice(reference.POLICE_LISTS))
@click.option("--iin")
@click.option("--passport", "passport_no")
@click.option("--reason", help="What the police simulator answers (watch list).")
@ACTOR
def police_add_command(list_name, iin, passport_no, reason, actor):
    """Put a person on the police simulator's watch list (objects) or silent list (no answer)."""
    entry, created = _change(lambda: reference.add_police_entry(
        list_name, iin=iin, passport_no=passport_no, reason=reason, actor=actor))
    click.echo(f"entry #{entry.id}" + ("" if created else " (already listed)"))


@reference_cli.command("police-remove")
@click.argument("entry_id", type=int)
@ACTOR
def police_remove_command(entry_id, actor):
    """Remove entry ENTRY_ID (see `show`) from a police simulator list."""
    _change(lambda: reference.remove_police_entry(entry_id, actor=actor))


@reference_cli.command("contract-add")
@click.argument("number")
@click.option("--employer-iin", required=True)
@click.option("--worker-iin", required=True)
@click.option("--starts-on", required=True, help="YYYY-MM-DD")
@click.option("--ends-on", help="YYYY-MM-DD; none for an indefinite contract")
@click.option("--registered-on", help="YYYY-MM-DD; default: the start")
@ACTOR
def contract_add_command(number, employer_iin, worker_iin, starts_on, ends_on, registered_on, actor):
    """Register employment contract NUMBER with the ЕСУТД simulator."""
    _change(lambda: reference.add_contract(number, employer_iin=employer_iin, worker_iin=worker_iin,
                                           starts_on=starts_on, ends_on=ends_on,
                                           registered_on=registered_on, actor=actor))


@reference_cli.command("contract-terminate")
@click.argument("number")
@click.option("--on", "terminated_on", required=True, help="YYYY-MM-DD")
@ACTOR
def contract_terminate_command(number, terminated_on, actor):
    """Record the termination of contract NUMBER in the ЕСУТД simulator."""
    _change(lambda: reference.terminate_contract(number, terminated_on, actor=actor))


@reference_cli.command("contract-remove")
@click.argument("number")
@ACTOR
def contract_remove_command(number, actor):
    """Remove contract NUMBER from the ЕСУТД simulator."""
    _change(lambda: reference.remove_contract(number, actor=actor))


@notifications_cli.command("send-pending")
def send_pending_command():
    """Send the notifications that are due (one pass of the sweep)."""
    counts = notifications.send_pending(clock.now())
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@police_cli.command("deliver-replies")
def deliver_replies_command():
    """Deliver the police simulator's answers that are due (one pass of the sweep)."""
    counts = police.deliver_due_replies(clock.now())
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@permits_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]),
              help="Default: from the file's extension (.csv, .json).")
@click.option("--apply", "apply_", is_flag=True,
              help="Write the permits. Without it the file is only checked and nothing changes.")
@ACTOR
def import_command(file, fmt, apply_, actor):
    """Bring permits issued before this system into the register from a CSV or JSON FILE.

    Checks every record first and reports each refused one with its row and reason; with
    --apply, and only when no record is refused, writes the new permits (audited, quota units
    of the valid ones taken) and starts their validity watches. Importing again is harmless.
    """
    fmt = fmt or file.rsplit(".", 1)[-1].lower()
    if fmt not in ("csv", "json"):
        _fail(f"cannot tell the format of {file}: give --format csv or --format json")
    with open(file, encoding="utf-8-sig") as handle:
        text = handle.read()
    try:
        records = permit_import.read(text, fmt)
    except permit_import.ImportFileError as err:
        _fail(f"{file}: {err}")
    now = clock.now()
    permit_import.plan(records, db.session, current_app.config, now)
    for record in records:
        if record.action == permit_import.REFUSED:
            click.echo(f"row {record.row} ({record.number or 'no number'}): refused: " + "; ".join(record.reasons))
    summary = permit_import.summarize(records)
    counts = f"{summary['records']} record(s): {summary['new']} new, {summary['unchanged']} already in the " \
             f"register, {summary['refused']} refused"
    if summary["refused"]:
        db.session.rollback()
        _fail(f"{counts}; nothing imported: correct the refused rows and run again")
    if not apply_:
        db.session.rollback()
        click.echo(f"{counts}. Checked only, nothing changed: run again with --apply to import.")
        return
    try:
        result = permit_import.apply(records, db.session, current_app.config, now, actor=actor,
                                     source=os.path.basename(file),
                                     digest=permit_import.file_digest(text))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    click.echo(f"{counts}. Imported {result['new']} permit(s) (batch {result['batch']}).")
    _start_watches(actor)


@permits_cli.command("backfill-watches")
@click.option("--dry-run", is_flag=True, help="List the permits without a watch; start nothing.")
@ACTOR
def backfill_watches_command(dry_run, actor):
    """Start the validity watch of every active permit that has none (safe to rerun)."""
    if dry_run:
        missing = validity.permits_without_watch(current_app.config)
        for permit in missing:
            click.echo(f"{permit.number}\tvalid to {permit.valid_to:%d.%m.%Y}\tno watch")
        click.echo(f"{len(missing)} active permit(s) without a validity watch")
        return
    _start_watches(actor)


def _start_watches(actor):
    try:
        started = validity.start_missing_watches(current_app.config, actor)
    except validity.WatchNotStarted as err:
        _fail(str(err))
    for number, instance_id in started:
        click.echo(f"{number}\twatch {instance_id}")
    click.echo(f"{len(started)} validity watch(es) started")


def _load(data, actor):
    if not isinstance(data, dict):
        _fail("reference data must be a JSON object")
    changed = _change(lambda: reference.load(data, actor=actor, regions=current_app.config["REGIONS"]))
    click.echo(f"{changed} value(s) changed")


def _change(action):
    """Run one audited change and commit it; a refused value is an error message, not a trace."""
    try:
        result = action()
        db.session.commit()
    except (ValueError, LookupError) as err:
        db.session.rollback()
        _fail(str(err))
    if result is False:
        click.echo("unchanged")
    elif result is True:
        click.echo("changed")
    return result


def _fail(message):
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
