"""``workflow_job.completed``, the cheapest signal: a failed job is recorded from its payload
(no API call) and read when its run completes; a job delivered after its run is diagnosed
alone; GitHub cancelling jobs on a retired runner image is read from their annotations."""

from __future__ import annotations

import pytest

from tests import joblogs
from tests.fakegithub.server import FakeJob
from tests.heal_fixtures import (
    OWNER,
    REPO,
    artifact_v3_job,
    failing_job,
    heal_log,
    job_payload,
    passing_job,
    run_payload,
    send,
    settle,
    writes,
)

pytestmark = pytest.mark.asyncio

JOBS_LIST = r"/actions/runs/\d+/jobs"


def api_calls(fake) -> list:
    return [c for c in fake.calls if c.path.startswith("/repos/")]


async def deliver_jobs(fake, client, app, run, job_ids) -> None:
    for job_id in job_ids:
        await send(client, "workflow_job", job_payload(fake, job_id))
    await settle(app)


async def test_recorded_jobs_spare_the_jobs_list_call(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    fake.push(OWNER, REPO, "main", {"app/main.py": "import yaml\n"}, "use yaml")
    run = fake.add_workflow_run(
        OWNER, REPO, [passing_job(), failing_job(joblogs.module_not_found_log("yaml"))]
    )
    fake.clear_calls()
    await deliver_jobs(fake, client, app, run, run.job_ids)
    assert api_calls(fake) == []  # the payload said it all: no call, passing job or failed one
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    (pull,) = [p for p in fake.pulls(OWNER, REPO) if p["state"] == "open"]
    assert pull["head"]["ref"] == "patchwell/heal/add-pyyaml"
    assert fake.count_calls("GET", JOBS_LIST) == 0
    summaries = await heal_log(app)
    assert any("3 calls to diagnose" in s for s in summaries), summaries  # notes, 302, log


async def test_without_recorded_jobs_the_run_lists_them(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    fake.push(OWNER, REPO, "main", {"app/main.py": "import yaml\n"}, "use yaml")
    run = fake.add_workflow_run(OWNER, REPO, [failing_job(joblogs.module_not_found_log("yaml"))])
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    assert fake.count_calls("GET", JOBS_LIST) == 1
    assert len(fake.pulls(OWNER, REPO)) == 1
    # Its workflow_job delivery arriving afterwards: already read with the run, nothing more.
    before = len(fake.calls)
    await deliver_jobs(fake, client, app, run, run.job_ids)
    assert fake.calls[before:] == []


async def test_a_job_delivered_after_its_run_is_diagnosed_alone_once(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    fake.push(OWNER, REPO, "main", {"app/main.py": "import yaml\n"}, "use yaml")
    run = fake.add_workflow_run(
        OWNER, REPO, [failing_job(joblogs.module_not_found_log("yaml")), artifact_v3_job()]
    )
    first, second = run.job_ids
    await deliver_jobs(fake, client, app, run, [first])
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    assert [p["head"]["ref"] for p in fake.pulls(OWNER, REPO)] == ["patchwell/heal/add-pyyaml"]
    # The second job's delivery comes late: read alone (the run once, to know whom it is for).
    fake.clear_calls()
    await deliver_jobs(fake, client, app, run, [second])
    refs = sorted(p["head"]["ref"] for p in fake.pulls(OWNER, REPO))
    assert refs == [
        "patchwell/dependencies/action-actions-upload-artifact",
        "patchwell/heal/add-pyyaml",
    ]
    assert fake.count_calls("GET", r"/actions/runs/\d+$") == 1
    assert fake.count_calls("GET", JOBS_LIST) == 0
    # Redelivered: nothing new.
    before = len(writes(fake))
    await deliver_jobs(fake, client, app, run, [second])
    assert writes(fake)[before:] == []
    assert len(fake.pulls(OWNER, REPO)) == 2


async def test_a_job_cancelled_on_a_retired_image_is_healed(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    ci = ".github/workflows/ci.yml"
    wf = fake.file_at(OWNER, REPO, "main", ci).decode().replace("ubuntu-latest", "macos-13")
    fake.push(OWNER, REPO, "main", {ci: wf}, "mac")
    cancelled = FakeJob(
        "test",
        "cancelled",
        (),
        None,
        ({"message": joblogs.RETIRED["macos-13"]},),
    )
    run = fake.add_workflow_run(OWNER, REPO, [cancelled])
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    (pull,) = fake.pulls(OWNER, REPO)
    assert "runs-on: macos-15" in fake.file_at(OWNER, REPO, pull["head"]["ref"], ci).decode()
    assert fake.count_calls("GET", r"/actions/jobs/\d+/logs") == 0


async def test_a_run_someone_cancelled_says_nothing(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    cancelled = FakeJob("test", "cancelled", (("Set up job", "success"),), "cancelled\n")
    run = fake.add_workflow_run(OWNER, REPO, [cancelled])
    before = len(writes(fake))
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    assert writes(fake)[before:] == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b.update(workflow_job="not a job"),
        lambda b: b.update(repository=["x"]),
        lambda b: b["workflow_job"].update(run_id="abc", steps={"a": 1}),
    ],
    ids=["job-not-a-dict", "repository-not-a-dict", "fields-of-the-wrong-type"],
)
async def test_a_malformed_job_delivery_is_ignored(repo, heal_web, mangle) -> None:
    client, app = heal_web
    fake = repo
    run = fake.add_workflow_run(OWNER, REPO, [failing_job(joblogs.module_not_found_log("yaml"))])
    body = job_payload(fake, run.job_ids[0])
    mangle(body)
    fake.clear_calls()
    await send(client, "workflow_job", body)
    await settle(app)
    assert api_calls(fake) == []
    summaries = await heal_log(app)
    assert summaries and "ignored" in summaries[-1]


async def test_a_late_job_whose_run_was_deleted_says_nothing(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    run = fake.add_workflow_run(
        OWNER, REPO, [failing_job(joblogs.unknown_failure_log()), failing_job("x\n")]
    )
    first, second = run.job_ids
    await deliver_jobs(fake, client, app, run, [first])
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    body = job_payload(fake, second)
    body["workflow_job"]["run_id"] = 999_999_999  # a run GitHub no longer has
    before = len(writes(fake))
    await send(client, "workflow_job", body)
    await settle(app)
    assert writes(fake)[before:] == []
