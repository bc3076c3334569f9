"""What the API reads and answers, as marshmallow schemas (the OpenAPI document is made from them).

Request schemas refuse unknown fields, wrong types, values outside their enumerations and
ranges, invalid IINs, impossible and disordered dates: such a request is malformed and
nothing is created (docs/law.md §8). Response schemas are what the answers are dumped through (web/api/operation.py): a field
they do not declare is not sent, so the document and the answers are one shape.
Codes come from the domain (regions from configuration, document types, grounds).
"""
from __future__ import annotations

from datetime import date

from flask import current_app
from marshmallow import INCLUDE, Schema, ValidationError, fields, post_dump, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp, Validator

from engine import clock
from handlers.case_view import DEADLINE_STATES
from handlers.cases import KINDS as CASE_KINDS
from handlers.documents import DOCUMENT_TYPES
from handlers.durations import check_months, months_range
from handlers.grounds import REFUSAL_GROUND_CODES, REVOCATION_GROUND_CODES
from handlers.identity import deceptive_characters, iin_problems
from handlers.permits import INITIATOR_TYPES

APPLICATION_KINDS = ("issue", "extension")
CHANNELS = ("egov", "psc")
CASE_STATUSES = ("in_progress", "completed", "incident")
OUTCOME_CODES = ("issued", "extended", "refused", "not_accepted", "withdrawn", "lapsed", "revoked",
                 "dismissed", "cancelled")
PERMIT_STATUSES = ("active", "expired", "revoked")
TASK_STATUSES = ("ready", "completed", "cancelled")
INSTANCE_STATUSES = ("in_progress", "completed", "incident", "terminated")
APPLICATION_NO = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"
PERMIT_NO = r"^[A-Z]{3}-[0-9]{4}-[0-9]{1,10}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EARLIEST_DATE = date(1900, 1, 1)


# --- fields and validators --------------------------------------------------------------------

