"""A ground's evidence in a reader's language, from the figures the check stored with it.

The checks write their evidence in English (the source text of case data) and keep the figures
behind it beside it (`make_ground(..., **extra)`); documents and pages say it again in Kazakh or
Russian from those figures. A ground without the figures keeps its stored text.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from babel.numbers import format_decimal

from . import documents as document_register
from .i18n import country_name, gettext_for


def localised(ground: Mapping[str, Any], language: str, gettext: Callable | None = None) -> str | None:
    """The evidence of `ground` in `language`, or None when its figures are not there."""
    if language not in ("kk", "ru"):
        return None  # English is what the check wrote, with every detail
    gettext = gettext or gettext_for(language)
    code, check = ground.get("code"), ground.get("check")
    number = lambda value: format_decimal(value, locale=language)  # noqa: E731
    try:
        if code == "tax_underpaid" and check == "tax.amount" and "due_kzt" in ground:
            return gettext("%(paid)s KZT paid, %(due)s KZT required for the period applied for; short by %(short)s KZT.",
                           paid=number(ground["paid_kzt"]), due=number(ground["due_kzt"]),
                           short=number(ground["shortfall_kzt"]))
        if code == "tax_underpaid" and check == "tax.payer" and "payer_iin_masked" in ground:
            return gettext("The tax was paid under IIN %(payer)s, not under the applicant's IIN: the prepayment "
                           "must be the applicant's.", payer=ground["payer_iin_masked"] or "—")
        if code == "not_accepted_incomplete" and ground.get("missing"):
            return gettext("Missing: %(documents)s.", documents=_documents(ground["missing"], gettext))
        if code == "not_accepted_expired_document" and ("expired_types" in ground or "not_yet_valid_types" in ground):
            parts = []
            if ground.get("expired_types"):
                parts.append(gettext("expired: %(documents)s", documents=_documents(ground["expired_types"], gettext)))
            if ground.get("not_yet_valid_types"):
                parts.append(gettext("not yet valid: %(documents)s",
                                     documents=_documents(ground["not_yet_valid_types"], gettext)))
            return gettext("Not valid on the day of filing: %(defects)s.", defects="; ".join(parts))
        if code == "ineligible_citizenship" and "eaeu" in ground:
            country = country_name(ground.get("citizenship"), language) or "—"
            if ground["eaeu"]:
                return gettext("The applicant is a citizen of %(country)s, a member state of the Eurasian Economic "
                               "Union, and works in the Republic of Kazakhstan without a permit.", country=country)
            return gettext("The citizens of %(country)s may not receive a permit for a labour immigrant.",
                           country=country)
        if code == "quota_exhausted" and "quota_units" in ground:
            return gettext("The quota for %(year)s is %(units)s permit(s), and all %(used)s are in use.",
                           year=ground["year"], units=number(ground["quota_units"]), used=number(ground["used"]))
        if code == "stay_limit_exceeded" and "total_months" in ground:
            return gettext("With %(added)s more month(s) the permit would last %(total)s months, more than the "
                           "%(limit)s months allowed with its extensions.", added=ground["additional_months"],
                           total=ground["total_months"], limit=ground["max_total_months"])
        if code == "employer_consent_missing" and check == "employer.consent" and "declined_on" in ground:
            if ground["declined_on"]:
                return gettext("The employer declined on %(day)s to consent to the extension of the permit.",
                               day=ground["declined_on"])
            return gettext("The employer declined to consent to the extension of the permit.")
        if code == "contract_not_registered" and "contracts_found" in ground:
            return gettext("No employment contract registered in the unified system covers the period of the "
                           "permit (contracts found: %(found)s).", found=ground["contracts_found"])
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _documents(types, gettext) -> str:
    titles = document_register.DOCUMENT_TITLES
    return ", ".join(gettext(titles[t]) if t in titles else str(t) for t in types)
