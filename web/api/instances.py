"""Process instances of any deployed process (for analysts' new processes).

The permit procedures are started as cases (POST /applications, revocations, messages), never
here: a procedure started without its case row could not record its outcome. The procedures
the service starts itself (the permit validity watch, INTERNAL_PROCESSES) cannot be started
from outside at all. A permit case (or any instance of those procedures) is read with
GET /cases/{id}, under the case rules (cases:read and the case's region), never here.
"""
from __future__ import annotations

from flask import current_app, url_for
from flask_babel import gettext

from engine import instances
from handlers import cases

from . import examples, present
from .operation import client, operation, require_region
from .problems import Problem, validation
from .schemas import InstanceSchema, StartInstanceSchema


@operation("POST", "/process-instances", summary="Start an instance of a deployed process", tag="instances",
           scopes=("instances:write",), body=StartInstanceSchema, example=examples.START_INSTANCE,
           responses={201: (InstanceSchema, "The instance, run to its first wait")}, errors=(404,),
           description="`data` becomes the instance's data; its `region` key (if any) must be one the "
                       "token covers. The permit procedures are started as cases instead.")
def start_instance(body):
    process_id = body["process_id"]
    if process_id in current_app.config["PROCEDURES"].values():
        raise validation({"process_id": ["a permit procedure is started as a case: POST /api/v1/applications, "
                                         "POST /api/v1/permits/{permit_no}/revocations"]})
    if process_id in internal_processes(current_app.config):
        raise validation({"process_id": ["this procedure is started by the service itself, never from outside"]})
    data = body["data"]
    region = data.get(current_app.config["REGION_DATA_KEY"])
    if region is not None:
        if region not in current_app.config["REGIONS"]:
            raise validation({f"data.{current_app.config['REGION_DATA_KEY']}": ["unknown region"]})
        require_region(region)
    elif client().regions:
        raise Problem(403, gettext("this token covers some regions only: give the instance's region in its data"))
    row = instances.start(process_id, present.jsonable(data), actor=client().actor,
                          business_key=body.get("business_key"))
    return present.instance_view(row), 201, {"Location": url_for("api.get_instance", instance_id=row.id)}


@operation("GET", "/process-instances/<uuid:instance_id>", summary="Read a process instance", tag="instances",
           scopes=("instances:write",), responses={200: (InstanceSchema, "The instance")})
def get_instance(instance_id):
    try:
        row = instances.get(str(instance_id))
    except instances.NotFound:
        row = None
    if row is None or is_domain_instance(row):
        # The same answer whether it is missing or a case: nothing tells a case exists.
        raise Problem(404, gettext("no process instance %(id)s (a permit case is read with GET /api/v1/cases/{id})", id=instance_id))
    require_region(row.region)
    return present.instance_view(row), 200


def internal_processes(config) -> set[str]:
    """Processes only the service itself starts: the validity watch and INTERNAL_PROCESSES."""
    return {config["PERMIT_VALIDITY_PROCESS"], *config["INTERNAL_PROCESSES"]}


def is_domain_instance(row) -> bool:
    """A permit case or an instance of a procedure of the domain: shown under the case rules only."""
    config = current_app.config
    return (row.process_id in set(config["PROCEDURES"].values()) | internal_processes(config)
            or cases.exists(row.id))
