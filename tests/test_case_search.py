"""Finding cases: names in any writing, numbers, filters, regions, the CSV, the permit page."""
import csv
import io
import re

import pytest
import sqlalchemy as sa
import time_machine

from engine import audit, instances, tasks
from engine.db import db
from handlers import cases, names
from tests.conftest import deploy_sample
from tests.inbox_support import client, make_user, open_sample_case, open_task_of, post, sign_in  # noqa: F401
from tests.permit_support import almaty
from tests.test_api_support import api, api_app, stub  # noqa: F401  fixtures

AIGUL = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
FUTURE = "2030-01-10T23:59:59+05:00"
PAST = "2025-01-10T23:59:59+05:00"


# --- the folding rule ---------------------------------------------------------------------------

@pytest.mark.parametrize("written", ["Каримов", "KARIMOV", "Karimov", "karimov", "Qarımov", "КАРИМОВ"])
def test_every_writing_of_a_surname_folds_to_one_word(written):
    assert names.tokens(written) == ["karimov"]


@pytest.mark.parametrize("kazakh, latin", [
    ("Әлімжан", "Alimzhan"), ("Нұрлан", "Nurlan"), ("Ғабит", "Gabit"), ("Қайрат", "Kairat"),
    ("Өмірбек", "Omirbek"), ("Үмбетов", "Umbetov"), ("Шыңғыс", "Shyngys"), ("Һидаят", "Hidayat"),
])
def test_kazakh_letters_meet_their_latin_spelling(kazakh, latin):
    assert names.fold(kazakh) == names.fold(latin)


@pytest.mark.parametrize("one, other", [
    ("Müller", "Muller"), ("Şükürov", "Shukurov"), ("Ergüñ", "Ergun"), ("Хасанов", "Hasanov"),
    ("Хасанов", "Khasanov"), ("Жумабаев", "Jumabaev"), ("Жумабаев", "Zhumabaev"), ("Ёлкин", "Елкин"),
])
def test_diacritics_and_transliteration_habits_do_not_matter(one, other):
    assert names.fold(one) == names.fold(other)


def test_a_name_splits_into_its_distinct_words_punctuation_dropped():
    assert names.tokens("  Каримов-Сайфуллаев, Рустам  Рустам ") == ["karimov", "saifullaev", "rustam"]
    assert names.tokens(None) == [] and names.tokens("—") == []
    assert len(names.tokens("a" * 100)[0]) == names.TOKEN_LENGTH


@pytest.mark.parametrize("prefix, high", [("kari", "karj"), ("kaz", "kb"), ("a9", "aa"), ("zz", None)])
def test_a_prefix_becomes_a_range_of_words(prefix, high):
    assert names.prefix_bounds(prefix) == (prefix, high)
    words = ["kari", "karimov", "kariz", "karj", "kaz", "kaza", "kazz", "kb", "a9", "a99", "aa", "zz", "zzz", "b"]
    in_range = [w for w in words if w >= prefix and (high is None or w < high)]
    assert in_range == [w for w in words if w.startswith(prefix)]


# --- the page -----------------------------------------------------------------------------------

@pytest.fixture
def office(app):
    deploy_sample(app)
    make_user("aigul", region="AST")
    make_user("berik", region="AST")
    make_user("dana", region="ALM")
    make_user("root", roles=("admin",), region=None)
    return app


def search(client, **fields):
    return post(client, "/search", fields)


def links(html):
    return set(re.findall(r'href="/cases/([0-9a-f-]{36})"', html))


def open_case(kind="issue", name="Karimov Rustam", region="AST", number=None, due=FUTURE, iin="950112300123"):
    if kind == "issue":
        return open_sample_case(region=region, name=name, iin=iin, due=due, number=number)
    data = {"subject": "case", "scores": {"a": 1, "b": 2, "c": 3}, "region": region,
            "deadlines": {"review": {"name": "review", "rule": "working_days(2)", "due_at": due}}}
    return cases.open_case(kind, "sample_review", data, region=region, created_by="portal",
                           application_no=number, applicant_iin=iin, applicant_name=name)


