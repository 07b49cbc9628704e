"""Leaked secrets end to end: the real server, the fake GitHub, every rule planted.

Nothing Patchwell writes -- PR titles and bodies, commits it makes, comments,
check runs and their annotations, logs, metrics, database rows -- may contain a
planted value. The planted values are synthetic (fixers/secrets/samples.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.service import PARTS
from fixers.secrets.samples import all_samples
from tests.appfixtures import WEBHOOK_SECRET
from tests.webhooks import delivery, example

OWNER, REPO, INSTALLATION = "acme", "leaky", 808


async def settle(queue, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = await queue.list_jobs(states=("queued", "running"))
        if not [j for j in jobs if j.state == "running" or j.run_at <= time.time()]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("jobs never settled")


async def send(client, event: str, payload: dict, delivery_id: str | None = None) -> None:
    d = delivery(event, payload, WEBHOOK_SECRET, delivery_id=delivery_id)
    response = await client.post("/webhook", data=d.body, headers=d.headers)
    assert response.status in (200, 202), await response.text()


def install_payload() -> dict:
    payload = example("installation", "created")
    payload["installation"]["id"] = INSTALLATION
    return payload


def push_payload(before: str, after: str, paths: list[str]) -> dict:
    payload = example("push")
    payload.update(
        ref="refs/heads/main",
        before=before,
        after=after,
        created=False,
        deleted=False,
        forced=False,
        installation={"id": INSTALLATION},
    )
    payload["repository"] = {
        **payload["repository"],
        "full_name": f"{OWNER}/{REPO}",
        "name": REPO,
        "default_branch": "main",
        "owner": {"login": OWNER, "name": OWNER},
    }
    payload["commits"] = [{"id": after, "added": paths, "modified": [], "removed": []}]
    return payload


def everything_patchwell_wrote(fake, caplog_text: str, metrics: str, rows: list) -> str:
    parts = [caplog_text, metrics, repr(rows)]
    for pull in fake.pulls(OWNER, REPO):
        parts += [pull["title"], pull["body"] or ""]
        parts += [c["body"] for c in fake.comments(OWNER, REPO, pull["number"])]
        head = fake.commit(OWNER, REPO, pull["head"]["sha"])
        parts.append(head["commit"]["message"])
    for run in fake.check_runs(OWNER, REPO):
        parts.append(repr(run["output"]))
        parts.append(repr(run.get("annotations")))
    return "\n".join(parts)


async def dump_database(db) -> list:
    rows = []
    for table in ("jobs", "event_log", "repositories", "findings", "patch_branches"):
        columns = "*" if table != "jobs" else "id, kind, state, last_error"
        rows += await db.fetchall(f"SELECT {columns} FROM {table}")
    return rows


@pytest.mark.asyncio
async def test_every_rule_planted_nothing_leaks(live_web, fake_github, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    samples = all_samples(seed=7)
    files = {f"src/leak_{i}.py": s.text + "\n" for i, s in enumerate(samples)}
    files["README.md"] = "# leaky\n"
    fake_github.create_repo(OWNER, REPO, files)
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    client, app = live_web
    await send(client, "installation", install_payload())
    await settle(app[PARTS].queue)
    (run,) = fake_github.check_runs(OWNER, REPO)
    assert run["conclusion"] == "failure"
    rules = {
        a["title"].split(": ", 1)[1]
        for a in run["annotations"]
        if a["title"].startswith("secrets:")
    }
    assert {s.rule for s in samples} - rules <= {"aws-secret-access-key"}  # paired with its id
    pulls = fake_github.pulls(OWNER, REPO)
    assert pulls
    assert all("rotate this credential now" in p["body"].lower() for p in pulls)
    metrics = await (await client.get("/metrics")).text()
    text = everything_patchwell_wrote(
        fake_github, caplog.text, metrics, await dump_database(app[PARTS].db)
    )
    for s in samples:
        assert s.secret not in text, f"{s.rule} value leaked"
        assert s.token not in text, f"{s.rule} literal leaked"
    # The patched files hold an environment lookup, not the value.
    for pull in pulls:
        for path, data in fake_github.files_at(OWNER, REPO, pull["head"]["ref"]).items():
            if path.startswith("src/leak_") and files.get(path, "").encode() != data:
                assert not any(s.secret.encode() in data for s in samples), path


@pytest.mark.asyncio
async def test_push_that_adds_a_secret_fails_its_check_once_and_opens_one_pr(
    live_web, fake_github
) -> None:
    fake_github.create_repo(OWNER, REPO, {"app.py": "import os\n", "README.md": "# ok\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    client, app = live_web
    await send(client, "installation", install_payload())
    await settle(app[PARTS].queue)
    assert fake_github.check_runs(OWNER, REPO)[-1]["conclusion"] in ("success", "neutral")
    stripe = next(s for s in all_samples(seed=3) if s.rule == "stripe-secret-key")
    before = fake_github.branches(OWNER, REPO)["main"]
    after = fake_github.push(OWNER, REPO, "main", {"billing.py": stripe.text + "\n"}, "billing")
    payload = push_payload(before, after, ["billing.py"])
    await send(client, "push", payload, delivery_id="push-1")
    await send(client, "push", payload, delivery_id="push-1")  # a redelivery
    await send(client, "push", payload, delivery_id="push-2")  # the same push, a new id
    await settle(app[PARTS].queue)
    runs = [r for r in fake_github.check_runs(OWNER, REPO) if r["head_sha"] == after]
    assert runs and runs[-1]["conclusion"] == "failure"
    annotation = next(a for a in runs[-1]["annotations"] if a["path"] == "billing.py")
    assert stripe.secret not in annotation["message"]
    assert "****" in annotation["message"]
    secret_prs = [
        p
        for p in fake_github.pulls(OWNER, REPO)
        if p["head"]["ref"].startswith("patchwell/secrets/")
    ]
    assert len(secret_prs) == 1
    patched = fake_github.file_at(OWNER, REPO, secret_prs[0]["head"]["ref"], "billing.py")
    assert stripe.secret.encode() not in patched and b"os.environ" in patched
