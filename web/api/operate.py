"""Operating running cases (supervisors' and administrators' systems, scope operations:write):
open incidents with the likely fix, retries of one, chosen or same-error cases, cancellation."""
from __future__ import annotations

from engine import edits, incidents, instances, migration
from engine.exceptions import InvalidData, NotFound
from handlers import cases

from . import present
from .operation import client, operation, require_region
from .problems import Problem, validation
from .schemas import (CancellationSchema, CaseSchema, DataEditResultSchema, DataEditSchema, MigrationReportSchema,
                      MigrationSchema, MoveSchema, IncidentListSchema, IncidentQuerySchema,
                      IncidentViewSchema, RetryReportSchema, RetrySchema)

SCOPE = ("operations:write",)


def _regions():
    return frozenset(client().regions) if client().regions else None


@operation("GET", "/incidents", summary="Open incidents with the likely fix", tag="operations", scopes=SCOPE,
           query=IncidentQuerySchema, responses={200: (IncidentListSchema, "Open incidents, oldest first")})
def list_incidents(query):
    rows = incidents.open_incidents(_regions(), error_type=query.get("error_type"),
                                    process_id=query.get("process_id"))
    return {"items": [incidents.describe(r) for r in rows]}, 200


@operation("GET", "/incidents/<uuid:instance_id>", summary="One incident with its failed task's input data",
           tag="operations", scopes=SCOPE, responses={200: (IncidentViewSchema, "The incident")})
def get_incident(instance_id):
    row = _visible(str(instance_id))
    if row.status != instances.INCIDENT:
        raise Problem(404, f"instance {instance_id} has no open incident")
    return dict(incidents.describe(row), input=present.jsonable(incidents.failed_task_input(row))), 200


@operation("POST", "/incidents/retries", summary="Retry chosen incidents, or every one with the same error",
           tag="operations", scopes=SCOPE, body=RetrySchema, errors=(404,),
           example={"same_error_as": "0b5f7a4e-1d2c-4e8b-9a61-2f3c4d5e6f70"},
           responses={200: (RetryReportSchema, "One result per case: moved_on, failed_again or refused")},
           description="Each case is retried in its own step: a case that fails again stays an "
                       "incident and the others move on. Cases outside the token's regions are refused.")
def retry_incidents(body):
    if body.get("same_error_as"):
        _visible(body["same_error_as"])
        try:
            ids = incidents.same_error_ids(body["same_error_as"], _regions())
        except InvalidData as err:
            raise validation({"same_error_as": [str(err)]}) from None
    else:
        ids = body["instance_ids"]
    results, allowed = [], []
    for instance_id in ids:
        row = _find(instance_id)
        if row is None or not client().covers(row.region):
            results.append(incidents.RetryResult(instance_id, "refused", None, "no such case in your regions"))
        else:
            allowed.append(instance_id)
    results = incidents.retry_many(allowed, client().actor) + results
    return {"results": [r.as_dict() for r in results]}, 200


@operation("POST", "/incidents/<uuid:instance_id>/data-edits", summary="Correct a case's data before a retry",
           tag="operations", scopes=SCOPE, body=DataEditSchema, errors=(404, 409),
           example={"data": {"comment": "Corrected after a call with the employer"},
                    "reason": "The employer's address was mistyped"},
           responses={200: (DataEditResultSchema, "What changed (audited with who and why)")},
           description="Sets the given top-level fields on the failed task of a case in incident; a "
                       "field a form of the diagram defines must satisfy that form's schema. Retry next.")
def edit_incident_data(instance_id, body):
    row = _visible(str(instance_id))
    try:
        diff = edits.edit_data(row.id, client().actor, present.jsonable(body["data"]), body["reason"])
    except InvalidData as err:
        raise validation(err.errors or {"data": [str(err)]}) from None
    except instances.Conflict as err:
        raise Problem(409, str(err)) from None
    return {"diff": diff}, 200


