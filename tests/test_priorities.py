"""Check runs before PR writes, under GitHub's limits, through the real server and worker.

The fake GitHub enforces GitHub's content-creation limits at ten times GitHub's speed (80 per
6 s, 500 per 360 s) and Patchwell paces at the same scale (60/6s, 450/360s, 0.1 s apart). The
worker runs one job at a time, so without the priorities the last repository's check run would
wait behind every PR write of the repositories scanned before it, and a pushed secret behind
its repository's install scan. Everything is counted at the fake GitHub, in the order GitHub
would have seen the writes; nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.service import PARTS, build_app
from fixers.secrets.samples import all_samples
from tests import payloads
from tests.appfixtures import WEBHOOK_SECRET
from tests.webhooks import delivery

pytestmark = pytest.mark.asyncio

OWNER, INSTALLATION = "acme", 5150
REPOS = [f"app{i}" for i in range(4)]
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vibe-app"


def app_files() -> dict[str, str]:
    """The example app without its secrets, plus modules: five hygiene PRs per repository."""
    files = {
        str(p.relative_to(EXAMPLE)): p.read_text()
        for p in EXAMPLE.rglob("*")
        if p.is_file() and p.name != ".env"
    }
    files["app.py"] = "\n".join(
        line for line in files["app.py"].splitlines() if "sk_live" not in line
    )
    for i in range(3):
        files[f"client{i}.py"] = (
            f"import requests\n\n\ndef get{i}(url):\n    return requests.get(url)\n"
        )
    return files


def is_pr_write(path: str) -> bool:
    return "/git/" in path or "/pulls" in path or path.endswith("/labels")


async def send(client, event: str, payload: dict) -> None:
    d = delivery(event, payload, WEBHOOK_SECRET)
    response = await client.post("/webhook", data=d.body, headers=d.headers)
    assert response.status == 202, await response.text()


async def until(check, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def settle(queue, timeout: float = 120) -> None:
    """No job running or due within the next minute (the next periodic rescans are days away)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = await queue.list_jobs(states=("queued", "running"))
        if not [j for j in jobs if j.state == "running" or j.run_at <= time.time() + 60]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("jobs never settled")


async def test_check_runs_first_then_paced_prs_and_a_pushed_secret_jumps_the_queue(
    live_env, fake_github
) -> None:
    fake_github.set_content_limits(per_minute=80, per_hour=500, minute=6, hour=360)
    for name in REPOS:
        fake_github.create_repo(OWNER, name, app_files())
    fake_github.add_installation(INSTALLATION, OWNER, REPOS)
    env = live_env | {
        "PATCHWELL_WORKER_CONCURRENCY": "1",
        "PATCHWELL_WRITE_LIMITS": "60/6s,450/360s",
        "PATCHWELL_WRITE_INTERVAL": "0.1",
        "PATCHWELL_JOB_LEASE_SECONDS": "10",
    }
    app = await build_app(env, inline_worker=True)
    async with TestClient(TestServer(app)) as client:
        queue = app[PARTS].queue
        await send(
            client,
            "installation",
            payloads.installation_event(
                installation_id=INSTALLATION, owner=OWNER, repos=REPOS, owner_type="Organization"
            ),
        )

        def check_runs() -> dict[str, int]:
            return {r: len(fake_github.check_runs(OWNER, r)) for r in REPOS}

        await until(lambda: all(check_runs().values()), "a check run on every repository")
        writes_then = fake_github.writes(INSTALLATION)
        prs_before_last_check = sum(1 for w in writes_then if is_pr_write(w.path))

        # While the PRs are being paced, a push adds a secret to the first repository.
        stripe = next(s for s in all_samples(seed=3) if s.rule == "stripe-secret-key")
        before = fake_github.branches(OWNER, REPOS[0])["main"]
        after = fake_github.push(
            OWNER, REPOS[0], "main", {"billing.py": stripe.text + "\n"}, "billing"
        )
        pushed_at = time.time()
        await send(
            client,
            "push",
            payloads.push(
                owner=OWNER,
                repo=REPOS[0],
                installation_id=INSTALLATION,
                before=before,
                after=after,
                added=["billing.py"],
            ),
        )

        def failing_run() -> dict | None:
            runs = fake_github.check_runs(OWNER, REPOS[0])
            return next((r for r in runs if r["head_sha"] == after), None)

        await until(lambda: failing_run() is not None, "the failing check run of the push")
        await settle(queue)

    writes = fake_github.writes(INSTALLATION)
    assert fake_github.refused_writes(INSTALLATION) == 0  # GitHub refused nothing
    assert fake_github.max_writes_in_flight(INSTALLATION) == 1  # one at a time
    pr_writes = [w for w in writes if is_pr_write(w.path)]
    # Every repository's check run came before the installation's PR writes had got going:
    # without the priorities the fourth would have come after three repositories' PRs.
    assert prs_before_last_check <= len(pr_writes) / 4, (prs_before_last_check, len(pr_writes))
    run = failing_run()
    assert run is not None and run["conclusion"] == "failure"
    check_written = next(
        w.at
        for w in writes
        if w.path == f"/repos/{OWNER}/{REPOS[0]}/check-runs" and w.at >= pushed_at
    )
    overtaken = [w for w in pr_writes if pushed_at <= w.at <= check_written]
    still_to_come = [w for w in pr_writes if w.at > check_written]
    # The failing check run went before the rest of the install's PR writes (a job pacing
    # them hands its slot back within about a second of seeing the push wait).
    assert len(overtaken) <= 20 and len(overtaken) < len(still_to_come), (
        len(overtaken),
        len(still_to_come),
    )
    for name in REPOS:
        pulls = fake_github.pulls(OWNER, name)
        branches = [p["head"]["ref"] for p in pulls]
        assert len(branches) == len(set(branches))  # each PR exactly once
        assert len(pulls) >= 5  # the limit's worth of hygiene PRs, all opened in the end
        if name == REPOS[0]:  # and the secret's PR, which no limit holds back
            assert any(b.startswith("patchwell/secrets/") for b in branches), branches
        heads = [r["head_sha"] for r in fake_github.check_runs(OWNER, name)]
        assert len(heads) == len(set(heads))  # one check run per commit: none duplicated
