"""Housekeeping: done jobs, their webhook payloads and old delivery ids purged on a schedule.

Every worker process (and ``serve``'s inline worker) runs a :class:`Housekeeper` beside its
worker: a first purge a random few minutes after start (so a fleet restarting together does
not purge at once), then one every ``every`` seconds with +-25 % jitter. Two processes purging
together is harmless -- each batch deletes what is still there -- so no process is elected.
``patchwell jobs purge`` runs the same purge once, now.

What goes, older than the retention (``PATCHWELL_RETENTION``, default 14 days, at least GitHub's
3-day redelivery window):

* done jobs -- the ``jobs`` row holds the webhook payload, so its payload goes with it;
* delivery ids no job refers to any more (their redelivery window is long past);
* ``event_log`` rows of jobs that are gone.

Dead jobs stay until an operator retries them (``patchwell jobs retry``): they are the record of
what needs attention, and there are few.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from bot.db import Database
from bot.queue import PURGE_BATCH, JobQueue

log = logging.getLogger("patchwell.housekeeping")

HOURLY = 3600.0
FIRST_PURGE_WITHIN = 300.0


@dataclass(frozen=True)
class PurgeReport:
    jobs: int
    deliveries: int
    event_log: int

    def __str__(self) -> str:
        return (
            f"{self.jobs} done jobs, {self.deliveries} delivery ids, "
            f"{self.event_log} event log rows"
        )


async def purge(
    db: Database, queue: JobQueue, older_than: float, *, batch: int = PURGE_BATCH
) -> PurgeReport:
    """One purge of everything older than ``older_than`` seconds (see the module docstring)."""
    done = await queue.purge_done(older_than, batch=batch)
    cutoff = queue.now() - older_than
    logged = 0
    while True:
        async with db.transaction() as tx:
            deleted = await tx.execute(
                "DELETE FROM event_log WHERE id IN (SELECT id FROM event_log e"
                " WHERE e.recorded_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM jobs WHERE jobs.id = e.job_id) ORDER BY id LIMIT ?)",
                (cutoff, max(1, batch)),
            )
        logged += deleted
        if deleted < batch:
            break
    return PurgeReport(done.jobs, done.deliveries, logged)


class Housekeeper:
    """Purges on a schedule until ``stop`` is set (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        queue: JobQueue,
        retention_seconds: float,
        *,
        every: float = HOURLY,
        first_within: float = FIRST_PURGE_WITHIN,
        rng: random.Random | None = None,
        on_purge: Callable[[PurgeReport], None] | None = None,
    ) -> None:
        if retention_seconds <= 0 or every <= 0:
            raise ValueError("retention and interval must be positive")
        self.db = db
        self.queue = queue
        self.retention_seconds = retention_seconds
        self.every = every
        self.first_within = first_within
        self.rng = rng or random.Random()
        self.on_purge = on_purge

    async def run(self, stop: asyncio.Event) -> None:
        delay = self.rng.uniform(0, self.first_within)
        while not await _stopped_within(stop, delay):
            try:
                report = await purge(self.db, self.queue, self.retention_seconds)
            except Exception as exc:  # the database is away: try again at the next turn
                log.warning("purge failed: %s", type(exc).__name__)
            else:
                log.info("purged %s", report, extra={"purged_jobs": report.jobs})
                if self.on_purge is not None:
                    self.on_purge(report)
            delay = self.every * self.rng.uniform(0.75, 1.25)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    return stop.is_set()
