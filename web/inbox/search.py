"""Search of cases (number, IIN, applicant name, filters) and permits, with a CSV export; the
page of one permit, where the results' permit numbers lead.

The page's form posts the query, its filters, the next page and the export, so an IIN or a name
never lands in a URL (access logs, browser history, the Referer header); GET /search?q= still
answers for bookmarks and old links. The query itself is handlers.case_search; this module reads
the form, says what is wrong with it, and renders.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import Response, abort, current_app, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_login import current_user

from engine import audit, clock
from engine.db import db
from handlers import case_search, cases, titles
from handlers.identity import mask_iin

from . import access, display
from .blueprint import bp
from . import permits as permit_register

PAGE_SIZE = 50
CSV_MAX_ROWS = 5000
FIELDS = ("q", "status", "kind", "outcome", "region", "filed_from", "filed_to", "officer", "overdue")


class FormError(Exception):
    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def _local_day_start(day: date) -> datetime:
    return clock.as_utc(datetime.combine(day, time.min, tzinfo=clock.local_zone()))


def _date(errors, name, raw):
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[name] = gettext("Enter a date as YYYY-MM-DD.")
        return None
    if not 2000 <= day.year <= 2100:
        errors[name] = gettext("Enter a date of the years 2000 to 2100.")
        return None
    return day


def read_form(source) -> tuple[case_search.Filters, dict, tuple | None]:
    """(filters, the raw values to show again, the next page's place); FormError names the fields
    that cannot be searched and why."""
    values = {name: (source.get(name) or "").strip() for name in FIELDS}
    errors: dict = {}
    allowed = access.regions()
    if values["status"] and values["status"] not in cases.STATUSES:
        errors["status"] = gettext("Choose a status from the list.")
    if values["kind"] and values["kind"] not in cases.KINDS:
        errors["kind"] = gettext("Choose a kind of case from the list.")
    if values["outcome"] and values["outcome"] not in titles.OUTCOMES:
        errors["outcome"] = gettext("Choose an outcome from the list.")
    if values["region"] and (values["region"] not in current_app.config["REGIONS"]
                             or (allowed is not None and values["region"] not in allowed)):
        errors["region"] = gettext("Choose one of your regions.")
    filed_from = _date(errors, "filed_from", values["filed_from"])
    filed_to = _date(errors, "filed_to", values["filed_to"])
    if filed_from and filed_to and filed_to < filed_from:
        errors["filed_to"] = gettext("The end of the period is before its start.")
    if len(values["q"]) > 200:
        errors["q"] = gettext("Type at most 200 characters.")
    if len(values["officer"]) > 100:
        errors["officer"] = gettext("Type at most 100 characters.")
    if values["overdue"] not in ("", "1"):
        errors["overdue"] = gettext("Tick the box or leave it empty.")
    after = None
    if source.get("after"):
        try:
            at, case_id = source["after"].split("~", 1)
            moment = datetime.fromisoformat(at)
            if moment.tzinfo is None or not case_id or len(case_id) > 36:
                raise ValueError(source["after"])
            after = (clock.as_utc(moment), case_id)
        except (ValueError, OverflowError):
            errors["after"] = gettext("The place of the next page is not valid: search again.")
    filters = case_search.Filters(
        q=values["q"], status=values["status"] or None, kind=values["kind"] or None,
        outcome=values["outcome"] or None, region=values["region"] or None,
        filed_from=_local_day_start(filed_from) if filed_from else None,
        filed_to=_local_day_start(filed_to + timedelta(days=1)) if filed_to else None,
        officer=values["officer"] or None, overdue=values["overdue"] == "1", regions=allowed)
    if errors:
        raise FormError(errors)
    return filters, values, after


def _place(place) -> str:
    at, case_id = place
    return f"{at.isoformat()}~{case_id}"


@bp.route("/search", methods=["GET", "POST"])
@access.role_required("officer", "supervisor", "admin")
def search():
    source = request.form if request.method == "POST" else request.args
    exporting = source.get("export") == "csv"
    try:
        filters, values, after = read_form(source)
        if exporting:
            return _csv(filters)
        searched = filters.any()
        rows = case_search.find(filters, after=after, limit=PAGE_SIZE + 1) if searched else []
    except (FormError, case_search.QueryError) as err:
        errors = err.errors if isinstance(err, FormError) else {
            err.field: gettext("Type at least two letters of a name, or a whole number or IIN.")}
        if exporting:
            return _bad_csv(errors)
        values = {name: (source.get(name) or "").strip() for name in FIELDS}
        return render_template("inbox/search.html", values=values, errors=errors, searched=False,
                               **_choices()), 400
    more, found_permits = None, []
    if searched:
        if len(rows) > PAGE_SIZE:
            rows = rows[:PAGE_SIZE]
            more = _place(rows[-1][2])
        if filters.q and after is None:
            found_permits = permit_register.search(filters.q, filters.regions)
    return render_template("inbox/search.html", values=values, errors={}, searched=searched,
                           rows=rows, more=more, after=after, permits=found_permits,
                           register=permit_register.register() is not None,
                           csv_max=CSV_MAX_ROWS, **_choices())


@bp.get("/permits/<number>")
@access.role_required("officer", "supervisor", "admin")
def permit(number):
    """One permit of the register: holder, employer, validity, its history and the cases that
    made it; only within the reader's regions (else "not found", as for cases)."""
    module = permit_register.register()
    found = module.get_permit(number) if module is not None and len(number) <= 40 else None
    if found is None:
        abort(404)
    if not access.may_see_region(found.region):
        access.refused("permit")
        abort(404)
    # Events of the validity watch (an internal process, not a case) link to no case page.
    ids = {e.instance_id for e in found.events if e.instance_id}
    case_ids = set(db.session.execute(sa.select(cases.Case.id).where(cases.Case.id.in_(ids))).scalars()) if ids else set()
    return render_template("inbox/permit.html", permit=found, case_ids=case_ids)


def _choices() -> dict:
    allowed = access.regions()
    regions = sorted(allowed) if allowed is not None else list(current_app.config["REGIONS"])
    return {"statuses": list(cases.STATUSES), "kinds": list(cases.KINDS), "outcomes": list(titles.OUTCOMES),
            "regions": regions}


def _bad_csv(errors: dict) -> Response:
    labels = {"q": lazy_gettext("Search"), "status": lazy_gettext("Status"), "kind": lazy_gettext("Kind"),
              "outcome": lazy_gettext("Outcome"), "region": lazy_gettext("Region"),
              "filed_from": lazy_gettext("Filed from"), "filed_to": lazy_gettext("Filed to"),
              "officer": lazy_gettext("Officer"), "overdue": lazy_gettext("Overdue only"),
              "after": lazy_gettext("Page")}
    text = "\n".join(f"{labels.get(name, name)}: {reason}" for name, reason in errors.items())
    return Response(text + "\n", status=400, mimetype="text/plain")


def _csv(filters: case_search.Filters) -> Response:
    rows = case_search.find(filters, limit=CSV_MAX_ROWS + 1)
    capped = len(rows) > CSV_MAX_ROWS
    rows = rows[:CSV_MAX_ROWS]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([gettext("Case"), gettext("Applicant"), gettext("Kind"), gettext("Status"),
                     gettext("Outcome"), gettext("Region"), gettext("Filed"), gettext("Permit")])
    for case, status, _ in rows:
        writer.writerow([case.application_no or case.id, case.applicant_name or "",
                         display.title_of(case.kind, "KINDS"), display.title_of(status, "STATUSES"),
                         display.title_of(case.outcome_code, "OUTCOMES"), display.region_name(case.region),
                         display.local_time(case.created_at), case.permit_no or ""])
    if capped:
        writer.writerow([gettext("Only the newest %(count)s cases are exported: narrow the filters for the rest.",
                                 count=CSV_MAX_ROWS)])
    shown = {name: getattr(filters, name) for name in ("status", "kind", "outcome", "region", "officer", "overdue")}
    shown["q"] = mask_iin(filters.q) if case_search.is_iin(filters.q) else filters.q
    shown["filed_from"] = filters.filed_from.isoformat() if filters.filed_from else None
    shown["filed_to"] = filters.filed_to.isoformat() if filters.filed_to else None
    audit.record("cases_exported", actor=current_user.username,
                 details={"rows": len(rows), "capped": capped, "filters": shown})
    db.session.commit()
    stamp = clock.local_now().strftime("%Y%m%d-%H%M")
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="cases-{stamp}.csv"',
        "X-Rows-Capped": "true" if capped else "false"})

