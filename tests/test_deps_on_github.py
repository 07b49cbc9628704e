"""The dependency fixer's full flow on the fake GitHub and the fake index.

One PR per package; a newer release updates that PR (superseding, never
duplicating); a security fix skips the PR limit; a closed PR and a config
ignore rule both stop the proposal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.scan.engine import ScanRequest
from fixers.contract import Services
from fixers.dependencies import FIXER
from fixers.dependencies.sources import sources_from_env
from tests.appfixtures import engine_on_fake
from tests.fakeindex.server import FakeRelease, FakeVuln

OWNER, REPO, INSTALLATION = "acme", "api", 77


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


@pytest.fixture
async def scan(fake_github, fake_index, tmp_path):
    fake_index.add_project(
        "requests", [FakeRelease("2.19.1", ago(900)), FakeRelease("2.20.0", ago(800))]
    )
    fake_index.add_project(
        "flask",
        [
            FakeRelease("0.12.2", ago(900)),
            FakeRelease("0.12.3", ago(850)),
            FakeRelease("1.0", ago(800)),
        ],
    )
    fake_github.create_repo(
        OWNER,
        REPO,
        {
            "requirements.txt": "# app\nrequests==2.19.1  # http\nflask==0.12.2\n",
            ".github/patchwell.yml": "open-pull-requests-limit: 1\n",
        },
    )
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    # No HTTP cache lifetime: each scan sees the index as it is now.
    index, advisories = sources_from_env(
        {**fake_index.env(), "PATCHWELL_HTTP_CACHE_TTL": "0"}, cache_dir=None
    )
    async with engine_on_fake(
        fake_github,
        f"sqlite:///{tmp_path / 'scan.db'}",
        INSTALLATION,
        fixers=[FIXER],
        services=Services(index=index, advisories=advisories),
    ) as (engine, _db):

        async def run() -> None:
            await engine.scan(ScanRequest(OWNER, REPO, INSTALLATION, reason="rescan"))

        yield run


def open_pulls(fake) -> dict[str, dict]:
    return {p["head"]["ref"]: p for p in fake.pulls(OWNER, REPO) if p["state"] == "open"}


async def test_newer_release_supersedes_the_open_pr(scan, fake_github, fake_index) -> None:
    await scan()
    pulls = open_pulls(fake_github)
    assert len(pulls) == 1  # the limit is 1
    (first,) = pulls.values()
    assert first["head"]["ref"] == "patchwell/dependencies/pip-flask"
    fake_index.projects["flask"].releases.append(FakeRelease("1.0.2", ago(700)))
    await scan()
    pulls = open_pulls(fake_github)
    assert len(pulls) == 1
    assert pulls["patchwell/dependencies/pip-flask"]["number"] == first["number"]
    text = fake_github.file_at(OWNER, REPO, "patchwell/dependencies/pip-flask", "requirements.txt")
    assert text == b"# app\nrequests==2.19.1  # http\nflask==1.0.2\n"  # only the version bytes
    assert "1.0.2" in pulls["patchwell/dependencies/pip-flask"]["body"]


async def test_security_fix_skips_the_pr_limit(scan, fake_github, fake_index) -> None:
    fake_index.add_vuln(
        FakeVuln(
            "GHSA-rq01",
            "requests",
            [("0", "2.20.0")],
            ["CVE-2018-18074"],
            "Credentials leak on redirect",
            "HIGH",
        )
    )
    await scan()
    pulls = open_pulls(fake_github)
    assert "patchwell/dependencies/pip-requests" in pulls
    assert len(pulls) == 2  # the limit is 1, the security PR does not wait
    body = pulls["patchwell/dependencies/pip-requests"]["body"]
    assert "GHSA-rq01" in body and "CVE-2018-18074" in body
    (run,) = fake_github.check_runs(OWNER, REPO)
    assert run["conclusion"] == "failure"


async def test_ignore_rule_closes_the_pr(scan, fake_github) -> None:
    await scan()
    (pull,) = open_pulls(fake_github).values()
    fake_github.push(
        OWNER,
        REPO,
        "main",
        {
            ".github/patchwell.yml": (
                "open-pull-requests-limit: 1\n"
                "fixers:\n  dependencies:\n    ignore:\n      - name: flask\n"
            )
        },
        "ignore flask",
    )
    await scan()
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "closed"
    assert "patchwell/dependencies/pip-flask" not in fake_github.branches(OWNER, REPO)
    # The freed slot goes to the next package.
    assert list(open_pulls(fake_github)) == ["patchwell/dependencies/pip-requests"]


async def test_index_outage_closes_no_pr(scan, fake_github, fake_index) -> None:
    await scan()
    (pull,) = open_pulls(fake_github).values()
    fake_index.fail_index = True
    fake_index.fail_osv = True
    await scan()
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "open"
    assert pull["head"]["ref"] in fake_github.branches(OWNER, REPO)
    run = fake_github.check_runs(OWNER, REPO)[-1]
    assert "package index unavailable" in run["output"]["summary"]


async def test_outdated_action_is_bumped_from_tags_read_on_github(scan, fake_github) -> None:
    fake_github.create_repo("actions", "checkout", {"action.yml": "name: checkout\n"})
    for tag in ("v3.0.0", "v3", "v4.0.0", "v4.2.2", "v4"):
        fake_github.push("actions", "checkout", "main", {"VERSION": tag}, f"release {tag}")
        fake_github.create_tag("actions", "checkout", tag)
    workflow = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v3  # keep this comment\n"
    )
    fake_github.push(
        OWNER,
        REPO,
        "main",
        {
            ".github/workflows/ci.yml": workflow,
            ".github/patchwell.yml": "open-pull-requests-limit: 5\n",
        },
        "add ci",
    )
    await scan()
    branch = "patchwell/dependencies/action-actions-checkout"
    assert branch in open_pulls(fake_github)
    after = fake_github.file_at(OWNER, REPO, branch, ".github/workflows/ci.yml").decode()
    assert after == workflow.replace("@v3 ", "@v4 ")
