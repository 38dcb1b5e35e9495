"""The aiohttp transport's bound on DynamoDB requests in flight: one per event loop, adapting to what the loop carries.

Every request in flight on the aiohttp transport costs CPU on the event loop's one core (signing, writing, reading,
parsing), and that core also serves the requests that never touch a session. A request waiting on DynamoDB costs
nothing while it waits. So the limit follows the loop, not DynamoDB's latency. While requests are in flight or
waiting, the loop is sampled every ``SAMPLE_INTERVAL``, on the CPU time of its thread (the loop's own work, not the
time the system gave other processes, which no limit here would give back), for two figures:

* its lag: how long a callback that became ready waits for the loop to run it. A timer, which runs at the end of one
  pass of the loop, schedules a callback and measures how late it runs: a whole pass, which is what a newly arrived
  request waits before it is served;
* its busy share: the CPU time of the loop's thread over the time passed since the last sample.

Then, per sample:

* when the smoothed lag exceeds ``LAG_TARGET``, the loop is overloaded: the limit shrinks to ``DECREASE`` of itself,
  at most once per round trip (the requests sent before a cut answer within one);
* when the smoothed busy share exceeds ``BUSY_LIMIT``, the limit shrinks by one: the loop keeps the rest of its time
  for the requests that do not wait on DynamoDB;
* while the busy share stays under ``BUSY_GROWTH`` and requests queued at the limit since the last sample, the limit
  grows by one. Growth per unit of time, not per round trip, adds load to the loop at a pace that does not depend on
  DynamoDB's latency: one more request in flight costs the loop its CPU once per round trip, so the longer the round
  trip, the more requests in flight the same load allows;
* between the two shares, the limit holds. A steady limit sends at a steady pace, which the loop and its garbage
  collector carry better than one that keeps moving;
* it never goes under ``FLOOR`` nor over the connection pool (``max_pool_connections``), and starts at ``INITIAL``.
  Under the floor, shrinking gives little back: with a DynamoDB quick enough, a few requests in flight keep the loop
  as busy as many, and fewer of them per pass cost more CPU each.

A quick DynamoDB needs few requests in flight for a given rate, so the loop's busy share bounds the rate at which
requests are served; a slow one needs many, each cheap while it waits, so the limit climbs until the loop is as busy
as ``BUSY_GROWTH``, or until the pool is full. The first limit and each change are logged at DEBUG on the
``starlette_dynamo_session`` logger, with the limit in the record's ``in_flight_limit``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable

__all__ = [
    "BUSY_GROWTH",
    "BUSY_LIMIT",
    "DECREASE",
    "FLOOR",
    "INITIAL",
    "LAG_TARGET",
    "SAMPLE_INTERVAL",
    "InFlightLimit",
    "InFlightSlots",
]

LAG_TARGET = 0.001  # seconds: the smoothed loop lag over which the limit is cut
BUSY_LIMIT = 0.6  # the smoothed share of the time the loop's thread may be busy before the limit shrinks
BUSY_GROWTH = 0.5  # the smoothed busy share under which the limit may grow
SAMPLE_INTERVAL = 0.010  # seconds between two samples of the loop, while requests are in flight or waiting
# Requests in flight the limit never goes under. Under it, a loop saturated by session requests with a quick
# DynamoDB stays saturated but serves fewer of them per pass, and spends more CPU on each (docs/benchmarks.md).
FLOOR = 12
INITIAL = FLOOR  # requests in flight allowed before the first sample
DECREASE = 0.75  # of the limit, kept when the lag exceeds the target
SMOOTHING = 0.25  # weight of a new sample in the smoothed lag and round trip
BUSY_SMOOTHING = 0.1  # weight of a new sample in the smoothed busy share: about the last 100 ms

Clock = Callable[[], float]
logger = logging.getLogger("starlette_dynamo_session")


class InFlightLimit:
    """The rule: fed samples of the loop (``sample``: its lag and busy share) and of answered requests (``answered``),
    it says how many requests may be in flight (``limit``). Holds no timer and reads the time only from ``clock``."""

    def __init__(
        self,
        ceiling: int,
        *,
        floor: int = FLOOR,
        initial: int = INITIAL,
        clock: Clock = time.monotonic,
    ) -> None:
        if ceiling < 1:
            raise ValueError(f"the in-flight ceiling must be at least 1, not {ceiling}")
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self._clock = clock
        self._limit = 0.0
        self._move(initial)
        self._lag = 0.0  # smoothed, seconds
        self._busy = 0.0  # smoothed share of the time
        self._round_trip = 0.0  # smoothed, seconds; 0 until the first answer
        self._queued = False  # requests queued at the limit since the last sample
        self._last_cut = -math.inf

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return int(self._limit)

    @property
    def smoothed_lag(self) -> float:
        """The loop's lag, smoothed over the last samples (seconds)."""
        return self._lag

    @property
    def busy_share(self) -> float:
        """The share of the time the loop's thread was busy, smoothed over the last samples (0 to 1)."""
        return self._busy

    @property
    def round_trip(self) -> float:
        """A request's time in flight, smoothed over the last answers (seconds; 0 before the first)."""
        return self._round_trip

    def sample(self, lag: float, busy: float) -> None:
        """One sample of the loop: its ``lag`` (seconds) and the share of the time it was ``busy`` since the last
        sample. Cut the limit if the smoothed lag is over the target and the last cut is at least one round trip old;
        else shrink it by one if the smoothed busy share is over ``BUSY_LIMIT``; else grow it by one if the share is
        under ``BUSY_GROWTH`` and requests queued at the limit since the last sample."""
        self._lag += SMOOTHING * (lag - self._lag)
        self._busy += BUSY_SMOOTHING * (busy - self._busy)
        queued, self._queued = self._queued, False
        if self._lag > LAG_TARGET:
            now = self._clock()
            if now - self._last_cut >= self._round_trip:
                self._move(self._limit * DECREASE)
                self._last_cut = now
        elif self._busy > BUSY_LIMIT:
            self._move(self._limit - 1)
        elif queued and self._busy < BUSY_GROWTH:
            self._move(self._limit + 1)

    def _move(self, limit: float) -> None:
        self._limit = float(min(self.ceiling, max(self.floor, limit)))

    def answered(self, round_trip: float, *, queued: bool) -> None:
        """One request answered after ``round_trip`` seconds in flight, with others ``queued`` at the limit."""
        self._round_trip = (
            round_trip if not self._round_trip else self._round_trip + SMOOTHING * (round_trip - self._round_trip)
        )
        self._queued = self._queued or queued


