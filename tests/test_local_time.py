"""One service time zone (CALENDAR_TIMEZONE) for every "which day is it": the filing day, an
IIN's birth date against today, a permit's days; and one rule for a permit's length."""
from datetime import date, datetime, timezone

import pytest
import time_machine
from marshmallow import ValidationError

from engine import clock
from handlers.identity import check_digit
from tests.conftest import running_app

# 12:00 UTC on 28.11.2026: 17:00 that day in Almaty (UTC+5), already 29.11 02:00 on Kiritimati (UTC+14).
NOON_UTC = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def _iin_born(day: date) -> str:
    for serial in range(1, 100):
        first = f"{day:%y%m%d}5{serial:04d}"  # 5: a man born in the 2000s
        digit = check_digit(first)
        if digit is not None:
            return first + str(digit)
    raise AssertionError("no valid IIN for the day")


BORN_29_NOV_2026 = _iin_born(date(2026, 11, 29))


def test_the_day_it_is_follows_the_configured_zone_not_a_built_in_one():
    with time_machine.travel(NOON_UTC, tick=False):
        assert clock.local_today({"CALENDAR_TIMEZONE": "Asia/Almaty"}) == date(2026, 11, 28)
        assert clock.local_today({"CALENDAR_TIMEZONE": "Pacific/Kiritimati"}) == date(2026, 11, 29)
        assert clock.to_local(NOON_UTC, {"CALENDAR_TIMEZONE": "Asia/Almaty"}).hour == 17


@pytest.mark.parametrize("zone, accepted", [("Pacific/Kiritimati", True), ("Asia/Almaty", False)])
def test_an_iin_born_today_in_the_service_zone_is_accepted_and_one_born_tomorrow_refused(
        migrated_database, zone, accepted):
    from web.api.schemas import EmployerSchema
    body = {"iin": BORN_29_NOV_2026, "full_name": "Aizhan Bekova", "address": "Astana, Kabanbay Batyr 7"}
    for _ in running_app(CALENDAR_TIMEZONE=zone):
        with time_machine.travel(NOON_UTC, tick=False):
            if accepted:
                assert EmployerSchema().load(body)["iin"] == BORN_29_NOV_2026
            else:
                with pytest.raises(ValidationError) as refused:
                    EmployerSchema().load(body)
                assert "iin" in refused.value.messages


def test_a_permit_longer_than_configured_is_refused_alike_by_the_api_and_the_register(migrated_database):
    from handlers import permits
    from web.api.schemas import PeriodSchema
    for app in running_app(PERMIT_MAX_MONTHS=6):
        with time_machine.travel(NOON_UTC, tick=False):
            period = {"months": 7, "start_date": "2026-11-28"}
            with pytest.raises(ValidationError) as refused:
                PeriodSchema().load(period)
            assert refused.value.messages == {"months": ["must be from 1 to 6"]}
            assert PeriodSchema().load(dict(period, months=6))["months"] == 6
            with pytest.raises(ValueError, match="a permit lasts 1 to 6 whole months, not 7"):
                permits.issue(None, region="AST", holder={}, employer={}, valid_from="2026-11-28",
                              months=7, instance_id="case", actor="test", config=app.config,
                              now=NOON_UTC)
