"""Shared set-up for the heal tests: the real server, the fake GitHub and the fake index."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.service import PARTS
from tests import joblogs
from tests.appfixtures import WEBHOOK_SECRET
from tests.fakegithub.server import FakeJob
from tests.fakeindex.server import FakeRelease
from tests.webhooks import delivery, example

OWNER, REPO, INSTALLATION = "acme", "api", 4711

CI = """\
name: CI
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install dependencies
        run: pip install -r requirements.txt
      - run: python -m pytest -q
      - uses: actions/upload-artifact@v3
        with:
          name: coverage
          path: coverage.xml
"""

FILES = {
    ".github/workflows/ci.yml": CI,
    "requirements.txt": "flask==3.0.3\nrequests==2.31.0\n",
    "app/__init__.py": "",
    "app/main.py": "import flask\n",
    "tests/test_app.py": "from app import main\n",
}


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


@pytest.fixture
def heal_env(live_env, fake_index) -> dict[str, str]:
    fake_index.add_project(
        "PyYAML", [FakeRelease("6.0.1", ago(900)), FakeRelease("6.0.2", ago(400))]
    )
    fake_index.add_project("flask", [FakeRelease("3.0.3", ago(300))])
    fake_index.add_project("requests", [FakeRelease("2.31.0", ago(500))])
    return {**live_env, **fake_index.env(), "PATCHWELL_HTTP_CACHE_TTL": "0"}


@pytest.fixture
async def heal_web(heal_env):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.service import build_app

    app = await build_app(heal_env, inline_worker=True)
    async with TestClient(TestServer(app)) as client:
        yield client, app


@pytest.fixture
def repo(fake_github):
    """The repository, the App installed on it, and the artifact actions' releases."""
    fake_github.create_repo(OWNER, REPO, FILES)
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    for action in ("upload-artifact", "download-artifact"):
        fake_github.create_repo("actions", action, {"action.yml": "name: x\n"})
        for tag in ("v3", "v3.2.1", "v4", "v4.6.2"):
            fake_github.create_tag("actions", action, tag)
    return fake_github


async def settle(app, timeout: float = 60) -> None:
    queue = app[PARTS].queue
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


def run_payload(
    fake, run_id: int, owner: str = OWNER, repo: str = REPO, installation: int = INSTALLATION
) -> dict:
    """A ``workflow_run.completed`` delivery that agrees with the fake's run."""
    body = example("workflow_run", "completed")
    run = fake.workflow_run_json(owner, repo, run_id)
    body["workflow_run"] = {**body["workflow_run"], **run}
    body["repository"] = fake.repo_json(owner, repo)
    body["installation"] = {"id": installation}
    body["workflow"] = {**body["workflow"], "path": run["path"], "name": run["name"]}
    return body


def job_payload(
    fake, job_id: int, owner: str = OWNER, repo: str = REPO, installation: int = INSTALLATION
) -> dict:
    """A ``workflow_job.completed`` delivery that agrees with the fake's job."""
    body = example("workflow_job", "completed")
    body["workflow_job"] = fake.workflow_job_json(owner, repo, job_id)
    body["repository"] = fake.repo_json(owner, repo)
    body["installation"] = {"id": installation}
    return body


def failing_job(log: str, *, step: str = "Run tests", annotations=(), **kw) -> FakeJob:
    steps = (("Set up job", "success" if step != "Set up job" else "failure"),)
    if step != "Set up job":
        steps += (("Run actions/checkout@v4", "success"), (step, "failure"))
    return FakeJob("test", "failure", steps, log, tuple(annotations), **kw)


#: the annotation GitHub puts on a job that uses a turned-off artifact action
ARTIFACT_ERROR = (
    "This request has been automatically failed because it uses a deprecated version of "
    "`actions/upload-artifact: v3`. Learn more: "
    "https://github.blog/changelog/2024-04-16-deprecation-notice-v3-of-the-artifact-actions/"
)


def artifact_v3_job() -> FakeJob:
    """A job failed in "Set up job" for upload-artifact v3: its log and its annotation."""
    return failing_job(
        joblogs.artifact_v3_log(), step="Set up job", annotations=[{"message": ARTIFACT_ERROR}]
    )


def passing_job() -> FakeJob:
    return FakeJob("test", "success", (("Set up job", "success"), ("Run tests", "success")), "ok\n")


async def heal_rows(app) -> list[tuple]:
    return await app[PARTS].db.fetchall(
        "SELECT case_key, target, state, heal_pr, comment_id FROM heal_cases ORDER BY case_key"
    )


async def heal_log(app) -> list[str]:
    rows = await app[PARTS].db.fetchall(
        "SELECT summary FROM event_log WHERE handler = 'heal' ORDER BY id"
    )
    return [r[0] for r in rows]


def writes(fake) -> list:
    """Calls that change something on GitHub (a content-addressed tree is computed by a POST
    but changes nothing: the PR engine compares it with the branch's tree)."""
    return [
        c
        for c in fake.calls
        if c.method in ("POST", "PATCH", "PUT", "DELETE")
        and c.path.startswith("/repos/")
        and not c.path.endswith(("/git/trees", "/git/blobs"))
    ]
