"""The decision documents' bytes live in a content-addressed store (engine/blobs.py), not in the
database rows: written durably before the decision commits, read back checked against their
hash, never replaced by other bytes; older rows move out with `flask documents move-out` and
`flask documents verify` checks them all."""
import gzip
import hashlib
import logging
import os
import re

import pytest
import sqlalchemy as sa
import time_machine

from engine import audit, blobs
from engine.db import db
from handlers import cases, documents_pdf
from tests.inbox_support import FreshClient, make_user, sign_in
from tests.permit_support import (ISSUE, almaty, application, decide, deploy_procedures, file_application,
                                  issue_permit, load_reference, sweep)


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app)
    make_user("root", roles=("admin",), region=None)
    return app


def issued_case(app):
    number = issue_permit(app)
    return db.session.execute(sa.select(cases.Case).where(cases.Case.permit_no == number)).scalar_one()


def api_client(app):
    from web.api import clients
    token = clients.create("egov-portal", ["cases:read"], actor="test")[1]
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def inbox_client(app):
    app.test_client_class = FreshClient
    client = app.test_client()
    sign_in(client, "root")
    return client


def row_of(case_id):
    return db.session.execute(sa.text(
        "SELECT id, pdf, html, html_gz, sha256, html_sha256, pdf_size, html_size, signed_by, created_at "
        "FROM case_document WHERE instance_id = :i"), {"i": case_id}).one()


def store_files(app):
    return sorted(blobs.store(app.config).digests())


def audited(case_id):
    return [e.details for e in audit.trail(case_id) if e.event == "document_issued"]


# --- the store itself ---------------------------------------------------------------------------

def test_the_store_names_each_file_by_its_sha256_and_gives_back_only_intact_bytes(tmp_path):
    store = blobs.BlobStore(tmp_path / "store")
    data = "Рұқсат № AST-2026-000001".encode()
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    path = tmp_path / "store" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data and path.stat().st_mode & 0o222 == 0  # read-only
    assert store.get(digest) == data and store.exists(digest) and store.check(digest) == "ok"
    assert store.put(data) == digest  # the same bytes, the same file
    assert [p.name for p in path.parent.iterdir()] == [digest]  # no temporary file left
    assert list(store.digests()) == [digest]
    os.chmod(path, 0o644)
    path.write_bytes(data.replace(b"000001", b"000002"))
    assert store.check(digest) == "altered"
    with pytest.raises(blobs.BlobUnreadable) as altered:
        store.get(digest)
    assert altered.value.reason == "altered"
    store.put(data)  # putting the good bytes again repairs the file under its name
    assert store.get(digest) == data
    path.unlink()
    assert store.check(digest) == "missing" and not store.exists(digest)
    with pytest.raises(blobs.BlobUnreadable, match="missing"):
        store.get(digest)
    path.mkdir()  # something that cannot be read as the file (as a failing volume would answer)
    assert store.check(digest) == "unreadable (Is a directory)"
    with pytest.raises(blobs.BlobUnreadable, match="unreadable"):
        store.get(digest)
    path.rmdir()
    for bad in ("../../etc/passwd", digest.upper(), digest[:63], ""):
        with pytest.raises(ValueError):
            store.get(bad)


# --- a document issued by a real case -----------------------------------------------------------

def test_an_issued_permit_is_in_the_store_not_the_row_and_is_served_with_the_audited_hash(service):
    case = issued_case(service)
    row = row_of(case.id)
    assert row.pdf is None and row.html is None and row.html_gz is None
    assert store_files(service) == sorted([row.sha256, row.html_sha256])
    events = audited(case.id)
    assert [(e["sha256"], e["html_sha256"]) for e in events] == [(row.sha256, row.html_sha256)]
    # What the row keeps: identity and proof, a few hundred bytes, not the 18 KB document.
    kept = sum(len(str(v).encode()) for v in row if v is not None)
    assert kept < 500, kept

    api, headers = api_client(service)
    pdf = api.get(f"/api/v1/cases/{case.id}/documents/permit", headers=headers)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert hashlib.sha256(pdf.data).hexdigest() == pdf.headers["X-Content-SHA256"] == events[0]["sha256"]
    assert len(pdf.data) == row.pdf_size
    html = api.get(f"/api/v1/cases/{case.id}/documents/permit?format=html", headers=headers)
    assert hashlib.sha256(html.data).hexdigest() == events[0]["html_sha256"] and len(html.data) == row.html_size
    assert case.permit_no in html.get_data(as_text=True)

    client = inbox_client(service)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f"/cases/{case.id}/documents/permit?format=pdf" in page
    assert client.get(f"/cases/{case.id}/documents/permit?format=pdf").data == pdf.data
    assert client.get(f"/cases/{case.id}/documents/permit").data == html.data


