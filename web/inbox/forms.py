"""Reading a posted form field by field: each bad field gets its own message, in the reader's language."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from flask import request
from flask_babel import gettext


class Form:
    """The posted values, and the errors found so far keyed by field name."""

    def __init__(self, data=None):
        self.data = data if data is not None else request.form
        self.errors: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return not self.errors

    def values(self) -> dict:
        return {key: self.data.get(key) for key in self.data if key != "csrf_token"}

    def error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def text(self, field: str, *, required: bool = False, max_length: int = 300) -> str | None:
        value = (self.data.get(field) or "").strip()
        if not value:
            if required:
                self.error(field, gettext("Fill this in."))
            return None
        if len(value) > max_length:
            self.error(field, gettext("At most %(n)s characters.", n=max_length))
            return None
        return value

    def choice(self, field: str, allowed, *, required: bool = True) -> str | None:
        value = (self.data.get(field) or "").strip()
        if not value:
            if required:
                self.error(field, gettext("Choose one."))
            return None
        if value not in allowed:
            self.error(field, gettext("Choose one of the listed values."))
            return None
        return value

    def choices(self, field: str, allowed, *, required: bool = True) -> list[str]:
        values = [v for v in self.data.getlist(field) if v]
        if not values and required:
            self.error(field, gettext("Choose at least one."))
        elif any(v not in allowed for v in values):
            self.error(field, gettext("Choose only the listed values."))
            return []
        return sorted(set(values))

    def whole(self, field: str, *, minimum: int, maximum: int | None = None) -> int | None:
        raw = (self.data.get(field) or "").strip().replace(" ", "").replace("\u00a0", "")
        if not raw:
            self.error(field, gettext("Fill this in."))
            return None
        if not (raw.isdigit() or (raw.startswith("-") and raw[1:].isdigit())):
            self.error(field, gettext("Give a whole number."))
            return None
        number = int(raw)
        if number < minimum or (maximum is not None and number > maximum):
            self.error(field, gettext("Give a number from %(low)s to %(high)s.", low=minimum, high=maximum)
                       if maximum is not None else gettext("Give a number of at least %(low)s.", low=minimum))
            return None
        return number

    def positive_decimal(self, field: str) -> Decimal | None:
        raw = (self.data.get(field) or "").strip().replace(",", ".")
        if not raw:
            self.error(field, gettext("Fill this in."))
            return None
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or number <= 0:
            self.error(field, gettext("Give a number above zero, such as 1.5."))
            return None
        return number

    def day(self, field: str, *, required: bool = True) -> date | None:
        raw = (self.data.get(field) or "").strip()
        if not raw:
            if required:
                self.error(field, gettext("Fill this in."))
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.error(field, gettext("Give a date as YYYY-MM-DD."))
            return None
