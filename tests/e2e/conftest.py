"""End-to-end fixtures: the application served on a free 127.0.0.1 port, and headless Chromium.

Every test here is marked `browser` (select with `-m browser`, leave out with `-m "not browser"`).
They FAIL, never skip, when Playwright, Debian's Chromium or the bpmn-js viewer is missing: install
them with `apt-get install -y chromium`, `pip install -r requirements-dev.txt` (never
`playwright install`) and `npm ci --no-audit --no-fund` (copies the viewer to web/static/vendor/).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine.db import db

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end tests in headless Chromium (Playwright)")


@pytest.fixture(scope="module")
def live_app(migrated_database):
    """The application, with processes/forms as its forms directory, in its own app context."""
    from app import create_app
    from tests.conftest import make_config
    app = create_app(make_config(FORMS_DIR=str(ROOT / "processes" / "forms")))
    context = app.app_context()
    context.push()
    yield app
    db.session.remove()
    from tests.conftest import _empty_tables
    _empty_tables()
    db.engine.dispose()
    context.pop()


VIEWER = ROOT / "web" / "static" / "vendor" / "bpmn-js" / "bpmn-navigated-viewer.production.min.js"


@pytest.fixture(scope="module")
def server(live_app):
    """The base URL of the application served by a werkzeug server in a thread."""
    if not VIEWER.exists():
        pytest.fail(f"the bpmn-js viewer is missing ({VIEWER.relative_to(ROOT)}): run `npm ci --no-audit --no-fund`",
                    pytrace=False)
    httpd = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Playwright; a missing piece is a failure, not a skip."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:  # pragma: no cover - the point is to fail loudly
        pytest.fail(f"Playwright is not installed ({err}): pip install -r requirements-dev.txt", pytrace=False)
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium", pytrace=False)
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as err:
        manager.stop()
        pytest.fail(f"Chromium at {CHROMIUM} did not start: {err}", pytrace=False)
    yield browser
    browser.close()
    manager.stop()


@pytest.fixture
def page(chromium, server):
    """A fresh browser context (no cookies) at a tablet-to-desktop width."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, username, password):
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")
