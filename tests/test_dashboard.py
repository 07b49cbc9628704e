"""The "Patchwell dashboard" issue on the fake GitHub: one issue, edited in place, boxes that act.

Engine-level tests drive the real scan engine against the fake; the box tests go through the
real server (signed ``issues.edited`` deliveries, the inline worker, the queue).
"""

from __future__ import annotations

import asyncio

import pytest

from bot.scan.dashboard import TITLE, boxes
from bot.scan.engine import ScanRequest
from bot.service import PARTS
from tests.appfixtures import engine_on_fake
from tests.test_commands import WORKFLOW, send, wait_idle
from tests.webhooks import example

OWNER, REPO, INSTALLATION = "acme", "shop", 4321
FILES = {
    ".github/workflows/ci.yml": WORKFLOW,
    "app.py": "import requests\nrequests.get('https://example.com')\n",
    ".github/patchwell.yml": "open-pull-requests-limit: 1\n",
}
WAITING_BRANCH = "patchwell/workflow-permissions/least-privilege"


def request() -> ScanRequest:
    return ScanRequest(OWNER, REPO, INSTALLATION, reason="install")


def dashboards(fake) -> list[dict]:
    return [i for i in fake.issues(OWNER, REPO) if TITLE in i["title"]]


def install(fake, files=FILES) -> None:
    fake.create_repo(OWNER, REPO, files)
    fake.add_installation(INSTALLATION, OWNER, [REPO])


async def test_dashboard_shows_open_waiting_ignored_and_the_last_scan(
    fake_github, tmp_path
) -> None:
    install(fake_github)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    async with engine_on_fake(fake_github, url, INSTALLATION) as (engine, _db):
        outcome = await engine.scan(request())
        (issue,) = dashboards(fake_github)
        body = issue["body"]
        (opened,) = [p for p in fake_github.pulls(OWNER, REPO) if p["state"] == "open"]
        assert f"#{opened['number']} " in body.split("## Waiting")[0]
        waiting = body.split("## Waiting")[1].split("## Found")[0]
        assert "- [ ] **hygiene**" in waiting and f"patchwell:open:{WAITING_BRANCH}" in waiting
        assert f"/commit/{outcome.head_sha})" in body
        assert f"/runs/{outcome.check_run_id})" in body
        assert boxes(body) == {("open", WAITING_BRANCH): False, ("rescan", None): False}
        # Every scan edits the same issue in place, once (its check run is new).
        assert fake_github.issue_edits(OWNER, REPO, issue["number"]) == 0
        fake_github.push(OWNER, REPO, "main", {".github/workflows/ci.yml": None}, "drop ci")
        await engine.scan(request())
        (again,) = dashboards(fake_github)
        assert again["number"] == issue["number"]
        assert fake_github.issue_edits(OWNER, REPO, issue["number"]) == 1
        assert "Nothing waits." in again["body"]


async def test_two_concurrent_scans_a_restart_and_a_lost_row_make_one_issue(
    fake_github, tmp_path
) -> None:
    install(fake_github)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    async with (
        engine_on_fake(fake_github, url, INSTALLATION) as (first, _),
        engine_on_fake(fake_github, url, INSTALLATION) as (second, _),
    ):
        # Two workers with their own connections scanning the same repository at once, the
        # issue creation slow enough that the second scan arrives while the first creates.
        fake_github.inject_slow("POST", r"/repos/acme/shop/issues$", delay=1.5, times=2)
        await asyncio.gather(first.scan(request()), second.scan(request()))
    assert len(dashboards(fake_github)) == 1
    number = dashboards(fake_github)[0]["number"]
    # A restart: a new process on the same database edits the same issue.
    fake_github.push(OWNER, REPO, "main", {"README.md": "hello\n"}, "docs")
    async with engine_on_fake(fake_github, url, INSTALLATION) as (engine, db):
        await engine.scan(request())
        assert [i["number"] for i in dashboards(fake_github)] == [number]
        # A crash between creating the issue and recording it: the issue is found, not doubled.
        await db.execute("DELETE FROM dashboards")
        fake_github.push(OWNER, REPO, "main", {"README.md": "hello again\n"}, "docs")
        await engine.scan(request())
        assert [i["number"] for i in dashboards(fake_github)] == [number]
        row = await db.fetchone("SELECT issue_number FROM dashboards")
        assert row == (number,)


