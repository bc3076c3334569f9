"""The README's API walk-through runs as written, against a test server.

The walk-through's shell blocks are read from README.md itself (the ```sh blocks of the section
"A case end to end"), joined into one script and run by bash from the project's directory,
with PORT pointing at a server on the test database; DATABASE_URL points `.venv/bin/flask` at
the same database. Reading the README (rather than a copy of the commands) is what keeps the
two from drifting apart: change a command there and this test runs the new one.
"""
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine import scheduler

from tests.conftest import DATABASE_URL, running_app
from tests.permit_support import deploy_procedures

ROOT = Path(__file__).resolve().parent.parent
SECTION = "### A case end to end"
FLASK = ROOT / ".venv" / "bin" / "flask"


def walkthrough_script(readme: str) -> str:
    """The ```sh blocks of the walk-through section, in order, as one script."""
    start = readme.index(SECTION)
    following = re.search(r"^##", readme[start + len(SECTION):], flags=re.MULTILINE)
    section = readme[start:start + len(SECTION) + following.start()] if following else readme[start:]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert blocks, "the walk-through has no ```sh blocks"
    return "\n".join(blocks)


def test_the_walkthrough_blocks_are_found_in_the_readme():
    script = walkthrough_script((ROOT / "README.md").read_text(encoding="utf-8"))
    for step in ("flask tokens create", "POST \"$API/applications\"", "/messages/police_reply",
                 "/tasks?case_id=", "/complete", "Idempotency-Key", "\"$API/cases/$CASE\""):
        assert step in script, step


@pytest.fixture
def served(migrated_database):
    for needed in ("bash", "curl", "jq"):
        if shutil.which(needed) is None:  # `make test` installs them; a missing one is a failure
            pytest.fail(f"the README's walk-through needs {needed}")
    if not FLASK.exists():
        pytest.fail("the README's walk-through calls .venv/bin/flask: run `make setup-dev` first")
    for app in running_app(PROCESSES_DIR=str(ROOT / "processes"), FORMS_DIR=str(ROOT / "processes" / "forms")):
        deploy_procedures(app)
        loaded = app.test_cli_runner().invoke(args=["reference", "load-dev"])
        assert loaded.exit_code == 0, loaded.output
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        worker = scheduler.JobThreads(app, 1)  # as `make run` has one: the checks run after the filing
        worker.start()
        try:
            yield server.server_port
        finally:
            worker.stop()
            server.shutdown()
            thread.join(timeout=10)


def test_the_readme_walkthrough_issues_a_permit_as_written(served):
    script = walkthrough_script((ROOT / "README.md").read_text(encoding="utf-8"))
    env = {**os.environ, "PORT": str(served), "DATABASE_URL": DATABASE_URL,
           # The CLI processes of the walk-through only write tokens: no deploy, no sweeps of their own.
           "DEPLOY_ON_START": "false", "SCHEDULER_ENABLED": "false"}
    env.pop("FLASK_APP", None)  # as in a fresh shell: flask finds app.py in the project's directory
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    out = result.stdout
    assert re.search(r"^case [0-9a-f-]{36}$", out, flags=re.MULTILINE), out
    assert out.count('"status": "completed"') >= 2, "the retried completion answered the first result"
    assert '"outcome": "issued"' in out and re.search(r'"permit": "AST-\d{4}-\d+"', out), out
