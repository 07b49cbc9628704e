"""`@patchwell` commands: parsing hostile text, and the real flow through the server."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.commands import Command, parse_commands
from bot.service import PARTS
from tests.appfixtures import WEBHOOK_SECRET
from tests.webhooks import delivery, example

OWNER, REPO, INSTALLATION = "acme", "shop", 4321

WORKFLOW = """name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pytest
"""


def test_commands_are_read_only_at_line_start_and_outside_quotes() -> None:
    body = (
        "thanks!\n@patchwell rebase\n> @patchwell ignore\n```\n@patchwell ignore\n```\n"
        "please @patchwell explain\n@PatchWell   EXPLAIN.\n@patchwell rebase\n"
    )
    assert parse_commands(body, "patchwell") == [Command("rebase"), Command("explain")]


@pytest.mark.parametrize(
    "body", ["", "@patchwellx ignore", "x" * 70_000 + "\n@patchwell ignore", "hi @patchwell"]
)
def test_hostile_or_empty_comments_give_no_command(body: str) -> None:
    assert parse_commands(body, "patchwell") == []


@pytest.mark.parametrize(
    "body",
    [
        "@patchwell",
        "@patchwell delete-everything",
        "@patchwell merge",
        "@patchwell ignore everything",
        "@patchwell unignore ../../etc passwd",
        "@patchwell " + "a" * 5000,
    ],
)
def test_addressed_but_unknown_is_one_unknown_command(body: str) -> None:
    assert parse_commands(body, "patchwell") == [Command("unknown")]


def test_every_command_parses_and_arguments_keep_their_case() -> None:
    body = (
        "@patchwell ignore this dependency\n@patchwell[bot] Ignore This Major Version\n"
        "@patchwell unignore Django\n"
    )
    assert parse_commands(body, "patchwell") == [
        Command("ignore this dependency"),
        Command("ignore this major version"),
        Command("unignore", "Django"),
    ]
    for name in ("help", "rescan", "show ignore conditions", "ignore this minor version"):
        assert parse_commands(f"@healer {name}", "healer") == [Command(name)]
    assert parse_commands("@patchwell rescan", "healer") == []


def test_at_most_three_commands_per_comment() -> None:
    body = "\n".join(f"@patchwell {c}" for c in ("rebase", "explain", "ignore", "recreate"))
    assert len(parse_commands(body, "patchwell")) == 3


async def wait_idle(queue, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        depth = await queue.depth()
        jobs = await queue.list_jobs(states=("queued", "running"))
        if not depth.get("running") and not [j for j in jobs if j.run_at <= time.time()]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("jobs never settled")


async def send(client, event: str, payload: dict) -> None:
    d = delivery(event, payload, WEBHOOK_SECRET)
    response = await client.post("/webhook", data=d.body, headers=d.headers)
    assert response.status == 202, await response.text()


def comment_payload(fake, number: int, body: str, login: str) -> dict:
    """A comment on PR or issue ``number`` (``issue.pull_request`` only on a PR, as GitHub)."""
    payload = example("issue_comment", "created")
    stored = fake.add_comment(OWNER, REPO, number, body, author_login=login)
    payload["comment"] = {
        **payload["comment"],
        "id": stored["id"],
        "body": body,
        "user": {**payload["comment"]["user"], "login": login, "type": "User"},
    }
    is_pull = any(p["number"] == number for p in fake.pulls(OWNER, REPO))
    payload["issue"] = {**payload["issue"], "number": number}
    if is_pull:
        payload["issue"]["pull_request"] = {"url": "ignored-absolute-url"}
    else:
        payload["issue"].pop("pull_request", None)
    payload["repository"] = {
        **payload["repository"],
        "full_name": f"{OWNER}/{REPO}",
        "name": REPO,
        "owner": {"login": OWNER},
    }
    payload["installation"] = {"id": INSTALLATION}
    return payload


@pytest.fixture
async def scanned(live_web, fake_github):
    """A repository installed and scanned through the server, with Patchwell PRs open."""
    fake_github.create_repo(
        OWNER, REPO, {".github/workflows/ci.yml": WORKFLOW, "app.py": "print('hi')\n"}
    )
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    client, app = live_web
    created = example("installation", "created")
    created["installation"]["id"] = INSTALLATION
    await send(client, "installation", created)
    await wait_idle(app[PARTS].queue)
    pulls = fake_github.pulls(OWNER, REPO)
    assert pulls, "the scan should have opened at least one PR"
    return client, app, pulls[0]


async def test_writer_ignores_a_pr(scanned, fake_github) -> None:
    client, app, pull = scanned
    fake_github.set_permission(OWNER, REPO, "maint", "maintain")
    await send(
        client,
        "issue_comment",
        comment_payload(fake_github, pull["number"], "@patchwell ignore", "maint"),
    )
    await wait_idle(app[PARTS].queue)
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "closed"
    assert pull["head"]["ref"] not in fake_github.branches(OWNER, REPO)
    # A rescan does not bring the ignored change back.
    runs_before = len(fake_github.check_runs(OWNER, REPO))
    await send(
        client,
        "check_suite",
        {
            **example("check_suite", "rerequested"),
            "installation": {"id": INSTALLATION},
            "repository": {"full_name": f"{OWNER}/{REPO}", "name": REPO, "owner": {"login": OWNER}},
        },
    )
    await wait_idle(app[PARTS].queue)
    assert len(fake_github.check_runs(OWNER, REPO)) == runs_before + 1  # the rescan ran
    open_heads = [p["head"]["ref"] for p in fake_github.pulls(OWNER, REPO) if p["state"] == "open"]
    assert pull["head"]["ref"] not in open_heads


async def test_reader_is_refused_and_nothing_changes(scanned, fake_github) -> None:
    client, app, pull = scanned
    fake_github.set_permission(OWNER, REPO, "visitor", "read")
    await send(
        client,
        "issue_comment",
        comment_payload(fake_github, pull["number"], "@patchwell ignore", "visitor"),
    )
    await wait_idle(app[PARTS].queue)
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "open"
    last = fake_github.comments(OWNER, REPO, pull["number"])[-1]["body"]
    assert "only people with write access" in last


async def test_explain_posts_the_findings(scanned, fake_github) -> None:
    client, app, pull = scanned
    fake_github.set_permission(OWNER, REPO, "maint", "write")
    await send(
        client,
        "issue_comment",
        comment_payload(fake_github, pull["number"], "@patchwell explain", "maint"),
    )
    await wait_idle(app[PARTS].queue)
    last = fake_github.comments(OWNER, REPO, pull["number"])[-1]["body"]
    assert "What Patchwell found" in last and "`" in last


# --------------------------------------------------------------------------- issue 9


@pytest.mark.parametrize(
    "body",
    [
        "~~~\n@patchwell ignore\n~~~\n",
        "~~~~markdown\n@patchwell ignore\n~~~\nstill fenced\n@patchwell ignore\n~~~~\n",
        "Try this:\n\n    @patchwell ignore\n",
        "\t@patchwell ignore\n",
        "<!-- @patchwell ignore -->\n",
        "<!--\n@patchwell ignore\n-->\n",
        "````\n```\n@patchwell ignore\n````\n",
    ],
)
def test_commands_in_code_and_html_comments_are_not_obeyed(body: str) -> None:
    assert parse_commands(body, "patchwell") == []


def pull_closed_payload(fake, number: int, sender: str) -> dict:
    pull = fake.pull(OWNER, REPO, number)
    return {
        "action": "closed",
        "number": number,
        "pull_request": pull,
        "repository": fake.repo_json(OWNER, REPO),
        "installation": {"id": INSTALLATION},
        "sender": {"login": sender, "type": "User"},
    }


async def test_reader_is_refused_once_per_pull_request(scanned, fake_github) -> None:
    client, app, pull = scanned
    fake_github.set_permission(OWNER, REPO, "visitor", "read")
    for text in ("@patchwell ignore", "@patchwell rebase", "@patchwell recreate"):
        await send(
            client, "issue_comment", comment_payload(fake_github, pull["number"], text, "visitor")
        )
        await wait_idle(app[PARTS].queue)
    refusals = [
        c
        for c in fake_github.comments(OWNER, REPO, pull["number"])
        if c["user"]["login"] == fake_github.bot_login and "write access" in c["body"]
    ]
    assert len(refusals) == 1
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "open"


async def fork_pull_on_patchwell_branch(fake, real_branch: str) -> int:
    return fake.open_fork_pull(
        OWNER, REPO, "stranger", real_branch, {"app.py": "print('mine')\n"}, title="Innocent"
    )


async def test_a_strangers_fork_pr_named_like_ours_does_not_suppress_the_real_patch(
    scanned, fake_github
) -> None:
    client, app, pull = scanned
    branch = pull["head"]["ref"]
    number = await fork_pull_on_patchwell_branch(fake_github, branch)
    fake_github.close_pull(OWNER, REPO, number)
    await send(client, "pull_request", pull_closed_payload(fake_github, number, sender="stranger"))
    await wait_idle(app[PARTS].queue)
    records = await app[PARTS].db.fetchall(
        "SELECT state, pr_number FROM patch_branches WHERE branch = ?", (branch,)
    )
    assert records == [("open", pull["number"])]


async def test_ignore_on_a_fork_pr_never_touches_patchwells_real_branch(
    scanned, fake_github
) -> None:
    client, app, pull = scanned
    branch = pull["head"]["ref"]
    number = await fork_pull_on_patchwell_branch(fake_github, branch)
    fake_github.set_permission(OWNER, REPO, "maint", "maintain")
    await send(
        client,
        "issue_comment",
        comment_payload(fake_github, number, "@patchwell ignore", "maint"),
    )
    await wait_idle(app[PARTS].queue)
    assert branch in fake_github.branches(OWNER, REPO)
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "open"
    assert fake_github.pull(OWNER, REPO, number)["state"] == "open"  # not ours to close either


# --------------------------------------------------------------------------- issue 12


def reactions(fake, number: int, comment_id: int) -> dict[str, int]:
    (c,) = [c for c in fake.comments(OWNER, REPO, number) if c["id"] == comment_id]
    return {
        k: v for k, v in c["reactions"].items() if isinstance(v, int) and v and k != "total_count"
    }


def replies(fake, number: int) -> list[str]:
    return [
        c["body"]
        for c in fake.comments(OWNER, REPO, number)
        if c["user"]["login"] == fake.bot_login
    ]


async def command(client, app, fake, number: int, body: str, login: str = "maint") -> int:
    payload = comment_payload(fake, number, body, login)
    await send(client, "issue_comment", payload)
    await wait_idle(app[PARTS].queue)
    return payload["comment"]["id"]


async def test_help_and_unknown_commands_answer_with_the_command_list(scanned, fake_github) -> None:
    client, app, pull = scanned
    fake_github.set_permission(OWNER, REPO, "maint", "write")
    first = await command(client, app, fake_github, pull["number"], "@patchwell help")
    assert reactions(fake_github, pull["number"], first) == {"eyes": 1}
    assert "`@patchwell ignore this major version`" in replies(fake_github, pull["number"])[-1]
    second = await command(client, app, fake_github, pull["number"], "@patchwell merge")
    assert reactions(fake_github, pull["number"], second) == {"eyes": 1, "confused": 1}
    last = replies(fake_github, pull["number"])[-1]
    assert "does not know that command" in last and "`@patchwell rescan`" in last
    assert "merge" not in last.split("It knows")[0]  # the comment is not echoed back
    runs = len(fake_github.check_runs(OWNER, REPO))
    third = await command(client, app, fake_github, pull["number"], "@patchwell rescan")
    assert reactions(fake_github, pull["number"], third) == {"eyes": 1, "+1": 1}
    assert len(fake_github.check_runs(OWNER, REPO)) == runs + 1


async def test_edited_and_bot_comments_and_other_prs_command_nothing(scanned, fake_github) -> None:
    client, app, pull = scanned
    fake_github.set_permission(OWNER, REPO, "maint", "admin")
    before = len(fake_github.comments(OWNER, REPO, pull["number"]))
    edited = comment_payload(fake_github, pull["number"], "@patchwell ignore", "maint")
    edited["action"] = "edited"
    bot = comment_payload(fake_github, pull["number"], "@patchwell ignore", "ci-helper[bot]")
    bot["comment"]["user"]["type"] = "Bot"
    own = comment_payload(fake_github, pull["number"], "@patchwell ignore", fake_github.bot_login)
    for payload in (edited, bot, own):
        await send(client, "issue_comment", payload)
    fake_github.create_branch(OWNER, REPO, "feature")
    fake_github.push(OWNER, REPO, "feature", {"x.txt": "x\n"}, "x")
    human = fake_github.open_pull(OWNER, REPO, "feature")
    await send(
        client, "issue_comment", comment_payload(fake_github, human, "@patchwell help", "maint")
    )
    await wait_idle(app[PARTS].queue)
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "open"
    assert len(fake_github.comments(OWNER, REPO, pull["number"])) == before + 3  # theirs only
    assert replies(fake_github, human) == []


async def test_a_renamed_app_answers_to_its_new_slug(live_env, fake_github) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.service import build_app

    fake_github.rename_app("healer")
    fake_github.create_repo(OWNER, REPO, {".github/workflows/ci.yml": WORKFLOW})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    fake_github.set_permission(OWNER, REPO, "maint", "write")
    app = await build_app(live_env, inline_worker=True)
    async with TestClient(TestServer(app)) as client:
        created = example("installation", "created")
        created["installation"]["id"] = INSTALLATION
        await send(client, "installation", created)
        await wait_idle(app[PARTS].queue)
        (pull,) = fake_github.pulls(OWNER, REPO)
        assert pull["user"]["login"] == "healer[bot]"
        assert "`@healer rebase`" in pull["body"]
        await command(client, app, fake_github, pull["number"], "@patchwell help")
        assert replies(fake_github, pull["number"]) == []
        await command(client, app, fake_github, pull["number"], "@healer help")
        assert "`@healer unignore NAME`" in replies(fake_github, pull["number"])[-1]


async def test_ignores_survive_a_restart_and_unignore_brings_the_pr_back(
    live_env, fake_github
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.service import build_app

    fake_github.create_repo(OWNER, REPO, {".github/workflows/ci.yml": WORKFLOW})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    fake_github.set_permission(OWNER, REPO, "maint", "write")
    app = await build_app(live_env, inline_worker=True)
    async with TestClient(TestServer(app)) as client:
        created = example("installation", "created")
        created["installation"]["id"] = INSTALLATION
        await send(client, "installation", created)
        await wait_idle(app[PARTS].queue)
        (pull,) = fake_github.pulls(OWNER, REPO)
        branch = pull["head"]["ref"]
        await command(client, app, fake_github, pull["number"], "@patchwell ignore")
        assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "closed"
        assert f"`@patchwell unignore {branch}`" in replies(fake_github, pull["number"])[-1]
    app = await build_app(live_env, inline_worker=True)  # a restart on the same database
    async with TestClient(TestServer(app)) as client:
        dashboard = next(i for i in fake_github.issues(OWNER, REPO) if "dashboard" in i["title"])
        await command(client, app, fake_github, dashboard["number"], "@patchwell rescan")
        assert [p["state"] for p in fake_github.pulls(OWNER, REPO)] == ["closed"]
        shown = next(
            i for i in fake_github.issues(OWNER, REPO) if i["number"] == dashboard["number"]
        )
        assert f"`@patchwell unignore {branch}`" in shown["body"], shown["body"]
        await command(
            client, app, fake_github, dashboard["number"], "@patchwell show ignore conditions"
        )
        assert f"`{branch}`" in replies(fake_github, dashboard["number"])[-1]
        await command(client, app, fake_github, dashboard["number"], "@patchwell explain")
        assert "works on a Patchwell pull request" in replies(fake_github, dashboard["number"])[-1]
        await command(
            client, app, fake_github, dashboard["number"], f"@patchwell unignore {branch}"
        )
        assert "No longer ignored" in replies(fake_github, dashboard["number"])[-1]
        states = [p["state"] for p in fake_github.pulls(OWNER, REPO)]
        assert states == ["closed", "open"]  # proposed again, as a new PR


async def test_closing_a_pr_unmerged_is_said_and_remembered(scanned, fake_github) -> None:
    client, app, pull = scanned
    fake_github.close_pull(OWNER, REPO, pull["number"])
    await send(
        client, "pull_request", pull_closed_payload(fake_github, pull["number"], sender="maint")
    )
    await wait_idle(app[PARTS].queue)
    assert "will not propose this change again" in replies(fake_github, pull["number"])[-1]
    rules = await app[PARTS].db.fetchall("SELECT kind, name FROM ignore_rules")
    assert rules == [("patch", pull["head"]["ref"])]
    assert pull["head"]["ref"] not in fake_github.branches(OWNER, REPO)


async def test_no_command_of_a_reader_does_anything(scanned, fake_github) -> None:
    from bot.commands import COMMANDS

    client, app, pull = scanned
    fake_github.set_permission(OWNER, REPO, "visitor", "triage")
    runs = len(fake_github.check_runs(OWNER, REPO))
    heads = fake_github.branches(OWNER, REPO)
    for name in COMMANDS:
        text = (
            f"@patchwell {name} {pull['head']['ref']}"
            if name == "unignore"
            else f"@patchwell {name}"
        )
        await send(
            client, "issue_comment", comment_payload(fake_github, pull["number"], text, "visitor")
        )
    await wait_idle(app[PARTS].queue)
    assert len([r for r in replies(fake_github, pull["number"]) if "write access" in r]) == 1
    assert len(replies(fake_github, pull["number"])) == 1
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "open"
    assert fake_github.branches(OWNER, REPO) == heads
    assert len(fake_github.check_runs(OWNER, REPO)) == runs
    assert await app[PARTS].db.fetchall("SELECT * FROM ignore_rules") == []


@pytest.mark.parametrize("after", [False, True], ids=["refused", "answer-lost"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", r"/issues/\d+/comments$"), ("DELETE", r"/git/refs/heads/patchwell/")],
)
async def test_a_close_handled_after_a_fault_says_it_once_and_deletes_the_branch(
    scanned, fake_github, method: str, path: str, after: bool
) -> None:
    """Issue 9 point 5: the job handling a close is retried after a fault at its comment or
    its branch delete; the retry finishes both (the comment once), instead of finding the
    branch already recorded as ignored and doing nothing."""
    client, app, pull = scanned
    fake_github.close_pull(OWNER, REPO, pull["number"])
    fake_github.inject(method, path, status=502, after=after)
    await send(
        client, "pull_request", pull_closed_payload(fake_github, pull["number"], sender="maint")
    )
    await wait_idle(app[PARTS].queue)
    assert not [i for i in fake_github.state.injections if i.times], "the fault never happened"
    # The failed attempt waits out its backoff; run it now, as the queue would later (with the
    # periodic rescan, due later too, first: the retry must not depend on what ran between).
    await app[PARTS].db.execute("UPDATE jobs SET run_at = 0 WHERE state = 'queued'")
    await wait_idle(app[PARTS].queue)
    said = [c for c in replies(fake_github, pull["number"]) if "will not propose" in c]
    assert len(said) == 1
    assert pull["head"]["ref"] not in fake_github.branches(OWNER, REPO)
