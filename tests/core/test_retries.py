"""The one retry policy every retry loop of the package uses."""

from __future__ import annotations

import pytest

from starlette_dynamo_session._core.retries import INDEX_WRITE, MERGE, REVOKE_ALL, UNPROCESSED_KEYS, Backoff

pytestmark = pytest.mark.anyio


def test_pauses_double_with_each_failed_try_up_to_the_cap() -> None:
    policy = Backoff(attempts=10, first=0.01, cap=0.05)
    assert [policy.longest_pause(attempt) for attempt in range(5)] == [0.01, 0.02, 0.04, 0.05, 0.05]


def test_the_immediate_retries_go_without_a_pause() -> None:
    policy = Backoff(attempts=5, first=0.01, cap=1, immediate=2)
    assert [policy.longest_pause(attempt) for attempt in range(4)] == [0.0, 0.0, 0.04, 0.08]


def test_a_very_late_attempt_still_pauses_at_most_the_cap() -> None:
    assert Backoff(attempts=10_000, first=0.01, cap=0.2).longest_pause(9_999) == 0.2


def test_only_the_last_try_is_last() -> None:
    policy = Backoff(attempts=3, first=0.01, cap=0.2)
    assert [policy.last(attempt) for attempt in policy.tries()] == [False, False, True]


async def test_a_pause_sleeps_on_the_event_loop_for_at_most_its_longest(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("starlette_dynamo_session._core.retries.anyio.sleep", sleep)
    policy = Backoff(attempts=20, first=0.01, cap=0.2, immediate=1)
    for attempt in policy.tries():
        await policy.pause(attempt)
    assert len(slept) == policy.attempts - 1
    assert all(0 <= seconds <= policy.longest_pause(attempt) for attempt, seconds in enumerate(slept, start=1))


@pytest.mark.parametrize("policy", [MERGE, INDEX_WRITE, REVOKE_ALL, UNPROCESSED_KEYS])
def test_every_policy_tries_more_than_once_and_pauses_at_most_a_fifth_of_a_second(policy: Backoff) -> None:
    assert policy.attempts > 1
    assert max(policy.longest_pause(attempt) for attempt in policy.tries()) <= 0.2
