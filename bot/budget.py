"""The write budget: every content-creating GitHub request, paced per installation in the database.

What GitHub documents ("Rate limits for the REST API", "Best practices for using the REST API"):

* secondary limits: in general no more than 80 content-generating requests per minute and no
  more than 500 per hour; beyond that a 403 (or 429) saying "secondary rate limit";
* make requests serially, not concurrently, and wait at least one second between POST, PATCH,
  PUT and DELETE requests;
* after a rate-limit error: when ``retry-after`` is present, wait that long; when
  ``x-ratelimit-remaining`` is 0, wait until ``x-ratelimit-reset``; otherwise wait at least a
  minute, and longer if it keeps happening -- an app that keeps hitting the limits can be banned.

So the budget is shared state of every process (tables ``write_budgets``, ``write_log``,
``write_waiters``, migration 0005), not memory: two workers on two machines pace one
installation together. For each write, :meth:`WriteBudget.acquire` takes the installation's one
write slot in a transaction (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) only
when all of these hold:

* no other write of the installation is in flight (one at a time; a slot whose process died is
  free again after ``slot_seconds``);
* ``interval`` seconds passed since the installation's last write started;
* every window (by default 60 per minute and 450 per hour: headroom under 80 and 500, for
  writes GitHub counts that are not ours, such as a person's in the same installation) has room
  in the ``write_log`` of that installation;
* the installation is not paused (a secondary limit or 429 paused it until ``Retry-After``, else
  a minute, doubling while it keeps happening; a primary limit nearly spent pauses it until
  ``x-ratelimit-reset``);
* no waiter of higher priority (then: earlier) is waiting for the same installation, in any
  process (``write_waiters``; a waiter that stops renewing its row is forgotten in seconds).

Priorities (higher first): a failing check run, other check runs, replies to people, PR writes
by severity (leaked secret > vulnerability > broken build > drift > hygiene), everything else.
The client infers check runs and replies from the request; the PR engine says the severity with
``with writes_for(severity)``.

A writer never waits long while holding a worker slot: when the wait would pass ``max_wait``, or
(for writes below check runs) when its ``should_yield`` says a job that has not published its
check run yet is waiting, :class:`bot.errors.Deferred` hands the job back to the queue; it runs
again later (its writes are idempotent) and the attempt does not count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from bot.db import Database, Transaction
from bot.errors import Deferred

log = logging.getLogger("patchwell.budget")

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

FAILING_CHECK = 100
CHECK = 90
REPLY = 60
PULL_REQUEST = 20  # + the patch's severity rank (1 hygiene .. 5 leaked secret)
DEFAULT = 10

#: The priority of the writes made in this task (set by the PR engine per patch).
_WRITE_PRIORITY: ContextVar[int | None] = ContextVar("patchwell_write_priority", default=None)


@contextlib.contextmanager
def writes_for(severity: int) -> Iterator[None]:
    """Writes inside this block are PR writes for a patch of ``severity`` (rank 1..5)."""
    token = _WRITE_PRIORITY.set(PULL_REQUEST + int(severity))
    try:
        yield
    finally:
        _WRITE_PRIORITY.reset(token)


def write_priority(method: str, path: str, data: object = None) -> int:
    """How urgent a write is: check runs first, failing ones before all."""
    if "/check-runs" in path:
        failing = isinstance(data, Mapping) and data.get("conclusion") == "failure"
        return FAILING_CHECK if failing else CHECK
    chosen = _WRITE_PRIORITY.get()
    if chosen is not None:
        return chosen
    if path.endswith("/reactions") or path.endswith("/comments"):
        return REPLY  # someone commanded and is waiting for the answer
    return DEFAULT


@dataclass(frozen=True)
class Window:
    writes: int
    seconds: float


@dataclass(frozen=True)
class BudgetLimits:
    windows: tuple[Window, ...] = (Window(60, 60.0), Window(450, 3600.0))
    interval: float = 1.0  # between the starts of two writes of one installation
    slot_seconds: float = 35.0  # a dead process's write slot frees itself after this
    max_wait: float = 30.0  # a longer wait hands the job back (Deferred)
    default_pause: float = 60.0  # a limit hit without Retry-After
    max_pause: float = 3600.0
    primary_reserve: int = 50  # requests of the primary limit kept for reads


@dataclass(frozen=True)
class Writer:
    """Who writes: a job's name for logs, and when it should give its worker slot back."""

    name: str
    should_yield: Callable[[], Awaitable[bool]] | None = None


