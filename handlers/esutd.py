"""ЕСУТД, the unified system of labour contracts: is this worker's contract registered?

The employer records the conclusion and termination of the employment contract there
(docs/law.md §1, §2.4); an extension needs a registered contract between this employer and
this worker that covers the period asked for (§3). Two adapters share one interface,
chosen by ESUTD_ADAPTER: `http` posts {employer_iin, worker_iin} as JSON to ESUTD_URL and
reads back {"contracts": [...]}; `simulator` answers from the administered contract list
(`flask reference contract-add ...`). Either way, the same rule decides coverage. The operator
is external: a worker runs it after the step that reached it committed (engine/jobs.py), so a
slow ЕСУТД holds up no client; it is retried with back-off, then becomes an incident.

A contract covers the period from `period_from` to `period_to` when it started on or before
`period_from`, runs to `period_to` or has no end date, and was not terminated on or before
`period_to`.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Any, Iterable, Mapping, Protocol

import requests

from engine.operators import HandlerError, operator

from . import reference
from .durations import as_date
from .grounds import make_ground
from .identity import mask_iin

log = logging.getLogger(__name__)


class EsutdUnavailable(Exception):
    """ЕСУТД did not answer (timeout, connection, 5xx): retry."""


class EsutdRequestRefused(HandlerError):
    """ЕСУТД refused the request or answered something unreadable."""


class EsutdAdapter(Protocol):
    name: str

    def contracts(self, ctx, employer_iin: str, worker_iin: str) -> list[dict]:
        """Contracts between the two: {number, starts_on, ends_on, terminated_on, registered_on}."""


@operator("esutd.check_contract", retry_on=(EsutdUnavailable,), external=True)
def check_contract(ctx, employer_iin: str, worker_iin: str, period_from: Any, period_to: Any) -> dict:
    """`esutd.check_contract`: a registered contract covering the period, or `contract_not_registered`."""
    adapter = adapter_for(ctx.config)
    contracts = adapter.contracts(ctx, employer_iin, worker_iin)
    log.info("ЕСУТД via %s: %d contract(s) between employer %s and worker %s", adapter.name,
             len(contracts), mask_iin(employer_iin), mask_iin(worker_iin))
    return contract_check(contracts, employer_iin, worker_iin, period_from, period_to) | {
        "adapter": adapter.name}


def contract_check(contracts: Iterable[Mapping[str, Any]], employer_iin: str, worker_iin: str,
                   period_from: Any, period_to: Any) -> dict:
    """Does one of `contracts` cover the period? (The rule, for either adapter.)"""
    start, end = as_date(period_from), as_date(period_to)
    if end < start:
        raise ValueError("the period ends before it starts")
    contracts = [_normalised(c) for c in contracts]
    covering = next((c for c in contracts if covers(c, start, end)), None)
    grounds = []
    if covering is None:
        found = "; ".join(_described(c) for c in contracts) or "none is registered"
        grounds.append(make_ground(
            "contract_not_registered", "esutd.contract_covers_period",
            f"No employment contract between the employer (IIN {mask_iin(employer_iin)}) and the "
            f"labour immigrant (IIN {mask_iin(worker_iin)}) registered in ЕСУТД covers "
            f"{start:%d.%m.%Y}–{end:%d.%m.%Y}. Contracts found: {found}.",
            contracts_found=len(contracts)))
    return {"ok": covering is not None, "registered": covering is not None, "contract": covering,
            "period_from": start.isoformat(), "period_to": end.isoformat(), "grounds": grounds}


def covers(contract: Mapping[str, Any], start: date, end: date) -> bool:
    starts_on = as_date(contract["starts_on"])
    ends_on = _date(contract.get("ends_on"))
    terminated_on = _date(contract.get("terminated_on"))
    return (starts_on <= start and (ends_on is None or ends_on >= end)
            and (terminated_on is None or terminated_on > end))


def adapter_for(config: Mapping[str, Any]) -> EsutdAdapter:
    name = config["ESUTD_ADAPTER"]
    if name == "simulator":
        return SimulatedEsutd()
    if name == "http":
        if not config.get("ESUTD_URL"):
            raise HandlerError("ESUTD_ADAPTER is http but ESUTD_URL is not configured")
        return HttpEsutd(config["ESUTD_URL"], float(config["HTTP_TIMEOUT_SECONDS"]))
    raise HandlerError(f"unknown ESUTD_ADAPTER {name!r} (simulator or http)")


class HttpEsutd:
    """The production adapter. IINs travel in the JSON body, never in a URL that proxies log."""

    name = "http"

    def __init__(self, url: str, timeout: float):
        self.url, self.timeout = url, timeout

    def contracts(self, ctx, employer_iin: str, worker_iin: str) -> list[dict]:
        try:
            response = requests.post(self.url, json={"employer_iin": employer_iin,
                                                     "worker_iin": worker_iin}, timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as err:
            raise EsutdUnavailable(f"ЕСУТД did not answer: {type(err).__name__}") from None
        if response.status_code >= 500:
            raise EsutdUnavailable(f"ЕСУТД answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise EsutdRequestRefused(f"ЕСУТД refused the request: HTTP {response.status_code}")
        try:
            contracts = response.json()["contracts"]
            return [_normalised(c) for c in contracts]
        except (ValueError, KeyError, TypeError) as err:
            raise EsutdRequestRefused(f"ЕСУТД answered something unreadable: {type(err).__name__}") from None


class SimulatedEsutd:
    """The built-in ЕСУТД: the administered contract list."""

    name = "simulator"

    def contracts(self, ctx, employer_iin: str, worker_iin: str) -> list[dict]:
        return [c.as_dict() for c in reference.contracts_between(employer_iin, worker_iin,
                                                                 session=ctx.session)]


def _normalised(contract: Mapping[str, Any]) -> dict:
    iso = lambda v: as_date(v).isoformat() if v else None  # noqa: E731
    return {"number": str(contract["number"]), "starts_on": iso(contract["starts_on"]),
            "ends_on": iso(contract.get("ends_on")), "terminated_on": iso(contract.get("terminated_on")),
            "registered_on": iso(contract.get("registered_on"))}


def _described(contract: Mapping[str, Any]) -> str:
    text = f"No. {contract['number']} from {as_date(contract['starts_on']):%d.%m.%Y}"
    if contract.get("ends_on"):
        text += f" to {as_date(contract['ends_on']):%d.%m.%Y}"
    if contract.get("terminated_on"):
        text += f", terminated on {as_date(contract['terminated_on']):%d.%m.%Y}"
    return text


def _date(value: Any) -> date | None:
    return as_date(value) if value else None
