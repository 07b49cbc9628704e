"""Failed checks on pull requests: a person's PR gets one comment (never a push), a
Patchwell PR the failing excerpt and, for a grouped PR, the culprit split out."""

from __future__ import annotations

import pytest

from bot.scan.ignores import IgnoreStore
from bot.service import PARTS
from tests import joblogs
from tests.fakeindex.server import FakeRelease
from tests.heal_fixtures import (
    INSTALLATION,
    OWNER,
    REPO,
    ago,
    failing_job,
    heal_rows,
    passing_job,
    run_payload,
    send,
    settle,
    writes,
)
from tests.joblogs import Step, checkout, job_log, setup_python
from tests.webhooks import example

pytestmark = pytest.mark.asyncio

GROUPED = """\
fixers:
  dependencies:
    cooldown-days: 0
    groups:
      - name: python-dependencies
        patterns: ["*"]
"""


def person_pr(fake, files: dict[str, str]) -> tuple[int, str]:
    sha = fake.push(OWNER, REPO, "feature", files, "my change", author_login="alice")
    number = fake.open_pull(OWNER, REPO, "feature", author_login="alice")
    return number, sha


async def fail_pr(fake, client, app, number: int, log: str, branch: str = "feature") -> int:
    run = fake.add_workflow_run(
        OWNER,
        REPO,
        [failing_job(log)],
        head_branch=branch,
        event="pull_request",
        pull_numbers=[number],
    )
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    return run.id


