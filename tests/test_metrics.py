"""GET /metrics: Prometheus's format, for a token with metrics:read or a configured network only."""
from __future__ import annotations

import time_machine
from prometheus_client.parser import text_string_to_metric_families

from engine.db import db
from handlers import reference
from tests import permit_support as ps
from tests.conftest import running_app
from tests.test_api_support import make_token

FILED = ps.almaty(2026, 3, 20, 10, 0)


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_and_show_the_open_incidents_cases_jobs_and_request_latency(app):
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app, year=2025)  # no 2026 quota in Astana: three cases stop at the hold
    reference.set_quota("SHY", 2026, 5, actor="test", regions=app.config["REGIONS"])
    db.session.commit()
    with time_machine.travel(FILED, tick=False):
        ps.file_application(ps.application(application_no="EGOV-2026-000050", region="SHY"))  # asks the police
        for i in range(3):
            ps.file_application(ps.application(application_no=f"EGOV-2026-{i:06d}"))
        ps.file_application(ps.application(application_no="EGOV-2026-000099"), worker=False)  # a job waits
    db.session.remove()
    api = app.test_client()
    api.get("/health")
    answer = api.get("/metrics", headers=make_token("prometheus", scopes=["metrics:read"], role=None))
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    found = samples(answer.get_data(as_text=True))
    assert found[("incidents_open", (("error_type", "MissingReferenceData"), ("process_id", "permit_issue")))] == 3
    assert found[("process_instances", (("process_id", "permit_issue"), ("status", "incident")))] == 3
    assert found[("process_instances", (("process_id", "permit_issue"), ("status", "in_progress")))] == 2
    assert found[("jobs_due", ())] == 1 and found[("jobs_lag_seconds", ())] > 0  # filed in March, read now
    assert found[("jobs_failed", ())] == 0
    assert found[("http_request_duration_seconds_count",
                  (("method", "GET"), ("route", "/health"), ("status", "200")))] == 1
    calls = {dict(k[1])["operator"]: v for k, v in found.items() if k[0] == "external_call_duration_seconds_count"}
    assert calls.get("police.request_check") == 1, calls


def test_metrics_are_refused_without_the_scope_and_served_to_a_configured_network(migrated_database):
    for app in running_app(METRICS_NETWORKS=["10.0.0.0/8"]):
        api = app.test_client()
        assert api.get("/metrics").status_code == 404
        assert api.get("/metrics", headers=make_token("portal", scopes=["cases:read"])).status_code == 404
        assert api.get("/metrics", headers={"Authorization": "Bearer nonsense"}).status_code == 404
        assert api.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.5"}).status_code == 404
        inside = api.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
        assert inside.status_code == 200 and "incidents_open" in inside.get_data(as_text=True)
