"""Graceful shutdown of real ``patchwell worker`` processes: SIGTERM stops claiming, running jobs
finish within the grace or are handed back, and a job handed back mid-PR is redone by another
worker into exactly one PR (counted at the fake GitHub)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from bot.db import Database
from bot.github import GITHUB_REQUEST_CEILING
from bot.migrate import migrate
from bot.queue import JobQueue
from tests import payloads
from tests.appfixtures import WEBHOOK_SECRET
from tests.processes import Process, free_port, worker
from tests.webhooks import delivery

pytestmark = pytest.mark.asyncio

OWNER, REPO, INSTALLATION = "stopco", "svc", 7100
# One hygiene PR (requests without a timeout) and one check run.
SLOW = 4.0  # seconds GitHub takes to answer the interrupted PR creation
README = {"README.md": "hi\n"}
FILES = {"client.py": "import requests\n\n\ndef get(url):\n    return requests.get(url)\n"}


async def until(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def enqueue_install(queue: JobQueue, repos: list[str]) -> str:
    body = payloads.installation_event(
        installation_id=INSTALLATION, owner=OWNER, repos=repos, owner_type="Organization"
    )
    d = delivery("installation", body, WEBHOOK_SECRET)
    assert await queue.enqueue_delivery(
        d.delivery_id, "installation", "created", INSTALLATION, None, d.body
    )
    await queue.close()
    return d.delivery_id


async def jobs(queue: JobQueue):
    return await queue.list_jobs(states=("queued", "running", "done", "dead"))


async def installed(
    fake_github, env: dict[str, str], files: dict[str, str]
) -> tuple[Database, JobQueue]:
    """The repository installed on the fake GitHub and its installation job queued."""
    fake_github.create_repo(OWNER, REPO, files)
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    db = await Database.connect(env["DATABASE_URL"])
    await migrate(db)
    queue = JobQueue(db)
    await enqueue_install(queue, [REPO])
    return db, queue


async def test_sigterm_mid_pull_request_hands_the_job_back_and_it_is_redone_once(
    live_env, fake_github, pg_url, tmp_path
) -> None:
    env = live_env | {
        "DATABASE_URL": pg_url,
        "PATCHWELL_SHUTDOWN_GRACE": "1",
        "PATCHWELL_JOB_LEASE_SECONDS": "30",  # a handed-back job must not wait for its lease
    }
    db, queue = await installed(fake_github, env, FILES)
    # GitHub takes 6 s to answer the PR creation: the worker is told to stop in the middle.
    fake_github.inject_slow("POST", rf"^/repos/{OWNER}/{REPO}/pulls$", delay=SLOW)
    first = worker("first", env, tmp_path, concurrency=1).start()
    try:

        async def branch_pushed() -> bool:
            return fake_github.count_calls("POST", rf"^/repos/{OWNER}/{REPO}/git/refs$") > 0

        await until(branch_pushed, "the PR branch")
        await asyncio.sleep(0.5)  # the next write, the PR itself, is now in flight
        in_flight_since = time.monotonic() - 0.5
        # (The periodic rescan is queued already: a scan schedules it before its PR writes.)
        (scan,) = [
            j
            for j in await jobs(queue)
            if j.repository == f"{OWNER}/{REPO}" and j.state == "running"
        ]
        assert fake_github.pulls(OWNER, REPO) == []
        first.signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0, first.log()[-3000:]
    finally:
        first.kill()
    released = await queue.get(scan.id)
    # Not finished (the PR call was still waiting) but handed back: queued now, attempt unspent.
    assert (released.state, released.attempts, released.lease_owner) == ("queued", 0, None)
    # ...and not claimable until GitHub is done with the PR request it had sent.
    assert released.run_at > released.updated_at + GITHUB_REQUEST_CEILING - 1
    assert "stopping: 1 running jobs get 1s to finish" in first.log()
    assert f"job {scan.id} released" in first.log()

    second = worker("second", env, tmp_path, concurrency=1).start()
    try:

        async def redone() -> bool:
            job = await queue.get(scan.id)
            return job.state in ("done", "dead")

        await until(redone, "the handed-back job to be redone")

        # The first worker's PR request reaches GitHub too, late: before or after the second
        # worker's (which then finds that PR, or is refused a second one for the branch).
        await asyncio.sleep(max(0.0, in_flight_since + SLOW + 1 - time.monotonic()))

        async def late_call_answered() -> bool:
            return fake_github.count_calls("POST", rf"^/repos/{OWNER}/{REPO}/pulls$") >= 1

        await until(late_call_answered, "the first worker's late PR request", timeout=30)
    finally:
        second.signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
        second.kill()
    done = await queue.get(scan.id)
    await db.close()
    assert done.state == "done", done.last_error
    pulls = fake_github.pulls(OWNER, REPO)
    assert len(pulls) == 1, [p["head"]["ref"] for p in pulls]
    assert pulls[0]["head"]["ref"] in fake_github.branches(OWNER, REPO)
    runs = [r for r in fake_github.check_runs(OWNER, REPO) if r["name"] == "patchwell"]
    assert len(runs) == 1 and runs[0]["status"] == "completed"  # reused, not duplicated


async def test_sigterm_lets_a_running_job_finish_and_claims_nothing_more(
    live_env, fake_github, tmp_path
) -> None:
    env = live_env | {"PATCHWELL_SHUTDOWN_GRACE": "30"}
    db, queue = await installed(fake_github, env, README)
    fake_github.inject_slow("GET", r"^/installation/repositories", delay=2)
    process = worker("graceful", env, tmp_path, concurrency=1).start()
    try:

        async def running() -> bool:
            return any(j.state == "running" for j in await jobs(queue))

        await until(running, "the installation job")
        process.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        # Enqueued after the signal: a stopping worker must leave it for the others.
        late = await queue.enqueue("scan", {}, repository="x/y", installation_id=INSTALLATION)
        assert process.wait(timeout=60) == 0, process.log()[-3000:]
    finally:
        process.kill()
    install = next(j for j in await jobs(queue) if j.event == "installation")
    left = await queue.get(late)
    rows = await db.fetchall("SELECT job_id FROM event_log WHERE handler = 'installation_created'")
    await db.close()
    assert install.state == "done", install.last_error  # finished inside the grace
    assert rows == [(install.id,)]
    assert (left.state, left.attempts) == ("queued", 0)


def start(kind: str, env: dict[str, str], tmp_path) -> Process:
    if kind == "worker":
        return worker("hurried", env, tmp_path, concurrency=1).start()
    args = ("serve", "--worker", "--host", "127.0.0.1", "--port", str(free_port()))
    return Process("serve", args, env, tmp_path / "serve").start()


@pytest.mark.parametrize(
    ("kind", "grace", "signals"),
    [
        # The grace is ten minutes: the worker waits for the job until told again (Ctrl-C
        # twice, or the platform), then hands it back at once.
        pytest.param("worker", "600", (signal.SIGTERM, signal.SIGINT), id="worker-told-twice"),
        # `serve`'s inline worker: its grace (1 s) runs out long before GitHub answers.
        pytest.param("serve", "1", (signal.SIGTERM,), id="serve-grace-runs-out"),
    ],
)
async def test_a_job_stuck_on_github_is_handed_back_not_left_running(
    live_env, fake_github, tmp_path, kind: str, grace: str, signals: tuple[int, ...]
) -> None:
    env = live_env | {"PATCHWELL_SHUTDOWN_GRACE": grace, "PATCHWELL_JOB_LEASE_SECONDS": "60"}
    db, queue = await installed(fake_github, env, README)
    fake_github.inject_slow("GET", r"^/installation/repositories", delay=120)
    process = start(kind, env, tmp_path)
    try:

        async def waiting_on_github() -> bool:
            return fake_github.count_calls("POST", r"/access_tokens") > 0

        await until(waiting_on_github, "the installation job's GitHub call")
        await asyncio.sleep(0.3)
        *earlier, last = signals
        for sig in earlier:
            process.signal(sig)
            await asyncio.sleep(0.5)
            assert process.alive  # still inside its grace, waiting for the job
        process.signal(last)
        assert process.wait(timeout=30) == 0, process.log()[-3000:]
    finally:
        process.kill()
    (job,) = await jobs(queue)
    await db.close()
    assert (job.state, job.attempts, job.lease_owner) == ("queued", 0, None)
    assert f"job {job.id} released" in process.log()