async def test_report_only_findings_link_to_file_and_line(fake_github, tmp_path) -> None:
    install(fake_github, {**FILES, ".github/patchwell.yml": "fixers: {runtime-defaults: report}\n"})
    async with engine_on_fake(fake_github, f"sqlite:///{tmp_path / 'p.db'}", INSTALLATION) as (
        engine,
        _,
    ):
        outcome = await engine.scan(request())
    body = dashboards(fake_github)[0]["body"]
    found = body.split("## Found, no pull request")[1].split("## Ignored")[0]
    assert "`runtime-defaults/requests-no-timeout`" in found
    assert (
        f"[`app.py:2`](https://github.com/{OWNER}/{REPO}/blob/{outcome.head_sha}/app.py#L2)"
        in found
    )


async def test_dashboard_false_opens_no_issue_and_retires_an_old_one(fake_github, tmp_path) -> None:
    install(fake_github)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    async with engine_on_fake(fake_github, url, INSTALLATION) as (engine, _):
        await engine.scan(request())
        (issue,) = dashboards(fake_github)
        fake_github.push(
            OWNER, REPO, "main", {".github/patchwell.yml": "dashboard: false\n"}, "off"
        )
        await engine.scan(request())
        (retired,) = dashboards(fake_github)
        assert retired["state"] == "closed" and "turned off" in retired["body"]
        edits = fake_github.issue_edits(OWNER, REPO, issue["number"])
        await engine.scan(request())
        assert fake_github.issue_edits(OWNER, REPO, issue["number"]) == edits
    fake_github.reset()
    install(fake_github, {**FILES, ".github/patchwell.yml": "dashboard: false\n"})
    async with engine_on_fake(fake_github, f"sqlite:///{tmp_path / 'q.db'}", INSTALLATION) as (
        engine,
        _,
    ):
        await engine.scan(request())
    assert dashboards(fake_github) == []


# --------------------------------------------------------------------------- boxes, over HTTP


@pytest.fixture
async def board(live_web, fake_github):
    install(fake_github)
    client, app = live_web
    created = example("installation", "created")
    created["installation"]["id"] = INSTALLATION
    await send(client, "installation", created)
    await wait_idle(app[PARTS].queue)
    (issue,) = dashboards(fake_github)
    return client, app, issue


def edited_payload(fake, issue: dict, body: str, sender: str) -> dict:
    before = fake.edit_issue(OWNER, REPO, issue["number"], body)
    payload = example("issues", "edited")
    payload["issue"] = {**payload["issue"], "number": issue["number"], "body": body}
    payload["changes"] = {"body": {"from": before}}
    payload["sender"] = {**payload["sender"], "login": sender, "type": "User"}
    payload["repository"] = {
        **payload["repository"],
        "full_name": f"{OWNER}/{REPO}",
        "name": REPO,
        "owner": {**payload["repository"]["owner"], "login": OWNER},
    }
    payload["installation"] = {"id": INSTALLATION}
    return payload


def tick(body: str, marker: str) -> str:
    return "\n".join(
        line.replace("- [ ]", "- [x]", 1) if marker in line else line for line in body.splitlines()
    )


