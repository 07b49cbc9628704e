"""The scan engine end to end against the fake GitHub, with a toy fixer defined here.

The toy fixer is test input, not a mock: the engine, store, PR engine and check
runs are the real ones, talking HTTP to the fake GitHub.
"""

from __future__ import annotations

import gidgethub
import pytest

from bot.db import Database
from bot.github import AppAuth, GitHubClients, new_session
from bot.migrate import migrate
from bot.queue import JobQueue
from bot.scan.engine import ScanEngine, ScanRequest, added_lines_from_patch
from bot.scan.state import ScanStore
from tests.toyfixers import FixmeFixer, UndecidedFixme, WithholdingFixme

OWNER, REPO, INSTALLATION = "acme", "shop", 31


@pytest.fixture
async def engine_parts(fake_github, tmp_path):
    db = await Database.connect(f"sqlite:///{tmp_path / 'scan.db'}")
    await migrate(db)
    session = new_session()
    clients = GitHubClients(
        session, AppAuth(fake_github.app_id, fake_github.private_key_pem), fake_github.url
    )
    yield db, clients
    await session.close()
    await db.close()


def make_repo(fake, files: dict[str, str]) -> None:
    fake.create_repo(OWNER, REPO, files)
    fake.add_installation(INSTALLATION, OWNER, [REPO])


async def engine_for(
    fake, db, clients, run_key: str | None = None, fixer: FixmeFixer | None = None
) -> ScanEngine:
    gh = await clients.installation_client(INSTALLATION)
    return ScanEngine(
        gh,
        clients,
        ScanStore(db),
        queue=JobQueue(db),
        fixers=[fixer or FixmeFixer()],
        bot_login=fake.bot_login,
        run_key=run_key,
    )


def full_scan() -> ScanRequest:
    return ScanRequest(OWNER, REPO, INSTALLATION, reason="install")


