"""Which failures count, and one PR per cause: the owning fixer's pending PR is updated (not
doubled), a matrix failing the same way in every job gets one PR, failures on branches that
are neither the default branch nor a PR are left alone, other CI's pass cancels."""

from __future__ import annotations

import pytest

from tests import joblogs
from tests.heal_fixtures import (
    INSTALLATION,
    OWNER,
    REPO,
    artifact_v3_job,
    failing_job,
    heal_rows,
    run_payload,
    send,
    settle,
    writes,
)
from tests.payloads import check_run
from tests.webhooks import example

pytestmark = pytest.mark.asyncio

ARTIFACT_BRANCH = "patchwell/dependencies/action-actions-upload-artifact"


def open_pulls(fake) -> list[dict]:
    return [p for p in fake.pulls(OWNER, REPO) if p["state"] == "open"]


async def full_scan(fake, client, app) -> None:
    install = example("installation", "created")
    install["installation"]["id"] = INSTALLATION
    await send(client, "installation", install)
    await settle(app)


async def test_the_owning_fixers_pending_pr_is_updated_not_doubled(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    await full_scan(fake, client, app)  # the dependency fixer proposes the artifact v4 bump
    (pending,) = [p for p in open_pulls(fake) if p["head"]["ref"] == ARTIFACT_BRANCH]
    assert "This heals a failing check" not in pending["body"]
    count = len(fake.pulls(OWNER, REPO))

    run = fake.add_workflow_run(OWNER, REPO, [artifact_v3_job()])
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    assert len(fake.pulls(OWNER, REPO)) == count  # no second PR for the same lines
    body = fake.pull(OWNER, REPO, pending["number"])["body"]
    assert "This heals a failing check" in body and f"/actions/runs/{run.id}" in body
    # A later scan rewrites the fixer's body and keeps the heal section.
    await full_scan(fake, client, app)
    assert "This heals a failing check" in fake.pull(OWNER, REPO, pending["number"])["body"]
    assert [(r[1], r[3]) for r in await heal_rows(app)] == [("default", pending["number"])]


async def test_a_matrix_failing_the_same_way_gets_one_pr(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    fake.push(OWNER, REPO, "main", {"app/main.py": "import yaml\n"}, "use yaml")
    log = joblogs.module_not_found_log("yaml")
    run = fake.add_workflow_run(OWNER, REPO, [failing_job(log), failing_job(log)])
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    assert [p["head"]["ref"] for p in fake.pulls(OWNER, REPO)] == ["patchwell/heal/add-pyyaml"]


@pytest.mark.parametrize(
    ("branch", "event"),
    [
        ("feature", "push"),  # a branch with no PR
        ("patchwell/heal/not-ours", "push"),  # named like ours, never written by Patchwell
        ("main", "pull_request"),  # a fork's PR from its own main, not found open
    ],
)
async def test_failures_elsewhere_are_left_alone(repo, heal_web, branch, event) -> None:
    client, app = heal_web
    fake = repo
    fake.push(OWNER, REPO, branch, {"app/main.py": "import yaml\n"}, "use yaml")
    kw = {"head_repo": f"someone/{REPO}"} if event == "pull_request" else {}
    if kw:
        fake.create_repo("someone", REPO, {"app/main.py": "import yaml\n"})
    run = fake.add_workflow_run(
        OWNER,
        REPO,
        [failing_job(joblogs.module_not_found_log("yaml"))],
        head_branch=branch,
        event=event,
        **kw,
    )
    before = len(writes(fake))
    fake.clear_calls()
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    assert writes(fake)[before:] == []
    assert fake.count_calls("GET", r"/actions/runs/\d+/jobs") == 0  # not even read


async def test_another_ci_passing_again_cancels_its_heal_pr(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    sha = fake.push(OWNER, REPO, "main", {"app/main.py": "import yaml\n"}, "use yaml")

    def other_ci(conclusion: str) -> dict:
        body = check_run(
            "completed",
            owner=OWNER,
            repo=REPO,
            installation_id=INSTALLATION,
            name="ci/tests",
            head_sha=sha,
            head_branch="main",
            conclusion=conclusion,
            app_slug="circleci",
        )
        body["repository"] = fake.repo_json(OWNER, REPO)
        body["check_run"]["output"]["summary"] = "E   ModuleNotFoundError: No module named 'yaml'"
        return body

    await send(client, "check_run", other_ci("failure"))
    await settle(app)
    (pull,) = open_pulls(fake)
    await send(client, "check_run", other_ci("success"))
    await settle(app)
    assert fake.pull(OWNER, REPO, pull["number"])["state"] == "closed"
    assert [r[2] for r in await heal_rows(app)] == ["cancelled"]


async def test_a_conflict_on_main_is_reported_once_and_changes_nothing(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    run = fake.add_workflow_run(OWNER, REPO, [failing_job(joblogs.resolution_impossible_log())])
    for _delivery in range(2):  # a redelivery reports nothing new
        await send(client, "workflow_run", run_payload(fake, run.id))
        await settle(app)
    reports = [c for c in fake.check_runs(OWNER, REPO) if c["name"] == "patchwell/heal"]
    (report,) = reports
    assert report["conclusion"] == "neutral"
    assert "flask 3.0.3 depends on Werkzeug>=3.0.0" in report["output"]["summary"]
    assert fake.pulls(OWNER, REPO) == []


async def test_a_secret_printed_in_the_failing_step_is_masked_in_the_heal_pr(
    repo, heal_web
) -> None:
    client, app = heal_web
    fake = repo
    fake.push(OWNER, REPO, "main", {"app/main.py": "import yaml\n"}, "use yaml")
    token = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"  # never registered with GitHub
    log = joblogs.module_not_found_log("yaml").replace(
        "E   ModuleNotFoundError",
        f"INDEX_URL=https://deploy:{token}@pypi.example.com/simple\n"
        "2024-01-01T00:00:02.0000000Z E   ModuleNotFoundError",
    )
    run = fake.add_workflow_run(OWNER, REPO, [failing_job(log)])
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    (pull,) = open_pulls(fake)
    assert "pypi.example.com" in pull["body"]  # the line is quoted ...
    assert token not in pull["body"]  # ... with the token masked
