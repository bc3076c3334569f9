"""Names for the codes of the permit domain, in a reader's language (codes stay in the data).

Each table maps a code to its English title, the catalogue's message id; `title(table, code,
gettext)` gives the translation. Grounds, document types and region names come from their own
registries (handlers.grounds, handlers.documents, config REGIONS) and are translated the same way.
"""
from __future__ import annotations

from .i18n import N_

OUTCOMES = {
    "issued": N_("Permit issued"),
    "extended": N_("Permit extended"),
    "refused": N_("Refused"),
    "not_accepted": N_("Documents not accepted"),
    "withdrawn": N_("Withdrawn by the applicant"),
    "lapsed": N_("Lapsed: no employer consent"),
    "revoked": N_("Permit revoked"),
    "dismissed": N_("Revocation dismissed"),
    "not_revocable": N_("Not revocable"),
}
KINDS = {
    "issue": N_("Issue of a permit"),
    "extension": N_("Extension of a permit"),
    "revocation": N_("Revocation of a permit"),
}
PROCEDURES = {
    "permit_issue": N_("Issue of a permit to a labour immigrant"),
    "permit_extension": N_("Extension of a permit to a labour immigrant"),
    "permit_revocation": N_("Revocation of a permit to a labour immigrant"),
    "permit_validity": N_("Validity of a permit"),
}
STATUSES = {
    "in_progress": N_("In progress"),
    "completed": N_("Completed"),
    "incident": N_("Incident"),
    "terminated": N_("Cancelled"),
    "ready": N_("Awaiting completion"),
    "cancelled": N_("Cancelled"),
    "active": N_("Valid"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
    "extended": N_("Extended"),
}
VERDICTS = {
    "approve": N_("Agreed"),
    "object": N_("Objection"),
    "issue": N_("Issue the permit"),
    "refuse": N_("Refuse"),
    "confirm": N_("Confirm the revocation"),
    "dismiss": N_("Dismiss the revocation"),
}
CHECKS = {
    "documents_check": N_("Documents"),
    "eligibility": N_("Citizenship"),
    "tax": N_("Individual income tax prepayment"),
    "quota": N_("Regional quota"),
    "identity": N_("Identity comparison"),
    "contract": N_("Employment contract in the unified system"),
    "extendable": N_("Permit can be extended"),
    "still_extendable": N_("Permit can still be extended"),
    "period": N_("Period of the extension"),
    "revocable": N_("Permit can be revoked"),
    "documents.complete": N_("Complete set of documents"),
    "documents.valid_on_filing_date": N_("Documents valid on the day of filing"),
    "durations.extension_total": N_("Total period of stay"),
    "eligibility.citizenship": N_("Citizenship allows a permit"),
    "employer.consent": N_("Employer's consent"),
    "esutd.contract_covers_period": N_("Employment contract registered for the period"),
    "identity.officer_comparison": N_("Officer's comparison with the identity data"),
    "officer.decision": N_("Officer's decision"),
    "officer.review": N_("Officer's review"),
    "permits.extendable": N_("Permit can be extended"),
    "permits.revocable": N_("Permit can be revoked"),
    "police.answer": N_("Answer of the internal affairs body"),
    "quota.available": N_("Quota available in the region"),
    "tax.amount": N_("Amount of tax prepaid"),
    "tax.payer": N_("Taxpayer"),
}
DEADLINES = {
    "decision": N_("Decision on the application"),
    "decision_reminder": N_("Reminder of the decision"),
    "employer_consent": N_("Employer's consent"),
    "police_answer": N_("Answer of the internal affairs body"),
    "validity": N_("End of the permit's validity"),
}
DEADLINE_STATES = {
    "met": N_("met"),
    "missed": N_("missed"),
    "overdue": N_("overdue"),
    "sent": N_("reminder sent"),
    "open": N_("open"),
    "not needed": N_("not needed"),
    "passed": N_("passed"),
    "unknown": N_("unknown"),
}
DOCUMENTS = {
    "not_accepted_receipt": N_("Receipt of refusal to accept the documents (appendix 3)"),
    "motivated_refusal": N_("Motivated refusal (appendix 4)"),
    "permit": N_("Permit to a labour immigrant"),
    "revocation_decision": N_("Decision to revoke the permit"),
}
CHANNELS = {
    "egov": N_("the e-government portal (eGov)"),
    "psc": N_("the State Corporation \"Government for Citizens\""),
}
ROLES = {
    "officer": N_("officer"),
    "supervisor": N_("supervisor"),
    "analyst": N_("analyst"),
    "admin": N_("administrator"),
    "system": N_("automatic step"),
}
# Keys of the application and check results, as field names.
FIELDS = {
    "applicant": N_("Applicant"), "employer": N_("Employer"), "period": N_("Period"),
    "tax_payment": N_("Tax payment"), "documents": N_("Documents"), "iin": N_("IIN"),
    "first_name": N_("First name"), "last_name": N_("Last name"), "middle_name": N_("Patronymic"),
    "patronymic": N_("Patronymic"), "name": N_("Name"), "birth_date": N_("Date of birth"),
    "citizenship": N_("Citizenship"), "passport_no": N_("Passport number"), "passport": N_("Passport"),
    "address": N_("Address"), "phone": N_("Phone"), "email": N_("E-mail"),
    "start": N_("From"), "end": N_("To"), "months": N_("Months"), "amount_kzt": N_("Amount, KZT"),
    "amount": N_("Amount"), "paid_on": N_("Paid on"), "receipt_no": N_("Receipt number"),
    "type": N_("Type"), "number": N_("Number"), "issued_on": N_("Issued on"),
    "valid_to": N_("Valid to"), "valid_from": N_("Valid from"), "valid_until": N_("Valid until"),
    "status": N_("Status"), "holder": N_("Holder"), "region": N_("Region"),
    "revocation": N_("Revocation"), "ok": N_("Passed"), "grounds": N_("Grounds"),
    "verdict": N_("Verdict"), "reason": N_("Reason"), "answered_at": N_("Answered at"),
    "required": N_("Required"), "required_kzt": N_("Required, KZT"), "paid_kzt": N_("Paid, KZT"),
    "due_kzt": N_("Due, KZT"), "missing": N_("Missing"), "expired": N_("Expired"),
    "matches": N_("Matches"), "fields": N_("Fields"), "from_application": N_("In the application"),
    "from_iin": N_("From the IIN"), "language": N_("Language of notifications"),
    "filing_date": N_("Filing date"), "filed_on": N_("Filed on"), "kind": N_("Kind"),
    "channel": N_("Channel"), "application_no": N_("Application number"), "comment": N_("Comment"),
    "decision": N_("Decision"), "data_matches": N_("Data match"), "unit": N_("Quota unit"),
    "held": N_("Held"), "year": N_("Year"), "mci_kzt": N_("MCI, KZT"), "rate": N_("Rate"),
    "formula": N_("Formula"), "registered": N_("Registered"), "contract_no": N_("Contract number"),
    "issued_by": N_("Issued by"), "series": N_("Series"), "gender": N_("Sex"), "sex": N_("Sex"),
    "employer_name": N_("Employer"), "holder_name": N_("Holder"), "position": N_("Position"),
    "total_months": N_("Total months"), "remaining": N_("Remaining"), "code": N_("Code"),
    "title": N_("Title"), "check": N_("Check"), "evidence": N_("Evidence"),
    "legal_basis": N_("Legal basis"), "decided_at": N_("Decided at"), "decided_by": N_("Decided by"),
    "passport_expiry": N_("Passport valid until"), "entry_date": N_("Date of entry"),
    "full_name": N_("Full name"), "start_date": N_("Start date"), "paid_at": N_("Paid at"),
    "payer_iin": N_("Payer's IIN"), "issued_at": N_("Issued on"), "not_yet_valid": N_("Not yet valid"),
    "complete": N_("Complete"), "held_permit_last_year": N_("Held a permit last year"),
    "eaeu": N_("Citizen of the EAEU"), "shortfall_kzt": N_("Shortfall, KZT"),
    "payer_matches": N_("Payer is the applicant"), "calculation": N_("Calculation"),
    "rate_mci_per_month": N_("Rate, MCI a month"), "regional_coefficient": N_("Regional coefficient"),
    "already_held": N_("Already held"), "quota_units": N_("Quota units"), "used": N_("Used"),
    "unit_id": N_("Quota unit number"), "mci": N_("MCI"), "differing": N_("Differing fields"),
    "given_name": N_("First name"), "surname": N_("Last name"), "iin_masked": N_("IIN"),
    "period_from": N_("Period from"), "period_to": N_("Period to"), "starts_on": N_("Starts on"),
    "ends_on": N_("Ends on"), "registered_on": N_("Registered on"), "terminated_on": N_("Terminated on"),
    "found": N_("Found"), "contracts": N_("Contracts"), "contract": N_("Contract"),
    "worker_iin": N_("Worker's IIN"), "employer_iin": N_("Employer's IIN"), "revoked_on": N_("Revoked on"),
    "initiator": N_("Initiator"), "alleged_ground": N_("Alleged ground"), "details": N_("Details"),
    "additional_months": N_("Additional months"), "valid_to_before": N_("Valid to, before"),
    "valid_to_after": N_("Valid to, after"), "source": N_("Source"), "failed": N_("Failed"),
    "permit_number": N_("Permit number"), "confirmed_by": N_("Confirmed by"), "taken": N_("Taken"),
    "history": N_("History"), "event": N_("Event"), "at": N_("Time"), "instance_id": N_("Case"),
    "actor": N_("Who"), "ended_at": N_("Ended at"), "issued_by_case": N_("Issued by case"),
}
# What happened to a permit (its history in the register).
PERMIT_EVENTS = {"issued": N_("issued"), "extended": N_("extended"), "revoked": N_("revoked"),
                 "expired": N_("expired")}
# Who acted, when it was not a person.
ACTORS = {"system": N_("automatic step"), "timer": N_("deadline timer"),
          "police-simulator": N_("internal affairs body (simulator)"), "egov-portal": N_("eGov portal"),
          "startup": N_("automatic step"), "demo": N_("demo data")}
# Messages a case waits for.
MESSAGES = {"police_reply": N_("Answer of the internal affairs body"),
            "employer_consent": N_("Employer's consent"), "permit_extended": N_("Permit extended"),
            "permit_revoked": N_("Permit revoked")}


def title(table: dict, code, gettext) -> str | None:
    """The translated title of `code` in `table`, or None when the table does not know it."""
    english = table.get(code) if isinstance(code, str) else None
    return gettext(english) if english else None
