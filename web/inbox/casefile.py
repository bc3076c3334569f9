"""Everything a case page or a task page shows: the domain's read model of the case
(handlers/case_view.py: status, where it stands, deadlines and their states, outcome, permit,
documents), rendered and translated for officers, plus what only pages show (the timeline,
the checks, the identity comparison).

The shape of the case data grows with the procedures, so each part is read defensively: a
missing or oddly shaped key leaves its section empty, never breaks the page.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from SpiffWorkflow.util.task import TaskState

from engine import audit, clock, definitions, tasks
from engine.db import db
from engine.instances import ProcessInstance
from handlers import case_view, decision_documents, evidence, grounds as grounds_module, identity, titles
from handlers.i18n import N_

from web.i18n import current_language

from .display import as_datetime, working_days_left

DOCUMENT_TITLES = titles.DOCUMENTS
EVENT_WORDS = {
    "instance_started": N_("Case started"),
    "instance_completed": N_("Case completed"),
    "instance_cancelled": N_("Case cancelled"),
    "task_claimed": N_("Task taken"),
    "task_unclaimed": N_("Task given back"),
    "task_reassigned": N_("Task reassigned"),
    "task_completed": N_("Task completed"),
    "timer_fired": N_("Deadline timer fired"),
    "timer_cancelled": N_("Deadline timer cancelled"),
    "message_delivered": N_("Message received"),
    "incident_raised": N_("Incident"),
    "incident_retried": N_("Incident retried"),
    "document_issued": N_("Document issued"),
    "case_withdrawn": N_("Withdrawn by the applicant"),
}


@dataclass
class CaseFile:
    """The page's case: the domain's read model (handlers.case_view) and what only pages need."""
    view: case_view.CaseView
    number: str
    applicant_name: str | None
    open_tasks: list = field(default_factory=list)

    @property
    def instance(self) -> ProcessInstance:
        return self.view.instance

    @property
    def case(self):
        return self.view.case

    @property
    def data(self) -> dict:
        return self.view.data

    @property
    def workflow(self):
        return self.view.workflow

    @property
    def outcome(self) -> dict | None:
        return self.view.outcome

    @property
    def application(self) -> dict:
        value = self.data.get("application")
        return value if isinstance(value, dict) else {}

    @property
    def status(self) -> str:
        return self.instance.status


def load(row: ProcessInstance) -> CaseFile:
    view = case_view.build(row)
    case, data = view.case, view.data
    applicant = (data.get("application") or {}).get("applicant") if isinstance(data.get("application"), dict) else None
    name = (case.applicant_name if case is not None else None) or _person_name(applicant)
    number = ((case.application_no if case is not None else None) or row.business_key or row.id)
    open_tasks = list(db.session.execute(
        sa.select(tasks.HumanTask).filter_by(instance_id=row.id, status=tasks.READY)
        .order_by(tasks.HumanTask.created_at)).scalars())
    return CaseFile(view=view, number=number, applicant_name=name, open_tasks=open_tasks)


def task_data(casefile: CaseFile, task_id: str) -> dict:
    """The data the task sees (its own copy while it is open), else the case's current data."""
    try:
        task = casefile.workflow.get_task_from_id(UUID(task_id))
    except Exception:
        return casefile.data
    if task is not None and task.state == TaskState.READY and isinstance(task.data, dict):
        return task.data
    return casefile.data


def other_data(data: dict, instance_id: str | None = None) -> dict:
    """The case data no section shows on its own (still worth a look): not the deadline records
    (the deadlines section) nor the copies of the forms officers submitted (the timeline)."""
    from .display import KNOWN_DATA_KEYS
    hidden = set(KNOWN_DATA_KEYS) | set(checks(data))
    if instance_id is not None:
        hidden |= set(db.session.execute(sa.select(tasks.HumanTask.bpmn_id)
                                         .filter_by(instance_id=instance_id)).scalars())
    return {k: v for k, v in sorted(data.items()) if k not in hidden and not k.startswith("_")
            and not (isinstance(v, dict) and "rule" in v and ("due_at" in v or "due_at_utc" in v))}


def identity_comparison(data: dict) -> dict | None:
    """The application against the identity data: a stored comparison, else one made now."""
    for candidate in _candidates(data):
        if isinstance(candidate, dict) and isinstance(candidate.get("fields"), dict) and any(
                isinstance(f, dict) and "from_application" in f for f in candidate["fields"].values()):
            return candidate
    applicant = (data.get("application") or {}).get("applicant") if isinstance(data.get("application"), dict) else None
    if isinstance(applicant, dict) and applicant.get("iin"):
        try:
            return identity.compare_identity(applicant)
        except (ValueError, KeyError, TypeError):
            return None
    return None


