"""The API's blueprint, apart from the package so its route modules need not import the package."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