async def test_pr_branch_commit_tree_and_body(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(fake_github, {"notes/todo.txt": "keep\nFIXME drift\n", "README.md": "# shop\n"})
    head = fake_github.branches(OWNER, REPO)["main"]
    outcome = await (await engine_for(fake_github, db, clients)).scan(full_scan())
    (pull,) = fake_github.pulls(OWNER, REPO)
    assert pull["head"]["ref"] == "patchwell/fixme/notes-todo"
    assert pull["base"]["ref"] == "main"
    assert pull["title"] == "Resolve FIXMEs in notes/todo.txt"
    for part in (
        "What was found",
        "Why it matters",
        "What this patch changes",
        "How to verify",
        "How to roll back",
        "@patchwell rebase",
    ):
        assert part in pull["body"]
    commit = fake_github.commit(OWNER, REPO, pull["head"]["sha"])
    assert [p["sha"] for p in commit["parents"]] == [head]  # one commit on the default head
    assert commit["commit"]["verification"]["verified"] is True
    assert commit["author"]["login"] == fake_github.bot_login
    assert (
        fake_github.file_at(OWNER, REPO, "patchwell/fixme/notes-todo", "notes/todo.txt")
        == b"keep\nFIXED drift\n"
    )
    assert (
        fake_github.file_at(OWNER, REPO, "patchwell/fixme/notes-todo", "README.md") == b"# shop\n"
    )
    assert fake_github.labels(OWNER, REPO, pull["number"]) == ["patchwell"]
    assert outcome.pulls.opened == [pull["number"]]


async def test_rescans_and_retries_never_make_a_second_pr(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    engine = await engine_for(fake_github, db, clients)
    await engine.scan(full_scan())
    branch_head = fake_github.branches(OWNER, REPO)["patchwell/fixme/a"]
    fake_github.clear_calls()
    second = await engine.scan(full_scan())
    assert len(fake_github.pulls(OWNER, REPO)) == 1
    assert fake_github.branches(OWNER, REPO)["patchwell/fixme/a"] == branch_head
    assert fake_github.count_calls("POST", r"/git/commits$") == 0
    assert second.pulls.unchanged == [fake_github.pulls(OWNER, REPO)[0]["number"]]


async def test_interrupted_run_resumes_without_duplicates(fake_github, engine_parts) -> None:
    """The first run dies after pushing the branch (PR creation fails); a fresh engine with
    an empty database -- as after a crash that lost state -- adopts the branch."""
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    fake_github.inject("POST", r"/pulls$", status=502)
    engine = await engine_for(fake_github, db, clients)
    with pytest.raises(gidgethub.GitHubBroken):
        await engine.scan(full_scan())
    assert "patchwell/fixme/a" in fake_github.branches(OWNER, REPO)
    await db.execute("DELETE FROM patch_branches")
    await engine.scan(full_scan())
    await engine.scan(full_scan())
    assert len(fake_github.pulls(OWNER, REPO)) == 1


async def test_finding_gone_closes_pr_and_deletes_branch(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    engine = await engine_for(fake_github, db, clients)
    await engine.scan(full_scan())
    (pull,) = fake_github.pulls(OWNER, REPO)
    fake_github.push(OWNER, REPO, "main", {"a.txt": "done by hand\n"}, "fix it by hand")
    await engine.scan(full_scan())
    closed = fake_github.pull(OWNER, REPO, pull["number"])
    assert closed["state"] == "closed"
    assert "no longer found" in fake_github.comments(OWNER, REPO, pull["number"])[-1]["body"]
    assert "patchwell/fixme/a" not in fake_github.branches(OWNER, REPO)


async def test_a_change_the_fixer_no_longer_proposes_closes_its_pr(
    fake_github, engine_parts
) -> None:
    """The finding stands but its fixer, checking it in full, makes no patch today (the
    dependency fixer that finds it cannot update the lock): the PR it opened before must
    not stay open to be merged."""
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    engine = await engine_for(fake_github, db, clients, fixer=WithholdingFixme())
    await engine.scan(full_scan())
    (pull,) = fake_github.pulls(OWNER, REPO)
    fake_github.push(OWNER, REPO, "main", {"notes/withhold.txt": "no\n"}, "withhold")
    await engine.scan(full_scan())
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "closed"
    body = fake_github.comments(OWNER, REPO, pull["number"])[-1]["body"]
    assert "no longer proposes this change" in body and "still there" in body
    assert "patchwell/fixme/a" not in fake_github.branches(OWNER, REPO)
    (run,) = fake_github.check_runs(OWNER, REPO)[-1:]
    assert "FIXME left in a.txt" in str(run["output"])  # still reported
    await engine.scan(full_scan())  # and closed once: no second comment
    assert len(fake_github.comments(OWNER, REPO, pull["number"])) == 1


async def test_a_change_the_fixer_left_undecided_keeps_its_pr(fake_github, engine_parts) -> None:
    """The dependency fixer's resolution budget ran out before this finding was checked:
    no patch today says nothing about the PR it opened before, which stays open as it is."""
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    engine = await engine_for(fake_github, db, clients, fixer=UndecidedFixme())
    await engine.scan(full_scan())
    (pull,) = fake_github.pulls(OWNER, REPO)
    head = fake_github.branches(OWNER, REPO)["patchwell/fixme/a"]
    fake_github.push(OWNER, REPO, "main", {"notes/undecided.txt": "budget\n"}, "undecided")
    await engine.scan(full_scan())
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "open"
    assert fake_github.comments(OWNER, REPO, pull["number"]) == []
    assert fake_github.branches(OWNER, REPO)["patchwell/fixme/a"] == head


async def test_base_moved_rebuilds_branch_on_new_head(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    engine = await engine_for(fake_github, db, clients)
    await engine.scan(full_scan())
    new_head = fake_github.push(OWNER, REPO, "main", {"other.md": "news\n"}, "unrelated work")
    await engine.scan(full_scan())
    branch_head = fake_github.branches(OWNER, REPO)["patchwell/fixme/a"]
    commit = fake_github.commit(OWNER, REPO, branch_head)
    assert [p["sha"] for p in commit["parents"]] == [new_head]
    assert fake_github.file_at(OWNER, REPO, branch_head, "other.md") == b"news\n"
    assert len(fake_github.pulls(OWNER, REPO)) == 1


async def test_human_commit_gets_one_comment_and_no_force_push(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    engine = await engine_for(fake_github, db, clients)
    await engine.scan(full_scan())
    (pull,) = fake_github.pulls(OWNER, REPO)
    human = fake_github.push(OWNER, REPO, "patchwell/fixme/a", {"b.md": "mine\n"}, "my tweak")
    fake_github.push(OWNER, REPO, "main", {"other.md": "news\n"}, "base moves")
    await engine.scan(full_scan())
    await engine.scan(full_scan())
    assert fake_github.branches(OWNER, REPO)["patchwell/fixme/a"] == human
    comments = [c["body"] for c in fake_github.comments(OWNER, REPO, pull["number"])]
    assert len([c for c in comments if "Someone else pushed" in c]) == 1
    assert fake_github.count_calls("PATCH", r"/git/refs/heads/patchwell/fixme/a") == 0


async def test_pr_limit_opens_highest_severity_first(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    files = {
        f"f{i}.txt": f"FIXME {level}\n"
        for i, level in enumerate(
            ["hygiene", "drift", "vulnerability", "hygiene", "broken_build", "drift"]
        )
    }
    files[".github/patchwell.yml"] = "open-pull-requests-limit: 2\n"
    make_repo(fake_github, files)
    outcome = await (await engine_for(fake_github, db, clients)).scan(full_scan())
    titles = sorted(p["title"] for p in fake_github.pulls(OWNER, REPO))
    assert titles == ["Resolve FIXMEs in f2.txt", "Resolve FIXMEs in f4.txt"]
    assert [w.branch for w in outcome.pulls.waiting][:2] == [
        "patchwell/fixme/f1",
        "patchwell/fixme/f5",
    ]
    (run,) = fake_github.check_runs(OWNER, REPO)
    assert "Waiting for the open-pull-request limit" in run["output"]["summary"]
    assert "patchwell/fixme/f0" in run["output"]["summary"]


async def test_broken_config_fails_the_check_naming_the_line(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(
        fake_github,
        {"a.txt": "fine\n", ".github/patchwell.yml": "labels: [x]\nopen-pull-requests-limt: 3\n"},
    )
    await (await engine_for(fake_github, db, clients)).scan(full_scan())
    (run,) = fake_github.check_runs(OWNER, REPO)
    assert run["conclusion"] == "failure"
    assert "line 2" in run["output"]["summary"]
    assert any(
        a["path"] == ".github/patchwell.yml" and a["start_line"] == 2 for a in run["annotations"]
    )


async def test_120_findings_send_annotations_in_batches_of_50(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(
        fake_github,
        {"many.txt": "FIXME hygiene\n" * 120, ".github/patchwell.yml": "fixers: {fixme: report}\n"},
    )
    await (await engine_for(fake_github, db, clients)).scan(full_scan())
    (run,) = fake_github.check_runs(OWNER, REPO)
    assert len(run["annotations"]) == 120
    assert run["conclusion"] == "neutral"
    assert fake_github.count_calls("POST", r"/check-runs$") == 1
    assert fake_github.count_calls("PATCH", r"/check-runs/\d+$") == 2
    assert fake_github.pulls(OWNER, REPO) == []  # report mode opens nothing


async def test_clean_repository_gets_a_successful_check(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "all good\n"})
    await (await engine_for(fake_github, db, clients)).scan(full_scan())
    (run,) = fake_github.check_runs(OWNER, REPO)
    assert run["conclusion"] == "success"
    assert fake_github.pulls(OWNER, REPO) == []


async def test_push_scan_reads_only_changed_files(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n", "b.txt": "ok\n"})
    engine = await engine_for(fake_github, db, clients)
    await engine.scan(full_scan())
    before = fake_github.branches(OWNER, REPO)["main"]
    after = fake_github.push(OWNER, REPO, "main", {"b.txt": "FIXME hygiene\n"}, "new fixme")
    fake_github.clear_calls()
    outcome = await engine.scan(
        ScanRequest(
            OWNER,
            REPO,
            INSTALLATION,
            reason="push",
            head_sha=after,
            default_branch="main",
            before_sha=before,
        )
    )
    assert outcome.mode == "incremental"
    assert fake_github.count_calls("GET", r"/tarball/") == 0
    assert fake_github.count_calls("GET", r"/contents/b\.txt") == 1
    assert fake_github.count_calls("GET", r"/contents/a\.txt") == 0
    assert outcome.findings == 2  # a.txt's finding is kept from the full scan
    assert len(fake_github.pulls(OWNER, REPO)) == 2


def push_scan(before: str, after: str) -> ScanRequest:
    return ScanRequest(
        OWNER,
        REPO,
        INSTALLATION,
        reason="push",
        head_sha=after,
        default_branch="main",
        before_sha=before,
    )


async def test_push_before_the_first_scan_scans_everything(fake_github, engine_parts) -> None:
    """Found by the chaos test: a push that overtook the install scan was scanned as a push
    (only its changed files) over no stored findings, and its check run said success although
    an unchanged file had a finding; the install scan then added a second check run."""
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n", "b.txt": "ok\n"})
    before = fake_github.branches(OWNER, REPO)["main"]
    after = fake_github.push(OWNER, REPO, "main", {"notes.md": "hello\n"}, "notes")
    push_job = await engine_for(fake_github, db, clients, run_key="job-2")
    outcome = await push_job.scan(push_scan(before, after))
    assert outcome.mode == "full" and outcome.findings == 1
    install_job = await engine_for(fake_github, db, clients, run_key="job-1")
    await install_job.scan(full_scan())  # the overtaken install scan, on the same commit
    (run,) = fake_github.check_runs(OWNER, REPO)
    assert (run["head_sha"], run["conclusion"]) == (after, "neutral")


async def test_push_scan_covers_commits_since_the_last_scan(fake_github, engine_parts) -> None:
    """A push whose ``before`` was never scanned (its own scan has not run yet) must not lose
    what the pushes in between changed: the diff starts at the last scanned commit."""
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "ok\n", "b.txt": "ok\n"})
    engine = await engine_for(fake_github, db, clients)
    await engine.scan(full_scan())
    scanned = fake_github.branches(OWNER, REPO)["main"]
    middle = fake_github.push(OWNER, REPO, "main", {"a.txt": "FIXME drift\n"}, "one")
    after = fake_github.push(OWNER, REPO, "main", {"b.txt": "FIXME hygiene\n"}, "two")
    outcome = await engine.scan(push_scan(middle, after))  # the first push's scan is behind
    assert scanned != middle and outcome.findings == 2  # a.txt's FIXME came in between
    assert sorted(p["title"] for p in fake_github.pulls(OWNER, REPO)) == [
        "Resolve FIXMEs in a.txt",
        "Resolve FIXMEs in b.txt",
    ]


def test_added_lines_from_a_unified_diff() -> None:
    patch = "@@ -1,2 +1,3 @@\n keep\n-old\n+new\n+more\n@@ -10 +11,2 @@\n ctx\n+tail\n"
    assert added_lines_from_patch(patch) == {2, 3, 12}


async def test_crash_after_moving_the_ref_is_not_mistaken_for_a_human(
    fake_github, engine_parts
) -> None:
    """Patchwell rebuilt the branch but died before recording its new head."""
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    engine = await engine_for(fake_github, db, clients)
    await engine.scan(full_scan())
    (pull,) = fake_github.pulls(OWNER, REPO)
    fake_github.push(OWNER, REPO, "main", {"other.md": "news\n"}, "base moves")
    await engine.scan(full_scan())
    await db.execute("UPDATE patch_branches SET head_sha = 'f00d'")  # the lost record
    fake_github.push(OWNER, REPO, "main", {"more.md": "more\n"}, "base moves again")
    await engine.scan(full_scan())
    comments = [c["body"] for c in fake_github.comments(OWNER, REPO, pull["number"])]
    assert not [c for c in comments if "Someone else pushed" in c]
    head = fake_github.branches(OWNER, REPO)["patchwell/fixme/a"]
    assert [p["sha"] for p in fake_github.commit(OWNER, REPO, head)["parents"]] == [
        fake_github.branches(OWNER, REPO)["main"]
    ]


async def test_a_crashing_fixer_closes_none_of_its_prs(fake_github, engine_parts) -> None:
    db, clients = engine_parts
    make_repo(fake_github, {"a.txt": "FIXME drift\n"})
    engine = await engine_for(fake_github, db, clients)
    await engine.scan(full_scan())
    (pull,) = fake_github.pulls(OWNER, REPO)
    fake_github.push(OWNER, REPO, "main", {"a.txt": b"\xff\xfeFIXME drift\n"}, "not utf-8")
    await engine.scan(full_scan())  # the toy fixer's .decode() raises on these bytes
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "open"
    (run,) = fake_github.check_runs(OWNER, REPO)[-1:]
    assert "fixme fixer crashed" in run["output"]["summary"]
