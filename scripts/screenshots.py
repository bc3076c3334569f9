"""Refresh docs/screenshots/ from a throw-away demo database: the inbox, a task page and a decided
case page in Kazakh (aigul) and in Russian (berik), the refusal document, and the inbox at a
phone's width.

    .venv/bin/python scripts/screenshots.py        (the lead's `make screenshots`)

Needs Debian's Chromium (/usr/bin/chromium, or CHROMIUM=...), Playwright from
requirements-dev.txt, and the bpmn-js viewer copied by `npm ci` (for the diagram).
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> int:
    os.environ.pop("DATABASE_URL", None)
    import config as config_module
    from app import create_app
    from engine.db import db

    database = Path(tempfile.mkdtemp(prefix="permits-screens-")) / "demo.db"
    settings = type("ScreenshotConfig", (config_module.Config,), {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "DEPLOY_ON_START": False,
        "SCHEDULER_ENABLED": False, "SESSION_COOKIE_SECURE": "false", "SECRET_KEY": os.urandom(16).hex()})
    app = create_app(settings)
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
        from engine import definitions
        definitions.deploy_directory(app.config["PROCESSES_DIR"], app.config, actor="screenshots")
        runner = app.test_cli_runner()
        result = runner.invoke(args=["demo", "seed"])
        print(result.output)
        if "DEMO-0003" not in result.output:
            print("the demo cases were not opened: no screenshots", file=sys.stderr)
            return 1
        from handlers.cases import Case
        import sqlalchemy as sa
        cases = {c.application_no: c.id for c in db.session.execute(sa.select(Case)).scalars()}
        from engine import tasks
        waiting = db.session.execute(sa.select(tasks.HumanTask).filter_by(
            instance_id=cases["DEMO-0002"], status="ready")).scalar_one()
        task_id = waiting.id
        db.session.remove()

    from werkzeug.serving import make_server
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    OUT.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for username, language in (("aigul", "kk"), ("berik", "ru")):
            page = browser.new_page(viewport={"width": 1280, "height": 860}, base_url=base)
            sign_in(page, username)
            shoot(page, f"inbox-{language}.png")
            page.goto(f"/tasks/{task_id}")
            shoot(page, f"task-{language}.png")
            page.goto(f"/cases/{cases['DEMO-0004']}")
            page.wait_for_selector(".diagram-canvas[data-state]")
            shoot(page, f"case-{language}.png")
            page.close()
        page = browser.new_page(viewport={"width": 1280, "height": 860}, base_url=base)
        sign_in(page, "berik")
        page.goto(f"/cases/{cases['DEMO-0004']}/documents/motivated_refusal")
        shoot(page, "refusal-document.png")
        page.close()
        phone = browser.new_page(viewport={"width": 375, "height": 812}, base_url=base)
        sign_in(phone, "berik")
        shoot(phone, "inbox-phone-ru.png")
        phone.close()
        browser.close()
    httpd.shutdown()
    return 0


def sign_in(page, username):
    page.goto("/sign-in")
    page.locator("#username").fill(username)
    page.locator("#password").fill("permits-demo")
    page.locator("form.stacked button[type=submit]").click()
    page.wait_for_url("**/inbox")


def shoot(page, name):
    path = OUT / name
    page.screenshot(path=str(path), full_page=True)
    print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
