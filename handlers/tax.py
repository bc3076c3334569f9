"""The individual income tax (IIT) prepayment a labour immigrant makes for the permit period.

Amount due = rate in MCI per month (by year) × MCI (by year of filing) × months × regional
coefficient (docs/law.md §5). The figures are reference data an administrator loads; the
functions take them as `tables`:

    {"mci": {2026: 4325, ...},                 # monthly calculation index, KZT, by year
     "rate_mci_per_month": {2026: 4, ...},     # MCI per month, by year
     "regional_coefficient": {"ALA": 1.0, ...}}  # by region code

Year keys may be ints or their strings (JSON). A missing year or region raises
`MissingReferenceData`, an error an operator sees, never a silent zero. The operator
`tax.check` reads the figures an administrator loaded (`handlers.reference`).

Rounding: the product is computed exactly (Decimal) and rounded half up to whole tenge, once,
at the end; money is an int.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping

from engine.operators import operator

from . import reference
from .durations import as_date
from .grounds import make_ground
from .identity import mask_iin
from .reference import MissingReferenceData

# Development and initial reference data (docs/law.md §5); `flask reference load-dev` loads it.
# MCI by law; the rate is 2 MCI a month before the Tax Code in force from 01.01.2026, 4 after.
DEFAULT_TABLES = {
    "mci": {2023: 3450, 2024: 3692, 2025: 3932, 2026: 4325},
    "rate_mci_per_month": {2023: 2, 2024: 2, 2025: 2, 2026: 4},
    "regional_coefficient": {},
}
DEFAULT_REGIONAL_COEFFICIENT = 1.0


def tax_due(year: int, months: int, region: str, tables: Mapping[str, Mapping]) -> int:
    """The IIT prepayment due, in whole tenge, for `months` of a permit filed in `year`."""
    return _calculation(year, months, region, tables)["due_kzt"]


def check_tax(payment: Mapping[str, Any] | None, applicant_iin: str, year: int, months: int,
              region: str, tables: Mapping[str, Mapping]) -> dict:
    """Does the receipt cover the months asked for, and was it paid by the applicant?

    `payment` holds `receipt_no`, `amount_kzt` (int), `paid_at` and `payer_iin`; None when
    no receipt was given. Each failure is a `tax_underpaid` ground: the amount (check
    `tax.amount`) and, separately, a receipt paid under another IIN (check `tax.payer`),
    because a prepayment by someone else is not the applicant's prepayment.
    """
    calculation = _calculation(year, months, region, tables)
    due = calculation["due_kzt"]
    payment = payment or {}
    paid = payment.get("amount_kzt") or 0
    if not isinstance(paid, int) or isinstance(paid, bool) or paid < 0:
        raise ValueError(f"amount_kzt must be whole tenge (a non-negative int), not {paid!r}")
    receipt = payment.get("receipt_no") or "(none)"
    grounds = []
    if paid < due:
        grounds.append(make_ground(
            "tax_underpaid", "tax.amount",
            f"Receipt {receipt} shows {_kzt(paid)} KZT paid; a permit for {months} month(s) "
            f"applied for in {year} requires {_kzt(due)} KZT ({calculation['formula']}). "
            f"Short by {_kzt(due - paid)} KZT.",
            due_kzt=due, paid_kzt=paid, shortfall_kzt=due - paid))
    payer = payment.get("payer_iin")
    payer_matches = payer == applicant_iin
    if payment and not payer_matches:
        grounds.append(make_ground(
            "tax_underpaid", "tax.payer",
            f"Receipt {receipt} was paid under IIN {mask_iin(payer) or '(none)'}, not under the "
            f"applicant's IIN {mask_iin(applicant_iin)}: the prepayment must be the applicant's.",
            payer_iin_masked=mask_iin(payer)))
    return {
        "ok": not grounds,
        "due_kzt": due,
        "paid_kzt": paid,
        "shortfall_kzt": max(due - paid, 0),
        "payer_matches": payer_matches,
        "receipt_no": payment.get("receipt_no"),
        "calculation": calculation,
        "grounds": grounds,
    }


@operator("tax.check")
def check(ctx, payment, applicant_iin, filing_date, months, region) -> dict:
    """`tax.check`: the receipt against the tax due for `months` at the MCI of the filing year.

    For an extension `months` is the number of additional months.
    """
    year = as_date(filing_date).year
    return check_tax(payment, applicant_iin, year, months, region,
                     reference.tax_tables(year, region, session=ctx.session))


def default_tables(region_codes: Iterable[str]) -> dict:
    """DEFAULT_TABLES with a coefficient of 1.0 for every region given (config REGIONS)."""
    return {
        "mci": dict(DEFAULT_TABLES["mci"]),
        "rate_mci_per_month": dict(DEFAULT_TABLES["rate_mci_per_month"]),
        "regional_coefficient": {code: DEFAULT_REGIONAL_COEFFICIENT for code in region_codes},
    }


def _calculation(year: int, months: int, region: str, tables: Mapping[str, Mapping]) -> dict:
    if not isinstance(months, int) or isinstance(months, bool) or months < 1:
        raise ValueError(f"months must be a whole number ≥ 1, not {months!r}")
    mci = _lookup(tables, "mci", year, f"MCI for {year} is not loaded")
    rate = _lookup(tables, "rate_mci_per_month", year,
                   f"IIT prepayment rate (MCI per month) for {year} is not loaded")
    coefficient = _lookup(tables, "regional_coefficient", region,
                          f"regional coefficient for region {region} is not loaded")
    exact = _decimal(rate) * _decimal(mci) * months * _decimal(coefficient)
    due = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    formula = f"{_plain(rate)} MCI × {_kzt(mci)} KZT × {months} month(s)"
    if _decimal(coefficient) != 1:
        formula += f" × regional coefficient {_plain(coefficient)}"
    return {"year": year, "months": months, "region": region, "mci_kzt": mci,
            "rate_mci_per_month": _plain(rate), "regional_coefficient": _plain(coefficient),
            "due_kzt": due, "formula": formula}


def _lookup(tables: Mapping[str, Mapping], table: str, key: Any, message: str) -> Any:
    rows = tables.get(table) or {}
    # JSON turns year keys into strings; accept either.
    for candidate in (key, str(key)):
        if candidate in rows and rows[candidate] is not None:
            return rows[candidate]
    raise MissingReferenceData(message)


def _decimal(value: Any) -> Decimal:
    # str() first: Decimal(0.1) would carry the float's binary error into money.
    return Decimal(str(value))


def _plain(value: Any) -> str:
    """A figure for a text: 4 not 4.0, 1.15 as is."""
    number = _decimal(value).normalize()
    return format(number, "f")


def _kzt(amount: int) -> str:
    return f"{amount:,}".replace(",", " ")