@operation("POST", "/cases/<uuid:case_id>/cancellation", summary="Cancel a case (an operator, with a reason)",
           tag="operations", scopes=SCOPE, body=CancellationSchema,
           example={"reason": "Filed twice by mistake; the other application goes on."},
           responses={200: (CaseSchema, "The case, ended with the outcome cancelled (also when it was "
                                        "cancelled before)")}, errors=(409,),
           description="Ends the procedure where it stands: open tasks, timers, jobs and message "
                       "subscriptions close, a held quota unit is released, the outcome is `cancelled`.")
def cancel_case(case_id, body):
    case = cases.get(str(case_id))
    if case is None:
        raise Problem(404, f"no case {case_id}")
    require_region(case.region)
    try:
        cases.cancel(case, client().actor, body["reason"])
    except (ValueError, instances.Conflict) as err:
        raise Problem(409, str(err)) from None
    return present.case_view(case), 200


@operation("POST", "/cases/<uuid:case_id>/move", summary="Restart a case at an activity it has reached",
           tag="operations", scopes=SCOPE, body=MoveSchema, errors=(404, 409),
           example={"activity": "decide", "data": {}, "reason": "The decision was recorded on the wrong case"},
           responses={200: (CaseSchema, "The case, running on from the activity")},
           description="Only backwards: an activity the case has not reached is refused (409) with the "
                       "reason; so is a case with an outcome. Tasks after the activity close.")
def move_case(case_id, body):
    case = cases.get(str(case_id))
    if case is None:
        raise Problem(404, f"no case {case_id}")
    require_region(case.region)
    try:
        cases.move(case, client().actor, body["activity"], present.jsonable(body["data"] or {}), body["reason"])
    except InvalidData as err:
        raise validation(err.errors or {"activity": [str(err)]}) from None
    except (ValueError, instances.Conflict) as err:
        raise Problem(409, str(err)) from None
    return present.case_view(case), 200


@operation("POST", "/process-definitions/<process_id>/versions/<int:version>/migration-preview",
           summary="Which running instances can move to this version, and why not", tag="operations",
           scopes=SCOPE, body=MigrationSchema, body_required=False, errors=(404,), example={"mapping": {}},
           responses={200: (MigrationReportSchema, "One verdict per running instance; nothing changes")},
           description="An instance is refused when a task it completed, started or waits at is missing "
                       "from the version (map a renamed activity) or changed there. Tokens of every region only.")
def preview_migration(process_id, version, body):
    target = _target(process_id, version)
    verdicts = _run(lambda: migration.preview(target, body.get("mapping"), body.get("instance_ids")))
    return {"target_version": target.version, "items": [v.as_dict() for v in verdicts]}, 200


@operation("POST", "/process-definitions/<process_id>/versions/<int:version>/migrations",
           summary="Move the running instances that can move to this version", tag="operations",
           scopes=SCOPE, body=MigrationSchema, body_required=False, errors=(404,), example={"mapping": {}},
           responses={200: (MigrationReportSchema, "Per instance: moved (can_move) or why not")},
           description="Each instance moves in its own step, audited; the others are left as they are.")
def run_migration(process_id, version, body):
    target = _target(process_id, version)
    verdicts = _run(lambda: migration.migrate(target, body.get("mapping"), client().actor, body.get("instance_ids")))
    return {"target_version": target.version, "items": [v.as_dict() for v in verdicts]}, 200


def _target(process_id, version):
    if client().regions:
        raise Problem(403, "moving instances between versions is for a token of every region")
    try:
        return migration.version(process_id, version)
    except NotFound as err:
        raise Problem(404, str(err)) from None


def _run(action):
    try:
        return action()
    except InvalidData as err:
        raise validation(err.errors or {"mapping": [str(err)]}) from None


def _find(instance_id):
    try:
        return instances.get(instance_id)
    except NotFound:
        return None


def _visible(instance_id):
    row = _find(instance_id)
    if row is None or not client().covers(row.region):
        raise Problem(404, f"no process instance {instance_id} in your regions")
    return row
