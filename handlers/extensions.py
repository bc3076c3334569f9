"""Extension of a permit (docs/law.md §3): the period the extension adds.

The extension continues the same permit: the added months run from the day after its
current `valid_to` to the new `valid_to` (durations.extension_check). The employment contract
registered in ЕСУТД must cover that period.
"""
from __future__ import annotations

from typing import Any, Mapping

from engine.operators import operator

from .durations import as_date, valid_to


@operator("extensions.period", pure=True)
def period(ctx, extendable: Mapping[str, Any], requested: Mapping[str, Any]) -> dict:
    """`extensions.period`: {from, to, months, source} — the months added, as the register
    gives them (`permits.check_extension`'s result), or, when the register has no such
    permit, as the request asks ({start_date, months}), so every check can still run."""
    months = requested["months"]
    if extendable.get("period_from") and extendable.get("new_valid_to"):
        return {"from": extendable["period_from"], "to": extendable["new_valid_to"], "months": months,
                "source": "register"}
    start = as_date(requested["start_date"])
    return {"from": start.isoformat(), "to": valid_to(start, months).isoformat(), "months": months,
            "source": "request"}
