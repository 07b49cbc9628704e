"""The dependency ignore commands and a closed dependency PR, through the real server, on the
fake GitHub and the fake package index: what is ignored persists, reaches the fixer, shows in
``show ignore conditions``, and ``unignore`` undoes it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.service import PARTS, build_app
from tests.fakeindex.server import FakeRelease
from tests.test_commands import (
    INSTALLATION,
    OWNER,
    REPO,
    comment_payload,
    pull_closed_payload,
    send,
    wait_idle,
)
from tests.webhooks import example

FLASK = "patchwell/dependencies/pip-flask"
REQUESTS = "patchwell/dependencies/pip-requests"


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def open_pulls(fake) -> dict[str, dict]:
    return {p["head"]["ref"]: p for p in fake.pulls(OWNER, REPO) if p["state"] == "open"}


def last_reply(fake, number: int) -> str:
    return [c for c in fake.comments(OWNER, REPO, number) if c["user"]["login"] == fake.bot_login][
        -1
    ]["body"]


@pytest.fixture
async def deps_web(live_env, fake_github, fake_index):
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
    fake_github.create_repo(OWNER, REPO, {"requirements.txt": "requests==2.19.1\nflask==0.12.2\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    fake_github.set_permission(OWNER, REPO, "maint", "write")
    fake_github.set_permission(OWNER, REPO, "visitor", "triage")
    env = {**live_env, **fake_index.env(), "PATCHWELL_HTTP_CACHE_TTL": "0"}
    app = await build_app(env, inline_worker=True)
    async with TestClient(TestServer(app)) as client:
        created = example("installation", "created")
        created["installation"]["id"] = INSTALLATION
        await send(client, "installation", created)
        await wait_idle(app[PARTS].queue)
        yield client, app


async def say(client, app, fake, number: int, text: str, login: str = "maint") -> None:
    await send(client, "issue_comment", comment_payload(fake, number, text, login))
    await wait_idle(app[PARTS].queue)


async def test_ignore_version_dependency_close_and_unignore(deps_web, fake_github) -> None:
    client, app = deps_web
    pulls = open_pulls(fake_github)
    assert set(pulls) == {FLASK, REQUESTS}
    assert "1.0" in pulls[FLASK]["title"]
    # A reader's command changes nothing.
    await say(
        client,
        app,
        fake_github,
        pulls[REQUESTS]["number"],
        "@patchwell ignore this dependency",
        "visitor",
    )
    assert set(open_pulls(fake_github)) == {FLASK, REQUESTS}
    # No 1.x of flask: the PR closes, and a new one proposes the newest 0.12.
    await say(
        client, app, fake_github, pulls[FLASK]["number"], "@patchwell ignore this major version"
    )
    assert "`flask` `==1.*`" in last_reply(fake_github, pulls[FLASK]["number"])
    now_open = open_pulls(fake_github)
    assert FLASK in now_open and now_open[FLASK]["number"] != pulls[FLASK]["number"]
    assert "0.12.3" in now_open[FLASK]["title"]
    # No requests updates at all.
    await say(
        client, app, fake_github, pulls[REQUESTS]["number"], "@patchwell ignore this dependency"
    )
    assert REQUESTS not in open_pulls(fake_github)
    # Closing the 0.12.3 PR unmerged ignores that version (and older), said in a comment.
    number = now_open[FLASK]["number"]
    fake_github.close_pull(OWNER, REPO, number)
    await send(client, "pull_request", pull_closed_payload(fake_github, number, sender="maint"))
    await wait_idle(app[PARTS].queue)
    assert "will not propose `flask` 0.12.3 (or anything older)" in last_reply(fake_github, number)
    assert open_pulls(fake_github) == {}
    rules = await app[PARTS].db.fetchall(
        "SELECT kind, name, versions FROM ignore_rules ORDER BY name, versions"
    )
    assert rules == [
        ("versions", "flask", "<=0.12.3"),
        ("versions", "flask", "==1.*"),
        ("dependency", "requests", ""),
    ]
    await say(client, app, fake_github, number, "@patchwell show ignore conditions")
    shown = last_reply(fake_github, number)
    assert "`@patchwell unignore flask`" in shown and "`@patchwell unignore requests`" in shown
    # Undo: flask is proposed again, at its newest release.
    await say(client, app, fake_github, number, "@patchwell unignore Flask")
    assert "No longer ignored" in last_reply(fake_github, number)
    assert "1.0" in open_pulls(fake_github)[FLASK]["title"]
    assert REQUESTS not in open_pulls(fake_github)
