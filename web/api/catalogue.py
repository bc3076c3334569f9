"""The catalogue analysts build diagrams from: the registered operators and the task forms."""
from __future__ import annotations

from flask import current_app

from engine import catalogue

from .operation import operation
from .schemas import FormListSchema, OperatorListSchema

SCOPES = ("definitions:write", "instances:write")


@operation("GET", "/operators", summary="The operators a service task may call", tag="definitions",
           scopes=SCOPES, responses={200: (OperatorListSchema, "Every registered operator")},
           description="Parameters and their types come from the handler's signature; `used_in` lists "
                       "the service tasks of the newest deployed versions that call each operator.")
def list_operators():
    return {"items": catalogue.operator_catalogue()}, 200


@operation("GET", "/forms", summary="The forms a user task may show", tag="definitions", scopes=SCOPES,
           responses={200: (FormListSchema, "Every form file in FORMS_DIR")})
def list_forms():
    return {"items": catalogue.form_catalogue(current_app.config["FORMS_DIR"])}, 200