def _printable(value: str) -> None:
    """No control characters (NUL cannot even be stored), no lone surrogates, and no invisible
    characters that change how the text reads."""
    if any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in value):
        raise ValidationError("control characters are not allowed")
    hidden = deceptive_characters(value)
    if hidden:
        raise ValidationError(f"bidirectional-override and zero-width characters are not allowed "
                              f"({', '.join(hidden)})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("not valid Unicode text") from None


MAX_DATA_DEPTH = 32


def _shallow(value, depth: int = 0) -> None:
    """Free-form data nests at most MAX_DATA_DEPTH levels (the engine copies and serializes it)."""
    if depth > MAX_DATA_DEPTH:
        raise ValidationError(f"nested more than {MAX_DATA_DEPTH} levels deep")
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        _shallow(child, depth + 1)


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


class Text(fields.String):
    """A string of printable characters, `max_length` at most (and not blank when `min_length`)."""

    def __init__(self, max_length: int, min_length: int = 1, pattern: str | None = None, **kwargs):
        validators = [Length(min=min_length, max=max_length), _printable]
        if min_length:
            validators.append(_not_blank)
        if pattern:
            validators.append(Regexp(pattern, error="does not match {regex}"))
        validators.extend(kwargs.pop("validate", None) or [])
        super().__init__(validate=validators, **kwargs)


class IIN(fields.String):
    """An IIN: 12 digits with a correct check digit and a possible birth date (docs/law.md §9)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault("description", "IIN: 12 digits; the check digit is verified")
        kwargs["metadata"].setdefault("pattern", "^[0-9]{12}$")
        super().__init__(validate=_iin, **kwargs)


def _iin(value: str) -> None:
    problems = iin_problems(value, today=clock.local_today())
    if problems:
        raise ValidationError(problems)


class StrictInt(fields.Integer):
    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)


class Choice(Validator):
    """One of the values configuration gives under `key` (e.g. REGIONS), read when checked."""

    def __init__(self, key: str):
        self.key = key
        self.error = None

    @property
    def choices(self):  # apispec documents these as the enum
        return list(current_app.config[self.key])

    def __call__(self, value):
        if value not in self.choices:
            raise ValidationError(f"must be one of: {', '.join(self.choices)}")
        return value


class MonthsRange(Range):
    """The permit's months: PERMIT_MIN_MONTHS to PERMIT_MAX_MONTHS (1-12 by the law)."""

    def __init__(self):
        super().__init__(min=1, max=12)

    @property
    def min(self):
        return months_range(current_app.config)[0]

    @min.setter
    def min(self, value):
        pass

    @property
    def max(self):
        return months_range(current_app.config)[1]

    @max.setter
    def max(self, value):
        pass

    def __call__(self, value):
        length = check_months(value, current_app.config)  # the rule, written once
        if not length["ok"]:
            raise ValidationError(f"must be from {length['min_months']} to {length['max_months']}")
        return value


def _region(**kwargs):
    return fields.String(validate=Choice("REGIONS"), metadata={"description": "Region code (docs/law.md §9)"},
                         **kwargs)


def _today() -> date:
    return clock.local_today()


class _Strict(Schema):
    """Requests: unknown fields are errors."""


class _Open(Schema):
    """Answers with open-ended details (documented as additionalProperties): dumping keeps the
    fields the schema does not name, as they are."""

    class Meta:
        unknown = INCLUDE

    @post_dump(pass_original=True)
    def _keep_undeclared(self, data, original, **kwargs):
        if isinstance(original, dict):
            declared = {f.attribute or name for name, f in self.fields.items()}
            data.update({k: v for k, v in original.items() if k not in declared})
        return data


class IsoDate(fields.Date):
    """A date answered as `YYYY-MM-DD`, from a date or from text already in that form."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, str):
            value = date.fromisoformat(value)
        return super()._serialize(value, attr, obj, **kwargs)


# --- problems ---------------------------------------------------------------------------------

class DeployProblemSchema(Schema):
    element_id = fields.String(required=True)
    reason = fields.String(required=True)


class ScenarioRefusalSchema(Schema):
    scenario = fields.String(required=True)
    step = fields.Integer(required=True, metadata={"description": "1-based; one past the last step: "
                                                                  "the scenario's final expectation"})
    action = fields.String(required=True)
    expected = fields.Raw(required=True, allow_none=True)
    got = fields.Raw(required=True, allow_none=True)
    message = fields.String(required=True)


class ProblemSchema(Schema):
    type = fields.String(required=True, metadata={"description": "A reference to the problem's description"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(metadata={"description": "The request path"})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "Validation: messages by dotted field path "
                                                  "('' for the body as a whole)"})
    message_id = fields.String(metadata={"description": "A message refused (404, 409): its id"})
    message_status = fields.String(validate=OneOf(("not_found", "not_waiting")),
                                   metadata={"description": "A message refused: what is remembered of it"})
    case_id = fields.String(allow_none=True, metadata={
        "description": "409: the case that no longer waits, or the revocation already in progress"})
    problems = fields.List(fields.Nested(DeployProblemSchema),
                           metadata={"description": "A refused diagram: every problem found"})
    scenarios = fields.List(fields.Nested(ScenarioRefusalSchema),
                            metadata={"description": "A new version refused by the scenario corpus: each "
                                                     "scenario it would decide another way"})


# --- applications -----------------------------------------------------------------------------

class ApplicantSchema(_Strict):
    iin = IIN(required=True)
    last_name = Text(100, required=True)
    first_name = Text(100, required=True)
    patronymic = Text(100, allow_none=True, load_default=None)
    citizenship = fields.String(required=True, validate=Regexp(r"^[A-Z]{2}$", error="ISO 3166 alpha-2 code"),
                                metadata={"description": "ISO 3166-1 alpha-2 code"})
    birth_date = fields.Date(required=True)
    passport_no = Text(20, required=True, pattern=r"^[A-Za-z0-9]+$")
    passport_expiry = fields.Date(required=True)
    entry_date = fields.Date(required=True, metadata={"description": "Entry to Kazakhstan (border mark)"})

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        today = _today()
        errors = {}
        born, entered, expiry = data.get("birth_date"), data.get("entry_date"), data.get("passport_expiry")
        if born is not None and not EARLIEST_DATE <= born <= today:
            errors["birth_date"] = [f"must be from {EARLIEST_DATE.isoformat()} to today"]
        if entered is not None and entered > today:
            errors["entry_date"] = ["must not be in the future"]
        elif entered is not None and born is not None and entered < born:
            errors["entry_date"] = ["must not be before the birth date"]
        if expiry is not None and entered is not None and expiry < entered:
            errors["passport_expiry"] = ["must not be before the entry date"]
        elif expiry is not None and born is not None and expiry < born:
            errors["passport_expiry"] = ["must not be before the birth date"]
        if errors:
            raise ValidationError(errors)


class EmployerSchema(_Strict):
    iin = IIN(required=True)
    full_name = Text(300, required=True)
    address = Text(500, required=True)


class PeriodSchema(_Strict):
    months = StrictInt(required=True, validate=MonthsRange())
    start_date = fields.Date(required=True, metadata={
        "description": "The first day of the permit: the day of filing (in the service's time zone, "
                       "CALENDAR_TIMEZONE, Asia/Almaty by default) or later. A permit "
                       "is not granted for days already past, so an earlier date is refused (422)"})

    @validates_schema
    def start_possible(self, data, **kwargs):
        start = data.get("start_date")
        if start is None:
            return
        filing_day = clock.local_today()
        if start < filing_day:
            raise ValidationError({"start_date": [
                f"must not be before the day of filing ({filing_day.isoformat()}, "
                f"{current_app.config['CALENDAR_TIMEZONE']}): a permit does not start in the past"]})


class TaxPaymentSchema(_Strict):
    receipt_no = Text(64, required=True)
    amount_kzt = StrictInt(required=True, validate=Range(min=0, max=1_000_000_000),
                           metadata={"description": "Whole tenge"})
    paid_at = fields.AwareDateTime(required=True, metadata={"description": "Time of payment, with its zone"})
    payer_iin = IIN(required=True)

    @validates_schema
    def paid_in_the_past(self, data, **kwargs):
        paid = data.get("paid_at")
        if paid is not None and (paid > clock.now() or paid.date() < EARLIEST_DATE):
            raise ValidationError({"paid_at": ["must not be in the future"]})


class DocumentSchema(_Strict):
    type = fields.String(required=True, validate=OneOf(DOCUMENT_TYPES))
    number = Text(64, required=True)
    issued_at = fields.Date(required=True)
    valid_until = fields.Date(required=True, allow_none=True,
                              metadata={"description": "null: valid without limit"})

    @validates_schema
    def valid_after_issue(self, data, **kwargs):
        issued, until = data.get("issued_at"), data.get("valid_until")
        errors = {}
        if issued is not None and issued < EARLIEST_DATE:
            errors["issued_at"] = [f"must not be before {EARLIEST_DATE.isoformat()}"]
        if issued is not None and until is not None and until < issued:
            errors["valid_until"] = ["must not be before the date of issue"]
        if errors:
            raise ValidationError(errors)


class SignaturesSchema(_Strict):
    applicant = fields.AwareDateTime(required=True, allow_none=True,
                                     metadata={"description": "When the applicant signed; null: not yet"})
    employer = fields.AwareDateTime(required=True, allow_none=True,
                                    metadata={"description": "When the employer signed (consent); null: not yet"})

    @validates_schema
    def signed_in_the_past(self, data, **kwargs):
        now = clock.now()
        errors = {k: ["must not be in the future"] for k in ("applicant", "employer")
                  if data.get(k) is not None and data[k] > now}
        if errors:
            raise ValidationError(errors)


class ApplicationSchema(_Strict):
    kind = fields.String(required=True, validate=OneOf(APPLICATION_KINDS))
    application_no = Text(64, required=True, pattern=APPLICATION_NO,
                          metadata={"description": "The client's unique number; resending the same "
                                                   "number with the same body answers the same case"})
    channel = fields.String(required=True, validate=OneOf(CHANNELS))
    region = _region(required=True)
    applicant = fields.Nested(ApplicantSchema, required=True)
    employer = fields.Nested(EmployerSchema, required=True)
    period = fields.Nested(PeriodSchema, required=True)
    tax_payment = fields.Nested(TaxPaymentSchema, required=True)
    documents = fields.List(fields.Nested(DocumentSchema), required=True, validate=Length(max=30))
    permit_no = Text(40, pattern=PERMIT_NO, allow_none=True, load_default=None,
                     metadata={"description": "Extension only: the permit to extend"})
    signatures = fields.Nested(SignaturesSchema, allow_none=True, load_default=None,
                               metadata={"description": "Extension only: who signed the request, when"})
    language = fields.String(validate=OneOf(("kk", "ru")),
                             metadata={"description": "The applicant's preferred language of notifications "
                                                      "(kk or ru; ru when absent)"})

    @validates_schema
    def extension_fields(self, data, **kwargs):
        kind = data.get("kind")
        errors = {}
        for name in ("permit_no", "signatures"):
            if kind == "extension" and data.get(name) is None:
                errors[name] = ["required for an extension"]
            elif kind == "issue" and data.get(name) is not None:
                errors[name] = ["only for an extension"]
        if errors:
            raise ValidationError(errors)


# --- cases ------------------------------------------------------------------------------------

class GroundSchema(_Open):
    """A ground, with the evidence of its check beside it (fields that vary by check, e.g.
    `missing`, `due_kzt`), sent as the check recorded them."""

    code = fields.String(required=True, metadata={"description": "Refusal or revocation ground code",
                                                  "examples": list(REFUSAL_GROUND_CODES[:3])})
    title = fields.String()
    check = fields.String(required=True, metadata={"description": "The check that failed"})
    evidence = fields.String(required=True)
    legal_basis = fields.String(required=True)


class OutcomeSchema(Schema):
    code = fields.String(required=True, metadata={"description": "issued, extended, refused, not_accepted, "
                                                                 "withdrawn, lapsed, revoked, dismissed, cancelled "
                                                                 "(by an operator, with a reason)"})
    grounds = fields.List(fields.Nested(GroundSchema), required=True)
    decided_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    decided_by = fields.String(required=True, allow_none=True)


class StepSchema(Schema):
    name = fields.String(required=True)
    lane = fields.String(required=True, allow_none=True)
    due_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    task_id = fields.String(required=True, allow_none=True,
                            metadata={"description": "For a human task, its id at /tasks/{id} (claim, "
                                                     "complete); null for a step that waits for an event"})


class DeadlineSchema(Schema):
    name = fields.String(required=True)
    rule = fields.String(required=True, allow_none=True)
    start = fields.String(required=True, allow_none=True)
    due_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    calendar_version = fields.String(allow_none=True)
    met = fields.Boolean(required=True, allow_none=True,
                         metadata={"description": "true: the awaited step was done (or the case reached its "
                                                  "outcome) by the deadline; false: missed, or passed while "
                                                  "still awaited; null: still ahead, or a reminder (see "
                                                  "`state`). Follows from `state`, as the officers' case page "
                                                  "shows it"})
    state = fields.String(required=True, validate=OneOf(DEADLINE_STATES), metadata={"description": (
        "open: not yet due; overdue: due and still awaited; met; missed; sent: a reminder went out; "
        "not needed: a reminder whose wait ended first; passed: a reminder's time passed with no wait "
        "to remind of; unknown: no readable due time")})


class HistorySchema(Schema):
    at = fields.String(required=True, metadata={"format": "date-time"})
    event = fields.String(required=True)
    actor = fields.String(required=True)
    step = fields.String(required=True, allow_none=True)


class PersonSchema(Schema):
    iin = fields.String(required=True)
    name = fields.String(required=True)


class HolderSchema(PersonSchema):
    last_name = fields.String(required=True, allow_none=True)
    first_name = fields.String(required=True, allow_none=True)
    patronymic = fields.String(required=True, allow_none=True)
    citizenship = fields.String(required=True, allow_none=True, metadata={"description": "ISO 3166-1 alpha-2 code"})


class PermitHistorySchema(Schema):
    event = fields.String(required=True)
    at = fields.String(required=True, metadata={"format": "date-time"})
    case_id = fields.String(required=True, allow_none=True)
    actor = fields.String(required=True)
    details = fields.Dict(required=True)


class RevocationInfoSchema(Schema):
    ground = fields.String(required=True, allow_none=True)
    comment = fields.String(required=True, allow_none=True)


class PermitSchema(Schema):
    permit_no = fields.String(required=True)
    region = fields.String(required=True)
    status = fields.String(required=True, validate=OneOf(PERMIT_STATUSES))
    holder = fields.Nested(HolderSchema, required=True)
    employer = fields.Nested(PersonSchema, required=True)
    valid_from = IsoDate(required=True)
    valid_to = IsoDate(required=True)
    months = fields.Integer(required=True, allow_none=True)
    issued_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    issued_by_case = fields.String(required=True, allow_none=True)
    ended_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    revocation = fields.Nested(RevocationInfoSchema, required=True, allow_none=True)
    history = fields.List(fields.Nested(PermitHistorySchema), required=True)


class CaseSchema(Schema):
    case_id = fields.String(required=True)
    kind = fields.String(required=True, validate=OneOf(CASE_KINDS))
    application_no = fields.String(required=True, allow_none=True)
    channel = fields.String(required=True, allow_none=True)
    region = fields.String(required=True)
    status = fields.String(required=True, validate=OneOf(CASE_STATUSES),
                           metadata={"description": "A withdrawn case is completed with outcome withdrawn"})
    outcome = fields.Nested(OutcomeSchema, required=True, allow_none=True)
    permit_no = fields.String(required=True, allow_none=True)
    applicant = fields.Nested(PersonSchema, required=True, allow_none=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    created_by = fields.String(required=True)
    decided_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    current_steps = fields.List(fields.Nested(StepSchema), required=True)
    deadlines = fields.List(fields.Nested(DeadlineSchema), required=True)
    permit = fields.Nested(PermitSchema, required=True, allow_none=True)
    history = fields.List(fields.Nested(HistorySchema), required=True)


class CaseSummarySchema(Schema):
    case_id = fields.String(required=True)
    kind = fields.String(required=True, validate=OneOf(CASE_KINDS))
    application_no = fields.String(required=True, allow_none=True)
    channel = fields.String(required=True, allow_none=True)
    region = fields.String(required=True)
    status = fields.String(required=True, validate=OneOf(CASE_STATUSES))
    outcome = fields.Nested(OutcomeSchema, required=True, allow_none=True)
    permit_no = fields.String(required=True, allow_none=True)
    applicant = fields.Nested(PersonSchema, required=True, allow_none=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    decided_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSummarySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True,
                                metadata={"description": "Pass as `cursor` for the next page; null: the last page"})


class CaseQuerySchema(_Strict):
    status = fields.String(validate=OneOf(CASE_STATUSES))
    kind = fields.String(validate=OneOf(CASE_KINDS))
    region = _region()
    outcome = Text(40, pattern=r"^[a-z_]+$", metadata={"description": "An outcome code, e.g. "
                                                                      + ", ".join(OUTCOME_CODES)})
    created_from = fields.AwareDateTime(metadata={"description": "Created at or after (with a zone)"})
    created_to = fields.AwareDateTime(metadata={"description": "Created before (with a zone)"})
    applicant_iin = IIN()
    limit = fields.Integer(load_default=50, validate=Range(min=1, max=200))
    cursor = Text(200, pattern=r"^[A-Za-z0-9_=-]+$")

    @validates_schema
    def period_in_order(self, data, **kwargs):
        start, end = data.get("created_from"), data.get("created_to")
        if start is not None and end is not None and end < start:
            raise ValidationError({"created_to": ["must not be before created_from"]})


class CaseSearchSchema(CaseQuerySchema):
    """The case list's filters in the body, so an IIN or a name never appears in a URL or an access log."""
    applicant_name = Text(200, metadata={
        "description": "Words of the applicant's name in any writing (Cyrillic, Kazakh or Latin, any case): "
                       "each must begin a word of the name, e.g. `kari rust` finds Каримов Рустам; "
                       "at least one word of two letters or more"})


class WithdrawalSchema(_Strict):
    reason = Text(500, allow_none=True, load_default=None)


# --- permits and revocations ------------------------------------------------------------------

class PermitListSchema(Schema):
    items = fields.List(fields.Nested(PermitSchema), required=True)


class PermitQuerySchema(_Strict):
    holder_iin = IIN(required=True)


class PermitSearchSchema(PermitQuerySchema):
    """The same search with the IIN in the body, so it never appears in a URL or an access log."""


class InitiatorSchema(_Strict):
    type = fields.String(required=True, validate=OneOf(INITIATOR_TYPES))
    id = Text(100, required=True, metadata={"description": "Who, within the initiator type"})


class RevocationSchema(_Strict):
    ground = fields.String(required=True, validate=OneOf(REVOCATION_GROUND_CODES))
    details = Text(2000, min_length=0, allow_none=True, load_default=None,
                   metadata={"description": "Required for the ground `other`"})
    initiator = fields.Nested(InitiatorSchema, required=True)

    @validates_schema
    def other_needs_details(self, data, **kwargs):
        if data.get("ground") == "other" and not (data.get("details") or "").strip():
            raise ValidationError({"details": ["required for the ground 'other'"]})


# --- messages ---------------------------------------------------------------------------------

class PoliceReplySchema(_Strict):
    verdict = fields.String(required=True, validate=OneOf(("approve", "object")))
    reason = Text(2000, min_length=0, allow_none=True, load_default=None,
                  metadata={"description": "Required with the verdict `object`"})

    @validates_schema
    def objection_has_reason(self, data, **kwargs):
        if data.get("verdict") == "object" and not (data.get("reason") or "").strip():
            raise ValidationError({"reason": ["required with the verdict 'object'"]})


class EmployerConsentSchema(_Strict):
    decision = fields.String(required=True, validate=OneOf(("consent", "decline")))
    signed_at = fields.AwareDateTime(required=True)

    @validates_schema
    def signed_in_the_past(self, data, **kwargs):
        if data.get("signed_at") is not None and data["signed_at"] > clock.now():
            raise ValidationError({"signed_at": ["must not be in the future"]})


class ContractTerminatedSchema(_Strict):
    terminated_on = fields.Date(required=True)
    contract_no = Text(64, allow_none=True, load_default=None)
    employer_iin = IIN(allow_none=True, load_default=None)
    details = Text(2000, min_length=0, allow_none=True, load_default=None)

    @validates_schema
    def possible_date(self, data, **kwargs):
        on = data.get("terminated_on")
        if on is not None and on < EARLIEST_DATE:
            raise ValidationError({"terminated_on": [f"must not be before {EARLIEST_DATE.isoformat()}"]})


def message_schema(payload_schema: type[Schema], correlation_description: str) -> type[Schema]:
    """The envelope of one message: its id, its correlation value, its payload."""
    return type(f"{payload_schema.__name__.removesuffix('Schema')}MessageSchema", (_Strict,), {
        "message_id": Text(200, required=True, metadata={
            "description": "The sender's id of this message; a resend with the same id is answered "
                           "with the first result and not processed again"}),
        "correlation": Text(200, required=True, metadata={"description": correlation_description}),
        "payload": fields.Nested(payload_schema, required=True),
    })


class DeliverySchema(Schema):
    message_id = fields.String(required=True)
    name = fields.String(required=True)
    correlation = fields.String(required=True)
    status = fields.String(required=True, validate=OneOf(("delivered", "not_found", "not_waiting")),
                           metadata={"description": "For a resent message: the first result"})
    duplicate = fields.Boolean(required=True)
    case_id = fields.String(required=True, allow_none=True)
    detail = fields.String(required=True)


class MessageTypeSchema(Schema):
    name = fields.String(required=True)
    description = fields.String(required=True)
    correlation = fields.String(required=True, metadata={"description": "What `correlation` holds"})
    payload_schema = fields.Dict(required=True, metadata={"description": "JSON Schema of the payload"})


class MessageCatalogueSchema(Schema):
    items = fields.List(fields.Nested(MessageTypeSchema), required=True)


# --- tasks ------------------------------------------------------------------------------------

class TaskSchema(Schema):
    id = fields.String(required=True)
    case_id = fields.String(required=True, metadata={"description": "The process instance (= case) id"})
    process_id = fields.String(required=True)
    bpmn_id = fields.String(required=True)
    name = fields.String(required=True)
    lane = fields.String(required=True, allow_none=True)
    role = fields.String(required=True)
    region = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=OneOf(TASK_STATUSES))
    assignee = fields.String(required=True, allow_none=True)
    due_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    escalated = fields.Boolean(required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    claimed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    completed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    completed_by = fields.String(required=True, allow_none=True)


class FormSchema(Schema):
    name = fields.String(required=True, allow_none=True)
    schema = fields.Dict(required=True, allow_none=True,
                         metadata={"description": "JSON Schema (2020-12) the submitted data must satisfy"})


class TaskDetailSchema(TaskSchema):
    form = fields.Nested(FormSchema, required=True)
    data = fields.Dict(required=True, metadata={"description": "The case data the task sees"})


class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class TaskQuerySchema(_Strict):
    status = fields.String(load_default="ready", validate=OneOf(TASK_STATUSES))
    mine = fields.Boolean(load_default=False, metadata={"description": "Only tasks claimed by this client's officer"})
    unassigned = fields.Boolean(load_default=False)
    process_id = Text(200)
    bpmn_id = Text(200)
    case_id = Text(36, pattern=UUID, metadata={"description": "Only the tasks of this case"})
    instance_id = Text(36, pattern=UUID, metadata={"description": "Only the tasks of this process instance "
                                                                  "(a case's instance id is its case id)"})
    limit = fields.Integer(load_default=50, validate=Range(min=1, max=200))
    cursor = Text(300, pattern=r"^[A-Za-z0-9_=-]+$", metadata={"description": "Pass `next_cursor` of the previous page"})

    @validates_schema
    def one_instance(self, data, **kwargs):
        if data.get("case_id") and data.get("instance_id") and data["case_id"] != data["instance_id"]:
            raise ValidationError({"instance_id": ["names another instance than case_id; give one of them"]})


class CompleteTaskSchema(_Strict):
    data = fields.Dict(keys=fields.String(), required=True, validate=_shallow,
                       metadata={"description": "The form's data, checked against the task's form schema"})


class UnclaimTaskSchema(_Strict):
    reassign_to = Text(200, allow_none=True, load_default=None,
                       metadata={"description": "Supervisors: give the task to this officer instead"})


# --- process instances and definitions --------------------------------------------------------

class StartInstanceSchema(_Strict):
    process_id = Text(200, required=True, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    data = fields.Dict(keys=fields.String(), load_default=dict, validate=_shallow,
                       metadata={"description": "The instance's data (nested at most 32 levels)"})
    business_key = Text(200, allow_none=True, load_default=None)


class CancellationSchema(_Strict):
    reason = Text(500, required=True, metadata={"description": "Why the operator cancels the case (audited)"})


class IncidentViewSchema(Schema):
    instance_id = fields.String(required=True)
    process_id = fields.String(required=True)
    business_key = fields.String(required=True, allow_none=True)
    region = fields.String(required=True, allow_none=True)
    task_id = fields.String(required=True, allow_none=True)
    task = fields.String(required=True, allow_none=True)
    error_type = fields.String(required=True, allow_none=True)
    message = fields.String(required=True, allow_none=True)
    hint = fields.String(required=True, allow_none=True,
                         metadata={"description": "The likely fix in words, when the error is a known one"})
    at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    input = fields.Dict(metadata={"description": "The data the failed task ran with (GET of one incident only)"})


class DataEditSchema(_Strict):
    data = fields.Dict(keys=fields.String(), required=True,
                       metadata={"description": "Top-level fields of the case data to set on the failed task"})
    reason = Text(500, required=True, metadata={"description": "Why the data is corrected (audited)"})


class DataEditResultSchema(Schema):
    diff = fields.Dict(required=True, metadata={"description": "{field: {before, after}} of what changed, "
                                                               "personal data masked"})


class MoveSchema(_Strict):
    activity = Text(200, required=True, metadata={"description": "BPMN id of an activity the case has reached"})
    data = fields.Dict(keys=fields.String(), load_default=None,
                       metadata={"description": "Top-level fields to set on the activity"})
    reason = Text(500, required=True, metadata={"description": "Why the case is moved (audited)"})


class MigrationSchema(_Strict):
    mapping = fields.Dict(keys=Text(200), values=Text(200), load_default=None,
                          metadata={"description": "Renamed activities: {old BPMN id: new BPMN id}"})
    instance_ids = fields.List(fields.String(validate=Regexp(UUID)), validate=Length(min=1, max=1000),
                               load_default=None, metadata={"description": "Only these instances (default: all running)"})


class VerdictSchema(Schema):
    instance_id = fields.String(required=True)
    business_key = fields.String(required=True, allow_none=True)
    can_move = fields.Boolean(required=True, metadata={"description": "In a migration report: it moved"})
    problems = fields.List(fields.String(), required=True)


class MigrationReportSchema(Schema):
    target_version = fields.Integer(required=True)
    items = fields.List(fields.Nested(VerdictSchema), required=True)


class IncidentListSchema(Schema):
    items = fields.List(fields.Nested(IncidentViewSchema), required=True)


class IncidentQuerySchema(_Strict):
    error_type = Text(200, load_default=None)
    process_id = Text(200, load_default=None)


class RetrySchema(_Strict):
    instance_ids = fields.List(fields.String(validate=Regexp(UUID)), validate=Length(min=1, max=500),
                               load_default=None, metadata={"description": "Retry these cases"})
    same_error_as = fields.String(validate=Regexp(UUID), load_default=None,
                                  metadata={"description": "Retry every open incident with this case's error"})

    @validates_schema
    def _one_selection(self, data, **kwargs):
        if (data.get("instance_ids") is None) == (data.get("same_error_as") is None):
            raise ValidationError("give either instance_ids or same_error_as", field_name="instance_ids")


class RetryResultSchema(Schema):
    instance_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=OneOf(("moved_on", "failed_again", "refused")))
    status = fields.String(required=True, allow_none=True)
    message = fields.String(required=True, allow_none=True)


class RetryReportSchema(Schema):
    results = fields.List(fields.Nested(RetryResultSchema), required=True)


class IncidentSchema(Schema):
    task_id = fields.String(required=True, allow_none=True,
                            metadata={"description": "The failed task (its id in the instance)"})
    task = fields.String(required=True, allow_none=True)
    error_type = fields.String(required=True, allow_none=True)
    message = fields.String(required=True, allow_none=True)
    at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class InstanceSchema(Schema):
    id = fields.String(required=True)
    process_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "The definition version it runs"})
    business_key = fields.String(required=True, allow_none=True)
    region = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=OneOf(INSTANCE_STATUSES))
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    updated_at = fields.String(required=True, metadata={"format": "date-time"})
    completed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    incident = fields.Nested(IncidentSchema, required=True, allow_none=True)
    current_steps = fields.List(fields.Nested(StepSchema), required=True)
    data = fields.Dict(required=True)


