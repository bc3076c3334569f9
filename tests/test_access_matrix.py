"""The access matrix, generated from the route table (issue 15).

Every API operation in the Flask url_map is tried with tokens of every single scope and of all
scopes, each limited to Astana, to Shymkent or to no region; every inbox route with users of
every role in Astana and Shymkent. The data belongs to Astana. Wherever a refusal is due the
answer must be 403 or 404 and carry no personal data; where a list is filtered, the other
region's personal data must not appear. A route missing from API_RULES or INBOX_RULES fails the
test: a new route needs an access rule before it ships.
"""
import io

import pytest

from engine import instances, tasks
from tests.conftest import SAMPLE_BPMN, deploy_sample
from tests.inbox_support import FreshClient, make_user, open_sample_case, open_task_of, token_in
from tests.test_api_support import (  # noqa: F401  fixtures
    ALL_SCOPES, APPLICANT_IIN, api, api_app, application, issue_permit, make_token)

SAMPLE_IIN = "950112300123"
PERSONAL = (SAMPLE_IIN, APPLICANT_IIN, "Karimov", "Rustam", "FA1234567")
REGION_SETS = {"AST": ["AST"], "SHY": ["SHY"], "all": None}

# How each API operation is bound: "region" (the thing acted on is in Astana: a token limited to
# other regions is refused), "filtered" (a list: other regions' items left out), "global" (no
# region: the scope decides), "public". `safe`: the request changes nothing, so it is also sent
# with tokens that may call it.
API_RULES = {
    "api.submit_application": ("region", False),
    "api.list_cases": ("filtered", True),
    "api.search_cases": ("filtered", True),
    "api.get_case": ("region", True),
    "api.case_document": ("region", True),
    "api.withdraw_case": ("region", False),
    "api.get_permit": ("region", True),
    "api.list_permits": ("filtered", True),
    "api.search_permits": ("filtered", True),
    "api.revoke_permit": ("region", False),
    "api.list_message_types": ("global", True),
    "api.send_message": ("region", False),
    "api.list_tasks": ("filtered", True),
    "api.get_task": ("region", True),
    "api.claim_task": ("region", False),
    "api.unclaim_task": ("region", False),
    "api.complete_task": ("region", False),
    "api.start_instance": ("region", False),
    "api.get_instance": ("region", True),
    "api.list_definitions": ("global", True),
    "api.deploy_definition": ("global", False),
    "api.validate_definition": ("global", True),
    "api.list_incidents": ("filtered", True),
    # Astana's case has no incident here (404 either way): the allowed side is in test_operate_incidents.
    "api.get_incident": ("region", False),
    # A case of another region is refused inside the report, per case (test_operate_incidents).
    "api.retry_incidents": ("global", False),
    "api.cancel_case": ("region", False),
    "api.edit_incident_data": ("region", False),
    "api.move_case": ("region", False),
    "api.preview_migration": ("global", True),
    "api.run_migration": ("global", False),
    "api.download_definition": ("global", True),
    "api.list_operators": ("global", True),
    "api.list_forms": ("global", True),
    "api.openapi_json": ("public", True),
    "api.docs": ("public", True),
    "api.health": ("public", True),
    "api.compliance_report": ("filtered", True),
    # The fixture's case has no document (404 even when allowed): checked for refusals and leaks only.
    "api.case_document": ("filtered", True),
}

# Who may use each inbox route on Astana's data: a set of (role, region) or "any" (signed in),
# "public"; `filtered` lists must not show Astana's personal data to others.
OFFICER_AST, OFFICER_SHY = ("officer", "AST"), ("officer", "SHY")
SUPERVISOR_AST, SUPERVISOR_SHY = ("supervisor", "AST"), ("supervisor", "SHY")
ANALYST, ADMIN = ("analyst", None), ("admin", None)
USERS = {"ast-officer": OFFICER_AST, "shy-officer": OFFICER_SHY, "ast-supervisor": SUPERVISOR_AST,
         "shy-supervisor": SUPERVISOR_SHY, "analyst": ANALYST, "admin": ADMIN}