def test_an_altered_or_missing_file_is_an_error_naming_the_document_never_other_bytes(service, caplog):
    case = issued_case(service)
    row = row_of(case.id)
    path = blobs.store(service.config).path(row.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes().replace(b"%PDF", b"%PDX", 1))
    api, headers = api_client(service)
    client = inbox_client(service)
    caplog.set_level(logging.ERROR, logger="handlers.documents_pdf")

    answer = api.get(f"/api/v1/cases/{case.id}/documents/permit", headers=headers)
    assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
    assert "cannot be read intact" in answer.get_json()["detail"] and b"%PDX" not in answer.data
    page = client.get(f"/cases/{case.id}/documents/permit?format=pdf")
    assert page.status_code == 503 and "cannot be read intact" in page.get_data(as_text=True)
    assert b"%PDX" not in page.data
    logged = [r.getMessage() for r in caplog.records]
    assert logged and all(row.sha256 in m and case.id in m and "permit" in m and "altered" in m for m in logged)
    assert not any(case.applicant_name in m or case.applicant_iin in m for m in logged), logged
    # The HTML is intact: still served; the case page still lists the document.
    assert api.get(f"/api/v1/cases/{case.id}/documents/permit?format=html", headers=headers).status_code == 200
    assert client.get(f"/cases/{case.id}").status_code == 200

    verify = service.test_cli_runner().invoke(args=["documents", "verify"])
    assert verify.exit_code == 1
    assert f"case {case.id} document permit (row {row.id}): PDF {row.sha256} altered in the document store" \
        in verify.output and "1 document(s) checked, 1 problem(s)" in verify.output

    blobs.store(service.config).path(row.html_sha256).unlink()
    verify = service.test_cli_runner().invoke(args=["documents", "verify"])
    assert verify.exit_code == 1 and f"HTML {row.html_sha256} missing in the document store" in verify.output
    assert client.get(f"/cases/{case.id}/documents/permit").status_code == 503


def test_verify_passes_on_intact_documents_and_lists_files_no_row_names(service):
    case = issued_case(service)
    runner = service.test_cli_runner()
    result = runner.invoke(args=["documents", "verify"])
    assert result.exit_code == 0 and "1 document(s) checked, 0 problem(s)" in result.output
    orphan = blobs.store(service.config).put(b"bytes of a decision that was rolled back")
    result = runner.invoke(args=["documents", "verify", "--unreferenced"])
    assert result.exit_code == 0
    assert re.findall(r"unreferenced\t([0-9a-f]{64})", result.output) == [orphan]
    assert "1 file(s) in the store that no document row names" in result.output
    assert blobs.store(service.config).exists(orphan)  # listed, never deleted


@pytest.mark.parametrize("args", [["verify", "--batch", "0"], ["verify", "--batch", "many"],
                                  ["move-out", "--batch", "0"], ["verify", "--delete"]])
def test_bad_arguments_are_a_clear_error_that_changes_nothing(service, args):
    result = service.test_cli_runner().invoke(args=["documents", *args])
    assert result.exit_code == 2 and "Error:" in result.output and ("--batch" in result.output or
                                                                   "--delete" in result.output)


# --- a crash between the file and the commit ----------------------------------------------------

def _decide_with(app, monkeypatch, failing):
    """File and decide a case with `failing` in place of documents_pdf.store_bytes; the case id."""
    at = almaty(2026, 6, 10, 10, 0)
    body = application(period={"months": 6, "start_date": "2026-04-01"}, tax_payment__amount_kzt=4 * 4325 * 6)
    with time_machine.travel(at, tick=False):
        case_id = file_application(body, filed_at=at).id
        sweep(app)
        monkeypatch.setattr(documents_pdf, "store_bytes", failing)
        try:
            decide(case_id, ISSUE)
        except Exception:
            pass  # however the step reports it, nothing of the decision may be committed
        monkeypatch.undo()
    db.session.remove()
    return case_id