class DefinitionSchema(Schema):
    id = fields.Integer(required=True)
    process_id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    version = fields.Integer(required=True)
    content_hash = fields.String(required=True)
    filename = fields.String(required=True)
    deployed_at = fields.String(required=True, metadata={"format": "date-time"})
    deployed_by = fields.String(required=True)
    comment = fields.String(required=True, allow_none=True, metadata={"description": "Why it was deployed"})
    override_reason = fields.String(required=True, allow_none=True, metadata={
        "description": "Why an administrator deployed it although a scenario failed"})


class DefinitionListSchema(Schema):
    items = fields.List(fields.Nested(DefinitionSchema), required=True)


class DefinitionQuerySchema(_Strict):
    process_id = Text(200, metadata={"description": "Every version of this process, newest first"})


class DeployedSchema(Schema):
    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false: this content was deployed before"})
    definition_id = fields.Integer(required=True)


class DeploymentSchema(Schema):
    deployed = fields.List(fields.Nested(DeployedSchema), required=True)


class ValidationReportSchema(Schema):
    valid = fields.Boolean(required=True)
    problems = fields.List(fields.Nested(DeployProblemSchema), required=True)


class DeployedVersionSchema(Schema):
    process_id = fields.String(required=True)
    version = fields.Integer(required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=OneOf(("ok", "unavailable")))
    database = fields.String(required=True, metadata={"description": "ok, or the kind of error reaching it"})
    dialect = fields.String(metadata={"description": "The database's kind (when reachable)"})
    definitions = fields.List(fields.Nested(DeployedVersionSchema), required=True,
                              metadata={"description": "The newest deployed version of each process"})


