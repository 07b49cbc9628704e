"""The durable job queue: webhook deliveries in, leased jobs out (SQLite and PostgreSQL).

API (all async; ``queue = JobQueue(db)`` after ``await migrate(db)``)::

    await queue.enqueue_delivery(delivery_id, event, action, installation_id, repository,
                                 payload: bytes) -> bool      # False: delivery seen before
    await queue.enqueue(kind, payload, *, repository, installation_id, run_at=None,
                        dedupe_key=None, max_attempts=None) -> int | None   # None: deduped
    await queue.claim(worker_id, lease_seconds) -> Job | None
    await queue.heartbeat(job_id, worker_id, lease_seconds) -> bool   # False: lease lost
    await queue.complete(job_id, worker_id) -> bool
    await queue.retry_later(job_id, worker_id, error, delay_seconds) -> bool
    await queue.bury(job_id, worker_id, error) -> bool                # state "dead"
    await queue.release(job_id, worker_id) -> bool    # hand back unfinished (graceful stop)
    await queue.defer(job_id, worker_id, reason, delay_seconds) -> bool  # wait, not an attempt
    await queue.list_jobs(states=("queued", "running", "dead"), limit=100) -> list[Job]
    await queue.get(job_id) -> Job | None
    await queue.retry(job_id) -> bool                 # dead/queued -> queued now, attempts 0
    await queue.depth() -> dict[str, int]             # every state, for /metrics
    await queue.oldest_queued_age() -> float          # seconds the oldest due job has waited
    await queue.purge_done(older_than: float) -> Purged  # seconds; done jobs, delivery ids
    await queue.close()                               # drain pending enqueue_delivery calls

Times are epoch seconds from the injectable ``now`` clock (``JobQueue(db, now=...)``).

Durability and speed of ``enqueue_delivery`` (group commit): callers append to a pending list
and await their own future; one writer task takes everything pending, writes it in ONE
transaction (one fsync), and resolves each future with that delivery's own answer. While a
commit is in flight new callers pile up and go into the next batch, so batches grow with load
and no artificial delay is added at low load. The caller's answer -- and so the webhook's
202 -- comes only after the commit. If a whole batch fails, its items are retried one by one
so a single bad item fails only its own caller.

Leases: ``claim`` marks a job running with ``lease_owner`` and ``lease_expires_at``. A job whose
lease has expired (worker SIGKILLed, host gone) is claimable again, so no job is lost. Every
state change by a worker is conditional on ``lease_owner = worker_id AND state = 'running'``:
a worker whose job was taken over gets ``False`` and cannot overwrite the new owner's state.
Use a distinct ``worker_id`` per concurrent slot (``bot.worker.Worker`` does).
A job taken over this way counts an attempt; one that exhausted ``max_attempts`` by dying
workers is buried rather than crashing workers forever.

One running job per repository -- why a unique partial index: ``jobs_running_repository``
(``UNIQUE (repository) WHERE state = 'running'``) makes the rule a database invariant, true
whatever the isolation level or number of processes, with no extra locks to leak when a
process dies (an advisory lock held by a SIGKILLed session would be released too, but would
need one session per running job). ``claim`` skips repositories that already have a running
job (NOT EXISTS), so conflicts only happen when two claimers race for the same repository in
the same instant; the loser gets a unique violation, rolls back and retries the claim, now
seeing the winner's running job. On PostgreSQL the candidate row is taken with
``FOR UPDATE SKIP LOCKED`` so concurrent claimers never get the same job and never wait on
each other's rows; the row is re-checked after locking, so a job claimed and committed by
someone else in between is skipped. On SQLite ``BEGIN IMMEDIATE`` serialises claimers.
Jobs with ``repository`` NULL are not serialised.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.db import Database, IntegrityError, Transaction

__all__ = ["JOB_STATES", "Job", "JobQueue", "Purged", "bound_error"]

JOB_STATES = ("queued", "running", "done", "dead")
DEFAULT_MAX_ATTEMPTS = 8
MAX_ERROR_CHARS = 2000
# Rows per group-commit batch: 6 parameters per delivery row stays far below SQLite's limit.
MAX_BATCH = 200
_CLAIM_RACE_RETRIES = 5
PURGE_BATCH = 1000

_JOB_COLUMNS = (
    "id, kind, delivery_id, event, action, installation_id, repository, payload, state,"
    " attempts, max_attempts, run_at, lease_owner, lease_expires_at, last_error,"
    " created_at, updated_at, finished_at, dedupe_key, deferrals"
)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of ``jobs``. ``payload`` is the webhook body (JSON text) or the caller's JSON."""

    id: int
    kind: str
    delivery_id: str | None
    event: str | None
    action: str | None
    installation_id: int | None
    repository: str | None
    payload: str
    state: str
    attempts: int
    max_attempts: int
    run_at: float
    lease_owner: str | None
    lease_expires_at: float | None
    last_error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None
    dedupe_key: str | None
    deferrals: int = 0  # times it handed its slot back to wait (not attempts)

    def payload_json(self) -> Any:
        """The payload parsed as JSON (raises ``ValueError`` on a malformed body)."""
        return json.loads(self.payload)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Job:
        return cls(*row)