def test_a_crash_after_the_files_are_written_leaves_no_row_and_the_retry_reuses_the_files(service, monkeypatch):
    real = documents_pdf.store_bytes
    written = []

    def written_then_killed(pdf, html):
        written.append(real(pdf, html))
        raise SystemError("killed before the commit")

    case_id = _decide_with(service, monkeypatch, written_then_killed)
    assert written, "the decision never reached the document"
    assert db.session.execute(sa.text("SELECT count(*) FROM case_document")).scalar() == 0
    assert cases.get(case_id).outcome_code is None
    assert not audited(case_id)
    # The files are there, named by no row: harmless, and listed by verify.
    files = store_files(service)
    assert files == sorted([written[0]["sha256"], written[0]["html_sha256"]])
    listed = service.test_cli_runner().invoke(args=["documents", "verify", "--unreferenced"]).output
    assert all(f"unreferenced\t{d}" in listed for d in files)


def test_a_crash_before_the_write_leaves_neither_row_nor_file(service, monkeypatch):
    def killed(pdf, html):
        raise SystemError("killed before the write")

    case_id = _decide_with(service, monkeypatch, killed)
    assert db.session.execute(sa.text("SELECT count(*) FROM case_document")).scalar() == 0
    assert cases.get(case_id).outcome_code is None and store_files(service) == []


def test_no_row_is_ever_committed_without_its_bytes(service):
    # The database itself refuses a row that has neither its bytes nor the hash naming them.
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text(
            "INSERT INTO case_document (instance_id, key, sha256, signed_by, created_at) "
            "VALUES ('x', 'permit', :h, 'someone', CURRENT_TIMESTAMP)"), {"h": "0" * 64})
        db.session.flush()
    db.session.rollback()


# --- documents issued before the store ----------------------------------------------------------

def _put_back_in_the_row(app, case_id, html_as="html_gz"):
    """Make the case's document as it was stored before the document store: bytes in the row."""
    row = row_of(case_id)
    store = blobs.store(app.config)
    pdf, html = store.get(row.sha256), store.get(row.html_sha256)
    values = {"id": row.id, "pdf": pdf, "gz": gzip.compress(html, 9, mtime=0) if html_as == "html_gz" else None,
              "text": html.decode() if html_as == "html" else None}
    db.session.execute(sa.text("UPDATE case_document SET pdf = :pdf, html_gz = :gz, html = :text, "
                               "html_sha256 = NULL, pdf_size = NULL, html_size = NULL WHERE id = :id"), values)
    db.session.commit()
    for path in store.directory.iterdir():
        import shutil
        shutil.rmtree(path)
    return pdf, html


@pytest.mark.parametrize("html_as", ["html_gz", "html"])
def test_an_old_row_is_served_from_the_row_then_moved_out_verified_and_moving_again_changes_nothing(
        service, html_as):
    case_id = issued_case(service).id
    pdf, html = _put_back_in_the_row(service, case_id, html_as)
    api, headers = api_client(service)
    url = f"/api/v1/cases/{case_id}/documents/permit"
    assert api.get(url, headers=headers).data == pdf  # read from the row meanwhile
    assert api.get(url + "?format=html", headers=headers).data == html
    runner = service.test_cli_runner()
    result = runner.invoke(args=["documents", "move-out", "--batch", "1"])
    assert result.exit_code == 0 and "1 document(s) moved to the store, 0 left in their rows" in result.output
    db.session.remove()
    row = row_of(case_id)
    assert row.pdf is None and row.html is None and row.html_gz is None
    assert (row.html_sha256, row.pdf_size, row.html_size) == (hashlib.sha256(html).hexdigest(), len(pdf), len(html))
    assert row.html_sha256 == audited(case_id)[0]["html_sha256"]
    assert store_files(service) == sorted([row.sha256, row.html_sha256])
    assert api.get(url, headers=headers).data == pdf
    assert api.get(url + "?format=html", headers=headers).data == html
    assert [e.details["rows"] for e in db.session.execute(sa.select(audit.AuditEvent).filter_by(
        event="documents_moved_out")).scalars()] == [1]
    again = runner.invoke(args=["documents", "move-out"])
    assert again.exit_code == 0 and "0 document(s) moved" in again.output
    assert runner.invoke(args=["documents", "verify"]).exit_code == 0