def test_a_latin_lowercase_name_finds_the_case_filed_in_cyrillic(office, client):
    filed = open_case(name="Каримов Рустам Ахмедович", number="APP-CYR")
    other = open_case(name="Нурланов Ерлан", number="APP-OTHER", iin="880101400456")
    sign_in(client, "aigul")
    for typed in ("karimov", "KARIMOV", "Karim", "каримов", "rustam karimov", "kar rus"):
        html = search(client, q=typed).get_data(as_text=True)
        assert links(html) == {filed.id}, typed
        assert "Каримов Рустам Ахмедович" in html and "Issue of a permit" in html
    assert links(search(client, q="erlan").get_data(as_text=True)) == {other.id}
    assert links(search(client, q="karimov nurlan").get_data(as_text=True)) == set()
    # The name never lands in a URL: the form posts
    page = client.get("/search").get_data(as_text=True)
    assert 'method="post"' in page


def test_numbers_and_the_iin_still_find_their_case(office, client):
    case = open_case(number="APP-NUM-1")
    sign_in(client, "aigul")
    assert links(search(client, q="APP-NUM-1").get_data(as_text=True)) == {case.id}
    assert links(search(client, q="950112300123").get_data(as_text=True)) == {case.id}
    assert links(search(client, q=case.id).get_data(as_text=True)) == {case.id}


def test_the_filters_each_narrow_the_list(office, client):
    issue = open_case(number="F-ISSUE", due=PAST)
    extension = open_case(kind="extension", number="F-EXT", name="Other Person")
    withdrawn = open_case(number="F-WD", name="Gone Away")
    cases.withdraw(cases.get(withdrawn.id), "portal", "changed plans")
    claimed = open_task_of(extension.id)
    tasks.claim(claimed.id, AIGUL)
    sign_in(client, "aigul")

    def found(**fields):
        response = search(client, **fields)
        assert response.status_code == 200, response.get_data(as_text=True)
        return links(response.get_data(as_text=True))

    assert found(kind="extension") == {extension.id}
    assert found(kind="issue") == {issue.id, withdrawn.id}
    assert found(status="completed") == {withdrawn.id}
    assert found(status="in_progress") == {issue.id, extension.id}
    assert found(outcome="withdrawn") == {withdrawn.id}
    assert found(outcome="refused") == set()
    assert found(officer="aigul") == {extension.id}
    assert found(officer="berik") == set()
    assert found(overdue="1") == {issue.id}
    assert found(region="AST", kind="issue", status="in_progress") == {issue.id}
    assert found(q="karimov", overdue="1") == {issue.id}
    html = search(client, status="completed").get_data(as_text=True)
    assert "Withdrawn by the applicant" in html and "Completed" in html  # titles, never codes
    assert ">withdrawn<" not in html and ">completed<" not in html


def test_the_filing_dates_are_local_days_both_ends_included(office, client):
    with time_machine.travel(almaty(2026, 3, 1, 0, 30), tick=False):  # 28.02 in UTC
        march_first = open_case(number="D-0301")
    with time_machine.travel(almaty(2026, 3, 2, 23, 30), tick=False):
        march_second = open_case(number="D-0302")
    with time_machine.travel(almaty(2026, 3, 3, 9, 0), tick=False):
        march_third = open_case(number="D-0303")
    sign_in(client, "aigul")
    found = lambda **f: links(search(client, **f).get_data(as_text=True))  # noqa: E731
    assert found(filed_from="2026-03-01", filed_to="2026-03-02") == {march_first.id, march_second.id}
    assert found(filed_from="2026-03-03") == {march_third.id}
    assert found(filed_to="2026-02-28") == set()


def test_an_officer_never_sees_another_regions_case_in_the_page_or_the_csv(office, client):
    mine = open_case(number="R-AST", region="AST")
    theirs = open_case(number="R-ALM", region="ALM", name="Karimov Almaty")
    sign_in(client, "aigul")
    assert links(search(client, q="karimov").get_data(as_text=True)) == {mine.id}
    assert links(search(client, q="R-ALM").get_data(as_text=True)) == set()
    assert links(search(client, kind="issue").get_data(as_text=True)) == {mine.id}
    refused = search(client, region="ALM")
    assert refused.status_code == 400 and "Choose one of your regions." in refused.get_data(as_text=True)
    exported = search(client, q="karimov", export="csv").get_data(as_text=True)
    assert "R-AST" in exported and "R-ALM" not in exported and "Karimov Almaty" not in exported
    assert search(client, region="ALM", export="csv").status_code == 400
    post(client, "/sign-out", page="/search")
    sign_in(client, "root")
    assert links(search(client, q="karimov").get_data(as_text=True)) == {mine.id, theirs.id}


