"""Running cases move to a new version of their procedure: a preview says which can move and
why not, renamed activities are mapped, each case moves in its own step and finishes there."""
from __future__ import annotations

import sqlalchemy as sa
import time_machine

from engine import audit, definitions, instances
from engine.db import db
from handlers import cases
from tests import permit_support as ps
from tests.test_api_support import make_token

FILED = ps.almaty(2026, 3, 20, 10, 0)


def deploy_changed(app, tmp_path, *replacements):
    text = (ps.PROCESSES / "permit_issue.bpmn").read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "permit_issue.bpmn"
    path.write_text(text, encoding="utf-8")
    [result] = [r for r in definitions.deploy_file(path, dict(app.config, FORMS_DIR=str(ps.PROCESSES / "forms")),
                                                   actor="test") if r.process_id == "permit_issue"]
    db.session.commit()
    return result.version


RENAMED = ("police_answered", "note_police_answer")  # a task every case at the decision has completed


def cases_at_the_decision(app, n):
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app, quota=50)
    with time_machine.travel(FILED, tick=False):
        ids = [ps.file_application(ps.application(application_no=f"EGOV-2026-{i:06d}")).id for i in range(n)]
        ps.sweep(app)
    db.session.remove()
    assert all(ps.open_task(i) is not None for i in ids)
    return ids


def test_twenty_cases_move_to_a_version_with_a_renamed_task_and_finish_there(app, tmp_path):
    ids = cases_at_the_decision(app, 20)
    v1 = instances.get(ids[0]).definition_id
    v2 = deploy_changed(app, tmp_path, RENAMED)
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    url = f"/api/v1/process-definitions/permit_issue/versions/{v2}"
    unmapped = api.post(f"{url}/migration-preview", headers=headers, json={}).get_json()
    assert len(unmapped["items"]) == 20 and not any(v["can_move"] for v in unmapped["items"])
    assert "“Note when the police answered” (police_answered) is not in version 2: map it" in \
        unmapped["items"][0]["problems"][0]
    mapping = {"mapping": {"police_answered": "note_police_answer"}}
    preview = api.post(f"{url}/migration-preview", headers=headers, json=mapping).get_json()
    assert [v["can_move"] for v in preview["items"]] == [True] * 20
    assert all(instances.get(i).definition_id == v1 for i in ids)  # a preview changes nothing
    report = api.post(f"{url}/migrations", headers=headers, json=mapping)
    assert report.status_code == 200, report.get_json()
    assert [v["can_move"] for v in report.get_json()["items"]] == [True] * 20
    db.session.remove()
    target = definitions.latest("permit_issue")
    target_id = target.id
    assert {instances.get(i).definition_id for i in ids} == {target_id} and target.version == v2
    for case_id in ids:
        assert ps.open_task(case_id).definition_id == target_id
        ps.decide(case_id, ps.ISSUE)
        db.session.remove()
    assert {cases.get(i).outcome_code for i in ids} == {"issued"}
    assert {instances.get(i).status for i in ids} == {"completed"}
    events = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="instance_migrated")).scalars().all()
    assert len(events) == 20 and events[0].details["mapping"] == {"police_answered": "note_police_answer"}


def test_a_case_whose_completed_task_changed_is_refused_in_the_preview_and_stays(app, tmp_path):
    ids = cases_at_the_decision(app, 1)
    with time_machine.travel(FILED, tick=False):
        waiting = ps.file_application(ps.application(application_no="EGOV-2026-000099"), worker=False).id
    v2 = deploy_changed(app, tmp_path, ('value="application[\'applicant\'][\'iin\']" />\n            '
                                        '<spiffworkflow:parameter id="filing_date"',
                                        'value="application[\'applicant\'].get(\'iin\')" />\n            '
                                        '<spiffworkflow:parameter id="filing_date"'))
    result = app.test_cli_runner().invoke(args=["processes", "migrate", "permit_issue", "--to-version", str(v2),
                                                "--dry-run"])
    assert result.exit_code == 1
    assert f"{ids[0]}\tEGOV-2026-000000\trefused: “Check the tax prepayment” (check_tax) was completed here " \
           f"and is changed in version 2" in result.output
    assert f"{waiting}\tEGOV-2026-000099\tcan move" in result.output  # it has not run the tax check yet
    moved = app.test_cli_runner().invoke(args=["processes", "migrate", "permit_issue", "--to-version", str(v2)])
    assert "1 of 2 moved to version 2" in moved.output and moved.exit_code == 1
    db.session.remove()
    assert instances.get(ids[0]).definition_id != instances.get(waiting).definition_id
    ps.run_worker()
    assert instances.get(waiting).status == "in_progress"