def test_an_old_row_whose_bytes_no_longer_match_its_hash_is_left_in_its_row_and_reported(service):
    case_id = issued_case(service).id
    pdf, _ = _put_back_in_the_row(service, case_id)
    row = row_of(case_id)
    db.session.execute(sa.text("UPDATE case_document SET pdf = :pdf WHERE id = :id"),
                       {"pdf": pdf + b"\n% appended", "id": row.id})
    db.session.commit()
    runner = service.test_cli_runner()
    verify = runner.invoke(args=["documents", "verify"])
    assert verify.exit_code == 1 and f"PDF {row.sha256} altered in its database row" in verify.output
    moved = runner.invoke(args=["documents", "move-out"])
    assert moved.exit_code == 1 and "does not match its SHA-256" in moved.output
    assert "0 document(s) moved to the store, 1 left in their rows" in moved.output
    db.session.remove()
    assert row_of(case_id).pdf is not None and store_files(service) == []
    api, headers = api_client(service)
    assert api.get(f"/api/v1/cases/{case_id}/documents/permit", headers=headers).status_code == 503


# --- a process killed with SIGKILL --------------------------------------------------------------

KILLED = r"""
import os, signal, sys
sys.path.insert(0, os.environ["ROOT"])
import config
from app import create_app
from engine import blobs, clock
from engine.db import db
from handlers.documents_pdf import CaseDocument, store_bytes

class Killed(config.TestConfig):
    SQLALCHEMY_DATABASE_URI = os.environ["URL"]
    DOCUMENT_STORE_DIR = os.environ["STORE"]

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

when = os.environ["WHEN"]
if when == "before-rename":
    os.replace = lambda *args: kill()  # the temporary file written and fsync'd, not yet renamed
app = create_app(Killed)
with app.app_context():
    fields = store_bytes(b"%PDF-1.7 killed " + when.encode(), "<p>" + when + "</p>")
    db.session.add(CaseDocument(instance_id="killed-" + when, key="permit", signed_by="test",
                                created_at=clock.now(), **fields))
    db.session.flush()
    if when == "after-commit":
        db.session.commit()
    kill()
"""


@pytest.mark.parametrize("when", ["before-rename", "before-commit", "after-commit"])
def test_a_process_killed_at_any_point_leaves_no_row_without_its_bytes(app, when):
    import subprocess
    import sys
    from pathlib import Path
    store = blobs.store(app.config)
    env = dict(os.environ, ROOT=str(Path(__file__).resolve().parent.parent), WHEN=when,
               URL=app.config["SQLALCHEMY_DATABASE_URI"], STORE=str(store.directory))
    process = subprocess.run([sys.executable, "-c", KILLED], env=env, capture_output=True, text=True, timeout=120)
    assert process.returncode == -9, process.stderr
    db.session.remove()
    rows = db.session.execute(sa.text("SELECT sha256, html_sha256 FROM case_document WHERE instance_id = :i"),
                              {"i": f"killed-{when}"}).all()
    pdf = f"%PDF-1.7 killed {when}".encode()
    if when == "after-commit":
        assert [tuple(r) for r in rows] == [(hashlib.sha256(pdf).hexdigest(),
                                              hashlib.sha256(f"<p>{when}</p>".encode()).hexdigest())]
        assert store.get(rows[0].sha256) == pdf
    else:
        assert rows == []
    expected = [] if when == "before-rename" else sorted([hashlib.sha256(pdf).hexdigest(),
                                                          hashlib.sha256(f"<p>{when}</p>".encode()).hexdigest()])
    assert sorted(store.digests()) == expected  # a half-made file never bears a name
    verify = app.test_cli_runner().invoke(args=["documents", "verify"])
    assert verify.exit_code == 0, verify.output
    # Writing the same bytes again (the decision retried) works over whatever was left.
    assert store.get(store.put(pdf)) == pdf


def test_move_out_into_a_store_that_cannot_be_written_is_a_clear_error_and_the_rows_keep_their_bytes(service):
    case_id = issued_case(service).id
    pdf, _ = _put_back_in_the_row(service, case_id)
    blocked = blobs.store(service.config).directory / "blocked"
    blocked.write_text("a file where the store's directory should be")
    service.config["DOCUMENT_STORE_DIR"] = str(blocked)
    result = service.test_cli_runner().invoke(args=["documents", "move-out"])
    assert result.exit_code == 1 and "cannot be written" in result.output and "Traceback" not in result.output
    db.session.remove()
    row = row_of(case_id)
    assert row.pdf == pdf and row.html_sha256 is None
