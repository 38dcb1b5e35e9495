"""How the instants of an item read back: exactly as written, and any other number as its decimal value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from starlette_dynamo_session._dynamodb.attributes import instant, number

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)))
def test_an_instant_reads_back_to_the_microsecond_it_was_written(moment: datetime) -> None:
    assert instant(number(moment)) == moment


@pytest.mark.parametrize(
    "text",
    ["1700000000", "1700000000.5", "1.7e9", "0001700000000.000001", "-100.000000", "１７００００００００.000000"],
)
def test_a_number_written_otherwise_reads_as_its_decimal_value(text: str) -> None:
    assert instant(text) == EPOCH + timedelta(microseconds=int(Decimal(text) * 1_000_000))


@pytest.mark.parametrize(
    "text", ["253402300000.000000", "253402300000", "1e400", "NaN", "12.34.56", "", "1.000000 seconds"]
)
def test_a_number_beyond_the_instants_a_session_can_hold_or_no_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not"):
        instant(text)