def checks(data: dict) -> dict:
    """Each check's result by name: the "checks" mapping when the procedure keeps one, else
    every top-level result shaped like a check (a boolean `ok` and a list of `grounds`)."""
    value = data.get("checks")
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(item.get("name") or item.get("check") or i): item
                for i, item in enumerate(value) if isinstance(item, dict)}
    return {key: result for key, result in data.items()
            if isinstance(result, dict) and isinstance(result.get("ok"), bool)
            and isinstance(result.get("grounds"), list)}


def outcome_grounds(casefile: CaseFile) -> list[dict]:
    """The outcome's grounds with their titles and legal basis in the reader's language."""
    result = []
    for ground in casefile.view.grounds:
        known = grounds_module.REFUSAL_GROUNDS.get(ground.get("code")) or \
            grounds_module.REVOCATION_GROUNDS.get(ground.get("code"))
        result.append({"code": ground.get("code"),
                       "title": gettext(known.title) if known else (ground.get("title") or ground.get("code")),
                       "check": ground.get("check"),
                       "evidence": evidence.localised(ground, current_language()) or ground.get("evidence"),
                       "legal_basis": gettext(known.legal_basis) if known else ground.get("legal_basis")})
    return result


PERMIT_SUMMARY = ("number", "status", "holder", "employer", "valid_from", "valid_to", "months",
                  "issued_on", "revocation")


def permit_view(permit: dict | None) -> dict | None:
    """The permit as the case page shows it: the essentials, and the rest to unfold."""
    if not isinstance(permit, dict):
        return None
    summary = {}
    for key in PERMIT_SUMMARY:
        value = permit.get(key)
        if key in ("holder", "employer") and isinstance(value, dict):
            value = value.get("name") or " ".join(str(v) for v in value.values() if v)
        if value not in (None, "", [], {}):
            summary[key] = value
    rest = {k: v for k, v in permit.items() if k not in summary}
    return {"summary": summary or permit, "rest": rest if summary else {}}


def deadlines(casefile: CaseFile) -> list[dict]:
    """Each recorded deadline as the page shows it: the state is the read model's
    (handlers.case_view.deadline_state), the same the API answers; open ones count the
    working days left."""
    now = clock.now()
    return [{"name": d.name, "rule": d.rule, "due_at": d.due, "state": d.state, "at": d.at,
             "days_left": working_days_left(d.due, now) if d.state == case_view.OPEN else None}
            for d in casefile.view.deadlines]


def documents(casefile: CaseFile) -> list[dict]:
    """The decision documents of the read model (made at the decision, or kept by the procedure)
    with their titles, else the one its outcome calls for (older cases)."""
    found = []
    for item in casefile.view.documents:
        date = item["date"]
        if hasattr(date, "astimezone"):
            date = date.astimezone(_zone()).date().isoformat()
        entry = {"key": item["key"], "title": gettext(DOCUMENT_TITLES.get(item["document"], item["document"])),
                 "date": date, "html": item["html"]}
        if item["pdf"]:
            entry.update(pdf=True, sha256=item["sha256"])
        found.append(entry)
    if found:
        return found
    generated = _document_from_outcome(casefile)
    return [generated] if generated else []


def document(casefile: CaseFile, key: str) -> dict | None:
    return next((d for d in documents(casefile) if d["key"] == key), None)


def diagram_states(casefile: CaseFile) -> dict:
    """Element ids of the diagram: steps completed, where the case waits now, where it failed."""
    standing = casefile.view.standing
    return {"completed": standing.completed, "current": standing.current, "incident": standing.incident}


def step_names(casefile: CaseFile, ids) -> list[str]:
    names = casefile.view.standing.names
    return [names.get(i, i) for i in ids]


def timeline(instance_id: str, events=None, elements=None) -> list[dict]:
    """The case's history in words; `events` are its audit events when already read (the read
    model holds them), `elements` its diagram's element names by id (a timer's event names its
    element by id)."""
    names = dict(db.session.execute(sa.select(tasks.HumanTask.id, tasks.HumanTask.name)
                                    .filter_by(instance_id=instance_id)).all())
    result = []
    for event in (events if events is not None else audit.trail(instance_id)):
        details = event.details or {}
        result.append({"at": event.at, "actor": event.actor,
                       "event": gettext(EVENT_WORDS[event.event]) if event.event in EVENT_WORDS
                       else event.event.replace("_", " ").capitalize(),
                       "code": event.event,
                       # a message names the element that waited (an id): its summary says what came
                       "task": None if event.event == "message_delivered" else (
                           details.get("task") if isinstance(details.get("task"), str) else names.get(event.task_id)),
                       "summary": _summary(event.event, details, elements or {})})
    return result