CASE_READERS = {OFFICER_AST, SUPERVISOR_AST, ADMIN}
INBOX_RULES = {
    "inbox.sign_in": "public", "inbox.static": "public", "static": "public", "health.health": "public",
    "inbox.home": "any", "inbox.sign_out": "any", "inbox.set_language": "public",
    "inbox.queue": ({OFFICER_AST, OFFICER_SHY, SUPERVISOR_AST, SUPERVISOR_SHY}, "filtered"),
    "inbox.queue_rows": ({OFFICER_AST, OFFICER_SHY, SUPERVISOR_AST, SUPERVISOR_SHY}, "filtered"),
    "inbox.save_filter": ({OFFICER_AST, OFFICER_SHY, SUPERVISOR_AST, SUPERVISOR_SHY}, None),
    "inbox.delete_filter": (set(), None),  # the matrix saves no filter: 404 for all; see test_inbox_queue
    "inbox.task": ({OFFICER_AST}, None), "inbox.complete": ({OFFICER_AST}, None),
    "inbox.claim": ({OFFICER_AST}, None), "inbox.unclaim": ({OFFICER_AST}, None),
    "inbox.case": (CASE_READERS, None), "inbox.case_diagram": (CASE_READERS, None),
    "inbox.case_document": (CASE_READERS, None),
    "inbox.permit": (CASE_READERS, None),
    "inbox.search": ({OFFICER_AST, OFFICER_SHY, SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, "filtered"),
    "inbox.supervision": ({SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, "filtered"),
    "inbox.reassign": ({SUPERVISOR_AST, ADMIN}, None),
    "inbox.incidents": ({SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, "filtered"),
    "inbox.retry": ({SUPERVISOR_AST, ADMIN}, None),
    "inbox.incident": ({SUPERVISOR_AST, ADMIN}, None),
    "inbox.retry_batch": ({SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, None),
    "inbox.cancel_case": ({SUPERVISOR_AST, ADMIN}, None),
    "inbox.edit_data": ({SUPERVISOR_AST, ADMIN}, None),
    "inbox.operate_case": ({SUPERVISOR_AST, ADMIN}, None),
    "metrics.metrics": (set(), None),
    "inbox.migration_preview": ({ADMIN}, None), "inbox.migration_run": ({ADMIN}, None),  # a token with metrics:read or a configured network only
    "inbox.move_case": ({SUPERVISOR_AST, ADMIN}, None),
    "inbox.definitions": ({ANALYST, SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, None),
    "inbox.definition": ({ANALYST, SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, None),
    "inbox.definition_diagram": ({ANALYST, SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, None),
    "inbox.overview": ({SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, "filtered"),
    "inbox.compliance_report": ({SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, "filtered"),
    "inbox.compliance_csv": ({SUPERVISOR_AST, SUPERVISOR_SHY, ADMIN}, "filtered"),
    "inbox.substitutions_page": ({OFFICER_AST, OFFICER_SHY, SUPERVISOR_AST, SUPERVISOR_SHY}, "filtered"),
    "inbox.end_substitution": (set(), None),  # the matrix names no substitution: 404 for all; see test_inbox_substitution
    "inbox.reassign_many": ({SUPERVISOR_AST, ADMIN}, None),
    "inbox.admin_users": ({ADMIN}, None), "inbox.admin_user": ({ADMIN}, None),
    "inbox.admin_clients": ({ADMIN}, None), "inbox.admin_revoke_client": ({ADMIN}, None),
    "inbox.admin_reference": ({ADMIN}, None), "inbox.admin_calendar": ({ADMIN}, None),
    "inbox.catalogue": ({ANALYST, ADMIN}, None),
    "inbox.modeler": ({ANALYST, ADMIN}, None),
    "inbox.modeler_diagram": ({ANALYST, ADMIN}, None),
    "inbox.modeler_catalogue": ({ANALYST, ADMIN}, None),
    "inbox.modeler_validate": ({ANALYST, ADMIN}, None),
    "inbox.modeler_deploy": ({ANALYST, ADMIN}, None),
    "inbox.modeler_diff": ({ANALYST, ADMIN}, None),
    "inbox.modeler_version_diagram": ({ANALYST, ADMIN}, None),
    "inbox.modeler_form_preview": ({ANALYST, ADMIN}, None),
}


def _endpoints(app, api: bool):
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") == api:
            found.setdefault(rule.endpoint, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    return found


@pytest.fixture
def world(api_app):
    """Astana's data: a case with an officer task (sample procedure), a permit, a bare instance."""
    deploy_sample(api_app)
    case = open_sample_case(region="AST", iin=SAMPLE_IIN, name="Karimov Rustam", due="2020-01-01T12:00:00+05:00")
    task = open_task_of(case.id)
    permit_no = issue_permit(api_app, region="AST")
    bare = instances.start("sample_review", {"subject": "x", "scores": {"a": 1, "b": 1, "c": 1}, "region": "AST"},
                           business_key="BARE-1")
    document = stored_document(case.id)
    return {"case": case.id, "task": task.id, "permit": permit_no, "instance": bare.id,
            "decided_case": case.id, "document": document}


def stored_document(case_id, key="motivated_refusal"):
    """A decision document of Astana's case, as the decision stores one (its personal data inside)."""
    from engine import clock
    from engine.db import db
    from handlers.documents_pdf import CaseDocument, store_bytes
    db.session.add(CaseDocument(instance_id=case_id, key=key, signed_by="test", created_at=clock.now(),
                                **store_bytes(b"%PDF-1.7 Karimov Rustam", "<p>Karimov Rustam</p>")))
    db.session.commit()
    return key


def _api_request(endpoint, world):
    """(method, path, keyword arguments) of a request on Astana's data for this operation."""
    application_body = application(region="AST")
    upload = {"data": {"bpmn": (io.BytesIO(SAMPLE_BPMN.read_bytes()), "sample.bpmn")},
              "content_type": "multipart/form-data"}
    return {
        "api.submit_application": ("POST", "/api/v1/applications", {"json": application_body}),
        "api.list_cases": ("GET", "/api/v1/cases", {}),
        "api.search_cases": ("POST", "/api/v1/cases/search", {"json": {"applicant_iin": SAMPLE_IIN}}),
        "api.get_case": ("GET", f"/api/v1/cases/{world['case']}", {}),
        "api.case_document": ("GET", f"/api/v1/cases/{world['decided_case']}/documents/{world['document']}", {}),
        "api.withdraw_case": ("POST", f"/api/v1/cases/{world['case']}/withdrawal", {"json": {}}),
        "api.get_permit": ("GET", f"/api/v1/permits/{world['permit']}", {}),
        "api.list_permits": ("GET", f"/api/v1/permits?holder_iin={APPLICANT_IIN}", {}),
        "api.search_permits": ("POST", "/api/v1/permits/search", {"json": {"holder_iin": APPLICANT_IIN}}),
        "api.revoke_permit": ("POST", f"/api/v1/permits/{world['permit']}/revocations", {"json": {
            "ground": "false_documents", "details": "x", "initiator": {"type": "police", "id": "P-1"}}}),
        "api.list_message_types": ("GET", "/api/v1/messages", {}),
        "api.send_message": ("POST", "/api/v1/messages/police_reply", {"json": {
            "message_id": "matrix-1", "correlation": world["case"], "payload": {"verdict": "approve"}}}),
        "api.list_tasks": ("GET", "/api/v1/tasks", {}),
        "api.get_task": ("GET", f"/api/v1/tasks/{world['task']}", {}),
        "api.claim_task": ("POST", f"/api/v1/tasks/{world['task']}/claim", {}),
        "api.unclaim_task": ("POST", f"/api/v1/tasks/{world['task']}/unclaim", {"json": {}}),
        "api.complete_task": ("POST", f"/api/v1/tasks/{world['task']}/complete",
                              {"json": {"data": {"decision": "approve"}}}),
        "api.start_instance": ("POST", "/api/v1/process-instances", {"json": {
            "process_id": "sample_review", "data": {"region": "AST", "subject": "s",
                                                    "scores": {"a": 1, "b": 1, "c": 1}}}}),
        "api.get_instance": ("GET", f"/api/v1/process-instances/{world['instance']}", {}),
        "api.list_definitions": ("GET", "/api/v1/process-definitions", {}),
        "api.deploy_definition": ("POST", "/api/v1/process-definitions", upload),
        "api.validate_definition": ("POST", "/api/v1/process-definitions/validate", upload),
        "api.list_incidents": ("GET", "/api/v1/incidents", {}),
        "api.get_incident": ("GET", f"/api/v1/incidents/{world['case']}", {}),
        "api.retry_incidents": ("POST", "/api/v1/incidents/retries", {"json": {"instance_ids": [world["case"]]}}),
        "api.edit_incident_data": ("POST", f"/api/v1/incidents/{world['case']}/data-edits",
                                   {"json": {"data": {"x": 1}, "reason": "matrix"}}),
        "api.move_case": ("POST", f"/api/v1/cases/{world['case']}/move",
                          {"json": {"activity": "review", "reason": "matrix"}}),
        "api.preview_migration": ("POST", "/api/v1/process-definitions/sample_review/versions/1/migration-preview",
                                  {"json": {}}),
        "api.run_migration": ("POST", "/api/v1/process-definitions/sample_review/versions/1/migrations", {"json": {}}),
        "api.cancel_case": ("POST", f"/api/v1/cases/{world['case']}/cancellation", {"json": {"reason": "matrix"}}),
        "api.download_definition": ("GET", "/api/v1/process-definitions/1/bpmn", {}),
        "api.list_operators": ("GET", "/api/v1/operators", {}),
        "api.list_forms": ("GET", "/api/v1/forms", {}),
        "api.openapi_json": ("GET", "/api/v1/openapi.json", {}),
        "api.docs": ("GET", "/api/v1/docs", {}),
        "api.health": ("GET", "/api/v1/health", {}),
        "api.compliance_report": ("GET", "/api/v1/reports/compliance", {}),
        "api.case_document": ("GET", f"/api/v1/cases/{world['case']}/documents/permit", {}),
    }[endpoint]


def test_every_api_operation_and_inbox_route_has_an_access_rule(api_app):
    assert set(_endpoints(api_app, api=True)) == set(API_RULES)
    assert set(_endpoints(api_app, api=False)) == set(INBOX_RULES)


def test_api_matrix_every_operation_by_scope_set_and_region(api, api_app, world):
    from web.api.operation import OPERATIONS
    scopes_of = {f"api.{op.endpoint}": op.scopes for op in OPERATIONS}
    assert set(scopes_of) == set(API_RULES)
    tokens = {(scopes, region): make_token(f"t-{'-'.join(s.split(':')[0] for s in scopes)[:60]}-{region}",
                                           list(scopes), regions, role="officer", assignee=f"robot-{region}")
              for scopes in [(s,) for s in ALL_SCOPES] + [ALL_SCOPES]
              for region, regions in REGION_SETS.items()}
    checked = 0
    for endpoint, (binding, safe) in API_RULES.items():
        needed = scopes_of[endpoint]
        for (scopes, region), headers in tokens.items():
            allowed_scope = needed is None or not needed or bool(set(needed) & set(scopes))
            refused = not allowed_scope or (binding == "region" and region == "SHY")
            if not refused and not safe:
                continue  # allowed and changing data: the API tests cover these
            method, path, kwargs = _api_request(endpoint, world)
            response = api.open(path, method=method, headers=headers, **kwargs)
            text = response.get_data(as_text=True)
            where = (endpoint, scopes, region, response.status_code, text[:300])
            if refused:
                assert response.status_code in (403, 404), where
                assert not any(p in text for p in PERSONAL), where
            elif binding == "filtered" and region == "SHY":
                assert not any(p in text for p in PERSONAL), where
            elif binding == "region":
                assert response.status_code < 400, where  # the allowed side answers: the fixture is real
            checked += 1
    assert checked > 200


def test_the_generic_instance_endpoint_never_shows_a_case_whatever_the_token(api, world):
    for scopes in ([*ALL_SCOPES], ["instances:write"]):
        headers = make_token(f"case-{len(scopes)}", scopes)
        response = api.get(f"/api/v1/process-instances/{world['case']}", headers=headers)
        assert response.status_code == 404
        assert not any(p in response.get_data(as_text=True) for p in PERSONAL)


def _inbox_request(endpoint, method, world, definition_id):
    return {
        "inbox.queue": "/inbox", "inbox.queue_rows": "/inbox/rows", "inbox.save_filter": "/inbox/filters",
        "inbox.delete_filter": "/inbox/filters/999999/delete", "inbox.task": f"/tasks/{world['task']}", "inbox.complete": f"/tasks/{world['task']}",
        "inbox.claim": f"/tasks/{world['task']}/claim", "inbox.unclaim": f"/tasks/{world['task']}/unclaim",
        "inbox.case": f"/cases/{world['case']}", "inbox.case_diagram": f"/cases/{world['case']}/diagram.bpmn",
        "inbox.case_document": f"/cases/{world['case']}/documents/decision",
        "inbox.permit": f"/permits/{world['permit']}",
        "inbox.search": f"/search?q={SAMPLE_IIN}" if method == "GET" else "/search",
        "inbox.supervision": "/supervision", "inbox.reassign": f"/supervision/tasks/{world['task']}/reassign",
        "inbox.incidents": "/incidents", "inbox.retry": f"/incidents/{world['case']}/retry",
        "inbox.incident": f"/incidents/{world['case']}", "inbox.retry_batch": "/incidents/retries",
        "inbox.cancel_case": f"/cases/{world['case']}/cancel",
        "inbox.edit_data": f"/incidents/{world['case']}/data",
        "metrics.metrics": "/metrics",
        "inbox.migration_preview": f"/definitions/{definition_id}/migration-preview",
        "inbox.migration_run": f"/definitions/{definition_id}/migrations",
        "inbox.operate_case": f"/cases/{world['case']}/operations", "inbox.move_case": f"/cases/{world['case']}/move",
        "inbox.definitions": "/definitions", "inbox.definition": f"/definitions/{definition_id}",
        "inbox.definition_diagram": f"/definitions/{definition_id}/diagram.bpmn",
        "inbox.overview": "/overview", "inbox.compliance_report": "/reports/compliance",
        "inbox.compliance_csv": "/reports/compliance.csv", "inbox.substitutions_page": "/substitutions",
        "inbox.end_substitution": "/substitutions/999999/end", "inbox.reassign_many": "/overview/reassign",
        "inbox.admin_users": "/admin/users", "inbox.admin_user": "/admin/users/admin",
        "inbox.admin_clients": "/admin/clients", "inbox.admin_revoke_client": "/admin/clients/matrix/revoke",
        "inbox.admin_reference": "/admin/reference", "inbox.admin_calendar": "/admin/calendar",
        "inbox.catalogue": "/catalogue",
        "inbox.modeler": "/modeler/sample_review", "inbox.modeler_diagram": "/modeler/sample_review/diagram.bpmn",
        "inbox.modeler_catalogue": "/modeler/catalogue.json", "inbox.modeler_validate": "/modeler/validate",
        "inbox.modeler_deploy": "/modeler/sample_review/deploy",
        "inbox.modeler_diff": "/modeler/sample_review/diff.json?from=1&to=1",
        "inbox.modeler_version_diagram": "/modeler/sample_review/versions/1/diagram.bpmn",
        "inbox.modeler_form_preview": "/modeler/form-preview?form=review.json",
    }[endpoint]


def test_inbox_matrix_every_route_by_role_and_region(api_app, world):
    from engine import definitions
    definition_id = definitions.latest("sample_review").id
    for username, (role, region) in USERS.items():
        make_user(username, roles=(role,), region=region)
    api_app.test_client_class = FreshClient
    routes = _endpoints(api_app, api=False)
    checked = 0
    for username, who in USERS.items():
        client = api_app.test_client()
        page = client.get("/sign-in").get_data(as_text=True)
        signed = client.post("/sign-in", data={"username": username, "password": "correct-horse-battery",
                                               "csrf_token": token_in(page)})
        assert signed.status_code == 302, username
        token = token_in(client.get("/", follow_redirects=True).get_data(as_text=True))
        for endpoint, rule in INBOX_RULES.items():
            if rule in ("public", "any"):
                continue
            allowed, binding = rule
            for method in sorted(routes[endpoint]):
                path = _inbox_request(endpoint, method, world, definition_id)
                refused = who not in allowed
                if not refused and method != "GET":
                    continue  # allowed changes: the inbox tests cover these
                data = {"csrf_token": token, "q": SAMPLE_IIN, "task": world["task"]} if method == "POST" else None
                response = client.open(path, method=method, data=data)
                text = response.get_data(as_text=True)
                where = (endpoint, method, username, response.status_code, text[:200])
                typed = {SAMPLE_IIN} if endpoint == "inbox.search" else set()  # the query, shown back
                if refused:
                    assert response.status_code in (403, 404), where
                    assert not any(p in text for p in set(PERSONAL) - typed), where
                elif binding == "filtered" and who[1] != "AST" and who != ADMIN:
                    assert not any(p in text for p in set(PERSONAL) - typed), where
                    assert world["case"] not in text, where
                checked += 1
    assert checked > 60
    assert tasks.get(world["task"]).status == tasks.READY  # no refused request changed anything


# --- supervision and administration: officers reach none of it, a supervisor only their regions ---

def _audited_changes():
    """Every change the inbox makes is audited: the events other than refused attempts."""
    import sqlalchemy as sa
    from engine import audit
    from engine.db import db
    return db.session.execute(sa.select(sa.func.count()).select_from(audit.AuditEvent)
                              .where(audit.AuditEvent.event != "access_refused")).scalar_one()


def _signed_in(app, username):
    app.test_client_class = FreshClient
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    assert client.post("/sign-in", data={"username": username, "password": "correct-horse-battery",
                                         "csrf_token": token_in(page)}).status_code == 302
    return client, token_in(client.get("/", follow_redirects=True).get_data(as_text=True))


# (method, path, form): each asks for a change an officer may not make, or a page they may not see.
def _officer_refusals(world, substitution_id):
    case, task = world["case"], world["task"]
    return [
        ("GET", "/admin/users", None),
        ("POST", "/admin/users", {"username": "intruder", "password": "x" * 14, "roles": "admin"}),
        ("GET", "/admin/users/admin", None),
        ("POST", "/admin/users/admin", {"action": "disable"}),
        ("POST", "/admin/users/ast-officer", {"action": "access", "roles": "admin"}),
        ("GET", "/admin/clients", None),
        ("POST", "/admin/clients", {"name": "intruder", "scopes": "cases:read"}),
        ("POST", "/admin/clients/matrix/revoke", {}),
        ("GET", "/admin/reference", None),
        ("POST", "/admin/reference", {"action": "quota", "region": "AST", "year": "2026", "units": "1"}),
        ("POST", "/admin/reference", {"action": "mci", "year": "2026", "amount_kzt": "1"}),
        ("POST", "/admin/reference", {"action": "citizenship_remove", "code": "UZ"}),
        ("GET", "/admin/calendar", None),
        ("POST", "/admin/calendar", {"action": "set", "day": "2026-12-26", "kind": "working", "reason": "x"}),
        ("GET", "/overview", None),
        ("POST", "/overview/reassign", {"task": task, "to": "ast-officer"}),
        ("GET", "/supervision", None),
        ("POST", f"/supervision/tasks/{task}/reassign", {"to": "ast-officer"}),
        ("POST", f"/substitutions/{substitution_id}/end", {}),
        ("GET", "/reports/compliance", None),
        ("GET", "/reports/compliance.csv", None),
        ("GET", f"/cases/{case}/operations", None),
        ("POST", f"/cases/{case}/cancel", {"reason": "officer"}),
        ("POST", f"/cases/{case}/move", {"activity": "review", "reason": "officer"}),
        ("GET", "/incidents", None),
        ("POST", f"/incidents/{case}/retry", {}),
        ("POST", f"/incidents/{case}/data", {"data": "{}", "reason": "officer"}),
        ("POST", "/incidents/retries", {"instance": case}),
    ]


def test_an_officer_reaches_no_administration_supervision_compliance_or_operation_and_changes_nothing(api_app, world):
    from datetime import date
    from engine import clock, substitutions
    from engine.db import db
    from web.inbox import users
    make_user("ast-officer", region="AST")
    make_user("ast-colleague", region="AST")
    make_user("admin", roles=("admin",), region=None)
    today = clock.local_now().date()
    ended = substitutions.add("ast-colleague", "ast-officer", today, date(today.year + 1, 1, 1) if today.month < 12
                              else today, actor="test")  # someone else's absence: not the officer's to end
    db.session.commit()
    make_token("matrix", ["cases:read"])
    client, token = _signed_in(api_app, "ast-officer")
    before = _audited_changes()
    refusals = _officer_refusals(world, ended.id)
    for method, path, form in refusals:
        response = client.open(path, method=method, data={"csrf_token": token, **form} if form is not None else None)
        text = response.get_data(as_text=True)
        # The inbox answers a page outside one's role as a page that does not exist (404).
        assert response.status_code == 404, (method, path, response.status_code, text[:200])
        assert not any(p in text for p in PERSONAL), (method, path)
    # An officer records their own absence only: another officer's is refused at the field.
    response = client.post("/substitutions", data={"csrf_token": token, "absent": "ast-colleague",
                                                   "substitute": "ast-officer", "starts_on": today.isoformat(),
                                                   "ends_on": today.isoformat()})
    assert response.status_code == 422
    assert '<div class="field field-error">\n    <label for="absent">' in response.get_data(as_text=True)
    db.session.expire_all()
    assert _audited_changes() == before  # nothing changed anywhere
    assert users.by_username("intruder") is None and not users.by_username("admin").disabled
    assert users.by_username("ast-officer").roles == ["officer"]
    assert tasks.get(world["task"]).assignee is None and tasks.get(world["task"]).status == tasks.READY
    assert instances.get(world["case"]).status == instances.IN_PROGRESS
    assert db.session.get(substitutions.Substitution, ended.id).ended_at is None
    assert len([r for r in refusals if r[0] == "POST"]) >= 15


def test_a_supervisor_of_astana_neither_sees_nor_acts_on_almaty(api_app, world):
    from engine import clock, substitutions
    from engine.db import db
    almaty = open_sample_case(region="ALM", iin="960101300011", name="Almatinskaya Madina",
                              due="2020-01-01T12:00:00+05:00", number="APP-ALM-1")
    almaty_task = open_task_of(almaty.id)
    make_user("ast-supervisor", roles=("supervisor",), region="AST")
    make_user("ast-officer", region="AST")
    make_user("alm-officer", region="ALM", full_name="Bolat Almaty")
    make_user("alm-colleague", region="ALM")
    today = clock.local_now().date()
    theirs = substitutions.add("alm-officer", "alm-colleague", today, today, actor="test")
    db.session.commit()
    make_user("admin", roles=("admin",), region=None)
    admin, _ = _signed_in(api_app, "admin")
    client, token = _signed_in(api_app, "ast-supervisor")
    before = _audited_changes()

    overview = client.get("/overview").get_data(as_text=True)
    assert "Karimov Rustam" in overview  # Astana's overdue task is there: the page is not empty
    assert "Almatinskaya" not in overview and almaty_task.id not in overview and "Bolat Almaty" not in overview

    moved = client.post("/overview/reassign", data={"csrf_token": token, "task": [world["task"], almaty_task.id],
                                                    "to": "ast-officer"})
    assert moved.status_code == 404 and "nothing was reassigned" in moved.get_data(as_text=True)

    assert 'data-region="ALM"' in admin.get(f"/reports/compliance?year={today.year}&region=ALM").get_data(as_text=True)
    report = client.get(f"/reports/compliance?year={today.year}&region=ALM").get_data(as_text=True)
    assert 'data-region="AST"' in report  # their own region's figures instead
    assert 'data-region="ALM"' not in report and '<option value="ALM"' not in report
    csv_text = client.get("/reports/compliance.csv?region=ALM").get_data(as_text=True)
    assert ",ALM," not in csv_text and "\nALM," not in csv_text

    absent = client.post("/substitutions", data={"csrf_token": token, "absent": "alm-officer",
                                                 "substitute": "alm-colleague", "starts_on": today.isoformat(),
                                                 "ends_on": today.isoformat()})
    assert absent.status_code == 422
    assert '<div class="field field-error">\n    <label for="absent">' in absent.get_data(as_text=True)
    assert "Bolat Almaty" not in client.get("/substitutions").get_data(as_text=True)
    ended = client.post(f"/substitutions/{theirs.id}/end", data={"csrf_token": token})
    assert ended.status_code == 404

    assert client.get(f"/cases/{almaty.id}").status_code == 404
    assert client.post(f"/cases/{almaty.id}/cancel", data={"csrf_token": token, "reason": "x"}).status_code == 404

    db.session.expire_all()
    assert _audited_changes() == before
    assert tasks.get(almaty_task.id).assignee is None and tasks.get(world["task"]).assignee is None
    assert db.session.get(substitutions.Substitution, theirs.id).ended_at is None
    assert instances.get(almaty.id).status == instances.IN_PROGRESS
