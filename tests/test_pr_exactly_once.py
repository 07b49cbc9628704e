"""Issue 9 point 5: every write of a scan is restartable at any point, the final state exactly
once.

A fault is injected at each write step in turn, in two forms: GitHub refuses the write (502,
nothing written), or GitHub carries it out and the answer is lost (a proxy's 502 after the
commit). The scan is then simply run again, as the job queue would, until it finishes; the
fake GitHub must end with one branch, one PR, its labels and reviewers, one check run, one
closing comment -- never a PR lost or anything twice.
"""

from __future__ import annotations

import pytest

from bot.scan.engine import ScanRequest
from tests.appfixtures import engine_on_fake
from tests.test_scan_engine import INSTALLATION, OWNER, REPO, make_repo
from tests.toyfixers import BinaryFixme

CONFIG = "labels: [patchwell, hygiene]\nreviewers: [alice]\n"
BRANCH = "patchwell/fixme/notes-todo"
ATTEMPTS = 4


OPENING_STEPS = [
    ("POST", r"/git/blobs$"),
    ("POST", r"/git/trees$"),
    ("POST", r"/git/commits$"),
    ("POST", r"/git/refs$"),
    ("POST", r"/check-runs$"),
    ("POST", r"/pulls$"),
    ("POST", r"/issues/\d+/labels$"),
    ("POST", r"/pulls/\d+/requested_reviewers$"),
]
REBUILD_STEPS = [("PATCH", r"/git/refs/heads/patchwell/"), ("PATCH", r"/pulls/\d+$")]
CLOSING_STEPS = [
    ("POST", r"/issues/\d+/comments$"),
    ("PATCH", r"/pulls/\d+$"),
    ("DELETE", r"/git/refs/heads/patchwell/"),
]
FAULTS = pytest.mark.parametrize("after", [False, True], ids=["refused", "answer-lost"])


def request() -> ScanRequest:
    return ScanRequest(OWNER, REPO, INSTALLATION, reason="rescan")


async def scan_until_done(fake, engine, method: str, path: str, after: bool) -> int:
    """Run the scan with one fault at ``method path``, again and again as the queue would;
    returns the number of failed attempts (the fault must have cost at least one)."""
    fake.inject(method, path, status=502, after=after)
    for failed in range(ATTEMPTS):
        try:
            await engine.scan(request())
        except Exception:
            continue
        assert not [i for i in fake.state.injections if i.times], "the fault never happened"
        return failed
    raise AssertionError(f"no attempt of {ATTEMPTS} finished")


def ours(fake) -> list[dict]:
    return [p for p in fake.pulls(OWNER, REPO) if p["user"]["login"] == fake.bot_login]


def assert_one_pr_set_up(fake, todo: bytes = b"FIXED drift\n") -> dict:
    (pull,) = ours(fake)
    assert pull["state"] == "open" and pull["head"]["ref"] == BRANCH
    assert sorted(fake.labels(OWNER, REPO, pull["number"])) == ["hygiene", "patchwell"]
    assert [r["login"] for r in fake.pull(OWNER, REPO, pull["number"])["requested_reviewers"]] == [
        "alice"
    ]
    assert [b for b in fake.branches(OWNER, REPO) if b.startswith("patchwell/")] == [BRANCH]
    files = fake.files_at(OWNER, REPO, BRANCH)
    assert files["notes/todo.txt"] == todo and files["notes/marker.bin"]
    heads = [r["head_sha"] for r in fake.check_runs(OWNER, REPO)]
    assert len(heads) == len(set(heads)), "a check run was published twice for one commit"
    return pull


@pytest.fixture
async def engine(fake_github, tmp_path):
    """The repository with one FIXME (one PR to open), and the real engine over it."""
    make_repo(
        fake_github,
        {"notes/todo.txt": "FIXME drift\n", ".github/patchwell.yml": CONFIG, "a.md": "x\n"},
    )
    fake_github.set_permission(OWNER, REPO, "alice", "write")
    url = f"sqlite:///{tmp_path / 'scan.db'}"
    async with engine_on_fake(
        fake_github, url, INSTALLATION, fixers=[BinaryFixme()], run_key="job-1", last_attempt=False
    ) as (scan_engine, _):
        yield scan_engine


@FAULTS
@pytest.mark.parametrize(("method", "path"), OPENING_STEPS)
async def test_opening_a_pr_survives_a_fault_at_each_write(
    fake_github, engine, method: str, path: str, after: bool
) -> None:
    assert await scan_until_done(fake_github, engine, method, path, after) >= 1
    await engine.scan(request())  # and a rescan changes nothing
    assert_one_pr_set_up(fake_github)


@FAULTS
@pytest.mark.parametrize(("method", "path"), REBUILD_STEPS)
async def test_rebuilding_a_pr_survives_a_fault_at_each_write(
    fake_github, engine, method: str, path: str, after: bool
) -> None:
    await engine.scan(request())
    # The base moves and the finding's text changes: branch rebuilt, title/body kept.
    fake_github.push(
        OWNER, REPO, "main", {"notes/todo.txt": "FIXME drift\nFIXME drift 2\n"}, "more"
    )
    assert await scan_until_done(fake_github, engine, method, path, after) >= 1
    pull = assert_one_pr_set_up(fake_github, b"FIXED drift\nFIXED drift 2\n")
    head = fake_github.branches(OWNER, REPO)[BRANCH]
    assert [p["sha"] for p in fake_github.commit(OWNER, REPO, head)["parents"]] == [
        fake_github.branches(OWNER, REPO)["main"]
    ]
    assert pull["head"]["sha"] == head


@FAULTS
@pytest.mark.parametrize(("method", "path"), CLOSING_STEPS)
async def test_closing_a_pr_survives_a_fault_at_each_write(
    fake_github, engine, method: str, path: str, after: bool
) -> None:
    await engine.scan(request())
    (pull,) = ours(fake_github)
    fake_github.push(OWNER, REPO, "main", {"notes/todo.txt": "all done\n"}, "done")
    assert await scan_until_done(fake_github, engine, method, path, after) >= 1
    assert fake_github.pull(OWNER, REPO, pull["number"])["state"] == "closed"
    closing = [
        c
        for c in fake_github.comments(OWNER, REPO, pull["number"])
        if c["user"]["login"] == fake_github.bot_login and c["body"].startswith("Closing")
    ]
    assert len(closing) == 1
    assert BRANCH not in fake_github.branches(OWNER, REPO)