@dataclass(frozen=True)
class Slot:
    installation_id: int
    waiter: str
    waited: float  # seconds from asking to getting it
    at: float  # when it was taken (the time the windows count)


@dataclass(frozen=True)
class BudgetOverview:
    """All installations' budgets, as ``/metrics`` shows them."""

    lowest_remaining: int | None  # writes left in the tightest window of the busiest installation
    paused: int  # installations paused now
    pauses: int  # pauses since the start, all installations
    writes: int  # writes since the start, all installations
    waiting: int  # writes waiting for their turn now


@dataclass
class _Seen:
    """What this process last saw of a pause (reads check it without a query each time)."""

    paused_until: float = 0.0
    checked_at: float = -1e9


def limited(status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """Why GitHub refused a request for going too fast (``secondary``/``429``), or None."""
    if status == 429:
        return "429"
    if status == 403 and (
        "retry-after" in {k.lower() for k in headers}
        or b"secondary rate limit" in body[:2000].lower()
    ):
        return "secondary"
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after" and value.strip().isdigit():
            return float(value.strip())
    return None


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    for key, value in headers.items():
        if key.lower() == name and value.strip().isdigit():
            return int(value.strip())
    return None


class WriteBudget:
    """See the module docstring. One per process; every method is safe to call concurrently."""

    def __init__(
        self,
        db: Database,
        limits: BudgetLimits | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_pause: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.limits = limits or BudgetLimits()
        self.clock = clock
        self.sleep = sleep
        self.on_pause = on_pause
        self._seen: dict[int, _Seen] = {}
        self._primary_noted: dict[int, tuple[int, int]] = {}

    # ------------------------------------------------------------------ writes

    async def acquire(self, installation_id: int, priority: int, writer: Writer | None) -> Slot:
        """Wait for the installation's write slot (:class:`Deferred` instead of a long wait)."""
        waiter = f"{writer.name if writer else 'anonymous'}:{uuid.uuid4().hex[:12]}"
        started = self.clock()
        next_yield_check = started
        try:
            while True:
                turn = await self._try_take(installation_id, waiter, priority, started)
                now = self.clock()
                if isinstance(turn, float):
                    return Slot(installation_id, waiter, now - started, turn)
                sleep, estimate = turn
                if now + estimate - started > self.limits.max_wait:
                    raise Deferred(
                        f"installation {installation_id}: next write in {estimate:.0f}s",
                        retry_after=min(max(estimate, 1.0), self.limits.max_pause),
                    )
                if (
                    writer is not None
                    and writer.should_yield is not None
                    and priority < CHECK
                    and now >= next_yield_check
                ):
                    next_yield_check = now + 0.5
                    if await writer.should_yield():
                        raise Deferred("a job that owes a check run is waiting", retry_after=1.0)
                await self.sleep(sleep)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._forget_waiter(installation_id, waiter)
            raise

    async def release(
        self,
        slot: Slot,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> float | None:
        """Free the slot; pause the installation when GitHub refused us. Returns the pause."""
        headers = headers or {}
        reason = limited(status, headers, body) if status is not None else None
        now = self.clock()
        pause = None
        async with self.db.transaction() as tx:
            if reason is None:
                await tx.execute(
                    "UPDATE write_budgets SET writing = NULL, writing_until = NULL,"
                    " strikes = CASE WHEN ? THEN 0 ELSE strikes END, updated_at = ?"
                    " WHERE installation_id = ? AND writing = ?",
                    (status is not None and status < 400, now, slot.installation_id, slot.waiter),
                )
            else:
                row = await tx.fetchone(
                    "SELECT strikes FROM write_budgets WHERE installation_id = ?",
                    (slot.installation_id,),
                )
                strikes = int(row[0]) if row else 0
                pause = self._pause_for(retry_after(headers), strikes)
                await tx.execute(
                    "UPDATE write_budgets SET"
                    " writing = CASE WHEN writing = ? THEN NULL ELSE writing END,"
                    " writing_until = CASE WHEN writing = ? THEN NULL ELSE writing_until END,"
                    " paused_until = CASE WHEN paused_until > ? THEN paused_until ELSE ? END,"
                    " pause_reason = ?, pauses = pauses + 1, strikes = strikes + 1,"
                    " updated_at = ? WHERE installation_id = ?",
                    (
                        slot.waiter,
                        slot.waiter,
                        now + pause,
                        now + pause,
                        reason,
                        now,
                        slot.installation_id,
                    ),
                )
            await self._note_primary(tx, slot.installation_id, headers, now)
        if pause is not None:
            self._seen[slot.installation_id] = _Seen(now + pause, now)
            log.warning(
                "GitHub limited installation %s: all its writes pause %.0fs",
                slot.installation_id,
                pause,
                extra={"installation": slot.installation_id, "reason": reason},
            )
            if self.on_pause is not None:
                self.on_pause(reason or "secondary")
        return pause

    def _pause_for(self, told: float | None, strikes: int) -> float:
        if told is not None:
            return min(max(told, 1.0), self.limits.max_pause)
        # No Retry-After: at least a minute, doubling while it keeps happening.
        return min(self.limits.default_pause * 2 ** min(strikes, 12), self.limits.max_pause)

    async def _try_take(
        self, installation_id: int, waiter: str, priority: int, since: float
    ) -> tuple[float, float] | float:
        """Take the slot now (its time), or (seconds to sleep, estimated wait for our turn)."""
        limits = self.limits
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        async with self.db.transaction() as tx:
            now = self.clock()
            await tx.execute(
                "INSERT INTO write_budgets (installation_id, updated_at) VALUES (?, ?)"
                " ON CONFLICT (installation_id) DO NOTHING",
                (installation_id, now),
            )
            row = await tx.fetchone(
                "SELECT next_write_at, writing, writing_until, paused_until, primary_remaining,"
                f" primary_reset FROM write_budgets WHERE installation_id = ?{lock}",
                (installation_id,),
            )
            assert row is not None
            next_at, writing, writing_until, paused_until, remaining, reset = row
            free_at = max(float(next_at), float(paused_until))
            low = remaining is not None and int(remaining) <= limits.primary_reserve
            if low and reset is not None:
                free_at = max(free_at, float(reset))
            free_at = max(free_at, await self._windows_free_at(tx, installation_id, now))
            busy = writing is not None and writing_until is not None and float(writing_until) > now
            await tx.execute(
                "INSERT INTO write_waiters (installation_id, waiter, priority, since, expires_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (installation_id, waiter)"
                " DO UPDATE SET expires_at = excluded.expires_at",
                (installation_id, waiter, priority, since, now + max(5.0, 3 * limits.interval)),
            )
            ahead_row = await tx.fetchone(
                "SELECT COUNT(*) FROM write_waiters WHERE installation_id = ? AND expires_at > ?"
                " AND (priority > ? OR (priority = ? AND"
                "  (since < ? OR (since = ? AND waiter < ?))))",
                (installation_id, now, priority, priority, since, since, waiter),
            )
            ahead = int(ahead_row[0]) if ahead_row else 0
            if ahead == 0 and not busy and free_at <= now:
                await self._take(tx, installation_id, waiter, now)
                return now
        delay = max(free_at - now, 0.0)
        estimate = delay + ahead * limits.interval
        if busy or ahead:
            # The writer releases any moment / someone more urgent goes first: look again soon.
            delay = min(max(delay, 0.05), 2.0)
        return max(delay, 0.01), estimate

    async def _windows_free_at(self, tx: Transaction, installation_id: int, now: float) -> float:
        free_at = 0.0
        for window in self.limits.windows:
            # The n-th most recent write inside the window: while it is there, the window is full.
            row = await tx.fetchone(
                "SELECT at FROM write_log WHERE installation_id = ? AND at > ?"
                " ORDER BY at DESC LIMIT 1 OFFSET ?",
                (installation_id, now - window.seconds, window.writes - 1),
            )
            if row is not None:
                free_at = max(free_at, float(row[0]) + window.seconds)
        return free_at

    async def _take(self, tx: Transaction, installation_id: int, waiter: str, now: float) -> None:
        await tx.execute(
            "UPDATE write_budgets SET writing = ?, writing_until = ?, next_write_at = ?,"
            " writes = writes + 1, updated_at = ? WHERE installation_id = ?",
            (
                waiter,
                now + self.limits.slot_seconds,
                now + self.limits.interval,
                now,
                installation_id,
            ),
        )
        await tx.execute(
            "INSERT INTO write_log (installation_id, at) VALUES (?, ?)", (installation_id, now)
        )
        await tx.execute(
            "DELETE FROM write_waiters WHERE installation_id = ?"
            " AND (waiter = ? OR expires_at < ?)",
            (installation_id, waiter, now),
        )
        longest = max((w.seconds for w in self.limits.windows), default=0.0)
        await tx.execute(
            "DELETE FROM write_log WHERE installation_id = ? AND at <= ?",
            (installation_id, now - longest),
        )

    async def _forget_waiter(self, installation_id: int, waiter: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM write_waiters WHERE installation_id = ? AND waiter = ?",
                (installation_id, waiter),
            )

    # ------------------------------------------------------------------ reads and primary limits

    async def before_read(self, installation_id: int) -> None:
        """Wait out a pause of the installation before a read (a query at most once a second)."""
        seen = self._seen.setdefault(installation_id, _Seen())
        now = self.clock()
        if now - seen.checked_at >= 1.0:
            row = await self.db.fetchone(
                "SELECT paused_until, primary_remaining, primary_reset FROM write_budgets"
                " WHERE installation_id = ?",
                (installation_id,),
            )
            until = 0.0
            if row is not None:
                until = float(row[0])
                if row[1] is not None and row[2] is not None and int(row[1]) <= 0:
                    until = max(until, float(row[2]))
            seen.paused_until, seen.checked_at = until, now
        wait = seen.paused_until - now
        if wait <= 0:
            return
        if wait > self.limits.max_wait:
            raise Deferred(
                f"installation {installation_id} paused by GitHub's limits",
                retry_after=min(wait, self.limits.max_pause),
            )
        await self.sleep(wait)

    async def observe(self, installation_id: int, headers: Mapping[str, str]) -> None:
        """Record the primary limit when it runs low (otherwise nothing is written)."""
        remaining = _header_int(headers, "x-ratelimit-remaining")
        reset = _header_int(headers, "x-ratelimit-reset")
        if remaining is None or reset is None or remaining > self.limits.primary_reserve:
            return
        if self._primary_noted.get(installation_id) == (remaining, reset):
            return
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO write_budgets (installation_id, updated_at) VALUES (?, ?)"
                " ON CONFLICT (installation_id) DO NOTHING",
                (installation_id, self.clock()),
            )
            await self._note_primary(tx, installation_id, headers, self.clock())

    async def _note_primary(
        self, tx: Transaction, installation_id: int, headers: Mapping[str, str], now: float
    ) -> None:
        remaining = _header_int(headers, "x-ratelimit-remaining")
        reset = _header_int(headers, "x-ratelimit-reset")
        if remaining is None or reset is None:
            return
        self._primary_noted[installation_id] = (remaining, reset)
        await tx.execute(
            "UPDATE write_budgets SET primary_remaining = ?, primary_reset = ?, updated_at = ?"
            " WHERE installation_id = ?",
            (remaining, float(reset), now, installation_id),
        )
        if remaining <= 0:
            self._seen[installation_id] = _Seen(float(reset), now)

    # ------------------------------------------------------------------ operators

    async def overview(self) -> BudgetOverview:
        """Every installation's budget in a few aggregate queries (for ``/metrics``)."""
        now = self.clock()
        lowest: int | None = None
        for window in self.limits.windows:
            row = await self.db.fetchone(
                "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM write_log WHERE at > ?"
                " GROUP BY installation_id) busiest",
                (now - window.seconds,),
            )
            if row is not None and row[0] is not None:
                left = max(0, window.writes - int(row[0]))
                lowest = left if lowest is None else min(lowest, left)
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(CASE WHEN paused_until > ? THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(pauses), 0), COALESCE(SUM(writes), 0) FROM write_budgets",
            (now,),
        )
        waiting = await self.db.fetchone(
            "SELECT COUNT(*) FROM write_waiters WHERE expires_at > ?", (now,)
        )
        paused, pauses, writes = (int(v) for v in row) if row else (0, 0, 0)
        return BudgetOverview(
            lowest_remaining=lowest,
            paused=paused,
            pauses=pauses,
            writes=writes,
            waiting=int(waiting[0]) if waiting else 0,
        )

    async def remaining(self, installation_id: int) -> int:
        """Writes left right now in the installation's tightest window."""
        now = self.clock()
        left = []
        for window in self.limits.windows:
            row = await self.db.fetchone(
                "SELECT COUNT(*) FROM write_log WHERE installation_id = ? AND at > ?",
                (installation_id, now - window.seconds),
            )
            left.append(max(0, window.writes - int(row[0] if row else 0)))
        return min(left, default=0)


@dataclass
class PacedWrites:
    """What a job's client needs to pace its writes: the budget, the installation, the writer."""

    budget: WriteBudget
    installation_id: int
    writer: Writer | None = None

    async def acquire(self, method: str, path: str, data: object) -> Slot:
        return await self.budget.acquire(
            self.installation_id, write_priority(method, path, data), self.writer
        )
