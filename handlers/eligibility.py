"""Citizenship: may this applicant receive a permit for a labour immigrant at all?

Eligible states are a table (`ELIGIBLE_CITIZENSHIPS`: administered reference data for the
operator, seeded from configuration by `flask reference load-dev`); citizens of the Eurasian
Economic Union (`EAEU_CITIZENSHIPS`) work in Kazakhstan without any permit, so they are
refused with `ineligible_citizenship` and told why (docs/law.md §8). Codes are ISO 3166-1
alpha-2, compared case-insensitively.
"""
from __future__ import annotations

from typing import Any, Mapping

from engine.operators import operator

from . import reference
from .grounds import EAEU_TREATY, make_ground


def check_citizenship(code: str, config: Mapping[str, Any]) -> dict:
    """Check the applicant's citizenship against the eligible and EAEU tables."""
    citizenship = str(code or "").strip().upper()
    eligible = {c.upper() for c in config["ELIGIBLE_CITIZENSHIPS"]}
    eaeu = {c.upper() for c in config["EAEU_CITIZENSHIPS"]}
    grounds = []
    # EAEU first: the Treaty decides for them even if the eligible table listed one by mistake.
    if citizenship in eaeu:
        grounds.append(make_ground(
            "ineligible_citizenship", "eligibility.citizenship",
            f"The applicant is a citizen of {citizenship}, a member state of the Eurasian "
            f"Economic Union. Citizens of member states work in the Republic of Kazakhstan "
            f"without a permit ({EAEU_TREATY}), so no permit for a labour immigrant is issued; "
            f"the applicant may work without one.",
            citizenship=citizenship, eaeu=True))
    elif citizenship not in eligible:
        grounds.append(make_ground(
            "ineligible_citizenship", "eligibility.citizenship",
            f"The applicant's citizenship ({citizenship or 'not stated'}) is not among the "
            f"states whose citizens may receive a permit for a labour immigrant "
            f"({', '.join(sorted(eligible))}).",
            citizenship=citizenship, eaeu=False))
    return {"ok": not grounds, "citizenship": citizenship, "eaeu": citizenship in eaeu,
            "grounds": grounds}


@operator("eligibility.check")
def check(ctx, citizenship: str) -> dict:
    """`eligibility.check`: the citizenship against the administered table of eligible states."""
    return check_citizenship(citizenship, {
        "ELIGIBLE_CITIZENSHIPS": reference.eligible_citizenships(session=ctx.session),
        "EAEU_CITIZENSHIPS": ctx.config["EAEU_CITIZENSHIPS"]})
