"""Retention: a finished case keeps what its page and the law need; the rest goes after its period."""
import re
from datetime import timedelta

import sqlalchemy as sa

from engine import audit, clock, instances, messages, retention
from engine.db import db
from handlers import cases, notifications, police
from tests.inbox_support import FreshClient, make_user, sign_in
from tests.permit_support import application, deploy_procedures, file_application, issue_permit, load_reference, sweep, validity_watch

CSRF = re.compile(r'name="csrf_token" value="[^"]+"')


def _issued_case(app, compact_on_finish=False):
    """An issued case; by default finished with its task tree, for retention to compact."""
    app.config["ENGINE_COMPACT_ON_FINISH"] = compact_on_finish
    load_reference(app)
    deploy_procedures(app)
    number = issue_permit(app)
    sweep(app)  # the notifications of the decision are delivered
    return db.session.execute(sa.select(cases.Case).where(cases.Case.permit_no == number)).scalar_one()


def _page(app, case_id):
    app.test_client_class = FreshClient
    client = app.test_client()
    sign_in(client, "root")
    response = client.get(f"/cases/{case_id}")
    assert response.status_code == 200
    return CSRF.sub("", response.get_data(as_text=True))


def _views(app, case_id):
    from web.api import present
    db.session.remove()
    with app.test_request_context():
        return present.case_view(cases.get(case_id)), _page(app, case_id)


def test_a_compacted_issued_case_reads_and_renders_as_before_with_its_path_and_documents(app):
    make_user("root", roles=("admin",), region=None)
    case = _issued_case(app)
    case_id = case.id
    before_bytes = len(instances.get(case_id).state)
    api_before, page_before = _views(app, case_id)
    assert "Decision" in page_before or "decision" in page_before

    done = retention.run(now=clock.now() + timedelta(days=app.config["RETENTION_COMPACT_AFTER_DAYS"] + 1))
    db.session.remove()
    row = instances.get(case_id)
    assert done["compacted"] >= 1 and row.compacted_at is not None
    assert len(row.state) < before_bytes
    api_after, page_after = _views(app, case_id)
    assert api_after == api_before
    assert page_after == page_before


def test_an_instance_is_compacted_in_the_transaction_that_completes_it_and_reads_as_a_finished_case(app):
    import gzip
    import json
    make_user("root", roles=("admin",), region=None)
    case = _issued_case(app, compact_on_finish=True)
    case_id, permit_no = case.id, case.permit_no
    row = instances.get(case_id)
    assert row.status == "completed" and row.compacted_at == row.completed_at
    stored = json.loads(gzip.decompress(row.state))
    assert stored["serializer_version"] == "path-2" and stored["completed"] is True
    decide = [entry for entry in stored["path"] if entry[0] == "decide"]
    assert decide and len(decide[0]) == 3  # a user task keeps its id: its human-task row names it
    assert any(len(entry) == 2 for entry in stored["path"])  # completed automatic tasks do not
    assert retention.run(now=clock.now() + timedelta(days=400))["compacted"] == 0  # nothing left to do
    api, page = _views(app, case_id)
    assert api["outcome"]["code"] == "issued" and api["status"] == "completed"
    assert permit_no in page and "Decision" in page
    # The diagram marks the path the case took: the checks, the decision, the end it reached.
    from web.inbox import casefile
    states = casefile.diagram_states(casefile.load(instances.get(case_id)))
    assert "decide" in states["completed"] and not states["current"] and not states["incident"], states
    app.test_client_class = FreshClient
    client = app.test_client()
    sign_in(client, "root")
    document = client.get(f"/cases/{case_id}/documents/permit?format=pdf")
    assert document.status_code == 200 and document.data.startswith(b"%PDF")
    try:
        instances.load(instances.get(case_id))
    except Exception as err:
        assert "compacted" in str(err)
    else:
        raise AssertionError("a compacted instance was loaded for a step")


def test_finished_states_compress_with_their_process_dictionary_which_holds_no_personal_data(app):
    from engine.state_dictionary import StateDictionary
    from tests.permit_support import almaty
    make_user("root", roles=("admin",), region=None)
    first = _issued_case(app, compact_on_finish=True)
    personal_data = (first.applicant_iin, "Karimov", first.permit_no, first.application_no, first.id, "2026-06-10")
    plain = instances.get(first.id).state
    assert plain[:2] == b"\x1f\x8b"  # no dictionary yet: gzip
    # permit_issue, and permit_validity: the sweep, today, saw the permit end on 30.09.2026
    assert retention.run()["compression_dictionaries"] == 2
    made = {d.process_id: d.data.decode() for d in db.session.execute(sa.select(StateDictionary)).scalars()}
    assert "permit_issue" in made
    for text in made.values():
        for personal in personal_data:
            assert personal not in text, personal
    assert '"decision":"issue"' in made["permit_issue"]
    assert '"due_at_utc":"0000-00-00T00:00:00+00:00"' in made["permit_issue"]  # a date's shape, no date
    assert '"last_name":"xxxxxxx"' in made["permit_issue"]  # a name's shape, no name
    assert retention.run()["compression_dictionaries"] == 0  # one per process, made once
    number = issue_permit(app, at=almaty(2026, 6, 11, 10, 0), application_no="EGOV-2026-SECOND")
    second = db.session.execute(sa.select(cases.Case).where(cases.Case.permit_no == number)).scalar_one()
    state = instances.get(second.id).state
    assert state[:2] == b"SD" and len(state) < 0.7 * len(plain), (len(state), len(plain))
    data = instances.current_data(instances.peek(instances.get(second.id)))
    assert data["permit"]["number"] == number and data["application"]["application_no"] == "EGOV-2026-SECOND"
    api, page = _views(app, second.id)
    assert api["outcome"]["code"] == "issued" and number in page


