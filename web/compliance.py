"""Deadline compliance as the pages and the API show it: the CSV lines and the server's chart.

The figures are the domain's (handlers/compliance.py: aggregate SQL over the stored statutory
deadlines of each case, judged as the case pages judge them); this module only renders them.
Shared by the inbox page, its CSV and GET /api/v1/reports/compliance.
"""
from __future__ import annotations

from handlers.compliance import STATES, STATUTORY


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
