"""GET /api/v1/reports/compliance: the deadline compliance figures the supervisors' page shows."""
from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Range

from engine import clock
from handlers import compliance

from .operation import client, operation, require_region
from .schemas import _region, _Strict


class ComplianceQuerySchema(_Strict):
    year = fields.Integer(validate=Range(min=2000, max=2100),
                          metadata={"description": "Year of filing (Almaty time); default: this year"})
    region = _region()


class _StateCounts(Schema):
    met = fields.Integer(required=True)
    missed = fields.Integer(required=True)
    overdue = fields.Integer(required=True, metadata={"description": "Still open and past due"})


class _Deadlines(Schema):
    police_answer = fields.Nested(_StateCounts, required=True)
    decision = fields.Nested(_StateCounts, required=True)
    employer_consent = fields.Nested(_StateCounts, required=True)


class ComplianceRowSchema(Schema):
    region = fields.String(required=True)
    month = fields.String(required=True, metadata={"description": "YYYY-MM of filing"})
    filed = fields.Integer(required=True)
    decided = fields.Integer(required=True)
    deadlines = fields.Nested(_Deadlines, required=True)
    median_working_days_to_decision = fields.Float(allow_none=True, required=True)
    escalations = fields.Integer(required=True)
    refusals = fields.Integer(required=True)
    refusals_by_ground = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class ComplianceReportSchema(Schema):
    year = fields.Integer(required=True)
    region = fields.String(allow_none=True, required=True)
    items = fields.List(fields.Nested(ComplianceRowSchema), required=True)


@operation("GET", "/reports/compliance", summary="Deadline compliance per region and month", tag="cases",
           scopes=("reports:read", "cases:read"), query=ComplianceQuerySchema,
           responses={200: (ComplianceReportSchema, "One row per region and month of filing")},
           description="Statutory deadlines (police answer, decision, employer consent) met, missed or "
                       "overdue as each case's page judges them, the median working days from filing to "
                       "decision, escalated tasks and refusals by ground. A token limited to regions gets "
                       "only theirs; naming another region is 403. `reports:read` grants these figures "
                       "and nothing else (a statistics client); `cases:read` grants them too, as it "
                       "already grants every case they are counted from.")
def compliance_report(query):
    if query.get("region"):
        require_region(query["region"])
    year = query.get("year") or clock.local_now().year
    regions = client().regions
    rows = compliance.report(year, frozenset(regions) if regions else None, query.get("region"))
    return {"year": year, "region": query.get("region"), "items": rows}, 200
