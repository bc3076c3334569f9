"""Process instances of any deployed process (for analysts' new processes).

The permit procedures are started as cases (POST /applications, revocations, messages), never
here: a procedure started without its case row could not record its outcome.
"""
from __future__ import annotations

from flask import current_app, url_for
from flask_babel import gettext

from engine import instances

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
        raise Problem(404, gettext("no process instance %(id)s", id=instance_id)) from None
    require_region(row.region)
    return present.instance_view(row), 200