async def test_a_persons_pr_gets_one_suggestion_never_a_push(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    number, sha = person_pr(
        fake,
        {
            "app/main.py": "import flask\nimport yaml\n",
            "requirements.txt": "flask==3.0.3\nrequests==2.31.0\ngunicorn==23.0.0\n",
        },
    )
    run_id = await fail_pr(fake, client, app, number, joblogs.module_not_found_log("yaml"))
    assert fake.branches(OWNER, REPO)["feature"] == sha  # nothing pushed to their branch
    assert fake.pulls(OWNER, REPO)[1:] == []  # no PR of ours
    (comment,) = fake.review_comments(OWNER, REPO, number)
    assert comment["path"] == "requirements.txt" and comment["line"] == 3
    assert "```suggestion\ngunicorn==23.0.0\nPyYAML==6.0.2\n```" in comment["body"]
    assert "No module named 'yaml'" in comment["body"]
    assert fake.comments(OWNER, REPO, number) == []

    # A re-run failing the same way edits that comment (its job link moved); redelivering
    # that run then writes nothing at all.
    fake.rerun(OWNER, REPO, run_id, [failing_job(joblogs.module_not_found_log("yaml"))])
    await send(client, "workflow_run", run_payload(fake, run_id))
    await settle(app)
    before = len(writes(fake))
    await send(client, "workflow_run", run_payload(fake, run_id))
    await settle(app)
    assert writes(fake)[before:] == []
    assert [c["id"] for c in fake.review_comments(OWNER, REPO, number)] == [comment["id"]]

    # They apply it; the check passes: the suggestion goes, one comment says it is resolved.
    fake.push(
        OWNER,
        REPO,
        "feature",
        {"requirements.txt": "flask==3.0.3\nrequests==2.31.0\ngunicorn==23.0.0\nPyYAML==6.0.2\n"},
        "apply",
        author_login="alice",
    )
    green = fake.add_workflow_run(
        OWNER,
        REPO,
        [passing_job()],
        head_branch="feature",
        event="pull_request",
        pull_numbers=[number],
    )
    await send(client, "workflow_run", run_payload(fake, green.id))
    await settle(app)
    assert fake.review_comments(OWNER, REPO, number) == []
    (resolved,) = fake.comments(OWNER, REPO, number)
    assert "Resolved" in resolved["body"]


async def test_a_fix_outside_the_pr_diff_is_shown_as_a_diff(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    number, _sha = person_pr(fake, {"app/main.py": "import flask\nimport yaml\n"})
    await fail_pr(fake, client, app, number, joblogs.module_not_found_log("yaml"))
    assert fake.review_comments(OWNER, REPO, number) == []
    (comment,) = fake.comments(OWNER, REPO, number)
    assert "```diff" in comment["body"] and "+PyYAML==6.0.2" in comment["body"]
    # The failure changes (a different cause on the same workflow): the same comment, edited.
    await fail_pr(fake, client, app, number, joblogs.resolution_impossible_log())
    (edited,) = fake.comments(OWNER, REPO, number)
    assert edited["id"] == comment["id"] and "flask 3.0.3 depends on Werkzeug" in edited["body"]


async def test_an_unrecognised_failure_on_a_persons_pr_says_nothing(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    number, _sha = person_pr(fake, {"app/main.py": "import flask\n"})
    before = len(writes(fake))
    await fail_pr(fake, client, app, number, joblogs.unknown_failure_log())
    assert writes(fake)[before:] == []


async def own_group_pr(fake, fake_index, client, app) -> tuple[int, str]:
    """A real grouped dependency PR: configured group, two outdated pins, a full scan."""
    fake_index.add_project("flask", [FakeRelease("3.0.3", ago(300)), FakeRelease("3.1.0", ago(30))])
    fake_index.add_project(
        "requests", [FakeRelease("2.31.0", ago(500)), FakeRelease("2.32.3", ago(40))]
    )
    fake.push(OWNER, REPO, "main", {".github/patchwell.yml": GROUPED}, "group updates")
    install = example("installation", "created")
    install["installation"]["id"] = INSTALLATION
    await send(client, "installation", install)
    await settle(app)
    branch = "patchwell/dependencies/group-python-dependencies"
    (pull,) = [p for p in fake.pulls(OWNER, REPO) if p["head"]["ref"] == branch]
    return pull["number"], branch


def broken_by_flask_log() -> str:
    tests = Step(
        "Run tests",
        run="python -m pytest -q",
        output=(
            "ImportError while importing test module "
            "'/home/runner/work/api/api/tests/test_app.py'.",
            "tests/test_app.py:1: in <module>",
            "    from app import main",
            "/opt/hostedtoolcache/Python/3.12.8/x64/lib/python3.12/site-packages/flask/__init__.py:5:"
            " in <module>",
            "E   ImportError: cannot import name 'escape' from 'markupsafe'",
            "1 error in 0.30s",
        ),
        exit_code=2,
    )
    return job_log([checkout(), setup_python(), tests])


async def test_a_broken_group_pr_gets_the_excerpt_and_its_culprit_split_out(
    repo, heal_web, fake_index
) -> None:
    client, app = heal_web
    fake = repo
    number, branch = await own_group_pr(fake, fake_index, client, app)
    await fail_pr(fake, client, app, number, broken_by_flask_log(), branch=branch)
    (comment,) = fake.comments(OWNER, REPO, number)
    body = comment["body"]
    assert "cannot import name 'escape' from 'markupsafe'" in body  # the failing excerpt
    assert "`flask` 3.0.3 → 3.1.0" in body and "split it out" in body
    rules = await IgnoreStore(app[PARTS].db).rules(f"{OWNER}/{REPO}")
    assert [(r.kind, r.name, r.versions) for r in rules] == [("versions", "flask", "==3.1.0")]
    # The rescan rebuilt the group without the culprit: the rest can merge.
    assert fake.pull(OWNER, REPO, number)["state"] == "open"
    assert fake.file_at(OWNER, REPO, branch, "requirements.txt") == (
        b"flask==3.0.3\nrequests==2.32.3\n"
    )
    # Failing again: the same comment, not a second one.
    await fail_pr(fake, client, app, number, broken_by_flask_log(), branch=branch)
    assert [c["id"] for c in fake.comments(OWNER, REPO, number)] == [comment["id"]]
    states = [r[2] for r in await heal_rows(app)]
    assert states == ["open"]


async def test_two_causes_on_a_persons_pr_share_one_comment(repo, heal_web) -> None:
    client, app = heal_web
    fake = repo
    number, _sha = person_pr(fake, {"app/main.py": "import flask\nimport yaml\n"})
    run = fake.add_workflow_run(
        OWNER,
        REPO,
        [
            failing_job(joblogs.module_not_found_log("yaml")),
            failing_job(joblogs.resolution_impossible_log()),
        ],
        head_branch="feature",
        event="pull_request",
        pull_numbers=[number],
    )
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    (comment,) = fake.comments(OWNER, REPO, number)
    assert fake.review_comments(OWNER, REPO, number) == []
    assert "+PyYAML==6.0.2" in comment["body"]  # the first cause's diff
    assert "flask 3.0.3 depends on Werkzeug>=3.0.0" in comment["body"]  # the second's report
    # Redelivered: the same two causes write nothing (they used to overwrite each other).
    before = len(writes(fake))
    await send(client, "workflow_run", run_payload(fake, run.id))
    await settle(app)
    assert writes(fake)[before:] == []
