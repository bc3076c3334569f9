"""Documents handed to applicants, in Kazakh and Russian on one page, as HTML and PDF.

The appendix 3 receipt, the appendix 4 motivated refusal, the permit and the revocation decision
are each one template (templates/<key>.html) rendered once per language of DOCUMENT_LANGUAGES and
set side by side; WeasyPrint makes the PDF from that same HTML with DejaVu fonts (every Kazakh
letter). `issue_for_outcome` runs when `cases.record_outcome` records a decision: the document is
made once, stored with its SHA-256 (also written to the audit log) and served as stored.
"""
from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from engine import audit
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


class CaseDocument(db.Model):
    __tablename__ = "case_document"
    __table_args__ = (sa.UniqueConstraint("instance_id", "key", name="uq_case_document_key"),)

    id = sa.Column(sa.Integer, primary_key=True)
    instance_id = sa.Column(sa.String(36), nullable=False, index=True)
    key = sa.Column(sa.String(40), nullable=False)
    stored_html = sa.Column("html", sa.Text)  # the HTML of a document made before it was kept gzip'd
    html_gz = sa.Column(sa.LargeBinary)  # the HTML the PDF was made from, gzip'd (a third of its size)
    pdf = sa.Column(sa.LargeBinary, nullable=False)
    sha256 = sa.Column(sa.String(64), nullable=False)
    signed_by = sa.Column(sa.String(300), nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)

    @property
    def html(self) -> str:
        if self.html_gz is not None:
            return gzip.decompress(self.html_gz).decode("utf-8")
        return self.stored_html

    @html.setter
    def html(self, text: str) -> None:
        self.html_gz = gzip.compress(text.encode("utf-8"), 9, mtime=0)
        self.stored_html = None


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
    pdf = render_pdf(html)
    digest = hashlib.sha256(pdf).hexdigest()
    row = CaseDocument(instance_id=case.id, key=key, html=html, pdf=pdf, sha256=digest,
                       signed_by=context["signer"]["name"] or "", created_at=ctx.now())
    ctx.session.add(row)
    audit.record("document_issued", actor=outcome.get("decided_by") or "system", instance_id=case.id,
                 details={"key": key, "sha256": digest, "html_sha256": hashlib.sha256(html.encode()).hexdigest(),
                          "bytes": len(pdf)})
    return row


def stored(instance_id: str) -> list[CaseDocument]:
    return list(db.session.execute(sa.select(CaseDocument).filter_by(instance_id=instance_id)
                                   .order_by(CaseDocument.id)).scalars())


def stored_one(instance_id: str, key: str) -> CaseDocument | None:
    return db.session.execute(sa.select(CaseDocument).filter_by(instance_id=instance_id, key=key)
                              ).scalar_one_or_none()


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
