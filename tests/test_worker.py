"""bot.worker over real databases: outcomes, backoff, leases, shutdown, exactly-once runs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.db import Database
from bot.errors import Deferred, TransientError
from bot.migrate import migrate
from bot.queue import Job, JobQueue
from bot.worker import Worker, backoff_delay, scrub_secrets

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 20.0  # generous bound for "eventually"; never an assertion about speed


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class TopRng(random.Random):
    """Always the top of the jitter range, so backoff delays are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(migrated_db: Database, clock: Clock) -> JobQueue:
    return JobQueue(migrated_db, now=clock)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def run_worker_until(worker: Worker, check: Callable[[], Awaitable[bool]], what: str) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await eventually(check, what)
    finally:
        stop.set()
        await task


def state_is(queue: JobQueue, job_id: int, *states: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        job = await queue.get(job_id)
        return job is not None and job.state in states

    return check


async def add(queue: JobQueue, repo: str | None = "o/a", **kw) -> int:
    job_id = await queue.enqueue("rescan", {}, repository=repo, installation_id=3, **kw)
    assert job_id is not None
    return job_id


def test_backoff_is_full_jitter_capped_and_respects_retry_after() -> None:
    rng = random.Random(42)
    for attempt in range(1, 30):
        delay = backoff_delay(attempt, rng, base=5, cap=3600)
        assert 0 <= delay <= min(3600, 5 * 2 ** (attempt - 1))
    top = TopRng()
    assert [backoff_delay(a, top, base=5, cap=3600) for a in (1, 2, 3, 11, 500)] == [
        5,
        10,
        20,
        3600,
        3600,
    ]
    assert backoff_delay(1, top, base=5, cap=3600, retry_after=90) == 90
    assert backoff_delay(3, top, base=5, cap=3600, retry_after=1) == 20


def test_scrub_secrets_masks_token_shapes() -> None:
    token = "ghs_" + "A1b2C3d4" * 5
    text = scrub_secrets(
        f"401 for https://x-access-token:{token}@github.com/o/r.git; "
        f"Authorization: Bearer {token}; pat github_pat_{'Z' * 30}; tok={token}"
    )
    assert token not in text and "ZZZZZZZZ" not in text
    assert "github.com/o/r.git" in text  # the useful part survives


async def test_successful_job_is_done_logged_and_observed(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    assert await queue.enqueue_delivery("d-1", "push", None, 3, "o/a", b'{"ref":"x"}')
    seen: list[tuple[int, str, float]] = []
    ran: list[Job] = []

    async def run_job(job: Job) -> None:
        ran.append(job)

    worker = Worker(
        queue,
        run_job,
        poll_interval=0.02,
        on_job_done=lambda job, outcome, s: seen.append((job.id, outcome, s)),
    )
    (job,) = await queue.list_jobs()
    with caplog.at_level(logging.INFO, logger="patchwell.worker"):
        await run_worker_until(worker, state_is(queue, job.id, "done"), "job done")
    assert [j.id for j in ran] == [job.id] and ran[0].payload_json() == {"ref": "x"}
    assert [(i, o) for i, o, _ in seen] == [(job.id, "done")] and seen[0][2] >= 0
    (record,) = [r for r in caplog.records if getattr(r, "job_id", None) == job.id]
    assert (record.kind, record.event, record.installation, record.repository) == (
        "webhook",
        "push",
        3,
        "o/a",
    )
    assert (record.outcome, record.attempt) == ("done", 1) and record.duration_ms >= 0


async def test_transient_error_retries_with_backoff_then_dies(
    queue: JobQueue, clock: Clock
) -> None:
    job_id = await add(queue, max_attempts=3)
    retry_after = {2: 600.0}  # GitHub asked for 10 minutes on the second attempt

    async def run_job(job: Job) -> None:
        raise TransientError(
            f"github 502 on attempt {job.attempts}", retry_after=retry_after.get(job.attempts)
        )

    worker = Worker(queue, run_job, poll_interval=0.02, rng=TopRng(), max_backoff=3600)
    expected_delays = {1: 5.0, 2: 600.0}  # base_backoff 5 * 2**0; then retry_after wins
    for attempt in (1, 2):

        async def requeued(attempt: int = attempt) -> bool:
            job = await queue.get(job_id)
            return job.state == "queued" and job.attempts == attempt

        await run_worker_until(worker, requeued, f"retry after attempt {attempt}")
        job = await queue.get(job_id)
        assert job.run_at == clock() + expected_delays[attempt]
        assert job.last_error == f"TransientError: github 502 on attempt {attempt}"
        clock.advance(expected_delays[attempt])

    await run_worker_until(worker, state_is(queue, job_id, "dead"), "job buried")
    job = await queue.get(job_id)
    assert job.attempts == 3
    assert job.last_error == (
        "gave up after 3 attempts; last: TransientError: github 502 on attempt 3"
    )


async def test_a_deferred_job_waits_without_spending_attempts(
    queue: JobQueue, clock: Clock
) -> None:
    """GitHub's limits make a job wait many times; it still has all its attempts after."""
    job_id = await add(queue, max_attempts=2)
    runs: list[int] = []

    async def run_job(job: Job) -> None:
        runs.append(job.attempts)
        if len(runs) <= 3:
            raise Deferred("installation paused", retry_after=60)

    worker = Worker(queue, run_job, poll_interval=0.02, rng=TopRng())
    for deferrals in (1, 2, 3):

        async def deferred(n: int = deferrals) -> bool:
            job = await queue.get(job_id)
            return job.state == "queued" and job.deferrals == n

        await run_worker_until(worker, deferred, f"deferral {deferrals}")
        job = await queue.get(job_id)
        assert (job.attempts, job.run_at) == (0, clock() + 60)
        assert job.last_error == "deferred: installation paused"
        clock.advance(60)
    await run_worker_until(worker, state_is(queue, job_id, "done"), "job done")
    assert runs == [1, 1, 1, 1]  # every run was the first attempt


async def test_other_exceptions_bury_at_once_without_leaking_tokens(queue: JobQueue) -> None:
    job_id = await add(queue)
    token = "ghs_" + "Q" * 36

    async def run_job(job: Job) -> None:
        raise RuntimeError(f"bad credentials: token {token}")

    outcomes: list[str] = []
    worker = Worker(
        queue,
        run_job,
        poll_interval=0.02,
        on_job_done=lambda j, outcome, s: outcomes.append(outcome),
    )
    await run_worker_until(worker, state_is(queue, job_id, "dead"), "job buried")
    job = await queue.get(job_id)
    assert job.attempts == 1 and job.last_error.startswith("RuntimeError: bad credentials")
    assert token not in job.last_error and outcomes == ["dead"]


async def test_heartbeat_keeps_the_lease(queue: JobQueue, clock: Clock) -> None:
    job_id = await add(queue)

    async def run_job(job: Job) -> None:
        for _ in range(3):  # 0.6 s of fake time in all: twice the lease it started with
            clock.advance(0.2)

            async def renewed() -> bool:
                current = await queue.get(job.id)
                return current.lease_expires_at == clock() + 0.3

            await eventually(renewed, "lease renewed by heartbeat")

    worker = Worker(queue, run_job, concurrency=1, poll_interval=0.02, lease_seconds=0.3)
    await run_worker_until(worker, state_is(queue, job_id, "done"), "job done")
    assert (await queue.get(job_id)).attempts == 1


async def test_lost_lease_cancels_the_job_and_leaves_the_new_owner_alone(
    queue: JobQueue, clock: Clock
) -> None:
    job_id = await add(queue)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def run_job(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    outcomes: list[str] = []
    worker = Worker(
        queue,
        run_job,
        concurrency=1,  # no free slot: it cannot take its own expired job back
        poll_interval=0.02,
        lease_seconds=0.3,
        shutdown_grace=0.1,
        on_job_done=lambda j, outcome, s: outcomes.append(outcome),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(started.wait(), DEADLINE)
        clock.advance(10)  # the worker stalled past its lease...
        thief = await queue.claim("other-worker", 3600)  # ...and someone took the job over
        assert thief is not None and thief.id == job_id
        await asyncio.wait_for(cancelled.wait(), DEADLINE)

        async def reported() -> bool:
            return outcomes == ["lost"]

        await eventually(reported, "lost outcome")
    finally:
        stop.set()
        await task
    job = await queue.get(job_id)
    assert (job.state, job.lease_owner) == ("running", "other-worker")


async def test_graceful_stop_finishes_short_jobs_and_releases_long_ones(
    queue: JobQueue,
) -> None:
    short = await add(queue, "o/short")
    long = await add(queue, "o/long")
    both_started = asyncio.Event()
    running: set[int] = set()

    async def run_job(job: Job) -> None:
        running.add(job.id)
        if len(running) == 2:
            both_started.set()
        await both_started.wait()
        await asyncio.sleep(0.05 if job.id == short else 3600)

    outcomes: dict[int, str] = {}
    worker = Worker(
        queue,
        run_job,
        poll_interval=0.02,
        shutdown_grace=0.5,
        on_job_done=lambda j, outcome, s: outcomes.__setitem__(j.id, outcome),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(both_started.wait(), DEADLINE)
    stop.set()
    await asyncio.wait_for(task, DEADLINE)
    assert outcomes == {short: "done", long: "released"}
    assert (await queue.get(short)).state == "done"
    released = await queue.get(long)
    assert (released.state, released.attempts, released.lease_owner) == ("queued", 0, None)
    assert released.run_at <= queue.now()  # no hand-back delay asked: claimable at once


async def test_a_handed_back_job_waits_until_its_writes_may_have_landed(
    queue: JobQueue, clock: Clock
) -> None:
    # A job stopped mid-POST: GitHub may still create the check run after we hung up. A
    # redo that listed check runs before then would post a second one.
    job_id = await add(queue, "o/mid-write")
    started = asyncio.Event()

    async def run_job(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    worker = Worker(queue, run_job, poll_interval=0.02, shutdown_grace=0, handback_delay=10)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), DEADLINE)
    stop.set()
    await asyncio.wait_for(task, DEADLINE)
    released = await queue.get(job_id)
    assert (released.state, released.attempts) == ("queued", 0)
    assert await queue.claim("other", 30) is None  # not before GitHub is done with the write
    clock.advance(10)
    assert (await queue.claim("other", 30)).id == job_id


async def test_wake_starts_work_without_waiting_for_the_poll(queue: JobQueue) -> None:
    done = asyncio.Event()

    async def run_job(job: Job) -> None:
        done.set()

    worker = Worker(queue, run_job, poll_interval=3600)  # only wake() can start the job
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.1)  # let it claim nothing and go idle
    await add(queue)
    worker.wake()
    try:
        await asyncio.wait_for(done.wait(), DEADLINE)
    finally:
        stop.set()
        await task


async def test_concurrency_is_bounded(queue: JobQueue) -> None:
    ids = [await add(queue, None) for _ in range(12)]
    active = 0
    peak = 0

    async def run_job(job: Job) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1

    async def all_done() -> bool:
        return (await queue.depth())["done"] == len(ids)

    await run_worker_until(
        Worker(queue, run_job, concurrency=3, poll_interval=0.02), all_done, "all jobs done"
    )
    assert 1 <= peak <= 3


RUNS_TABLE = (
    "CREATE TABLE runs (job_id BIGINT NOT NULL, repository TEXT, runner TEXT NOT NULL,"
    " started DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION NOT NULL)"
)


async def seed_jobs(db: Database, count: int) -> None:
    await migrate(db)
    await db.execute(RUNS_TABLE)
    queue = JobQueue(db)
    for n in range(count):
        repo = None if n % 4 == 0 else f"o/r{n % 5}"
        await queue.enqueue("k", {"n": n}, repository=repo, installation_id=1)


async def assert_each_job_ran_once(db: Database, count: int) -> set[str]:
    runs = await db.fetchall("SELECT job_id, repository, runner, started, ended FROM runs")
    assert sorted(r[0] for r in runs) == sorted({r[0] for r in runs})  # nothing twice
    assert len(runs) == count  # nothing lost
    by_repo: dict[str, list[tuple[float, float]]] = {}
    for _, repo, _, started, ended in runs:
        if repo is not None:
            by_repo.setdefault(repo, []).append((started, ended))
    for intervals in by_repo.values():  # one repository never had two jobs at once
        intervals.sort()
        for (_, prev_end), (next_start, _) in itertools.pairwise(intervals):
            assert next_start >= prev_end
    assert (await JobQueue(db).depth())["done"] == count
    return {r[2] for r in runs}


async def test_two_workers_with_separate_connections_run_each_job_once(db_url: str) -> None:
    count = 60
    dbs = [await Database.connect(db_url) for _ in range(2)]
    try:
        await seed_jobs(dbs[0], count)
        running_repos: set[str] = set()

        def make_runner(db: Database, name: str) -> Callable[[Job], Awaitable[None]]:
            async def run_job(job: Job) -> None:
                if job.repository is not None:
                    assert job.repository not in running_repos, "same repository twice at once"
                    running_repos.add(job.repository)
                started = time.time()
                await asyncio.sleep(random.uniform(0, 0.005))
                if job.repository is not None:
                    running_repos.discard(job.repository)
                await db.execute(
                    "INSERT INTO runs (job_id, repository, runner, started, ended)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (job.id, job.repository, name, started, time.time()),
                )

            return run_job

        workers = [
            Worker(JobQueue(d), make_runner(d, f"w{i}"), concurrency=3, poll_interval=0.02)
            for i, d in enumerate(dbs)
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(w.run(stop)) for w in workers]

        async def all_done() -> bool:
            return (await JobQueue(dbs[0]).depth())["done"] == count

        try:
            await eventually(all_done, "all jobs done")
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        assert await assert_each_job_ran_once(dbs[0], count) == {"w0", "w1"}
    finally:
        for d in dbs:
            await d.close()


WORKER_PROCESS = """
import asyncio, os, random, sys, time
from bot.db import Database
from bot.queue import JobQueue
from bot.worker import Worker

async def main(url: str, count: int) -> None:
    db = await Database.connect(url)
    queue = JobQueue(db)

    async def run_job(job):
        started = time.time()
        await asyncio.sleep(random.uniform(0, 0.01))
        await db.execute(
            "INSERT INTO runs (job_id, repository, runner, started, ended) VALUES (?, ?, ?, ?, ?)",
            (job.id, job.repository, str(os.getpid()), started, time.time()),
        )

    stop = asyncio.Event()
    task = asyncio.create_task(Worker(queue, run_job, concurrency=3, poll_interval=0.02).run(stop))
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while (await queue.depth())["done"] < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    await db.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_two_worker_processes_run_each_job_once(db_url: str) -> None:
    count = 80
    db = await Database.connect(db_url)
    try:
        await migrate(db)
        await db.execute(RUNS_TABLE)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER_PROCESS, db_url, str(count)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            for proc in procs:  # both are polling before any job exists: real contention
                line = await asyncio.to_thread(proc.stdout.readline)
                assert line.strip() == "ready"
            queue = JobQueue(db)
            for n in range(count):
                repo = None if n % 4 == 0 else f"o/r{n % 5}"
                await queue.enqueue("k", {"n": n}, repository=repo, installation_id=1)
            codes = [await asyncio.to_thread(p.wait, 90) for p in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.stdout.close()
        assert codes == [0, 0]
        runners = await assert_each_job_ran_once(db, count)
        assert runners == {str(p.pid) for p in procs}  # both processes really competed
    finally:
        await db.close()