def definition_for(row: ProcessInstance):
    return definitions.get(row.definition_id)


# --- helpers -------------------------------------------------------------------------------

def _candidates(data):
    yield data.get("identity")
    yield data.get("identity_check")
    for value in checks(data).values():
        yield value


def _person_name(person) -> str | None:
    if not isinstance(person, dict):
        return None
    parts = [person.get(k) for k in ("last_name", "first_name", "middle_name", "patronymic")]
    text = " ".join(str(p) for p in parts if p)
    return text or person.get("name")


def _summary(event, details, elements=None) -> str:
    from .display import code_title, words
    if event in ("task_reassigned", "task_unclaimed"):
        return gettext("from %(old)s to %(new)s", old=details.get("from") or gettext("nobody"),
                       new=details.get("to") or gettext("nobody"))
    if event == "task_completed" and isinstance(details.get("data"), dict):
        return "; ".join(f"{words(k)}: {_short(v, k, code_title)}" for k, v in details["data"].items())
    if event == "document_issued":
        return f"{gettext(DOCUMENT_TITLES.get(details.get('key'), str(details.get('key'))))}, SHA-256 {details.get('sha256')}"
    if event in ("incident_raised", "incident_retried"):
        return str(details.get("message") or "")[:300]
    if event in ("timer_fired", "timer_cancelled"):
        name = details.get("name") or (elements or {}).get(details.get("bpmn_id"))
        return gettext(name) if name else ""  # a timer's name from its diagram
    if event == "message_delivered":
        return titles.title(titles.MESSAGES, details.get("name"), gettext) or str(details.get("name") or "")
    if event == "instance_started":
        return "%s, %s" % (gettext(titles.PROCEDURES.get(details.get("process_id"), "")) or details.get("process_id", ""),
                           gettext("version %(version)s", version=details.get("version", "")))
    if event == "instance_cancelled":
        return str(details.get("reason") or "")
    return ""


def _short(value, key=None, name=None) -> str:
    if isinstance(value, list):
        return ", ".join(_short(v, "code" if key == "grounds" else key, name) for v in value) or "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return ((name(value, key) if name else None) or str(value))[:200]


def _document_from_outcome(casefile: CaseFile) -> dict | None:
    outcome = casefile.outcome or {}
    stored = [g for g in outcome.get("grounds") or [] if isinstance(g, dict) and g.get("code")]
    if not stored or outcome.get("code") in ("issued", "extended"):
        return None
    try:
        not_accepted = all(grounds_module.is_not_accepted(g["code"]) for g in stored)
        applicant = (casefile.application.get("applicant") or {})
        case = casefile.case
        filed = casefile.application.get("filing_date") or casefile.application.get("filed_on") \
            or casefile.instance.created_at.astimezone(_zone()).date().isoformat()
        decided = as_datetime(outcome.get("decided_at")) or casefile.instance.updated_at
        mapping = {
            "case_id": casefile.number,
            "kind": (case.kind if case is not None and case.kind in decision_documents.KIND_WORDS else "issue"),
            "region": casefile.instance.region or (case.region if case is not None else None),
            "channel": case.channel if case is not None else None,
            "filed_on": filed,
            "date": decided.astimezone(_zone()).date().isoformat(),
            "applicant": {"name": casefile.applicant_name or "",
                          "iin": applicant.get("iin") or (case.applicant_iin if case is not None else "")},
            "grounds": stored,
            "officer": outcome.get("decided_by"),
        }
        render = (decision_documents.render_not_accepted_receipt if not_accepted
                  else decision_documents.render_motivated_refusal)
        html = render(mapping, current_app.config)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        current_app.logger.warning("decision document of case %s not rendered: %s", casefile.instance.id, err)
        return None
    document = "not_accepted_receipt" if not_accepted else "motivated_refusal"
    return {"key": document, "title": gettext(DOCUMENT_TITLES[document]), "date": mapping["date"], "html": html}


def _zone():
    from zoneinfo import ZoneInfo
    return ZoneInfo(current_app.config["CALENDAR_TIMEZONE"])