async def test_a_writer_ticks_a_waiting_box_and_its_pr_opens_now(board, fake_github) -> None:
    client, app, issue = board
    fake_github.set_permission(OWNER, REPO, "maint", "write")
    body = tick(issue["body"], f"patchwell:open:{WAITING_BRANCH}")
    await send(client, "issues", edited_payload(fake_github, issue, body, "maint"))
    await wait_idle(app[PARTS].queue)
    heads = {p["head"]["ref"]: p for p in fake_github.pulls(OWNER, REPO) if p["state"] == "open"}
    assert WAITING_BRANCH in heads
    (after,) = dashboards(fake_github)
    assert f"patchwell:open:{WAITING_BRANCH}" not in after["body"]  # the box is gone ...
    assert f"#{heads[WAITING_BRANCH]['number']} " in after["body"]  # ... its PR is listed open
    rows = await app[PARTS].db.fetchall("SELECT branch FROM dashboard_requests")
    assert rows == []


async def test_a_readers_tick_is_reverted_and_obeys_nothing(board, fake_github) -> None:
    client, app, issue = board
    fake_github.set_permission(OWNER, REPO, "visitor", "read")
    body = tick(issue["body"], "patchwell:rescan") + "\n\nI was here"
    runs = len(fake_github.check_runs(OWNER, REPO))
    await send(client, "issues", edited_payload(fake_github, issue, body, "visitor"))
    await wait_idle(app[PARTS].queue)
    (after,) = dashboards(fake_github)
    assert after["body"] == issue["body"]
    assert len(fake_github.check_runs(OWNER, REPO)) == runs  # no rescan


async def test_a_writer_ticks_rescan_and_an_invented_box_counts_for_nothing(
    board, fake_github
) -> None:
    client, app, issue = board
    fake_github.set_permission(OWNER, REPO, "maint", "maintain")
    runs = len(fake_github.check_runs(OWNER, REPO))
    invented = issue["body"] + "\n- [x] evil <!-- patchwell:open:patchwell/x/not-ours -->\n"
    await send(client, "issues", edited_payload(fake_github, issue, invented, "maint"))
    await wait_idle(app[PARTS].queue)
    assert len(fake_github.check_runs(OWNER, REPO)) == runs
    body = tick(issue["body"], "patchwell:rescan")
    await send(client, "issues", edited_payload(fake_github, issue, body, "maint"))
    await wait_idle(app[PARTS].queue)
    assert len(fake_github.check_runs(OWNER, REPO)) == runs + 1
    (after,) = dashboards(fake_github)
    assert "- [ ] Rescan now" in after["body"]  # re-rendered unticked


def test_long_sections_say_how_many_more_instead_of_dropping_them() -> None:
    """A repository with more than MAX_ROWS waiting patches or open PRs once lost the rest
    from the dashboard without a word."""
    from bot.scan.checks import WaitingPatch
    from bot.scan.dashboard import MAX_ROWS, DashboardView, LastScan, render
    from bot.scan.ignores import IgnoreRule
    from bot.scan.state import BranchRecord
    from fixers.contract import Severity

    n = MAX_ROWS + 7
    prs = [
        BranchRecord(
            "o/r",
            f"patchwell/x/{i}",
            "x",
            str(i),
            f"PR {i}",
            Severity.DRIFT,
            (),
            "open",
            i + 1,
            None,
            None,
            None,
            False,
        )
        for i in range(n)
    ]
    waiting = [WaitingPatch(f"patchwell/w/{i}", f"W {i}", Severity.HYGIENE) for i in range(n)]
    ignores = [IgnoreRule("o/r", "dependency", f"pkg{i}") for i in range(n)]
    view = DashboardView(
        repo_url="https://github.com/o/r",
        bot="patchwell",
        open_prs=prs,
        waiting=waiting,
        report_only=[],
        ignores=ignores,
        last_scan=LastScan("a" * 40, 0.0, None),
    )
    body = render(view)
    assert body.count("- … and 7 more") == 3
    assert body.count("<!-- patchwell:open:") == MAX_ROWS
    assert "`@patchwell show ignore conditions` lists them all" in body
