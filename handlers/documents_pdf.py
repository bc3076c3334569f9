"""Documents handed to applicants, in Kazakh and Russian on one page, as HTML and PDF.

The appendix 3 receipt, the appendix 4 motivated refusal, the permit and the revocation decision
are each one template (templates/<key>.html) rendered once per language of DOCUMENT_LANGUAGES and
set side by side; WeasyPrint makes the PDF from that same HTML with DejaVu fonts (every Kazakh
letter). `issue_for_outcome` runs when `cases.record_outcome` records a decision: the document is
made once, stored with its SHA-256 (also written to the audit log) and served as stored.

Its bytes (the PDF, and the HTML it was made from as UTF-8) live in the document store
(engine/blobs.py, DOCUMENT_STORE_DIR), each file named by its SHA-256 and written durably before
the decision's transaction commits; the `case_document` row keeps the two hashes, the sizes, the
signer and the date. Reading goes through `read_pdf` / `read_html`, which check the bytes against
the row's hash: a missing or altered file is `DocumentUnavailable` (logged with the case, the key
and the hash), never a different document. Documents issued before the store keep their bytes in
the row until `flask documents move-out` moves them; they are read from the row meanwhile.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from engine import audit, blobs, isolation
from engine.db import UTCDateTime, db

from . import evidence, i18n, titles
from .durations import as_date
from .grounds import REFUSAL_GROUNDS, REVOCATION_GROUNDS
from .identity import mask_iin
from .i18n import N_

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Outcome code -> the document it calls for.
DOCUMENT_FOR_OUTCOME = {"not_accepted": "not_accepted_receipt", "refused": "motivated_refusal",
                        "issued": "permit", "extended": "permit", "revoked": "revocation_decision"}
AUTOMATIC_DECISION = N_("automatic decision")
DEFAULT_POSITION = N_("Officer of the local executive body")
KIND_SERVICES = {
    "issue": N_("issue of a permit to a labour immigrant"),
    "extension": N_("extension of a permit to a labour immigrant"),
    "revocation": N_("revocation of a permit to a labour immigrant"),
}
FONT_FAMILY = "'DejaVu Sans', 'Noto Sans', sans-serif"
STYLE = """
@page { size: A4; margin: 16mm 14mm; }
body { font-family: %s; font-size: 9.5pt; line-height: 1.35; margin: 0; }
.languages { display: flex; gap: 8mm; }
.language { flex: 1 1 0; min-width: 0; }
.appendix { text-align: right; font-size: 8pt; }
h1 { font-size: 12pt; } h2 { font-size: 10.5pt; }
dl.parties dt { font-weight: bold; } dl.parties dd { margin: 0 0 .4em 0; }
ol.grounds { padding-left: 1.2em; } ol.grounds > li { margin-bottom: .6em; }
.signature { margin-top: 1.5em; border-top: 1px solid #000; padding-top: .4em; }
table.permit th { text-align: left; padding-right: 1em; }
@media screen { body { max-width: 60em; margin: 1em auto; } }
""" % FONT_FAMILY


log = logging.getLogger(__name__)


class CaseDocument(db.Model):
    __tablename__ = "case_document"
    __table_args__ = (sa.UniqueConstraint("instance_id", "key", name="uq_case_document_key"),
                      # Its bytes are in the row (issued before the store) or named in the store.
                      sa.CheckConstraint("pdf IS NOT NULL OR html_sha256 IS NOT NULL", name="ck_case_document_bytes"))

    id = sa.Column(sa.Integer, primary_key=True)
    instance_id = sa.Column(sa.String(36), nullable=False, index=True)
    key = sa.Column(sa.String(40), nullable=False)
    # A document issued before the store keeps its bytes here until `flask documents move-out`:
    stored_html = sa.Column("html", sa.Text)  # the HTML of a document made before it was kept gzip'd
    html_gz = sa.Column(sa.LargeBinary)  # the HTML the PDF was made from, gzip'd
    row_pdf = sa.Column("pdf", sa.LargeBinary)
    sha256 = sa.Column(sa.String(64), nullable=False)  # of the PDF (audited); its name in the store
    html_sha256 = sa.Column(sa.String(64))  # of the HTML as UTF-8 (audited); None while it is in the row
    pdf_size = sa.Column(sa.Integer)
    html_size = sa.Column(sa.Integer)
    signed_by = sa.Column(sa.String(300), nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)

    @property
    def pdf(self) -> bytes:
        return read_pdf(self)

    @property
    def html(self) -> str:
        return read_html(self)


class DocumentUnavailable(Exception):
    """A document's stored bytes are missing or no longer have their recorded SHA-256."""

    def __init__(self, row: CaseDocument, part: str, digest: str, reason: str):
        super().__init__(f"decision document {row.key} of case {row.instance_id}: its {part} "
                         f"(SHA-256 {digest}) is {reason}")
        self.instance_id, self.key, self.part, self.digest, self.reason = row.instance_id, row.key, part, digest, reason


def read_pdf(row: CaseDocument) -> bytes:
    """The PDF as issued, checked against the row's SHA-256 (DocumentUnavailable otherwise)."""
    if row.row_pdf is not None:
        data = bytes(row.row_pdf)
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise _unavailable(row, "PDF", row.sha256, "altered in its database row")
        return data
    return _from_store(row, "PDF", row.sha256)


def read_html(row: CaseDocument) -> str:
    """The HTML the PDF was made from, as issued (from the store, checked against its hash)."""
    if row.html_gz is not None:
        return gzip.decompress(row.html_gz).decode("utf-8")
    if row.stored_html is not None:
        return row.stored_html
    return _from_store(row, "HTML", row.html_sha256).decode("utf-8")


def _from_store(row: CaseDocument, part: str, digest: str) -> bytes:
    try:
        return blobs.store().get(digest)
    except blobs.BlobUnreadable as err:
        raise _unavailable(row, part, digest, f"{err.reason} in the document store ({err.path})") from None


def _unavailable(row, part, digest, reason) -> DocumentUnavailable:
    error = DocumentUnavailable(row, part, digest, reason)
    # Names the case by its id, the document by its key and hash: never the applicant.
    log.error("%s", error)
    return error


def store_bytes(pdf: bytes, html: str) -> dict:
    """Put a document's PDF and HTML into the document store, durably; the row's fields for them."""
    store = blobs.store()
    encoded = html.encode("utf-8")
    return {"sha256": store.put(pdf), "html_sha256": store.put(encoded),
            "pdf_size": len(pdf), "html_size": len(encoded)}


def rehearsal_bytes(html: str) -> dict:
    """A rehearsal's document row: its HTML in the row, an empty PDF (it is never read)."""
    return {"row_pdf": b"", "stored_html": html, "sha256": hashlib.sha256(b"").hexdigest(),
            "html_sha256": None, "pdf_size": 0, "html_size": len(html.encode("utf-8"))}


@lru_cache(maxsize=8)
def _environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(i18n.translations(language), newstyle=True)
    return env


def render_html(key: str, context: Mapping[str, Any], languages) -> str:
    """The whole document: one column per language, each rendered from templates/<key>.html."""
    columns = []
    for language in languages:
        gettext = i18n.gettext_for(language)
        columns.append(_environment(language).get_template(f"{key}.html").render(
            **_localised(context, language, gettext), language=language))
    title = " / ".join(i18n.gettext_for(lang)(titles.DOCUMENTS[key]) for lang in languages)
    return ("<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s — %s</title>\n"
            "<style>%s</style>\n</head>\n<body>\n<div class=\"languages\">\n%s\n</div>\n</body>\n</html>\n"
            % (languages[0], _escape(title), _escape(str(context["case_id"])), STYLE, "\n".join(columns)))


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: loading pango is slow and only documents need it
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()


def issue_for_outcome(ctx, case, outcome: Mapping[str, Any]) -> CaseDocument | None:
    """Make, store and audit the document an outcome calls for (None when it calls for none)."""
    key = DOCUMENT_FOR_OUTCOME.get(outcome.get("code"))
    if key is None:
        return None
    context = document_context(ctx.session, key, case, outcome, ctx.data, ctx.config, ctx.now())
    if context is None:
        return None
    html = render_html(key, context, list(ctx.config.get("DOCUMENT_LANGUAGES") or ("kk", "ru")))
    if isolation.active():
        # A rehearsal (a diagram's scenario gate) is rolled back whole, and nobody reads its
        # documents: the HTML is rendered, which tries the template on the case's data, but no PDF
        # is made (about 1.7 s each) and nothing goes to the store, where it would outlive the rows.
        pdf, stored_as = b"", rehearsal_bytes(html)
    else:
        pdf = render_pdf(html)
        # The bytes are on disk (fsync'd) before this transaction can commit the row that names them.
        stored_as = store_bytes(pdf, html)
    row = CaseDocument(instance_id=case.id, key=key, signed_by=context["signer"]["name"] or "",
                       created_at=ctx.now(), **stored_as)
    ctx.session.add(row)
    audit.record("document_issued", actor=outcome.get("decided_by") or "system", instance_id=case.id,
                 details={"key": key, "sha256": stored_as["sha256"], "html_sha256": stored_as["html_sha256"],
                          "bytes": len(pdf)})
    return row


def stored(instance_id: str) -> list[CaseDocument]:
    return list(db.session.execute(sa.select(CaseDocument).filter_by(instance_id=instance_id)
                                   .order_by(CaseDocument.id)).scalars())


def stored_one(instance_id: str, key: str) -> CaseDocument | None:
    return db.session.execute(sa.select(CaseDocument).filter_by(instance_id=instance_id, key=key)
                              ).scalar_one_or_none()


def move_out(batch: int = 100, actor: str = "cli", progress=None) -> tuple[int, list[str]]:
    """Move the bytes of documents issued before the store out of their rows, `batch` rows a
    transaction: each PDF is checked against the row's SHA-256 (and the HTML against the audited
    one when the audit table still has it), put into the store durably and read back checked
    before the row's bytes are cleared. Safe to rerun and to kill: an interrupted batch leaves
    its rows as they were (files it wrote are reused). Returns (moved, problems); a row with a
    problem keeps its bytes."""
    store = blobs.store()
    moved, problems, after = 0, [], 0
    while True:
        rows = list(db.session.execute(
            sa.select(CaseDocument).where(CaseDocument.row_pdf.is_not(None), CaseDocument.id > after)
            .order_by(CaseDocument.id).limit(batch)).scalars())
        if not rows:
            break
        done = []
        for row in rows:
            after = row.id
            name = f"case {row.instance_id} document {row.key} (row {row.id})"
            pdf = bytes(row.row_pdf)
            if hashlib.sha256(pdf).hexdigest() != row.sha256:
                problems.append(f"{name}: its PDF in the row does not match its SHA-256 {row.sha256}; left in the row")
                continue
            try:
                html = read_html(row)
            except (OSError, EOFError, ValueError) as err:  # a gzip stream or its UTF-8 broken
                problems.append(f"{name}: its HTML in the row cannot be read ({type(err).__name__}); left in the row")
                continue
            audited = _audited_html_sha256(row)
            fields = store_bytes(pdf, html)
            if audited is not None and audited != fields["html_sha256"]:
                problems.append(f"{name}: its HTML in the row does not match the audited SHA-256 {audited}; "
                                f"left in the row")
                continue
            store.get(fields["sha256"]), store.get(fields["html_sha256"])  # read back, checked
            row.row_pdf = row.html_gz = row.stored_html = None
            for field, value in fields.items():
                setattr(row, field, value)
            done.append(row.id)
        if done:
            audit.record("documents_moved_out", actor=actor,
                         details={"rows": len(done), "first_id": done[0], "last_id": done[-1]})
        db.session.commit()
        moved += len(done)
        if progress is not None:
            progress(moved)
    return moved, problems


def _audited_html_sha256(row: CaseDocument) -> str | None:
    """The HTML hash the audit log recorded when the document was made (None when it is archived)."""
    events = db.session.execute(sa.select(audit.AuditEvent.details).where(
        audit.AuditEvent.instance_id == row.instance_id, audit.AuditEvent.event == "document_issued")).scalars()
    for details in events:
        if isinstance(details, Mapping) and details.get("key") == row.key and details.get("sha256") == row.sha256:
            return details.get("html_sha256")
    return None


def verify(batch: int = 1000) -> tuple[int, list[str]]:
    """Every document row checked against its bytes: (rows checked, problems), each problem naming
    the case, the key, the part and its hash (missing, or altered)."""
    store = blobs.store()
    checked, problems, after = 0, [], 0
    while True:
        rows = db.session.execute(
            sa.select(CaseDocument.id, CaseDocument.instance_id, CaseDocument.key, CaseDocument.sha256,
                      CaseDocument.html_sha256, CaseDocument.row_pdf.is_not(None).label("in_row"))
            .where(CaseDocument.id > after).order_by(CaseDocument.id).limit(batch)).all()
        if not rows:
            break
        for row in rows:
            after = row.id
            checked += 1
            name = f"case {row.instance_id} document {row.key} (row {row.id})"
            if row.in_row:
                pdf = db.session.execute(sa.select(CaseDocument.row_pdf).filter_by(id=row.id)).scalar()
                if hashlib.sha256(pdf).hexdigest() != row.sha256:
                    problems.append(f"{name}: PDF {row.sha256} altered in its database row")
                continue
            for part, digest in (("PDF", row.sha256), ("HTML", row.html_sha256)):
                state = store.check(digest)
                if state != "ok":
                    problems.append(f"{name}: {part} {digest} {state} in the document store")
        db.session.rollback()  # end the read transaction between batches
    return checked, problems


def unreferenced() -> list[str]:
    """Digests of files in the store that no document row names (a decision rolled back after
    writing them, or one being recorded right now): sorted, merged against the rows in order."""
    column = lambda c: sa.collate(c, "C") if db.engine.dialect.name == "postgresql" else c  # noqa: E731
    named = sa.union(sa.select(column(CaseDocument.sha256).label("digest")),
                     sa.select(column(CaseDocument.html_sha256).label("digest"))
                     .where(CaseDocument.html_sha256.is_not(None))).subquery()
    result = db.session.execute(sa.select(named.c.digest).order_by(named.c.digest)
                                .execution_options(yield_per=5000)).scalars()
    referenced = iter(result)
    current = next(referenced, None)
    found = []
    for digest in blobs.store().digests():
        while current is not None and current < digest:
            current = next(referenced, None)
        if current != digest:
            found.append(digest)
    result.close()
    return found


def document_context(session, key, case, outcome, data, config, now) -> dict | None:
    """What the templates need, in codes and English message ids (translated per language)."""
    from .permits import Permit
    application = data.get("application") if isinstance(data.get("application"), Mapping) else {}
    applicant = application.get("applicant") if isinstance(application.get("applicant"), Mapping) else {}
    terms = data.get("terms") if isinstance(data.get("terms"), Mapping) else {}
    zone = _zone(config)
    permit = None
    if key in ("permit", "revocation_decision"):
        number = outcome.get("permit_no") or case.permit_no or (data.get("permit") or {}).get("number")
        row = session.execute(sa.select(Permit).filter_by(number=number)).scalar_one_or_none() if number else None
        if row is None:
            return None
        permit = {"number": row.number, "holder_name": " ".join(p for p in (row.holder_surname, row.holder_given_name,
                                                                           row.holder_patronymic) if p),
                  "citizenship": row.holder_citizenship, "employer_name": row.employer_name,
                  "valid_from": row.valid_from, "valid_to": row.valid_to, "issued_on": row.issued_on}
    filed = terms.get("filed_on") or application.get("filing_date") or case.created_at.astimezone(zone).date()
    return {
        "case_id": case.application_no or case.id,
        "kind": case.kind,
        "region": case.region,
        "channel": case.channel,
        "filed_on": filed,
        "date": now.astimezone(zone).date(),
        "applicant_name": case.applicant_name or _name(applicant) or (permit or {}).get("holder_name") or "",
        "applicant_iin": mask_iin(case.applicant_iin or applicant.get("iin") or "") if (
            case.applicant_iin or applicant.get("iin")) else "—",
        "grounds": [g for g in outcome.get("grounds") or [] if isinstance(g, Mapping)],
        "permit": permit,
        "signer": signer(session, outcome.get("decided_by"), config),
        "regions": config["REGIONS"],
        "automatic_signer": config.get("DOCUMENT_AUTOMATIC_SIGNER") or "",
    }


def signer(session, username, config) -> dict:
    """The deciding officer's full name and position, or None for an automatic decision."""
    if not username or username == "system":
        return {"name": None, "position": None}
    users = sa.table("app_user", sa.column("username"), sa.column("full_name"), sa.column("position"))
    row = session.execute(sa.select(users.c.full_name, users.c.position)
                          .where(users.c.username == username)).first()
    if row is None:
        return {"name": username, "position": None}
    return {"name": row.full_name or username, "position": row.position}


def _localised(context, language, gettext) -> dict:
    """The context in one language: titles of codes, dates as dd.mm.yyyy, countries by name."""
    regions = context["regions"]
    region_name = gettext(regions.get(context["region"], context["region"]))
    grounds = []
    # A revocation's grounds are those of revocation ("other" is in both registries).
    registries = (REVOCATION_GROUNDS, REFUSAL_GROUNDS) if context["kind"] == "revocation" else (
        REFUSAL_GROUNDS, REVOCATION_GROUNDS)
    for ground in context["grounds"]:
        known = registries[0].get(ground.get("code")) or registries[1].get(ground.get("code"))
        grounds.append({
            "code": ground.get("code"),
            "title": gettext(known.title) if known else str(ground.get("title") or ground.get("code")),
            "check": titles.title(titles.CHECKS, ground.get("check"), gettext) or str(ground.get("check") or "—"),
            "evidence": evidence.localised(ground, language, gettext) or str(ground.get("evidence") or "—"),
            "legal_basis": gettext(known.legal_basis) if known else str(ground.get("legal_basis") or ""),
        })
    signer_ = context["signer"]
    if signer_["name"]:
        name = signer_["name"]
        position_id = signer_["position"] or DEFAULT_POSITION
        position = gettext(position_id)
    else:
        automatic = context["automatic_signer"]
        name = gettext(automatic) if automatic else region_name
        position = gettext(AUTOMATIC_DECISION)
    permit = None
    if context["permit"]:
        p = context["permit"]
        permit = dict(p, valid_from=_dmy(p["valid_from"]), valid_to=_dmy(p["valid_to"]),
                      issued_on=_dmy(p["issued_on"]),
                      citizenship=i18n.country_name(p["citizenship"], language) if p.get("citizenship") else None)
    channel = titles.title(titles.CHANNELS, context["channel"], gettext) if context["channel"] else None
    return {
        "case_id": context["case_id"],
        "service": gettext(KIND_SERVICES.get(context["kind"], KIND_SERVICES["issue"])),
        "region_name": region_name,
        "channel": channel,
        "filed_on": _dmy(context["filed_on"]),
        "date": _dmy(context["date"]),
        "applicant_name": context["applicant_name"],
        "applicant_iin": context["applicant_iin"],
        "grounds": grounds,
        "permit": permit,
        "signer_name": name,
        "signer_position": position,
    }


def _name(person) -> str | None:
    parts = [person.get(k) for k in ("last_name", "first_name", "middle_name", "patronymic")]
    return " ".join(str(p) for p in parts if p) or person.get("name")


def _dmy(value) -> str:
    return as_date(value).strftime("%d.%m.%Y")


def _zone(config):
    from zoneinfo import ZoneInfo
    return ZoneInfo(config["CALENDAR_TIMEZONE"])


def _escape(text: str) -> str:
    from markupsafe import escape
    return str(escape(text))
