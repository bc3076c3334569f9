"""Deadline compliance per region and month of filing, from each case's recorded deadlines.

A deadline is met, missed or overdue exactly as the case page and the API judge it (the read model,
handlers/case_view.py), so the report and the case pages never disagree. Also: the median working days from filing to
decision, the escalated tasks, and the refusals by ground. Shared by the inbox page, its CSV and
GET /api/v1/reports/compliance.
"""
from __future__ import annotations

import statistics
from datetime import datetime

import sqlalchemy as sa

from engine import instances, tasks
from engine.calendar import current_calendar
from engine.db import db
from engine.exceptions import NotFound
from handlers import case_view
from handlers.cases import Case

STATUTORY = ("police_answer", "decision", "employer_consent")
STATES = ("met", "missed", "overdue")
REFUSALS = ("refused", "not_accepted")


def report(year: int, regions: frozenset | None, region: str | None = None) -> list[dict]:
    """One row per (region, month of filing) with cases in `year`; `regions` None: every region."""
    calendar = current_calendar()
    start = datetime(year, 1, 1, tzinfo=calendar.tz)
    end = datetime(year + 1, 1, 1, tzinfo=calendar.tz)
    query = sa.select(Case).where(Case.created_at >= start, Case.created_at < end)
    if regions is not None:
        query = query.where(Case.region.in_(regions))
    if region:
        query = query.where(Case.region == region)
    cases = list(db.session.execute(query.order_by(Case.created_at)).scalars())
    ids = [c.id for c in cases]
    escalated = dict(db.session.execute(
        sa.select(tasks.HumanTask.instance_id, sa.func.count()).where(
            tasks.HumanTask.instance_id.in_(ids), tasks.HumanTask.escalated.is_(True))
        .group_by(tasks.HumanTask.instance_id)).all()) if ids else {}
    rows: dict = {}
    for case in cases:
        key = (case.region, case.created_at.astimezone(calendar.tz).strftime("%Y-%m"))
        row = rows.setdefault(key, _empty(*key))
        row["filed"] += 1
        row["escalations"] += escalated.get(case.id, 0)
        if case.decided_at is not None:
            row["decided"] += 1
            row["_days"].append(calendar.working_days_between(case.created_at, case.decided_at))
        if case.outcome_code in REFUSALS:
            row["refusals"] += 1
            for ground in (case.outcome or {}).get("grounds") or []:
                code = ground.get("code") if isinstance(ground, dict) else ground
                if code:
                    row["refusals_by_ground"][code] = row["refusals_by_ground"].get(code, 0) + 1
        try:
            instance = instances.get(case.id)
        except NotFound:  # a case row whose instance is gone tells nothing about deadlines
            continue
        data = instances.current_data(instances.peek(instance))
        for item in case_view.deadlines(instance, case, data):
            if item.name in STATUTORY and item.state in STATES:
                row["deadlines"][item.name][item.state] += 1
    result = []
    for key in sorted(rows):
        row = rows[key]
        days = row.pop("_days")
        row["median_working_days_to_decision"] = float(statistics.median(days)) if days else None
        result.append(row)
    return result


def _empty(region, month):
    return {"region": region, "month": month, "filed": 0, "decided": 0,
            "deadlines": {name: {state: 0 for state in STATES} for name in STATUTORY},
            "median_working_days_to_decision": None, "escalations": 0, "refusals": 0,
            "refusals_by_ground": {}, "_days": []}


def csv_rows(rows: list[dict]):
    """The report flat, one line per region and month (codes as column names, for spreadsheets)."""
    header = ["region", "month", "filed", "decided"]
    header += [f"{name}_{state}" for name in STATUTORY for state in STATES]
    header += ["median_working_days_to_decision", "escalations", "refusals", "refusals_by_ground"]
    yield header
    for row in rows:
        yield ([row["region"], row["month"], row["filed"], row["decided"]]
               + [row["deadlines"][name][state] for name in STATUTORY for state in STATES]
               + ["" if row["median_working_days_to_decision"] is None else row["median_working_days_to_decision"],
                  row["escalations"], row["refusals"],
                  "; ".join(f"{code}={n}" for code, n in sorted(row["refusals_by_ground"].items()))])


def chart_svg(rows: list[dict], labels: dict) -> str:
    """Deadlines met and missed per month as stacked bars, drawn by the server (no script)."""
    from markupsafe import escape
    months: dict = {}
    for row in rows:
        totals = months.setdefault(row["month"], [0, 0])
        for name in STATUTORY:
            totals[0] += row["deadlines"][name]["met"]
            totals[1] += row["deadlines"][name]["missed"] + row["deadlines"][name]["overdue"]
    width, height, left, bottom, bar = 640, 240, 40, 30, 36
    top = max([m + x for m, x in months.values()] + [1])
    scale = (height - bottom - 20) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="chart-title"><title id="chart-title">{escape(labels["title"])}</title>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#555"/>',
             f'<text x="{left - 6}" y="{height - bottom - top * scale + 4:.0f}" text-anchor="end" font-size="11">{top}</text>']
    step = max((width - left) / max(len(months), 1), bar + 8)
    for index, (month, (met, missed)) in enumerate(sorted(months.items())):
        x = left + 8 + index * step
        base = height - bottom
        parts.append(f'<rect class="met" x="{x:.0f}" y="{base - met * scale:.1f}" width="{bar}" height="{met * scale:.1f}" '
                     f'fill="#2e7d32"><title>{escape(month)}: {escape(labels["met"])} {met}</title></rect>')
        parts.append(f'<rect class="missed" x="{x:.0f}" y="{base - (met + missed) * scale:.1f}" width="{bar}" '
                     f'height="{missed * scale:.1f}" fill="#c62828"><title>{escape(month)}: {escape(labels["missed"])} '
                     f'{missed}</title></rect>')
        parts.append(f'<text x="{x + bar / 2:.0f}" y="{height - 10}" text-anchor="middle" font-size="11">{escape(month)}</text>')
    parts.append(f'<rect x="{width - 170}" y="6" width="10" height="10" fill="#2e7d32"/><text x="{width - 155}" y="15" '
                 f'font-size="11">{escape(labels["met"])}</text>')
    parts.append(f'<rect x="{width - 90}" y="6" width="10" height="10" fill="#c62828"/><text x="{width - 75}" y="15" '
                 f'font-size="11">{escape(labels["missed"])}</text></svg>')
    return "".join(parts)