class InFlightSlots:
    """The slots of one event loop: ``acquire`` waits for one (first come, first served), ``release`` gives it back.
    While any is taken or awaited, it samples the loop's lag and busy share (on ``cpu_clock``, the loop thread's CPU
    time, against ``clock``) for its ``InFlightLimit``; round trips are timed on ``clock``."""

    def __init__(
        self,
        limit: InFlightLimit,
        loop: asyncio.AbstractEventLoop,
        *,
        interval: float = SAMPLE_INTERVAL,
        clock: Clock = time.monotonic,
        cpu_clock: Clock = time.thread_time,
    ) -> None:
        self.rule = limit
        self._loop = loop
        self._interval = interval
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sampling = False
        self._since = (0.0, 0.0)  # the time and the loop thread's CPU time at the last sample
        self._logged = 0  # the limit logged last: the first one is logged too

    @property
    def in_flight(self) -> int:
        """Slots taken now."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return len(self._waiters)

    async def acquire(self) -> float:
        """Wait for a slot, after every request that waited before; return the time it was taken (for
        ``release``). A waiter cancelled takes no slot, or gives back the one it was just handed."""
        if not self._waiters and self._in_flight < self.rule.limit:
            self._in_flight += 1
        else:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed a slot, cancelled before it resumed
                    self._in_flight -= 1
                else:
                    self._waiters.remove(waiter)
                self._wake()
                raise
        self._sample_soon()
        return self._clock()

    def release(self, taken: float) -> None:
        """Give back the slot ``acquire`` took at ``taken``, and hand it on to the first waiter."""
        self._in_flight -= 1
        self.rule.answered(self._clock() - taken, queued=bool(self._waiters))
        self._wake()

    def _wake(self) -> None:
        """Hand free slots to the waiters, first come first."""
        while self._waiters and self._in_flight < self.rule.limit:
            self._in_flight += 1
            self._waiters.popleft().set_result(None)
        if self._logged != self.rule.limit:
            self._logged = self.rule.limit
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "in-flight limit %d (loop lag %.2f ms, busy %.0f%%, round trip %.1f ms)",
                    self._logged,
                    self.rule.smoothed_lag * 1000,
                    self.rule.busy_share * 100,
                    self.rule.round_trip * 1000,
                    extra={"in_flight_limit": self._logged},
                )

    def _sample_soon(self) -> None:
        if not self._sampling:
            self._sampling = True
            self._since = (self._clock(), self._cpu_clock())
            self._loop.call_later(self._interval, self._align)

    def _align(self) -> None:
        # A timer runs after the pass's I/O callbacks: what it schedules runs after the whole next pass.
        self._loop.call_soon(self._end_pass, self._cpu_clock())

    def _end_pass(self, started: float) -> None:
        now, cpu = self._clock(), self._cpu_clock()
        then, cpu_then = self._since
        self._since = (now, cpu)
        busy = min(1.0, (cpu - cpu_then) / (now - then)) if now > then else self.rule.busy_share
        self.rule.sample(cpu - started, busy)
        self._wake()
        if self._in_flight or self._waiters:
            self._loop.call_later(self._interval, self._align)
        else:
            self._sampling = False
