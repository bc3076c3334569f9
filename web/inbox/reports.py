"""Deadline compliance in the browser: per region and month, a chart drawn by the server, CSV."""
from __future__ import annotations

import csv
import io

from flask import Response, current_app, render_template, request
from flask_babel import gettext
from markupsafe import Markup

from engine import clock
from handlers import compliance as figures
from web import compliance

from . import access
from .blueprint import bp


def _query():
    """(year, region) from the query string; region None: every region the user may see."""
    raw = request.args.get("year", "")
    year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else clock.local_now().year
    region = request.args.get("region") or None
    allowed = access.regions()
    if region is not None and (region not in current_app.config["REGIONS"]
                               or (allowed is not None and region not in allowed)):
        region = None  # another region's figures are not shown; the user's own are
    return year, region, allowed


@bp.get("/reports/compliance")
@access.role_required("supervisor", "admin")
def compliance_report():
    year, region, allowed = _query()
    rows = figures.report(year, allowed, region)
    chart = Markup(compliance.chart_svg(rows, {  # noqa: S704  every text in it is escaped
        "title": gettext("Statutory deadlines met and missed per month, %(year)s", year=year),
        "met": gettext("met"), "missed": gettext("missed")}))
    return render_template("inbox/compliance.html", rows=rows, year=year, region=region, chart=chart,
                           statutory=figures.STATUTORY,
                           regions=sorted(allowed) if allowed is not None else list(current_app.config["REGIONS"]))


@bp.get("/reports/compliance.csv")
@access.role_required("supervisor", "admin")
def compliance_csv():
    year, region, allowed = _query()
    out = io.StringIO()
    csv.writer(out).writerows(compliance.csv_rows(figures.report(year, allowed, region)))
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="compliance-{year}{"-" + region if region else ""}.csv"'})
