"""The aiohttp transport's adaptive in-flight limit: the rule, fed synthetic samples on a fake clock (no sleeps, no
real timing), and the slots' queue: first come first served, and safe against cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from starlette_dynamo_session._dynamodb.transports.in_flight import (
    BUSY_GROWTH,
    BUSY_LIMIT,
    DECREASE,
    FLOOR,
    INITIAL,
    LAG_TARGET,
    InFlightLimit,
    InFlightSlots,
)

QUIET = LAG_TARGET / 10  # a loop lag well within the target
LAGGING = LAG_TARGET * 10  # a loop lag well over it
IDLE = BUSY_GROWTH / 10  # a loop busy a small share of the time


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


START = 32  # the limit the rule's tests start from: well over the floor, so that cuts show


def rule(ceiling: int = 64, clock: FakeClock | None = None) -> InFlightLimit:
    return InFlightLimit(ceiling, initial=START, clock=clock or FakeClock())


# The rule


def test_it_starts_at_the_initial_limit_within_the_floor_and_the_ceiling() -> None:
    assert InFlightLimit(64).limit == INITIAL
    assert InFlightLimit(2).limit == 2
    assert (InFlightLimit(2).floor, InFlightLimit(64).floor) == (2, FLOOR)


def test_a_ceiling_under_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1, not 0"):
        InFlightLimit(0)


def test_while_the_loop_is_quiet_and_requests_queue_the_limit_grows_by_one_per_sample() -> None:
    limit = rule()
    for grown in range(1, 11):
        limit.answered(0.080, queued=True)
        limit.sample(QUIET, IDLE)
        assert limit.limit == START + grown


def test_the_limit_grows_once_per_sample_however_many_answers_came_between() -> None:
    limit = rule()
    for _ in range(50):
        limit.answered(0.001, queued=True)
    limit.sample(QUIET, IDLE)
    limit.sample(QUIET, IDLE)  # no answer since the last sample
    assert limit.limit == START + 1


def test_the_limit_does_not_grow_when_no_request_waits_for_it() -> None:
    limit = rule()
    for _ in range(100):
        limit.answered(0.020, queued=False)
        limit.sample(QUIET, IDLE)
    assert limit.limit == START


def test_the_limit_does_not_grow_while_the_loop_lags() -> None:
    limit = rule()  # the clock stands still: one cut, then none within the round trip
    for _ in range(100):
        limit.answered(0.020, queued=True)
        limit.sample(LAGGING, IDLE)
    assert limit.limit == int(START * DECREASE)


def test_a_lagging_loop_cuts_the_limit_at_most_once_per_round_trip() -> None:
    clock = FakeClock()
    limit = rule(clock=clock)
    limit.answered(0.080, queued=False)  # a round trip of 80 ms
    limit.sample(LAGGING, IDLE)
    assert limit.limit == int(START * DECREASE)
    clock.now += 0.040
    limit.sample(LAGGING, IDLE)
    assert limit.limit == int(START * DECREASE)  # the requests sent before the cut have not all answered yet
    clock.now += 0.040
    limit.sample(LAGGING, IDLE)
    assert limit.limit == int(START * DECREASE * DECREASE)


def test_a_lagging_loop_never_cuts_the_limit_under_the_floor() -> None:
    clock = FakeClock()
    limit = rule(clock=clock)
    for _ in range(50):
        clock.now += 1
        limit.sample(LAGGING, IDLE)
    assert limit.limit == FLOOR


def test_after_a_cut_the_limit_grows_again_by_one_per_sample() -> None:
    clock = FakeClock()
    limit = rule(clock=clock)
    limit.answered(0.020, queued=False)
    limit.sample(5 * LAG_TARGET, IDLE)  # smoothed: just over the target
    for _ in range(20):  # the smoothed lag settles back under the target
        clock.now += 0.010
        limit.sample(QUIET, IDLE)
    after_cut = limit.limit
    assert after_cut == int(START * DECREASE)
    for _ in range(3):
        limit.answered(0.020, queued=True)
        limit.sample(QUIET, IDLE)
    assert limit.limit == after_cut + 3


def test_the_limit_never_grows_over_the_ceiling() -> None:
    limit = rule(ceiling=20)
    for _ in range(1000):
        limit.answered(0.080, queued=True)
        limit.sample(QUIET, IDLE)
    assert limit.limit == 20


def test_it_settles_where_the_loop_lag_crosses_the_target() -> None:
    """A synthetic loop whose lag grows with the requests in flight: over the target beyond 24 of them. The limit
    climbs, is cut, and keeps oscillating just under that point, never far from it."""
    clock = FakeClock()
    limit = rule(clock=clock)
    seen: list[int] = []
    for _ in range(2000):
        clock.now += 0.010
        limit.sample(LAG_TARGET * limit.limit / 24, IDLE)
        for _ in range(limit.limit // 2):  # half the requests in flight answer every 10 ms: a 20 ms round trip
            limit.answered(0.020, queued=True)
        seen.append(limit.limit)
    settled = seen[500:]
    assert min(settled) >= 12 and max(settled) <= 32
    assert 18 <= sum(settled) / len(settled) <= 26


def test_a_busy_loop_shrinks_the_limit_by_one_per_sample_down_to_the_floor() -> None:
    limit = rule(ceiling=20)
    for _ in range(100):
        limit.answered(0.020, queued=True)
        limit.sample(QUIET, IDLE)
    seen = [limit.limit]
    for _ in range(100):
        limit.sample(QUIET, 1.0)
        seen.append(limit.limit)
    steps = {before - after for before, after in zip(seen, seen[1:], strict=False)}
    assert seen[0] == 20 and seen[-1] == FLOOR
    assert steps == {0, 1}


def test_the_busy_share_is_smoothed_before_it_shrinks_the_limit() -> None:
    limit = rule()
    limit.sample(QUIET, 1.0)  # one busy sample after idle ones: 10% of the way
    assert limit.busy_share == pytest.approx(0.1)
    assert limit.limit == START


def test_between_the_growth_share_and_the_busy_limit_the_limit_holds() -> None:
    between = (BUSY_GROWTH + BUSY_LIMIT) / 2
    limit = rule()
    for _ in range(200):  # the smoothed share settles between the two, with no request queued
        limit.sample(QUIET, between)
    assert BUSY_GROWTH < limit.busy_share < BUSY_LIMIT
    for _ in range(100):
        limit.answered(0.020, queued=True)
        limit.sample(QUIET, between)
    assert limit.limit == START


def test_it_settles_where_the_loop_busy_share_crosses_its_limits() -> None:
    """A synthetic loop busy in proportion to the requests in flight: half the time at 20 of them, 60% at 24. The
    smoothed share lags behind: the limit climbs past both, shrinks past them, and settles between the two."""
    limit = rule()
    seen: list[int] = []
    for _ in range(3000):
        limit.answered(0.020, queued=True)
        limit.sample(QUIET, limit.limit / 40)
        seen.append(limit.limit)
    settled = seen[1000:]
    assert min(settled) >= 18 and max(settled) <= 28
    assert 19 <= sum(settled) / len(settled) <= 25


def test_a_slow_store_on_a_quiet_loop_reaches_the_ceiling() -> None:
    clock = FakeClock()
    limit = rule(ceiling=64, clock=clock)
    for _ in range(100):  # one second, a sample every 10 ms
        clock.now += 0.010
        for _ in range(limit.limit // 8):  # an eighth of the requests in flight answer every 10 ms: 80 ms each
            limit.answered(0.080, queued=True)
        limit.sample(QUIET, IDLE)
    assert limit.limit == 64


# The slots


def slots_of(size: int, loop: asyncio.AbstractEventLoop) -> InFlightSlots:
    """Slots whose limit stays at ``size`` and that take no lag sample while a test runs."""
    return InFlightSlots(InFlightLimit(size, floor=size, initial=size), loop, interval=3600)


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.anyio
async def test_waiters_get_the_slots_first_come_first_served() -> None:
    slots = slots_of(2, asyncio.get_running_loop())
    taken = [await slots.acquire(), await slots.acquire()]
    order: list[int] = []

    async def wait(number: int) -> None:
        await slots.acquire()
        order.append(number)

    tasks = [asyncio.ensure_future(wait(number)) for number in range(5)]
    await settle()
    assert (slots.in_flight, slots.waiting, order) == (2, 5, [])
    slots.release(taken[0])
    await settle()
    assert order == [0]
    for _ in range(4):
        slots.release(taken[0])
        await settle()
    assert order == [0, 1, 2, 3, 4]
    assert (slots.in_flight, slots.waiting) == (2, 0)
    await asyncio.gather(*tasks)


@pytest.mark.anyio
async def test_a_newcomer_does_not_pass_the_waiters() -> None:
    slots = slots_of(1, asyncio.get_running_loop())
    taken = await slots.acquire()
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.acquire()
        order.append(name)
        slots.release(taken)

    first = asyncio.ensure_future(wait("waiting"))
    await settle()
    slots.release(taken)  # the slot is handed to the waiter before the newcomer below asks
    second = asyncio.ensure_future(wait("newcomer"))
    await asyncio.gather(first, second)
    assert order == ["waiting", "newcomer"]
    assert slots.in_flight == 0


@pytest.mark.anyio
async def test_a_cancelled_waiter_takes_no_slot_and_leaves_the_queue() -> None:
    slots = slots_of(1, asyncio.get_running_loop())
    taken = await slots.acquire()
    cancelled = asyncio.ensure_future(slots.acquire())
    behind = asyncio.ensure_future(slots.acquire())
    await settle()
    cancelled.cancel()
    await settle()
    assert cancelled.cancelled()
    assert (slots.in_flight, slots.waiting) == (1, 1)
    slots.release(taken)
    await settle()
    assert behind.done() and (slots.in_flight, slots.waiting) == (1, 0)


@pytest.mark.anyio
async def test_a_waiter_cancelled_after_it_was_handed_a_slot_hands_it_on() -> None:
    slots = slots_of(1, asyncio.get_running_loop())
    taken = await slots.acquire()
    handed = asyncio.ensure_future(slots.acquire())
    behind = asyncio.ensure_future(slots.acquire())
    await settle()
    slots.release(taken)  # hands the slot to the first waiter, which has not resumed yet
    handed.cancel()
    await settle()
    assert handed.cancelled()
    assert behind.done() and (slots.in_flight, slots.waiting) == (1, 0)
    slots.release(taken)
    assert slots.in_flight == 0


@pytest.mark.anyio
async def test_the_last_cancelled_waiter_does_not_block_the_next_request() -> None:
    slots = slots_of(1, asyncio.get_running_loop())
    taken = await slots.acquire()
    cancelled = asyncio.ensure_future(slots.acquire())
    await settle()
    cancelled.cancel()
    await settle()
    slots.release(taken)
    assert (slots.in_flight, slots.waiting) == (0, 0)
    await asyncio.wait_for(slots.acquire(), timeout=5)
    assert slots.in_flight == 1


@pytest.mark.anyio
async def test_the_slots_sample_the_loop_lag_while_requests_are_in_flight_and_log_each_new_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    slots = InFlightSlots(InFlightLimit(64, clock=clock), loop, interval=0, clock=clock, cpu_clock=clock)
    caplog.set_level(logging.DEBUG, logger="starlette_dynamo_session")
    taken = [await slots.acquire() for _ in range(INITIAL)]
    waiter = asyncio.ensure_future(slots.acquire())
    await settle()  # the lag samples see no time pass on the fake clock: a quiet loop
    assert slots.rule.smoothed_lag == 0
    for started in taken:
        slots.release(started)
    await waiter
    await settle()
    assert slots.rule.limit == INITIAL + 1  # one sample saw requests queued since the one before
    limits = [getattr(record, "in_flight_limit", None) for record in caplog.records]
    assert limits == [INITIAL, INITIAL + 1]
    slots.release(clock())
    for _ in range(10):
        await asyncio.sleep(0)
    assert slots.in_flight == 0


@pytest.mark.anyio
async def test_the_slots_measure_the_busy_share_as_the_loop_threads_cpu_time_over_the_time_passed() -> None:
    wall = FakeClock()

    def cpu() -> float:  # the loop's thread on the CPU 70% of the time
        return wall.now * 0.7

    loop = asyncio.get_running_loop()
    slots = InFlightSlots(InFlightLimit(64, clock=wall), loop, interval=0, clock=wall, cpu_clock=cpu)
    taken = await slots.acquire()
    for _ in range(60):
        wall.now += 0.010
        await settle()
    assert slots.rule.busy_share == pytest.approx(0.7, abs=0.01)
    slots.release(taken)
    await settle()
    assert slots.in_flight == 0