def bound_error(error: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Errors are stored and shown; keep them bounded (and free of NUL, which PG rejects)."""
    text = error.replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[: limit - 15] + "... [truncated]"


def _payload_text(payload: bytes | str) -> str:
    # The server verified the signature over these bytes; storage is TEXT, so undecodable
    # bytes and NUL (rejected by PostgreSQL text) are replaced rather than failing the delivery.
    text = payload if isinstance(payload, str) else payload.decode("utf-8", errors="replace")
    return text.replace("\x00", "\ufffd")


@dataclass(frozen=True, slots=True)
class Purged:
    """What one purge deleted."""

    jobs: int
    deliveries: int


@dataclass(frozen=True, slots=True)
class _Delivery:
    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None
    payload: str


@dataclass(slots=True)
class _Pending:
    delivery: _Delivery
    future: asyncio.Future[bool]


class JobQueue:
    """The queue over one :class:`~bot.db.Database` (see module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        now: Callable[[], float] = time.time,
        default_max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        delivery_kind: str = "webhook",
    ) -> None:
        self.db = db
        self.now = now
        self.default_max_attempts = default_max_attempts
        self.delivery_kind = delivery_kind
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches_written = 0  # observability for benchmarks: deliveries / batches

    # ------------------------------------------------------------------ deliveries

    async def enqueue_delivery(
        self,
        delivery_id: str,
        event: str,
        action: str | None,
        installation_id: int | None,
        repository: str | None,
        payload: bytes | str,
    ) -> bool:
        """Store a webhook delivery and its job atomically; False if the id was seen before.

        Returns only after the commit (group commit, see module docstring).
        """
        delivery = _Delivery(
            delivery_id, event, action, installation_id, repository, _payload_text(payload)
        )
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        # If the caller is gone by the time the write fails, nobody reads the exception;
        # mark it retrieved so asyncio does not log "exception was never retrieved".
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append(_Pending(delivery, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="patchwell-queue-writer")
        # shield: a caller giving up (client disconnect) must not cancel the shared writer.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await self._write_batch([p.delivery for p in batch])
            except Exception:
                await self._write_one_by_one(batch)
                continue
            for item, fresh in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(fresh)

    async def _write_one_by_one(self, batch: list[_Pending]) -> None:
        for item in batch:
            try:
                (fresh,) = await self._write_batch([item.delivery])
            except Exception as exc:
                if not item.future.done():
                    item.future.set_exception(exc)
            else:
                if not item.future.done():
                    item.future.set_result(fresh)

    async def _write_batch(self, deliveries: list[_Delivery]) -> list[bool]:
        # Within a batch the first occurrence of an id wins; later ones are duplicates.
        first: dict[str, _Delivery] = {}
        for d in deliveries:
            first.setdefault(d.delivery_id, d)
        now = self.now()
        unique = list(first.values())
        values = ", ".join("(?, ?, ?, ?, ?, ?)" for _ in unique)
        params: list[Any] = []
        for d in unique:
            params += [d.delivery_id, d.event, d.action, d.installation_id, d.repository, now]
        async with self.db.transaction() as tx:
            inserted = {
                row[0]
                for row in await tx.fetchall(
                    "INSERT INTO deliveries"
                    " (delivery_id, event, action, installation_id, repository, received_at)"
                    f" VALUES {values} ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
                    params,
                )
            }
            jobs = [
                (
                    self.delivery_kind,
                    d.delivery_id,
                    d.event,
                    d.action,
                    d.installation_id,
                    d.repository,
                    d.payload,
                    self.default_max_attempts,
                    now,
                    now,
                    now,
                )
                for d in unique
                if d.delivery_id in inserted
            ]
            if jobs:
                await tx.executemany(
                    "INSERT INTO jobs (kind, delivery_id, event, action, installation_id,"
                    " repository, payload, max_attempts, run_at, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    jobs,
                )
        self.batches_written += 1
        return [first[d.delivery_id] is d and d.delivery_id in inserted for d in deliveries]

    async def close(self) -> None:
        """Wait until every pending ``enqueue_delivery`` has been written."""
        while self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer})

    # ------------------------------------------------------------------ other jobs

    async def enqueue(
        self,
        kind: str,
        payload: Any,
        *,
        repository: str | None,
        installation_id: int | None,
        run_at: float | None = None,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
    ) -> int | None:
        """Enqueue a non-delivery job; ``payload`` is JSON-serialised (str/bytes kept as is).

        Returns the new job id, or None when a queued/running job has the same dedupe_key.
        """
        if isinstance(payload, bytes | str):
            text = _payload_text(payload)
        else:
            text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        now = self.now()
        row = (
            kind,
            installation_id,
            repository,
            text,
            max_attempts or self.default_max_attempts,
            now if run_at is None else run_at,
            now,
            now,
            dedupe_key,
        )
        try:
            async with self.db.transaction() as tx:
                if dedupe_key is not None:
                    found = await tx.fetchone(
                        "SELECT id FROM jobs WHERE dedupe_key = ?"
                        " AND state IN ('queued', 'running')",
                        (dedupe_key,),
                    )
                    if found:
                        return None
                created = await tx.fetchone(
                    "INSERT INTO jobs (kind, installation_id, repository, payload, max_attempts,"
                    " run_at, created_at, updated_at, dedupe_key)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    row,
                )
        except IntegrityError:
            # A concurrent enqueue with the same key won between our check and insert (PG).
            if dedupe_key is not None:
                return None
            raise
        return int(created[0]) if created else None

    # ------------------------------------------------------------------ workers

    async def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Lease the oldest runnable job (see module docstring for the guarantees)."""
        for _ in range(_CLAIM_RACE_RETRIES):
            try:
                return await self._claim_once(worker_id, lease_seconds)
            except IntegrityError:
                continue  # lost a same-repository race; the next try sees the winner
        return None

    async def _claim_once(self, worker_id: str, lease_seconds: float) -> Job | None:
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        async with self.db.transaction() as tx:
            while True:
                now = self.now()
                row = await tx.fetchone(
                    f"SELECT id, attempts, max_attempts, state FROM jobs j WHERE"
                    f" ((j.state = 'queued' AND j.run_at <= ?)"
                    f"  OR (j.state = 'running' AND j.lease_expires_at <= ?))"
                    f" AND (j.repository IS NULL OR j.state = 'running' OR NOT EXISTS"
                    f"  (SELECT 1 FROM jobs r WHERE r.repository = j.repository"
                    f"   AND r.state = 'running'))"
                    # Jobs that never ran first: a deferred one only waited for GitHub's limits
                    # and must not delay one that owes a check run (see bot/budget.py).
                    f" ORDER BY (j.deferrals > 0), j.run_at, j.id LIMIT 1{lock}",
                    (now, now),
                )
                if row is None:
                    return None
                job_id, attempts, max_attempts, state = row
                if state == "running" and attempts >= max_attempts:
                    # Its workers keep dying mid-job: stop feeding it to new ones.
                    await tx.execute(
                        "UPDATE jobs SET state = 'dead', lease_owner = NULL,"
                        " lease_expires_at = NULL, finished_at = ?, updated_at = ?,"
                        " last_error = ? WHERE id = ?",
                        (
                            now,
                            now,
                            bound_error(
                                f"lease expired {attempts} times (worker died or hung); "
                                f"last error: {await self._last_error(tx, job_id)}"
                            ),
                            job_id,
                        ),
                    )
                    continue
                claimed = await tx.fetchone(
                    f"UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                    f" lease_owner = ?, lease_expires_at = ?, updated_at = ?"
                    f" WHERE id = ? RETURNING {_JOB_COLUMNS}",
                    (worker_id, now + lease_seconds, now, job_id),
                )
                return Job.from_row(claimed) if claimed else None

    @staticmethod
    async def _last_error(tx: Transaction, job_id: int) -> str:
        row = await tx.fetchone("SELECT last_error FROM jobs WHERE id = ?", (job_id,))
        return str(row[0]) if row and row[0] else "none"

    async def _owned_update(
        self, job_id: int, worker_id: str, assignments: str, params: tuple
    ) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ?"
                " WHERE id = ? AND lease_owner = ? AND state = 'running'",
                (*params, self.now(), job_id, worker_id),
            )
        return changed == 1

    async def heartbeat(self, job_id: int, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease; False means the lease was lost (stop working on the job)."""
        return await self._owned_update(
            job_id, worker_id, "lease_expires_at = ?", (self.now() + lease_seconds,)
        )

    async def complete(self, job_id: int, worker_id: str) -> bool:
        return await self._owned_update(
            job_id,
            worker_id,
            "state = 'done', lease_owner = NULL, lease_expires_at = NULL, finished_at = ?",
            (self.now(),),
        )

    async def retry_later(
        self, job_id: int, worker_id: str, error: str, delay_seconds: float
    ) -> bool:
        return await self._owned_update(
            job_id,
            worker_id,
            "state = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_at = ?,"
            " last_error = ?",
            (self.now() + max(0.0, delay_seconds), bound_error(error)),
        )

    async def bury(self, job_id: int, worker_id: str, error: str) -> bool:
        return await self._owned_update(
            job_id,
            worker_id,
            "state = 'dead', lease_owner = NULL, lease_expires_at = NULL, finished_at = ?,"
            " last_error = ?",
            (self.now(), bound_error(error)),
        )

    async def release(self, job_id: int, worker_id: str, delay_seconds: float = 0.0) -> bool:
        """Give an unfinished job back (graceful shutdown); the attempt does not count. It
        is not claimed again for ``delay_seconds`` (writes it had in flight may still land)."""
        return await self._owned_update(
            job_id,
            worker_id,
            "state = 'queued', lease_owner = NULL, lease_expires_at = NULL,"
            " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, run_at = ?",
            (self.now() + max(0.0, delay_seconds),),
        )

    async def defer(self, job_id: int, worker_id: str, reason: str, delay_seconds: float) -> bool:
        """Requeue a job that would only wait (GitHub's limits): the attempt does not count."""
        return await self._owned_update(
            job_id,
            worker_id,
            "state = 'queued', lease_owner = NULL, lease_expires_at = NULL,"
            " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
            " deferrals = deferrals + 1, run_at = ?, last_error = ?",
            (self.now() + max(0.0, delay_seconds), bound_error(f"deferred: {reason}")),
        )

    # ------------------------------------------------------------------ operators

    async def get(self, job_id: int) -> Job | None:
        row = await self.db.fetchone(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(row) if row else None

    async def list_jobs(
        self, states: Iterable[str] = ("queued", "running", "dead"), limit: int = 100
    ) -> list[Job]:
        wanted = [s for s in states if s in JOB_STATES]
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        rows = await self.db.fetchall(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ({marks}) ORDER BY run_at, id LIMIT ?",
            (*wanted, max(0, int(limit))),
        )
        return [Job.from_row(r) for r in rows]

    async def retry(self, job_id: int) -> bool:
        """Operator retry: a dead or queued job runs again now with attempts reset.

        False when the job does not exist, is running/done, or its dedupe_key is already
        held by another queued/running job (that job will do the work).
        """
        now = self.now()
        try:
            async with self.db.transaction() as tx:
                changed = await tx.execute(
                    "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?, updated_at = ?,"
                    " finished_at = NULL WHERE id = ? AND state IN ('dead', 'queued')"
                    " AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.dedupe_key = jobs.dedupe_key"
                    "  AND o.id <> jobs.id AND o.state IN ('queued', 'running'))",
                    (now, now, job_id),
                )
        except IntegrityError:
            return False
        return changed == 1

    async def depth(self) -> dict[str, int]:
        """Jobs per state (every state present, zero when empty)."""
        counts = dict.fromkeys(JOB_STATES, 0)
        for state, count in await self.db.fetchall(
            "SELECT state, COUNT(*) FROM jobs GROUP BY state"
        ):
            counts[str(state)] = int(count)
        return counts

    async def fresh_job_waiting(
        self,
        job: Job,
        *,
        same_installation_after: float = 1.0,
        anyone_after: float = 10.0,
    ) -> bool:
        """Is a job that has not run yet (no deferral) kept waiting by ``job``?

        That is: one for the same repository (``job`` holds the repository's one running
        slot), one of the same installation due for ``same_installation_after`` seconds (the
        workers are full; it owes a check run that ``job``'s PR writes would delay), or any one
        due for ``anyone_after`` seconds. A job pacing its PR writes then hands its slot back.
        """
        now = self.now()
        row = await self.db.fetchone(
            "SELECT 1 FROM jobs WHERE state = 'queued' AND deferrals = 0 AND id <> ?"
            " AND run_at <= ? AND ((repository IS NOT NULL AND repository = ?)"
            "  OR (installation_id = ? AND run_at <= ?) OR run_at <= ?) LIMIT 1",
            (
                job.id,
                now,
                job.repository,
                job.installation_id,
                now - same_installation_after,
                now - anyone_after,
            ),
        )
        return row is not None

    async def oldest_queued_age(self) -> float:
        """Seconds the oldest due job has waited to run (0 when none is waiting)."""
        now = self.now()
        row = await self.db.fetchone(
            "SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at <= ?", (now,)
        )
        return max(0.0, now - float(row[0])) if row and row[0] is not None else 0.0

    async def purge_done(self, older_than: float, *, batch: int = PURGE_BATCH) -> Purged:
        """Delete done jobs finished, and delivery ids received, more than ``older_than`` s ago.

        Dead jobs stay (an operator reads and retries them). Rows go ``batch`` at a time, each
        batch its own short transaction, so a first purge of a big table never holds locks
        that claims and webhooks wait on. Keep ``older_than`` above GitHub's redelivery window
        (3 days) or a redelivered old delivery would run again.
        """
        cutoff = self.now() - older_than
        jobs = await self._delete_batches(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'done'"
            " AND finished_at < ? ORDER BY id LIMIT ?)",
            cutoff,
            batch,
        )
        deliveries = await self._delete_batches(
            "DELETE FROM deliveries WHERE delivery_id IN (SELECT delivery_id FROM deliveries d"
            " WHERE d.received_at < ? AND NOT EXISTS"
            " (SELECT 1 FROM jobs WHERE jobs.delivery_id = d.delivery_id) LIMIT ?)",
            cutoff,
            batch,
        )
        return Purged(jobs=jobs, deliveries=deliveries)

    async def _delete_batches(self, sql: str, cutoff: float, batch: int) -> int:
        total = 0
        while True:
            async with self.db.transaction() as tx:
                deleted = await tx.execute(sql, (cutoff, max(1, batch)))
            total += deleted
            if deleted < batch:
                return total
