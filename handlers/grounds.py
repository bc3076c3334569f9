"""Grounds: why an application is not accepted or refused, and why a permit is revoked.

Each ground has a stable code (stored in case data and shown by the API), a title in plain
words and its legal basis in words, as a motivated refusal (appendix 4) must name them.
Refusal grounds come from docs/law.md §8, revocation grounds from §7. The 2025 rules' full text
was not available, so legal bases name the act and the rule, without paragraph numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RULES = ("Rules for the issue, extension and revocation of a permit for a labour immigrant, "
         "approved by Order of the Minister of Labour and Social Protection of the Population "
         "of the Republic of Kazakhstan No. 123 of 15 April 2022 (as amended in 2025)")
MIGRATION_LAW = 'Law of the Republic of Kazakhstan "On population migration", article 43-2'
EAEU_TREATY = "Treaty on the Eurasian Economic Union of 29 May 2014, article 97"
TAX_CODE = ("Tax Code of the Republic of Kazakhstan (prepayment of individual income tax "
            "by a labour immigrant for each month of the permit)")


@dataclass(frozen=True)
class Ground:
    code: str
    title: str
    legal_basis: str
    # True for the two grounds that end a case at acceptance with a receipt (appendix 3).
    not_accepted: bool = False


REFUSAL_GROUNDS: dict[str, Ground] = {g.code: g for g in (
    Ground("not_accepted_incomplete",
           "The set of documents is incomplete",
           f"{RULES}: an incomplete set of the documents the service requires is a ground to "
           "refuse to accept the application",
           not_accepted=True),
    Ground("not_accepted_expired_document",
           "A document is expired or not valid on the day of filing",
           f"{RULES}: a document whose period of validity has expired is a ground to refuse "
           "to accept the application",
           not_accepted=True),
    Ground("data_mismatch",
           "The application does not match the identity document or the data received at intake",
           f"{RULES}: the local executive body compares the application with the identity "
           f"document and the data received from the State Corporation; {MIGRATION_LAW}"),
    Ground("tax_underpaid",
           "The individual income tax prepaid does not cover the permit period requested",
           f"{RULES}: the prepaid individual income tax must correspond to the period of the "
           f"permit; {TAX_CODE}"),
    Ground("quota_exhausted",
           "The region's quota for labour immigrants is exhausted",
           f"{RULES}: permits are issued only within the quota distributed to the region; "
           f"{MIGRATION_LAW}"),
    Ground("police_objection",
           "The territorial internal affairs body did not agree to the permit",
           f"{RULES}: a negative answer of the territorial internal affairs body through the "
           f'information system "Migration Police" is a ground for refusal; {MIGRATION_LAW}'),
    Ground("police_no_answer",
           "The territorial internal affairs body did not answer within one working day",
           f"{RULES}: no answer of the territorial internal affairs body within one working "
           f"day is a ground for refusal; {MIGRATION_LAW}"),
    Ground("ineligible_citizenship",
           "The applicant's citizenship does not allow a permit for a labour immigrant",
           f"{MIGRATION_LAW}: a permit is issued to immigrants from the states whose citizens "
           f"may work as labour immigrants; citizens of member states of the Eurasian "
           f"Economic Union need no permit ({EAEU_TREATY})"),
    Ground("permit_not_active",
           "The permit to be extended does not exist, is not active, or belongs to another "
           "applicant or employer",
           f"{RULES}: only a valid permit of the same labour immigrant and employer can be "
           "extended"),
    Ground("employer_consent_missing",
           "The employer did not consent to the extension",
           f"{RULES}: a request for extension is signed by the labour immigrant and by the "
           "employer, who thereby consents"),
    Ground("contract_not_registered",
           "The employment contract is not registered in the unified system of labour "
           "contracts",
           f"{RULES}: the employer records the conclusion of the employment contract with the "
           "labour immigrant in the unified system of accounting of labour contracts"),
    Ground("stay_limit_exceeded",
           "The permit with its extensions would last longer than allowed",
           f"{RULES}: a permit is issued for one to twelve months, and its extensions must "
           f"keep it within the total period allowed; {MIGRATION_LAW}"),
    Ground("other",
           "Another ground stated by the officer",
           f"{RULES}"),
)}

REVOCATION_GROUNDS: dict[str, Ground] = {g.code: g for g in (
    Ground("contract_terminated",
           "The employment contract with the employer was terminated",
           f"{RULES}: revocation of a permit; {MIGRATION_LAW}"),
    Ground("false_documents",
           "The permit was obtained with false or forged documents",
           f"{RULES}: revocation of a permit; {MIGRATION_LAW}"),
    Ground("tax_violation",
           "The labour immigrant did not meet the obligation to prepay individual income tax",
           f"{RULES}: revocation of a permit; {TAX_CODE}"),
    Ground("entry_ban_or_expulsion",
           "The labour immigrant is banned from entry or is being expelled",
           f"{RULES}: revocation of a permit; {MIGRATION_LAW}"),
    Ground("works_for_legal_entity",
           "The labour immigrant works for a legal entity rather than an individual household",
           f"{RULES}: a permit allows work only for an individual employer in a household; "
           f"{MIGRATION_LAW}"),
    Ground("court_decision",
           "A court decision requires the revocation",
           f"{RULES}: revocation of a permit; the court decision"),
    Ground("death_or_departure",
           "The labour immigrant died or left the Republic of Kazakhstan for good",
           f"{RULES}: revocation of a permit"),
    Ground("other",
           "Another ground stated by the officer",
           f"{RULES}: revocation of a permit"),
)}

REFUSAL_GROUND_CODES = tuple(REFUSAL_GROUNDS)
REVOCATION_GROUND_CODES = tuple(REVOCATION_GROUNDS)
NOT_ACCEPTED_GROUND_CODES = tuple(code for code, g in REFUSAL_GROUNDS.items() if g.not_accepted)

_CORE_KEYS = ("code", "title", "check", "evidence", "legal_basis")


def make_ground(code: str, check: str, evidence: str, **extra: Any) -> dict:
    """One refusal ground as case data: which check failed, on what evidence, under which law.

    `extra` adds JSON-serializable details (the figures behind the evidence, say).
    """
    ground = refusal_ground(code)
    if not check or not evidence:
        raise ValueError(f"ground {code!r} needs the failed check and its evidence")
    clash = set(extra) & set(_CORE_KEYS)
    if clash:
        raise ValueError(f"extra details may not replace {sorted(clash)}")
    return {"code": code, "title": ground.title, "check": check, "evidence": evidence,
            "legal_basis": ground.legal_basis, **extra}


def refusal_ground(code: str) -> Ground:
    try:
        return REFUSAL_GROUNDS[code]
    except KeyError:
        raise ValueError(f"unknown refusal ground {code!r}") from None


def revocation_ground(code: str) -> Ground:
    try:
        return REVOCATION_GROUNDS[code]
    except KeyError:
        raise ValueError(f"unknown revocation ground {code!r}") from None


def is_not_accepted(code: str) -> bool:
    """Does this ground end the case with a receipt (appendix 3) rather than a refusal?"""
    return refusal_ground(code).not_accepted
