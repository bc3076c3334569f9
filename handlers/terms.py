"""The statutory terms in force when a case is filed, as deadline rules (docs/law.md §11).

The lengths are configuration (DECISION_TERM_WORKING_DAYS and friends); the case keeps the
rules it was given, so a later configuration change does not move its deadlines.
"""
from __future__ import annotations

import json
from datetime import datetime

from engine import clock
from engine.operators import operator


@operator("terms.load", pure=True)
def load(ctx, filed_at) -> dict:
    """`terms.load`: the filing day and the deadline rules for this case, from the
    configuration in force when it was filed."""
    config = ctx.config
    filed = datetime.fromisoformat(filed_at)
    if filed.tzinfo is None:
        raise ValueError(f"filing time {filed_at!r} has no time zone")
    return {
        "filed_on": clock.to_local(filed, config).date().isoformat(),
        "decision_rule": _working_days(config["DECISION_TERM_WORKING_DAYS"]),
        "police_answer_rule": _working_days(config["POLICE_ANSWER_WORKING_DAYS"]),
        "employer_consent_rule": _working_days(config["EMPLOYER_CONSENT_WORKING_DAYS"]),
        "reminder_rule": f"local_time_on({json.dumps(config['REMINDER_LOCAL_TIME'])}, of=\"decision\")",
    }


def _working_days(days) -> str:
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ValueError(f"a term must be a whole number of working days ≥ 1, not {days!r}")
    return f"working_days({days}, exclude_start=True, end_of_day=True)"
