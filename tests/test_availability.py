"""The service keeps answering: reads never queue behind a write, an unreachable database is 503,
any body over the limit is 413."""
import io
import threading

import pytest
import sqlalchemy as sa

from app import create_app
from engine import instances
from engine.db import db
from tests.conftest import deploy_sample, make_config
from tests.test_api_support import make_token


def test_reads_answer_while_another_transaction_holds_the_write_lock(app, client):
    deploy_sample(app)
    row = instances.start("sample_review", {"subject": "x", "scores": {"a": 1, "b": 1, "c": 1},
                                            "region": "AST"}, actor="test")
    token = make_token("reader", ["instances:write"])
    instance_id = row.id
    db.session.commit()
    db.session.remove()
    holder = db.engine.connect()
    # A step in progress: on SQLite it holds the write lock from its BEGIN IMMEDIATE, on
    # PostgreSQL the instance row.
    transaction = holder.begin()
    holder.execute(sa.text("UPDATE process_instance SET version = version WHERE id = :id"), {"id": instance_id})
    answers = {}

    def read():
        answers["health"] = client.get("/health").status_code
        answers["instance"] = client.get(f"/api/v1/process-instances/{instance_id}", headers=token).status_code

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(10)  # behind the lock it would wait for the busy timeout (30 s), then fail
    finished = not reader.is_alive()
    transaction.rollback()
    holder.close()
    reader.join(60)
    assert finished, "a read waited for a writer"
    assert answers == {"health": 200, "instance": 200}


@pytest.fixture
def unreachable():
    """The service with its database down (nothing listens on port 1)."""
    config = make_config(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/none",
                         SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}})
    app = create_app(config)
    return app.test_client()


def test_an_unreachable_database_is_503_with_retry_after_for_clients(unreachable):
    response = unreachable.get("/api/v1/cases", headers={"Authorization": "Bearer x"})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["status"] == 503 and "retry" in response.get_json()["detail"]


def test_an_unreachable_database_is_503_for_officers_and_for_health(unreachable):
    page = unreachable.post("/sign-in", data={"username": "aigul", "password": "x"})
    assert page.status_code in (400, 503)  # the CSRF check may answer first; never a 500
    inbox = unreachable.get("/health")
    assert inbox.status_code == 503 and inbox.get_json()["status"] == "unavailable"


def test_a_chunked_body_over_the_limit_is_413_not_a_broken_document(app, client):
    token = make_token("portal", ["applications:write"])
    body = b'{"kind": "issue", "padding": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/api/v1/applications", input_stream=io.BytesIO(body), headers={
        **token, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.mimetype == "application/problem+json"


def test_a_chunked_body_within_the_limit_is_read_whole(app, client):
    token = make_token("portal", ["applications:write"])
    body = b'{"kind": "issue"}'
    response = client.post("/api/v1/applications", input_stream=io.BytesIO(body), headers={
        **token, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 422  # parsed whole, then refused field by field
    assert "errors" in response.get_json()