def test_the_csv_holds_the_rows_as_the_page_shows_them(office, client):
    case = open_case(name="Каримов Рустам", number="CSV-1", iin="950112300123")
    sign_in(client, "aigul")
    response = search(client, q="karimov", export="csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["Case", "Applicant", "Kind", "Status", "Outcome", "Region", "Filed", "Permit"]
    assert rows[1][:6] == ["CSV-1", "Каримов Рустам", "Issue of a permit", "In progress", "—", "Astana"]
    assert len(rows) == 2
    assert "950112300123" not in response.get_data(as_text=True)  # the page shows no IIN: nor does the file
    exported = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="cases_exported")).scalars().all()
    assert [e.details["rows"] for e in exported] == [1]
    assert case.id


def test_the_csv_is_capped_and_says_so(office, client, monkeypatch):
    from web.inbox import search as view
    monkeypatch.setattr(view, "CSV_MAX_ROWS", 2)
    for n in range(3):
        open_case(number=f"CAP-{n}")
    sign_in(client, "aigul")
    response = search(client, kind="issue", export="csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert [r[0] for r in rows[1:3]] == ["CAP-2", "CAP-1"]
    assert rows[3] == ["Only the newest 2 cases are exported: narrow the filters for the rest."]
    assert response.headers["X-Rows-Capped"] == "true"


def test_bad_input_names_the_field_and_the_reason_and_searches_nothing(office, client):
    open_case(number="BAD-1")
    sign_in(client, "aigul")
    for fields, reason in [
        ({"filed_from": "2026-13-01"}, "Enter a date as YYYY-MM-DD."),
        ({"filed_from": "2026-03-05", "filed_to": "2026-03-01"}, "The end of the period is before its start."),
        ({"filed_from": "0001-01-01"}, "Enter a date of the years 2000 to 2100."),
        ({"filed_to": "9999-12-31"}, "Enter a date of the years 2000 to 2100."),
        ({"status": "sleeping"}, "Choose a status from the list."),
        ({"kind": "visa"}, "Choose a kind of case from the list."),
        ({"outcome": "granted"}, "Choose an outcome from the list."),
        ({"q": "k"}, "Type at least two letters of a name, or a whole number or IIN."),
        ({"q": "x" * 201}, "Type at most 200 characters."),
        ({"overdue": "yes"}, "Tick the box or leave it empty."),
        ({"kind": "issue", "after": "not-a-place"}, "The place of the next page is not valid: search again."),
        ({"kind": "issue", "after": "2026-03-01T10:00:00~x"}, "The place of the next page is not valid: search again."),
        ({"kind": "issue", "after": "9999-12-31T23:59:59-14:00~x"}, "The place of the next page is not valid"),
    ]:
        response = search(client, **fields)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, fields
        assert reason in html, fields
        assert 'aria-invalid="true"' in html or "after" in fields, fields  # the page's place is no field
        assert "BAD-1" not in html, fields
        exported = search(client, export="csv", **fields)
        assert exported.status_code == 400 and reason in exported.get_data(as_text=True), fields
    bad_date = search(client, filed_to="31.12.2026", export="csv").get_data(as_text=True)
    assert bad_date.startswith("Filed to: Enter a date as YYYY-MM-DD.")


def test_pages_follow_one_another_without_gaps_or_repeats(office, client, monkeypatch):
    from web.inbox import search as view
    monkeypatch.setattr(view, "PAGE_SIZE", 2)
    opened = [open_case(number=f"PAGE-{n}", name=f"Karimov {n}") for n in range(5)]
    sign_in(client, "aigul")
    for fields in ({"q": "karimov"}, {"kind": "issue"}):
        seen, after = [], None
        while True:
            html = search(client, **fields, **({"after": after} if after else {})).get_data(as_text=True)
            seen += re.findall(r'href="/cases/([0-9a-f-]{36})"', html)
            more = re.search(r'name="after" value="([^"]+)"', html)
            if not more:
                break
            after = more.group(1).replace("&#43;", "+")
        assert seen == [c.id for c in reversed(opened)], fields


# --- internal processes and permits ------------------------------------------------------------

@pytest.fixture
def permit_office(app):
    from tests.permit_support import deploy_procedures, load_reference
    load_reference(app)
    deploy_procedures(app)
    make_user("aigul", region="AST")
    make_user("dana", region="ALM")
    return app


def test_the_permit_validity_watch_is_never_a_case_and_permit_numbers_link_to_the_permit(permit_office, client):
    from tests.permit_support import issue_permit, validity_watch
    number = issue_permit(permit_office)
    watch = validity_watch(number)
    case = db.session.execute(sa.select(cases.Case).filter_by(permit_no=number)).scalar_one()
    assert watch is not None and watch.status == instances.IN_PROGRESS
    sign_in(client, "aigul")
    for fields in ({"q": number}, {"status": "in_progress"}, {"status": "completed"}, {"q": "karimov"},
                   {"filed_from": "2026-01-01"}):
        html = search(client, **fields).get_data(as_text=True)
        assert watch.id not in html, fields
        assert "Validity of a permit" not in html, fields
    html = search(client, q="karimov").get_data(as_text=True)
    assert links(html) == {case.id}
    assert f'href="/permits/{number}"' in html
    permit_page = client.get(f"/permits/{number}")
    assert permit_page.status_code == 200
    text = permit_page.get_data(as_text=True)
    assert f"Permit {number}" in text and "Karimov Rustam" in text and f'href="/cases/{case.id}"' in text
    assert f'href="/cases/{watch.id}"' not in text
    assert client.get("/permits/AST-2026-9999999").status_code == 404
    post(client, "/sign-out", page="/search")
    sign_in(client, "dana")
    assert client.get(f"/permits/{number}").status_code == 404  # another region's permit
    assert links(search(client, q=number).get_data(as_text=True)) == set()


# --- the API: POST /cases/search with the applicant's name in the body --------------------------

def test_the_api_finds_cases_by_the_applicants_name_in_any_writing(api, stub):
    from tests.test_api_support import APPLICANT_IIN, application, make_token, submit
    headers = make_token()
    karimov = submit(api, headers, application(**{"application_no": "API-NAME-1", "applicant.last_name": "Каримов"}))
    other = submit(api, headers, application(**{"application_no": "API-NAME-2", "applicant.last_name": "Nurlanov",
                                                "applicant.first_name": "Erlan"}))
    assert karimov.status_code == 201 and other.status_code == 201, (karimov.get_json(), other.get_json())

    def found(body, with_headers=headers):
        response = api.post("/api/v1/cases/search", headers=with_headers, json=body)
        assert response.status_code == 200, response.get_json()
        return [item["application_no"] for item in response.get_json()["items"]]

    assert found({"applicant_name": "KARIMOV aziz"}) == ["API-NAME-1"]
    assert found({"applicant_name": "kari", "kind": "issue"}) == ["API-NAME-1"]
    assert found({"applicant_name": "erlan"}) == ["API-NAME-2"]
    assert found({"applicant_name": "karimov", "region": "AST", "status": "completed"}) == []
    assert found({"applicant_name": "karimov"}, make_token("shy", regions=["SHY"])) == []
    for body, reason in [({"applicant_name": "k"}, "at least one word of two letters"),
                         ({"applicant_name": "karimov", "applicant_iin": APPLICANT_IIN}, "not both")]:
        response = api.post("/api/v1/cases/search", headers=headers, json=body)
        assert response.status_code == 422, body
        assert reason in str(response.get_json()["errors"]["applicant_name"]), (body, response.get_json())
    # A name is personal data: not a query parameter of GET /cases
    assert api.get("/api/v1/cases", headers=headers, query_string={"applicant_name": "karimov"}).status_code == 422


# --- the migration: cases filed before it are found by name too -------------------------------

def test_the_migration_folds_the_names_of_the_cases_filed_before_it(tmp_path):
    from flask_migrate import upgrade

    from app import create_app
    from tests.conftest import make_config
    fresh = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'before.db'}"))
    with fresh.app_context():
        upgrade(revision="0015_substitution")
        with db.engine.begin() as conn:
            for n, name in enumerate(["Каримов Рустам", "KARIMOVA Aigerim", None]):
                conn.execute(sa.text(
                    "INSERT INTO permit_case (id, kind, region, applicant_name, created_at, created_by) "
                    "VALUES (:id, 'issue', 'AST', :name, '2026-01-01 00:00:00.000000', 'test')"),
                    {"id": f"case-{n}", "name": name})
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT case_id, region, token FROM case_name_token "
                                        "ORDER BY case_id, token")).all()
        db.session.remove()
        db.engine.dispose()
    assert [tuple(r) for r in rows] == [("case-0", "AST", "karimov"), ("case-0", "AST", "rustam"),
                                        ("case-1", "AST", "aigerim"), ("case-1", "AST", "karimova")]
