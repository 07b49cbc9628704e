"""The heal loop end to end: signed ``workflow_run`` webhooks into the real server, the fake
GitHub's runs, jobs, annotations and 302 log downloads, and what Patchwell writes back."""

from __future__ import annotations

import pytest

from tests import joblogs
from tests.heal_fixtures import (
    ARTIFACT_ERROR,
    OWNER,
    REPO,
    artifact_v3_job,
    failing_job,
    heal_log,
    heal_rows,
    passing_job,
    run_payload,
    send,
    settle,
    writes,
)

pytestmark = pytest.mark.asyncio

BRANCH = "patchwell/dependencies/action-actions-upload-artifact"


def open_pulls(fake) -> dict[str, dict]:
    return {p["head"]["ref"]: p for p in fake.pulls(OWNER, REPO) if p["state"] == "open"}


async def fail_main(fake, client, app, log: str, **kw) -> int:
    run = fake.add_workflow_run(OWNER, REPO, [failing_job(log, **kw)])
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    return run.id


async def test_default_branch_failure_opens_one_heal_pr_then_verifies_it(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    run_id = await fail_main(
        fake,
        client,
        app,
        joblogs.artifact_v3_log(),
        step="Set up job",
        annotations=[{"message": ARTIFACT_ERROR}],
    )
    (pull,) = open_pulls(fake).values()
    assert pull["head"]["ref"] == BRANCH
    body = pull["body"]
    assert "This heals a failing check" in body and f"/actions/runs/{run_id}" in body
    assert "actions/upload-artifact: v3" in body  # the failing line, quoted
    assert "Not verified yet" in body
    assert (
        "actions/upload-artifact@v4"
        in fake.file_at(OWNER, REPO, BRANCH, ".github/workflows/ci.yml").decode()
    )
    # Cheapest first: a set-up failure is read from its annotations, the log is not fetched.
    (summary,) = await heal_log(app)
    assert "2 calls to diagnose" in summary
    assert fake.count_calls("GET", r"/actions/jobs/\d+/logs") == 0

    # Redelivery (a new delivery id, the same run): nothing new.
    before = len(writes(fake))
    await send(client, "workflow_run", run_payload(fake, run_id))
    await settle(app)
    assert [c.path for c in writes(fake)[before:]] == []
    assert len(fake.pulls(OWNER, REPO)) == 1

    # The heal PR's own run passes: marked verified in its body.
    green = fake.add_workflow_run(
        OWNER,
        REPO,
        [passing_job()],
        head_branch=BRANCH,
        event="pull_request",
        pull_numbers=[pull["number"]],
    )
    await send(client, "workflow_run", run_payload(fake, green.id))
    await settle(app)
    assert "Verified." in fake.pull(OWNER, REPO, pull["number"])["body"]
    assert [r[2] for r in await heal_rows(app)] == ["verified"]


async def test_a_heal_pr_that_fails_the_same_way_says_so_and_stops(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    await fail_main(
        fake,
        client,
        app,
        joblogs.artifact_v3_log(),
        step="Set up job",
        annotations=[{"message": ARTIFACT_ERROR}],
    )
    (pull,) = open_pulls(fake).values()
    for _attempt in range(2):  # a re-run failing again must not add a second comment
        red = fake.add_workflow_run(
            OWNER,
            REPO,
            [artifact_v3_job()],
            head_branch=BRANCH,
            event="pull_request",
            pull_numbers=[pull["number"]],
        )
        await send(client, "workflow_run", run_payload(fake, red.id))
        await settle(app)
    comments = fake.comments(OWNER, REPO, pull["number"])
    assert len(comments) == 1 and "did not heal it" in comments[0]["body"]
    assert "Failed the same way" in fake.pull(OWNER, REPO, pull["number"])["body"]
    # The default branch failing again afterwards does not start another attempt.
    before = len(writes(fake))
    await fail_main(
        fake,
        client,
        app,
        joblogs.artifact_v3_log(),
        step="Set up job",
        annotations=[{"message": ARTIFACT_ERROR}],
    )
    assert writes(fake)[before:] == []
    assert [r[2] for r in await heal_rows(app)] == ["failed-again"]


async def test_a_passing_rerun_on_main_cancels_the_heal_pr(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    fake.push(OWNER, REPO, "main", {"app/main.py": "import flask\nimport yaml\n"}, "use yaml")
    run_id = await fail_main(fake, client, app, joblogs.module_not_found_log("yaml"))
    (pull,) = open_pulls(fake).values()
    assert pull["head"]["ref"] == "patchwell/heal/add-pyyaml"
    assert fake.file_at(OWNER, REPO, pull["head"]["ref"], "requirements.txt") == (
        b"flask==3.0.3\nPyYAML==6.0.2\nrequests==2.31.0\n"
    )
    # Quoted from the failing step of the log (downloaded through the 302), timestamps gone.
    assert "E   ModuleNotFoundError: No module named 'yaml'" in pull["body"]
    assert "2024-01-01T" not in pull["body"]
    (summary,) = await heal_log(app)
    assert "4 calls to diagnose" in summary
    fake.rerun(OWNER, REPO, run_id, [passing_job()])
    await send(client, "workflow_run", run_payload(fake, run_id))
    await settle(app)
    assert fake.pull(OWNER, REPO, pull["number"])["state"] == "closed"
    assert "passed again" in fake.comments(OWNER, REPO, pull["number"])[-1]["body"]
    assert "patchwell/heal/add-pyyaml" not in fake.branches(OWNER, REPO)


@pytest.mark.parametrize(
    "job_kw",
    [
        {"log": joblogs.unknown_failure_log()},
        {"log": joblogs.module_not_found_log("yaml"), "log_gone": True},  # 410 Gone
    ],
    ids=["unrecognised", "log-gone"],
)
async def test_nothing_is_written_for_what_is_not_known(repo, heal_web, job_kw) -> None:
    client, app = heal_web
    fake = repo
    log = job_kw.pop("log")
    before = len(writes(fake))
    await fail_main(fake, client, app, log, **job_kw)
    assert writes(fake)[before:] == []
    assert fake.pulls(OWNER, REPO) == []


async def test_an_expired_log_url_is_asked_for_again_once(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    fake.set_log_url_lifetime(0)  # every signed URL has expired by the time it is used
    fake.push(OWNER, REPO, "main", {"app/main.py": "import yaml\n"}, "use yaml")
    await fail_main(fake, client, app, joblogs.module_not_found_log("yaml"))
    assert fake.count_calls("GET", r"/actions/jobs/\d+/logs$") == 2
    assert fake.count_calls("GET", r"/_blobs/") == 2
    assert fake.pulls(OWNER, REPO) == []  # no log, no guess


async def test_another_ci_failing_on_main_is_read_from_its_check_run(repo, heal_web) -> None:
    from tests.payloads import check_run

    client, app = heal_web
    fake = repo
    sha = fake.push(OWNER, REPO, "main", {"app/main.py": "import yaml\n"}, "use yaml")
    body = check_run(
        "completed",
        owner=OWNER,
        repo=REPO,
        installation_id=4711,
        name="ci/tests",
        head_sha=sha,
        head_branch="main",
        conclusion="failure",
        app_slug="circleci",
    )
    body["repository"] = fake.repo_json(OWNER, REPO)
    body["check_run"]["output"]["summary"] = (
        "tests/test_app.py:1: in <module>\nModuleNotFoundError: No module named 'yaml'"
    )
    await send(client, "check_run", body)
    await settle(app)
    (pull,) = open_pulls(fake).values()
    assert pull["head"]["ref"] == "patchwell/heal/add-pyyaml"
    assert "No module named 'yaml'" in pull["body"]
