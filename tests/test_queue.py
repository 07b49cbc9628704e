"""bot.queue on real SQLite and PostgreSQL: dedupe, ordering, leases, per-repository rule."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.db import Database
from bot.queue import MAX_ERROR_CHARS, JobQueue


class Clock:
    """An injectable clock the test moves by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(migrated_db: Database, clock: Clock) -> JobQueue:
    return JobQueue(migrated_db, now=clock)


async def add(queue: JobQueue, repo: str | None, **kw) -> int:
    job_id = await queue.enqueue("rescan", {"repo": repo}, repository=repo, installation_id=7, **kw)
    assert job_id is not None
    return job_id


async def test_delivery_is_stored_once(queue: JobQueue) -> None:
    body = json.dumps({"action": "opened", "number": 1}).encode()
    assert await queue.enqueue_delivery("d-1", "pull_request", "opened", 7, "o/r", body)
    assert not await queue.enqueue_delivery("d-1", "pull_request", "opened", 7, "o/r", body)
    assert await queue.depth() == {"queued": 1, "running": 0, "done": 0, "dead": 0}
    (job,) = await queue.list_jobs()
    assert (job.kind, job.delivery_id, job.event, job.action) == (
        "webhook",
        "d-1",
        "pull_request",
        "opened",
    )
    assert (job.installation_id, job.repository, job.state, job.attempts) == (7, "o/r", "queued", 0)
    assert job.payload_json() == {"action": "opened", "number": 1}


async def test_concurrent_deliveries_are_group_committed_and_deduped(queue: JobQueue) -> None:
    ids = [f"d-{i % 40}" for i in range(120)]  # every id three times, racing each other
    results = await asyncio.gather(
        *(queue.enqueue_delivery(i, "push", None, 1, f"o/r{i}", b"{}") for i in ids)
    )
    assert sum(results) == 40
    winners = {i for i, fresh in zip(ids, results, strict=True) if fresh}
    assert winners == {f"d-{n}" for n in range(40)}
    assert (await queue.depth())["queued"] == 40
    assert queue.batches_written < 120  # concurrent callers really shared transactions
    rows = await queue.db.fetchall("SELECT COUNT(*) FROM deliveries")
    assert rows == [(40,)]


async def test_hostile_payload_bytes_are_stored_not_crashed_on(queue: JobQueue) -> None:
    assert await queue.enqueue_delivery("d-x", "push", None, None, None, b'{"a":"\xff\x00"}')
    (job,) = await queue.list_jobs()
    assert job.payload == '{"a":"\ufffd\ufffd"}'
    assert job.repository is None and job.installation_id is None


async def test_claims_oldest_runnable_first(queue: JobQueue, clock: Clock) -> None:
    later = await add(queue, "o/a", run_at=clock() + 60)
    first = await add(queue, "o/b")
    second = await add(queue, "o/c")
    assert [j.id for j in await queue.list_jobs()] == [first, second, later]
    assert (await queue.claim("w", 300)).id == first
    assert (await queue.claim("w", 300)).id == second
    assert await queue.claim("w", 300) is None  # "later" is not due yet
    clock.advance(60)
    job = await queue.claim("w", 30)
    assert job.id == later and job.attempts == 1 and job.lease_owner == "w"
    assert job.lease_expires_at == clock() + 30


async def test_enqueue_dedupe_key_only_while_active(queue: JobQueue) -> None:
    job_id = await add(queue, "o/a", dedupe_key="rescan:o/a")
    assert (
        await queue.enqueue(
            "rescan", {}, repository="o/a", installation_id=7, dedupe_key="rescan:o/a"
        )
        is None
    )
    job = await queue.claim("w", 30)
    assert job.id == job_id
    assert (
        await queue.enqueue(
            "rescan", {}, repository="o/a", installation_id=7, dedupe_key="rescan:o/a"
        )
        is None
    )  # still running
    assert await queue.complete(job_id, "w")
    assert await add(queue, "o/a", dedupe_key="rescan:o/a") != job_id