def test_an_instance_finished_within_its_period_is_not_compacted_and_a_compacted_one_takes_no_step(app):
    case = _issued_case(app)
    finished = instances.get(case.id).completed_at
    assert retention.run(now=finished + timedelta(days=app.config["RETENTION_COMPACT_AFTER_DAYS"] - 1))["compacted"] == 0
    assert instances.get(case.id).compacted_at is None
    case_id = case.id
    waiting = file_application(application(application_no="EGOV-2026-WAITING"), worker=False).id  # in progress
    retention.run(now=finished + timedelta(days=400))
    db.session.remove()
    assert instances.get(waiting).compacted_at is None and instances.get(case_id).compacted_at is not None
    try:
        instances.load(instances.get(case_id))
    except Exception as err:
        assert "compacted" in str(err)
    else:
        raise AssertionError("a compacted instance was loaded for a step")


def test_receipts_keys_notifications_and_answered_police_requests_go_after_their_periods_the_audit_stays(app):
    case = _issued_case(app)
    db.session.remove()
    counted = {
        "receipts": lambda: db.session.execute(sa.select(sa.func.count()).select_from(messages.MessageReceipt)).scalar(),
        "keys": lambda: db.session.execute(sa.select(sa.func.count()).select_from(messages.CorrelationKey)).scalar(),
        "sent": lambda: db.session.execute(sa.select(sa.func.count()).select_from(notifications.Notification)
                                           .where(notifications.Notification.status == notifications.SENT)).scalar(),
        "police": lambda: db.session.execute(sa.select(sa.func.count()).select_from(police.PoliceRequest)).scalar(),
        "audit": lambda: db.session.execute(sa.select(sa.func.count()).select_from(audit.AuditEvent)
                                            .where(audit.AuditEvent.instance_id == case.id)).scalar(),
    }
    before = {k: f() for k, f in counted.items()}
    # The keys are the validity watch's, written when it ended (the sweep, today, saw the permit end
    # on 30.09.2026); the case waited on its own id, which needs none (tests/test_messages.py).
    assert before["receipts"] and before["keys"] and before["sent"] and before["police"], before
    watch = validity_watch(case.permit_no)
    assert watch.status == "completed" and before["keys"] == db.session.execute(
        sa.select(sa.func.count()).select_from(messages.CorrelationKey)
        .where(messages.CorrelationKey.instance_id == watch.id)).scalar()
    finished = instances.get(case.id).completed_at
    retention.run(now=finished + timedelta(days=60))  # within every period but compaction's
    assert {k: f() for k, f in counted.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    retention.run(now=finished + timedelta(days=800))
    after = {k: f() for k, f in counted.items()}
    assert after["receipts"] == 0 and after["sent"] == 0 and after["police"] == 0
    # The finished instances' keys go after their period.
    assert db.session.execute(sa.select(sa.func.count()).select_from(messages.CorrelationKey).where(
        messages.CorrelationKey.instance_id == case.id)).scalar() == 0
    assert after["keys"] == 0  # the ended watch's too
    # The audit log's months past RETENTION_AUDIT_ARCHIVE_MONTHS went to an archive file, and read back whole.
    from engine import audit_archive
    assert after["audit"] == 0
    assert len(audit_archive.read(case.id)) == before["audit"]
    # The case page says where its timeline's events went.
    make_user("root", roles=("admin",), region=None)
    page = _page(app, case.id)
    assert "Events of this case before 01.07.2026 were moved to the audit archive" in page


def test_flask_retention_run_reports_what_it_did(app):
    case_id = _issued_case(app).id  # decided in June: past the compaction period by now
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "compacted: 1" in result.output and "notifications: 0" in result.output
    db.session.remove()
    assert instances.get(case_id).compacted_at is not None


def test_a_finished_cases_smaller_rows_still_tell_its_history_page_and_api(app):
    """What issue 18 took out of a finished case's rows is read from elsewhere: a timer's name
    from the diagram (its event names the element), a correlation that is the case's own id."""
    make_user("root", roles=("admin",), region=None)
    case = _issued_case(app, compact_on_finish=True)
    trail = audit.trail(case.id)
    cancelled = [e for e in trail if e.event == "timer_cancelled"]
    assert cancelled and all(set(e.details) == {"bpmn_id", "due_at"} and e.task_id is None for e in cancelled)
    [reply] = [e for e in trail if e.event == "message_delivered"]
    assert "correlation" not in reply.details and reply.details["name"] == "police_reply"
    api, page = _views(app, case.id)
    steps = {h["step"] for h in api["history"] if h["event"] == "timer_cancelled"}
    assert "Decision deadline reached" in steps and None not in steps
    assert api["outcome"]["code"] == "issued" and case.permit_no in page
    from handlers import case_view
    from web.inbox import casefile
    from flask_babel import force_locale
    with app.test_request_context(), force_locale("en"):
        view = case_view.of_case(cases.get(case.id))
        lines = casefile.timeline(case.id, view.trail, view.element_names)
    assert [line["summary"] for line in lines if line["code"] == "timer_cancelled"] == [
        "No answer by the end of the next working day", "09:00 on the deadline day", "Decision deadline reached"]
