"""Failed jobs recorded from ``workflow_job.completed`` (migration 0008), read with their run.

``workflow_job.completed`` arrives as each job ends and carries what the jobs list would
say (the job, its conclusion, its steps): :meth:`JobStash.add` records it for free, and
``workflow_run.completed`` then reads :meth:`JobStash.for_run` instead of spending a call
on ``GET .../runs/{id}/jobs``. A job recorded after its run was read (deliveries are not
ordered) is diagnosed alone, once: :meth:`JobStash.claim_late`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from bot.heal.reader import FailedJob, failed_job

__all__ = ["KEEP_SECONDS", "JobStash"]

#: how long recorded jobs and read runs are kept (a re-run after a week starts afresh)
KEEP_SECONDS = 7 * 24 * 3600
_COLUMNS = "run_id, run_attempt, job_id, name, html_url, conclusion, steps"


def _row_job(row) -> FailedJob | None:
    run_id, attempt, job_id, name, url, conclusion, steps = row
    try:
        parsed = json.loads(steps)
    except ValueError:
        parsed = []
    return failed_job(
        {
            "id": job_id,
            "name": name,
            "html_url": url,
            "conclusion": conclusion,
            "steps": parsed if isinstance(parsed, list) else [],
            "run_id": run_id,
            "run_attempt": attempt,
        }
    )


class JobStash:
    def __init__(self, db, *, now: Callable[[], float] = time.time) -> None:
        self.db = db
        self.now = now

    async def add(self, repository: str, job: FailedJob) -> None:
        steps = json.dumps(
            [{"number": s.number, "name": s.name, "conclusion": s.conclusion} for s in job.steps]
        )
        await self.db.execute(
            f"INSERT INTO heal_jobs (repository, {_COLUMNS}, state, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new', ?)"
            " ON CONFLICT (repository, job_id, run_attempt) DO NOTHING",
            (
                repository,
                job.run_id,
                job.run_attempt,
                job.id,
                job.name,
                job.html_url,
                "cancelled" if job.cancelled else "failure",
                steps,
                self.now(),
            ),
        )

    async def mark_run(self, repository: str, run_id: int, attempt: int) -> None:
        """The run (attempt) is being read: later jobs of it are diagnosed alone."""
        now = self.now()
        await self.db.execute("DELETE FROM heal_jobs WHERE created_at < ?", (now - KEEP_SECONDS,))
        await self.db.execute("DELETE FROM heal_runs WHERE created_at < ?", (now - KEEP_SECONDS,))
        await self.db.execute(
            "INSERT INTO heal_runs (repository, run_id, run_attempt, created_at) VALUES"
            " (?, ?, ?, ?) ON CONFLICT (repository, run_id, run_attempt) DO NOTHING",
            (repository, run_id, attempt, now),
        )

    async def for_run(self, repository: str, run_id: int, attempt: int) -> list[FailedJob]:
        """The run's recorded failed jobs (any state: a redelivered run reads them again), each
        now marked taken so a late copy of its delivery does not diagnose it twice."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM heal_jobs WHERE repository = ? AND run_id = ?"
            " AND run_attempt = ? ORDER BY job_id",
            (repository, run_id, attempt),
        )
        jobs = [j for j in (_row_job(r) for r in rows) if j is not None]
        for job in jobs:  # only the rows read: one recorded meanwhile stays new (late)
            await self.db.execute(
                "UPDATE heal_jobs SET state = 'taken' WHERE repository = ? AND job_id = ?"
                " AND run_attempt = ? AND state = 'new'",
                (repository, job.id, job.run_attempt),
            )
        return jobs

    async def take(self, repository: str, job: FailedJob) -> None:
        """A job the run read from the jobs list: recorded as taken."""
        await self.add(repository, job)
        await self.db.execute(
            "UPDATE heal_jobs SET state = 'taken' WHERE repository = ? AND job_id = ?"
            " AND run_attempt = ?",
            (repository, job.id, job.run_attempt),
        )

    async def claim_late(self, repository: str, job: FailedJob) -> bool:
        """True when ``job`` arrived after its run was read and nobody diagnosed it yet."""
        handled = await self.db.fetchone(
            "SELECT 1 FROM heal_runs WHERE repository = ? AND run_id = ? AND run_attempt = ?",
            (repository, job.run_id, job.run_attempt),
        )
        if handled is None:
            return False
        changed = await self.db.execute(
            "UPDATE heal_jobs SET state = 'late' WHERE repository = ? AND job_id = ?"
            " AND run_attempt = ? AND state IN ('new', 'late')",
            (repository, job.id, job.run_attempt),
        )
        return changed == 1
