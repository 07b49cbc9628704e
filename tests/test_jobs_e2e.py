"""Deliveries through to handled jobs: the inline worker, retries, dead jobs, and SIGKILL.

Everything real: the web process over HTTP, the queue on SQLite or PostgreSQL,
worker processes started as `patchwell worker`, the fake GitHub checking tokens.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.db import Database
from bot.queue import JobQueue
from bot.service import PARTS
from tests.appfixtures import WEBHOOK_SECRET
from tests.payloads import INSTALLATION_ID as INSTALLATION
from tests.payloads import OTHER_REPO, OWNER, REPO
from tests.webhooks import delivery, example

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[1]


def install_example_account(fake) -> None:
    fake.create_repo(OWNER, REPO, {"README.md": "hello\n"})
    fake.create_repo(OWNER, OTHER_REPO, {"README.md": "other\n"})
    fake.add_installation(INSTALLATION, OWNER, [REPO, OTHER_REPO])


async def wait_for_state(queue: JobQueue, job_id: int, states: set[str], timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await queue.get(job_id)
        if job is not None and job.state in states:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {await queue.get(job_id)}")


async def event_log(db: Database) -> list[tuple]:
    return await db.fetchall("SELECT job_id, handler, summary FROM event_log ORDER BY id")


async def finished_deliveries(db: Database, states=("done", "dead")) -> int:
    row = await db.fetchone(
        "SELECT count(*) FROM jobs WHERE kind = 'webhook' AND state IN (?, ?)",
        (states[0], states[-1]),
    )
    return int(row[0])


async def send(client, event: str, payload) -> str:
    d = delivery(event, payload, WEBHOOK_SECRET)
    response = await client.post("/webhook", data=d.body, headers=d.headers)
    assert response.status == 202, await response.text()
    return d.delivery_id


async def only_job(queue: JobQueue):
    (job,) = await queue.list_jobs(states=("queued", "running", "done", "dead"))
    return job


async def test_installation_is_handled_with_github_data(live_web, fake_github) -> None:
    install_example_account(fake_github)
    client, app = live_web
    parts = app[PARTS]
    await send(client, "installation", example("installation", "created"))
    job = await wait_for_state(parts.queue, (await only_job(parts.queue)).id, {"done", "dead"})
    assert job.state == "done", job.last_error
    rows = await event_log(parts.db)
    ((_, handler, summary),) = [r for r in rows if r[0] == job.id]
    assert handler == "installation_created"
    assert f"{OWNER}/{REPO}" in summary and f"{OWNER}/{OTHER_REPO}" in summary


async def test_secondary_rate_limit_is_retried_after_retry_after(live_web, fake_github) -> None:
    install_example_account(fake_github)
    fake_github.inject_secondary_rate_limit("GET", r"^/installation/repositories", retry_after=1)
    client, app = live_web
    parts = app[PARTS]
    sent_at = time.time()
    await send(client, "installation", example("installation", "created"))
    job = await wait_for_state(parts.queue, (await only_job(parts.queue)).id, {"done", "dead"})
    assert job.state == "done"
    # A limit is a wait, not a failure: handed back once, no attempt spent.
    assert (job.attempts, job.deferrals) == (1, 1)
    assert fake_github.count_calls("GET", r"^/installation/repositories", status=403) == 1
    assert fake_github.count_calls("GET", r"^/installation/repositories", status=200) == 1
    assert time.time() - sent_at >= 1.0  # never sooner than GitHub's Retry-After


async def test_unknown_installation_is_parked_dead_and_can_be_retried(
    live_web, fake_github, live_env
) -> None:
    client, app = live_web
    parts = app[PARTS]
    await send(client, "installation", example("installation", "created"))
    job = await wait_for_state(parts.queue, (await only_job(parts.queue)).id, {"dead", "done"})
    assert job.state == "dead"
    assert "404" in job.last_error or "Not Found" in job.last_error
    env = {**os.environ, **live_env, "PYTHONPATH": str(ROOT)}
    listing = subprocess.run(
        [sys.executable, "-m", "bot.cli", "jobs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert f"{job.id}" in listing.stdout and "dead" in listing.stdout
    install_example_account(fake_github)
    retry = subprocess.run(
        [sys.executable, "-m", "bot.cli", "jobs", "retry", str(job.id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert retry.returncode == 0, retry.stderr
    # The inline worker picks the requeued job up at its next poll.
    job = await wait_for_state(parts.queue, job.id, {"done"})
    assert job.attempts == 1


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker", "--concurrency", "2"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_worker_killed_mid_job_loses_nothing(
    database, live_env, fake_github, request, tmp_path
) -> None:
    """SIGKILL a worker while its job waits on GitHub; a second worker finishes it, once."""
    env = dict(live_env)
    if database == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    install_example_account(fake_github)
    db = await Database.connect(env["DATABASE_URL"])
    from bot.migrate import migrate

    await migrate(db)
    queue = JobQueue(db)
    payload = delivery("installation", example("installation", "created"), WEBHOOK_SECRET)
    assert await queue.enqueue_delivery(
        payload.delivery_id, "installation", "created", INSTALLATION, None, payload.body
    )
    await queue.close()
    (job,) = await JobQueue(db).list_jobs()
    # The first worker's GitHub call hangs long past the lease (2 s in live_env).
    fake_github.inject_slow("GET", r"^/installation/repositories", delay=8)
    first = start_worker(env)
    try:
        await wait_for_state(JobQueue(db), job.id, {"running"})
        deadline = time.monotonic() + 30
        while (
            not fake_github.count_calls("POST", r"/access_tokens") and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # now inside the slow GitHub call
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert (await JobQueue(db).get(job.id)).state == "running"  # orphaned, lease ticking
        second = start_worker(env)
        try:
            finished = await wait_for_state(JobQueue(db), job.id, {"done", "dead"}, timeout=60)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert finished.state == "done", finished.last_error
    rows = await event_log(db)
    await db.close()
    assert [(r[0], r[1]) for r in rows if r[0] == job.id] == [(job.id, "installation_created")]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_two_worker_processes_never_run_a_job_twice(
    database, live_env, fake_github, request
) -> None:
    env = dict(live_env)
    if database == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    install_example_account(fake_github)
    db = await Database.connect(env["DATABASE_URL"])
    from bot.migrate import migrate

    await migrate(db)
    queue = JobQueue(db)
    sent = 24
    for _ in range(sent):
        d = delivery("installation", example("installation", "created"), WEBHOOK_SECRET)
        await queue.enqueue_delivery(
            d.delivery_id, "installation", "created", INSTALLATION, None, d.body
        )
    await queue.close()
    workers = [start_worker(env), start_worker(env)]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if await finished_deliveries(db) == sent:
                break
            await asyncio.sleep(0.1)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=30)
    finished = await finished_deliveries(db, states=("done",))
    rows = await event_log(db)
    await db.close()
    assert finished == sent
    job_ids = [r[0] for r in rows if r[1] == "installation_created"]
    assert len(job_ids) == sent and len(set(job_ids)) == sent
