"""GET /health: is the service up, can it reach its database, what is deployed."""
import sqlalchemy as sa
from flask import Blueprint, jsonify

from engine import definitions
from engine.db import db

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    try:
        db.session.execute(sa.text("SELECT 1"))
        deployed = [{"process_id": d.process_id, "version": d.version} for d in definitions.all_latest()]
        database = "ok"
    except Exception as err:  # a health check reports, it does not fail with the database
        db.session.rollback()
        return jsonify(status="unavailable", database=f"error: {type(err).__name__}", definitions=[]), 503
    return jsonify(status="ok", database=database, dialect=db.engine.dialect.name, definitions=deployed)
