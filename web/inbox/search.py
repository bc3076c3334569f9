"""Search of cases and permits by number (application, case, permit) or the applicant's IIN.

The page's form posts the query, so an IIN never lands in a URL (access logs, browser history,
the Referer header); GET /search?q= still answers for bookmarks and old links.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import render_template, request

from engine.db import db
from engine.instances import ProcessInstance

from . import access, bp
from . import permits as permit_register

MAX_RESULTS = 100


@bp.route("/search", methods=["GET", "POST"])
@access.role_required("officer", "supervisor", "admin")
def search():
    from handlers.cases import Case
    query = ((request.form if request.method == "POST" else request.args).get("q") or "").strip()
    regions = access.regions()
    cases, permits = [], []
    if query:
        conditions = [Case.application_no == query, Case.permit_no == query, Case.id == query]
        if len(query) == 12 and query.isdigit():
            conditions.append(Case.applicant_iin == query)
        found = sa.select(Case, ProcessInstance).join(ProcessInstance, ProcessInstance.id == Case.id) \
            .where(sa.or_(*conditions))
        keyed = sa.select(ProcessInstance).where(sa.or_(ProcessInstance.business_key == query,
                                                        ProcessInstance.id == query))
        if regions is not None:
            found = found.where(Case.region.in_(regions))
            keyed = keyed.where(ProcessInstance.region.in_(regions))
        rows = db.session.execute(found.order_by(Case.created_at.desc()).limit(MAX_RESULTS)).all()
        cases = [{"instance": i, "case": c} for c, i in rows]
        seen = {i.id for _, i in rows}
        # Cases of procedures that keep no case row (found by their business key).
        cases += [{"instance": i, "case": None} for i in db.session.execute(keyed.limit(MAX_RESULTS)).scalars()
                  if i.id not in seen]
        permits = permit_register.search(query, regions)
    return render_template("inbox/search.html", query=query, cases=cases, permits=permits)