async def test_one_running_job_per_repository(queue: JobQueue) -> None:
    a1 = await add(queue, "o/a")
    a2 = await add(queue, "o/a")
    b1 = await add(queue, "o/b")
    n1 = await add(queue, None)
    n2 = await add(queue, None)
    claimed = [await queue.claim(f"w{i}", 30) for i in range(5)]
    assert [j.id if j else None for j in claimed] == [a1, b1, n1, n2, None]
    assert await queue.complete(a1, "w0")
    job = await queue.claim("w9", 30)
    assert job is not None and job.id == a2


async def test_retry_later_sets_run_at_and_bounds_the_error(queue: JobQueue, clock: Clock) -> None:
    job_id = await add(queue, "o/a")
    await queue.claim("w", 30)
    assert await queue.retry_later(job_id, "w", "E" * 10_000, 120)
    job = await queue.get(job_id)
    assert job.state == "queued" and job.run_at == clock() + 120 and job.lease_owner is None
    assert len(job.last_error) <= MAX_ERROR_CHARS and job.last_error.endswith("[truncated]")
    assert await queue.claim("w", 30) is None
    clock.advance(120)
    assert (await queue.claim("w", 30)).attempts == 2


async def test_expired_lease_is_taken_over_and_stale_owner_is_refused(
    queue: JobQueue, clock: Clock
) -> None:
    job_id = await add(queue, "o/a")
    await queue.claim("old", 10)
    assert await queue.claim("new", 10) is None  # lease still valid
    clock.advance(11)  # "old" was SIGKILLed: no heartbeat
    job = await queue.claim("new", 10)
    assert job.id == job_id and job.lease_owner == "new" and job.attempts == 2
    # The stale owner wakes up: every state change is refused, the new owner's state stays.
    assert not await queue.heartbeat(job_id, "old", 10)
    assert not await queue.complete(job_id, "old")
    assert not await queue.retry_later(job_id, "old", "x", 1)
    assert not await queue.bury(job_id, "old", "x")
    assert not await queue.release(job_id, "old")
    assert (await queue.get(job_id)).lease_owner == "new"
    assert await queue.heartbeat(job_id, "new", 10)
    assert (await queue.get(job_id)).lease_expires_at == clock() + 10
    assert await queue.complete(job_id, "new")
    done = await queue.get(job_id)
    assert done.state == "done" and done.finished_at == clock()
    assert not await queue.complete(job_id, "new")  # no second completion


async def test_job_whose_workers_keep_dying_is_buried(queue: JobQueue, clock: Clock) -> None:
    job_id = await add(queue, "o/a", max_attempts=2)
    other = await add(queue, "o/b")
    assert (await queue.claim("w1", 5)).id == job_id
    clock.advance(6)
    assert (await queue.claim("w2", 5)).id == job_id  # attempt 2
    clock.advance(6)
    assert (await queue.claim("w3", 5)).id == other  # job_id is buried instead of re-run
    dead = await queue.get(job_id)
    assert dead.state == "dead" and "lease expired 2 times" in dead.last_error


async def test_bury_retry_and_listing(queue: JobQueue, clock: Clock) -> None:
    job_id = await add(queue, "o/a")
    await queue.claim("w", 30)
    assert not await queue.retry(job_id)  # running: not an operator's to reset
    assert await queue.bury(job_id, "w", "ValueError: broken config")
    assert [j.id for j in await queue.list_jobs(states=("dead",))] == [job_id]
    assert await queue.depth() == {"queued": 0, "running": 0, "done": 0, "dead": 1}
    clock.advance(5)
    assert await queue.retry(job_id)
    job = await queue.get(job_id)
    assert (job.state, job.attempts, job.run_at) == ("queued", 0, clock())
    assert job.last_error == "ValueError: broken config"  # history kept for the operator
    assert not await queue.retry(999_999)
    assert await queue.list_jobs(states=("bogus",)) == []
    assert len(await queue.list_jobs(limit=0)) == 0