def test_a_migration_with_a_bad_mapping_or_a_regional_token_is_refused_and_changes_nothing(app, tmp_path):
    ids = cases_at_the_decision(app, 1)
    v2 = deploy_changed(app, tmp_path, RENAMED)
    api = app.test_client()
    url = f"/api/v1/process-definitions/permit_issue/versions/{v2}/migrations"
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    bad = api.post(url, headers=headers, json={"mapping": {"police_answered": "nowhere"}})
    assert bad.status_code == 422 and "mapping.police_answered" in bad.get_json()["errors"]
    assert api.post(url.replace(f"/{v2}/", "/9/"), headers=headers, json={}).status_code == 404
    regional = make_token("ast-ops", scopes=["operations:write"], regions=["AST"], role=None)
    assert api.post(url, headers=regional, json={}).status_code == 403
    officer = make_token("desk", scopes=["tasks:write"], role="officer")
    assert api.post(url, headers=officer, json={}).status_code == 403
    db.session.remove()
    assert instances.get(ids[0]).definition_id == definitions.latest("permit_issue").id - 1
    assert db.session.execute(sa.select(audit.AuditEvent).filter_by(event="instance_migrated")).first() is None


def test_the_definition_page_counts_cases_at_each_element_and_an_admin_previews_and_runs_the_move(app, tmp_path):
    import re
    from tests.inbox_support import FreshClient, csrf, make_user, sign_in
    ids = cases_at_the_decision(app, 2)
    v1_id = instances.get(ids[0]).definition_id
    with time_machine.travel(FILED, tick=False):  # no quota loaded for Shymkent: it stops at the hold
        ps.file_application(ps.application(application_no="EGOV-2026-000077", region="SHY"))
    deploy_changed(app, tmp_path, RENAMED)
    v2_id = definitions.latest("permit_issue").id
    make_user("root.admin", roles=("admin",), region=None)
    make_user("erlan.supervisor", roles=("supervisor",))
    app.test_client_class = FreshClient
    admin = app.test_client()
    sign_in(admin, "root.admin")
    page = admin.get(f"/definitions/{v1_id}").get_data(as_text=True)
    rows = dict(re.findall(r"<tr><td><code>(\w+)</code></td><td>(\d+</td><td>\d+)</td></tr>", page))
    assert rows["decide"] == "2</td><td>0" and rows["hold_quota"] == "0</td><td>1"
    assert '"counts"' in page  # the same numbers go to the diagram
    token = csrf(admin, f"/definitions/{v2_id}")
    refused = admin.post(f"/definitions/{v2_id}/migration-preview", data={"mapping": "", "csrf_token": token})
    text = refused.get_data(as_text=True)
    assert "1 of 3 cases can move." in text and "(police_answered) is not in version 2: map it" in text
    preview = admin.post(f"/definitions/{v2_id}/migration-preview",
                         data={"mapping": "police_answered=note_police_answer", "csrf_token": token})
    assert "3 of 3 cases can move." in preview.get_data(as_text=True)
    done = admin.post(f"/definitions/{v2_id}/migrations",
                      data={"mapping": "police_answered=note_police_answer", "csrf_token": token})
    assert "3 of 3 cases moved." in done.get_data(as_text=True)
    db.session.remove()
    assert {instances.get(i).definition_id for i in ids} == {v2_id}
    supervisor = app.test_client()
    sign_in(supervisor, "erlan.supervisor")
    assert supervisor.post(f"/definitions/{v2_id}/migrations",
                           data={"csrf_token": csrf(supervisor, f"/definitions/{v2_id}")}).status_code == 404
