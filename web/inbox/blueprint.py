"""The inbox's blueprint and its sign-in and CSRF extensions, apart from the package, so the page
modules that attach routes to it need not import the package that imports them."""
from flask import Blueprint
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("inbox", __name__, template_folder="../templates", static_folder="../static",
               static_url_path="/assets")
login_manager = LoginManager()
csrf = CSRFProtect()