async def test_retry_refuses_when_the_dedupe_key_is_active_again(queue: JobQueue) -> None:
    job_id = await add(queue, "o/a", dedupe_key="k")
    await queue.claim("w", 30)
    await queue.bury(job_id, "w", "boom")
    await add(queue, "o/a", dedupe_key="k")
    assert not await queue.retry(job_id)


async def test_release_gives_the_attempt_back(queue: JobQueue) -> None:
    job_id = await add(queue, "o/a")
    await queue.claim("w", 30)
    assert await queue.release(job_id, "w")
    job = await queue.get(job_id)
    assert (job.state, job.attempts, job.lease_owner) == ("queued", 0, None)


async def test_purge_done_removes_old_done_jobs_and_deliveries(
    queue: JobQueue, clock: Clock
) -> None:
    assert await queue.enqueue_delivery("d-old", "push", None, 1, "o/a", b"{}")
    job = await queue.claim("w", 30)
    await queue.complete(job.id, "w")
    keep = await add(queue, "o/b")
    clock.advance(3600)
    assert await queue.enqueue_delivery("d-new", "push", None, 1, "o/c", b"{}")
    purged = await queue.purge_done(older_than=1800)
    assert (purged.jobs, purged.deliveries) == (1, 1)
    assert await queue.get(job.id) is None and await queue.get(keep) is not None
    rows = await queue.db.fetchall("SELECT delivery_id FROM deliveries")
    assert rows == [("d-new",)]


async def test_purge_goes_in_batches_and_keeps_dead_and_recent_jobs(
    queue: JobQueue, clock: Clock
) -> None:
    for n in range(5):
        assert await queue.enqueue_delivery(f"d{n}", "push", None, 1, f"o/r{n}", b"{}")
    for _ in range(4):
        job = await queue.claim("w", 30)
        await queue.complete(job.id, "w")
    dead = await queue.claim("w", 30)
    await queue.bury(dead.id, "w", "boom")
    clock.advance(3600)
    assert await queue.enqueue_delivery("fresh", "push", None, 1, "o/f", b"{}")
    fresh = await queue.claim("w", 30)
    await queue.complete(fresh.id, "w")
    purged = await queue.purge_done(older_than=1800, batch=3)  # 3 + 1 jobs, two batches
    assert (purged.jobs, purged.deliveries) == (4, 4)
    left = await queue.list_jobs(states=("done", "dead"))
    assert sorted(j.delivery_id for j in left) == ["d4", "fresh"]
    assert await queue.purge_done(older_than=1800) == type(purged)(0, 0)


async def test_racing_claimers_never_share_a_job_or_a_repository(db_url: str) -> None:
    """Many connections claim at once; each job goes to one claimer, one per repository."""
    from bot.migrate import migrate

    dbs = [await Database.connect(db_url) for _ in range(4)]
    try:
        await migrate(dbs[0])
        queues = [JobQueue(d) for d in dbs]
        for n in range(40):
            repo = None if n % 5 == 0 else f"o/r{n % 6}"
            await queues[0].enqueue("k", {}, repository=repo, installation_id=1)

        async def claimer(q: JobQueue, name: str) -> list:
            got = []
            while (job := await q.claim(name, 60)) is not None:
                got.append(job)
            return got

        results = await asyncio.gather(*(claimer(q, f"w{i}") for i, q in enumerate(queues)))
        claimed = [j for r in results for j in r]
        assert len({j.id for j in claimed}) == len(claimed)
        repos = [j.repository for j in claimed if j.repository is not None]
        assert sorted(repos) == sorted(set(repos))  # never two running for one repository
        assert len(claimed) == 8 + len(set(repos))  # all NULL-repo jobs + one per repository
    finally:
        for d in dbs:
            await d.close()
