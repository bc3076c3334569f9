"""The documents a case ends with when the applicant gets no permit, as HTML in Kazakh and
Russian side by side (handlers/documents_pdf.py makes the PDF of the same page).

- `render_not_accepted_receipt`: the receipt refusing to accept the documents (appendix 3),
  for the grounds `not_accepted_incomplete` and `not_accepted_expired_document`;
- `render_motivated_refusal`: the motivated refusal to provide the service (appendix 4), for
  the grounds on the merits.

Both name the service provider, the applicant (IIN masked), the date, every ground with its
failed check, evidence and legal basis, and how to appeal. Autoescaping is on: every value
from a case is text, never markup.

The `case` mapping they expect (ISO strings for dates, as task data holds them):

    {
      "case_id": "b1c2...",                 # reference shown on the document
      "kind": "issue" | "extension",
      "region": "ALA",                      # a key of config REGIONS
      "channel": "egov" | "psc",            # optional: where the application was filed
      "filed_on": "2026-03-20",             # day of filing
      "date": "2026-03-24",                 # date of this document
      "applicant": {"name": "Full Name", "iin": "950112300123"},
      "grounds": [make_ground(...), ...],   # handlers.grounds; at least one
      "officer": "Full Name",               # optional: who decided (refusal only)
    }

`config` is a mapping with `REGIONS` (code -> name) and, optionally, `DOCUMENT_LANGUAGES` (the
languages side by side, Kazakh and Russian unless set) and `DOCUMENT_AUTOMATIC_SIGNER`.
"""
from __future__ import annotations

from typing import Any, Mapping

from engine import clock
from engine.operators import operator

from . import documents_pdf
from .durations import as_date
from .grounds import refusal_ground
from .identity import mask_iin

# The kinds of case a refusal document is for (their words: documents_pdf.KIND_SERVICES).
KIND_WORDS = {
    "issue": "issue of a permit to a labour immigrant",
    "extension": "extension of a permit to a labour immigrant",
}


def render_not_accepted_receipt(case: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """Appendix 3: the receipt refusing to accept an incomplete or invalid set of documents."""
    return _render("not_accepted_receipt.html", case, config, not_accepted=True)


def render_motivated_refusal(case: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """Appendix 4: the motivated refusal naming every ground on the merits."""
    return _render("motivated_refusal.html", case, config, not_accepted=False)


@operator("decision.render_refusal")
def render_refusal(ctx, case: Mapping[str, Any]) -> dict:
    """`decision.render_refusal`: the receipt (appendix 3) or the motivated refusal (appendix 4).

    Which one follows from the grounds; `case_id` defaults to this case and `date` to today
    (CALENDAR_TIMEZONE).
    """
    case = {"case_id": ctx.instance_id,
            "date": clock.to_local(ctx.now(), ctx.config).date().isoformat(),
            **case}
    grounds = case.get("grounds") or []
    not_accepted = bool(grounds) and all(refusal_ground(g["code"]).not_accepted for g in grounds)
    if not_accepted:
        html, document, appendix = render_not_accepted_receipt(case, ctx.config), "not_accepted_receipt", 3
    else:
        html, document, appendix = render_motivated_refusal(case, ctx.config), "motivated_refusal", 4
    return {"document": document, "appendix": appendix, "case_id": case["case_id"],
            "date": case["date"], "grounds": [g["code"] for g in grounds], "html": html}


def _render(template: str, case: Mapping[str, Any], config: Mapping[str, Any],
            not_accepted: bool) -> str:
    grounds = [_complete_ground(g) for g in case.get("grounds") or []]
    if not grounds:
        raise ValueError("a refusal document needs at least one ground")
    misplaced = [g["code"] for g in grounds if refusal_ground(g["code"]).not_accepted != not_accepted]
    if misplaced:
        # A receipt is not a decision on the merits, and a refusal is not a receipt.
        document = "receipt (appendix 3)" if not_accepted else "motivated refusal (appendix 4)"
        raise ValueError(f"grounds {misplaced} do not belong on a {document}")
    regions = config["REGIONS"]
    region = case["region"]
    if region not in regions:
        raise ValueError(f"unknown region {region!r}")
    kind = case["kind"]
    if kind not in KIND_WORDS:
        raise ValueError(f"kind must be one of {tuple(KIND_WORDS)}, not {kind!r}")
    context = {
        "case_id": case["case_id"],
        "kind": kind,
        "region": region,
        "regions": regions,
        "channel": case.get("channel"),
        "filed_on": as_date(case["filed_on"]),
        "date": as_date(case["date"]),
        "applicant_name": case["applicant"]["name"],
        # Only the masked IIN reaches the template: the document is shown and sent outside.
        "applicant_iin": mask_iin(case["applicant"]["iin"]),
        "grounds": grounds,
        "permit": None,
        "signer": {"name": case.get("officer"), "position": case.get("officer_position")},
        "automatic_signer": config.get("DOCUMENT_AUTOMATIC_SIGNER") or "",
    }
    languages = list(case.get("languages") or config.get("DOCUMENT_LANGUAGES") or ("kk", "ru"))
    return documents_pdf.render_html(template.removesuffix(".html"), context, languages)


def _complete_ground(ground: Mapping[str, Any]) -> dict:
    # Title and legal basis come from the registry when the stored ground lacks them.
    registered = refusal_ground(ground["code"])
    return {"code": ground["code"],
            "title": ground.get("title") or registered.title,
            "check": ground["check"],
            "evidence": ground["evidence"],
            "legal_basis": ground.get("legal_basis") or registered.legal_basis}