# --- catalogue --------------------------------------------------------------------------------

class UsageSchema(Schema):
    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    definition_id = fields.Integer(required=True)
    element_id = fields.String(required=True)
    element_name = fields.String(required=True, allow_none=True)


class OperatorParameterSchema(Schema):
    name = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "The handler's annotation ('any' if none)"})
    required = fields.Boolean(required=True)
    default = fields.Raw(required=True, allow_none=True)


class OperatorResultSchema(Schema):
    type = fields.String(required=True)
    description = fields.String(required=True, metadata={"description": "Empty when the handler documents none"})


class OperatorSchema(Schema):
    name = fields.String(required=True, metadata={"description": "What a diagram writes in serviceTaskOperator id"})
    description = fields.String(required=True)
    parameters = fields.List(fields.Nested(OperatorParameterSchema), required=True)
    result = fields.Nested(OperatorResultSchema, required=True)
    external = fields.Boolean(required=True, metadata={
        "description": "Calls another system: runs as a job after the step commits"})
    pure = fields.Boolean(required=True, metadata={"description": "Writes nothing to the database"})
    retryable = fields.Boolean(required=True)
    used_in = fields.List(fields.Nested(UsageSchema), required=True, metadata={
        "description": "The service tasks of the newest deployed versions that call it"})


class OperatorListSchema(Schema):
    items = fields.List(fields.Nested(OperatorSchema), required=True)


class FormFieldSchema(Schema):
    name = fields.String(required=True)
    title = fields.String(required=True)
    type = fields.Raw(required=True)
    required = fields.Boolean(required=True)


class CatalogueFormSchema(Schema):
    name = fields.String(required=True, metadata={"description": "What a user task names in formJsonSchemaFilename"})
    title = fields.String(required=True)
    description = fields.String(required=True)
    fields_ = fields.List(fields.Nested(FormFieldSchema), required=True, data_key="fields",
                          attribute="fields")
    schema = fields.Dict(required=True, metadata={"description": "The JSON Schema itself"})
    used_in = fields.List(fields.Nested(UsageSchema), required=True)


class FormListSchema(Schema):
    items = fields.List(fields.Nested(CatalogueFormSchema), required=True)
