"""Time from a ``workflow_run.completed`` delivery to the heal PR, and API calls per diagnosis.

    .venv/bin/python benchmarks/heal.py [--runs 10]

Everything is real except GitHub and the package index, which are the test suite's fakes
(real HTTP servers on localhost): the webhook is signed and POSTed to ``patchwell serve``'s
app with its inline worker on SQLite; the worker reads the failed run, its annotations and
(when needed) the job log through the fake's expiring 302, runs the remedy and opens the PR.
Each run uses a fresh repository so no earlier PR short-cuts the work.

Two failures, the two paths a diagnosis takes:

* ``artifact v3`` -- fails in "Set up job"; the annotation says it all (no log download);
* ``missing module`` -- a ``ModuleNotFoundError`` in the test step; the log is downloaded.

Each twice: the run's delivery alone (``run only``: the engine lists the run's jobs), and
after the jobs' own ``workflow_job.completed`` deliveries (``jobs first``, the order GitHub
sends them: the failed job is recorded from its payload, so the jobs list is not called).
The clock starts at the ``workflow_run.completed`` delivery either way.

"Calls to diagnose" counts the requests made before the fix is written: the jobs list, the
annotations, the log redirect and the log download.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # benchmarks/secrets.py must not shadow the stdlib module

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot.service import PARTS, build_app  # noqa: E402
from tests import joblogs  # noqa: E402
from tests.fakegithub.server import FakeGitHub  # noqa: E402
from tests.fakeindex.server import FakeIndex, FakeRelease  # noqa: E402
from tests.heal_fixtures import (  # noqa: E402
    CI,
    FILES,
    ago,
    failing_job,
    job_payload,
    run_payload,
    settle,
)
from tests.webhooks import delivery  # noqa: E402

SECRET = "bench-webhook-secret"  # patchwell:allow
DIAGNOSIS = (
    r"/actions/runs/\d+/jobs",
    r"/check-runs/\d+/annotations",
    r"/actions/jobs/\d+/logs",
    r"^/_blobs/",
)
ARTIFACT_ERROR = (
    "This request has been automatically failed because it uses a deprecated version of "
    "`actions/upload-artifact: v3`. Learn more: "
    "https://github.blog/changelog/2024-04-16-deprecation-notice-v3-of-the-artifact-actions/"
)


def env(fake: FakeGitHub, index: FakeIndex, db: Path, interval: float) -> dict[str, str]:
    return {
        "PATCHWELL_WRITE_INTERVAL": str(interval),
        "PATCHWELL_APP_ID": str(fake.app_id),
        "PATCHWELL_PRIVATE_KEY": fake.private_key_pem,
        "PATCHWELL_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{db}",
        "PATCHWELL_GITHUB_API_URL": fake.url,
        "PATCHWELL_HTTP_CACHE_TTL": "0",
        "LOG_LEVEL": "WARNING",
        **index.env(),
    }


async def one(
    client, app, fake: FakeGitHub, owner: str, case: str, installation: int, jobs_first: bool
) -> dict:
    repo = "api"
    files = dict(FILES)
    if case == "missing module":
        files["app/main.py"] = "import flask\nimport yaml\n"
    fake.create_repo(owner, repo, files)
    fake.add_installation(installation, owner, [repo])
    if case == "artifact v3":
        job = failing_job(
            joblogs.artifact_v3_log(), step="Set up job", annotations=[{"message": ARTIFACT_ERROR}]
        )
    else:
        job = failing_job(joblogs.module_not_found_log("yaml"))
    run = fake.add_workflow_run(owner, repo, [job])
    fake.clear_calls()
    if jobs_first:
        for job_id in run.job_ids:
            body = job_payload(fake, job_id, owner, repo, installation)
            d = delivery("workflow_job", body, SECRET)
            response = await client.post("/webhook", data=d.body, headers=d.headers)
            assert response.status == 202, await response.text()
        await settle(app)
    body = run_payload(fake, run.id, owner, repo, installation)
    d = delivery("workflow_run", body, SECRET)
    start = time.perf_counter()
    response = await client.post("/webhook", data=d.body, headers=d.headers)
    assert response.status == 202, await response.text()
    while not fake.pulls(owner, repo):
        if time.perf_counter() - start > 60:
            raise RuntimeError(f"no heal PR for {case}")
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - start
    calls = fake.calls
    diagnose = sum(1 for c in calls if any(_match(p, c.path) for p in DIAGNOSIS))
    return {"seconds": elapsed, "diagnose": diagnose, "calls": len(calls)}


def _match(pattern: str, path: str) -> bool:
    return re.search(pattern, path) is not None


async def main(runs: int) -> None:
    fake = FakeGitHub().start()
    index = FakeIndex().start()
    index.add_project("PyYAML", [FakeRelease("6.0.1", ago(900)), FakeRelease("6.0.2", ago(400))])
    index.add_project("flask", [FakeRelease("3.0.3", ago(300))])
    index.add_project("requests", [FakeRelease("2.31.0", ago(500))])
    for action in ("upload-artifact", "download-artifact"):
        fake.create_repo("actions", action, {"action.yml": "name: x\n"})
        for tag in ("v3", "v4", "v4.6.2"):
            fake.create_tag("actions", action, tag)
    assert "upload-artifact@v3" in CI
    print(
        f"{'write interval':<15} {'failure':<15} {'signals':<10} {'runs':>4} {'p50 ms':>7} "
        f"{'p95 ms':>7} "
        f"{'calls to diagnose':>17} {'calls to PR':>11}"
    )
    n = 0
    try:
        # 1 s between writes is GitHub's advice and Patchwell's default (bot/budget.py); 0
        # shows the engine's own time in the same run.
        for interval in (1.0, 0.0):
            results: dict[tuple[str, str], list[dict]] = {
                (case, signals): []
                for case in ("artifact v3", "missing module")
                for signals in ("run only", "jobs first")
            }
            with tempfile.TemporaryDirectory() as tmp:
                app = await build_app(
                    env(fake, index, Path(tmp) / "bench.db", interval), inline_worker=True
                )
                async with TestClient(TestServer(app)) as client:
                    assert app[PARTS].queue is not None
                    for i in range(runs):
                        for (case, signals), rows in results.items():
                            n += 1
                            first = signals == "jobs first"
                            owner = f"org{i}-{n}"
                            rows.append(await one(client, app, fake, owner, case, 5000 + n, first))
            for (case, signals), rows in results.items():
                ms = sorted(r["seconds"] * 1000 for r in rows)
                p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
                diag = "/".join(map(str, sorted({r["diagnose"] for r in rows})))
                calls = statistics.median(r["calls"] for r in rows)
                print(
                    f"{interval:<15} {case:<15} {signals:<10} {len(rows):>4} "
                    f"{statistics.median(ms):>7.0f} {p95:>7.0f} {diag:>17} {calls:>11.0f}"
                )
    finally:
        index.stop()
        fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    asyncio.run(main(parser.parse_args().runs))
