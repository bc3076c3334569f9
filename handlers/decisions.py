"""Grounds that come from the police and the officer, in the words of the law (docs/law.md §8)."""
from __future__ import annotations

from datetime import date, datetime

from engine import clock
from engine.operators import operator

from .grounds import make_ground


@operator("decisions.police_objection", pure=True)
def police_objection(ctx, reply) -> list[dict]:
    """`decisions.police_objection`: the refusal ground for an objection of the police."""
    reason = (reply or {}).get("reason") or "no reason given"
    return [make_ground("police_objection", "police.answer",
                        f"The territorial internal affairs body objected: {reason}.")]


@operator("decisions.police_silence", pure=True)
def police_silence(ctx, deadline) -> list[dict]:
    """`decisions.police_silence`: the refusal ground when the police did not answer in time."""
    due = (deadline or {}).get("due_at", "the deadline")
    return [make_ground("police_no_answer", "police.answer",
                        f"The territorial internal affairs body did not answer by {due} "
                        f"(one working day after the request); silence counts as refusal.")]


@operator("decisions.officer_grounds", pure=True)
def officer_grounds(ctx, form, identity=None) -> list[dict]:
    """`decisions.officer_grounds`: the grounds an officer chose on the decision form."""
    comment = (form or {}).get("comment") or ""
    grounds = []
    for code in (form or {}).get("grounds") or []:
        if code == "data_mismatch":
            differing = ", ".join((identity or {}).get("differing") or []) or "the officer's comparison"
            grounds.append(make_ground("data_mismatch", "identity.officer_comparison",
                                       f"The application does not match the identity data ({differing}). "
                                       f"{comment}".strip()))
        else:
            grounds.append(make_ground(code, "officer.decision", comment or "stated by the officer"))
    return grounds


@operator("decisions.employer_declined", pure=True)
def employer_declined(ctx, consent) -> list[dict]:
    """`decisions.employer_declined`: the refusal ground when the employer declines to consent
    to the extension (the `employer_consent` message with decision `decline`)."""
    signed = (consent or {}).get("signed_at")
    day = _local_day(signed, ctx.config) if signed else None
    when = f" on {day}" if day else ""
    return [make_ground("employer_consent_missing", "employer.consent",
                        f"The employer declined{when} to consent to the extension of the permit.",
                        declined_on=day)]


@operator("decisions.consent_lapsed", pure=True)
def consent_lapsed(ctx, deadline) -> list[dict]:
    """`decisions.consent_lapsed`: why a request lapses when the employer's consent did not
    come within its term, or came after it (the request is not considered: outcome `lapsed`)."""
    deadline = deadline or {}
    due = deadline.get("due_date")
    term = (f"by the end of {date.fromisoformat(due):%d.%m.%Y}" if due else "in time")
    days = (deadline.get("inputs") or {}).get("n")
    counted = f" ({days} working days after the day of filing)" if days else ""
    return [make_ground("employer_consent_missing", "employer.consent",
                        f"The employer did not consent to the extension {term}{counted}; "
                        f"the request lapsed without consideration.")]


def _local_day(moment: str, config) -> str:
    try:
        value = datetime.fromisoformat(moment)
    except (TypeError, ValueError):
        return str(moment)
    if value.tzinfo is not None:
        value = clock.to_local(value, config)
    return f"{value:%d.%m.%Y}"
