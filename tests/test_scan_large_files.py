"""Issue 9 (9): a file over 1 MB read through the contents API is never scanned as empty.

GitHub's contents API answers a 1-100 MB file with ``encoding: "none"`` and an empty
``content`` (the fake GitHub does the same). Before the fix a push adding such a file with a
leaked key was scanned as an empty file: the key was dropped and the check turned green.
"""

from __future__ import annotations

import base64

from bot.github import AppAuth, GitHubClients, new_session
from bot.scan.engine import ScanRequest
from fixers.secrets.samples import all_samples
from tests.appfixtures import engine_on_fake

OWNER, REPO, INSTALLATION = "acme", "bigfiles", 919


def stripe_sample():
    return next(s for s in all_samples(seed=11) if s.rule == "stripe-secret-key")


def padded(text: str, size: int) -> str:
    """``text`` as the last line of a Python file of about ``size`` bytes."""
    filler = "VALUE = 1  # padding line to make this file large\n"
    return filler * (size // len(filler)) + text + "\n"


def push_request(before: str, after: str) -> ScanRequest:
    return ScanRequest(
        OWNER,
        REPO,
        INSTALLATION,
        reason="push",
        head_sha=after,
        default_branch="main",
        before_sha=before,
    )


async def test_fake_contents_api_has_no_content_for_files_over_1_mb(fake_github) -> None:
    fake_github.create_repo(OWNER, REPO, {"small.txt": "hi\n", "big.txt": "x" * 1_200_000})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    async with new_session() as session:
        auth = AppAuth(fake_github.app_id, fake_github.private_key_pem)
        gh = await GitHubClients(session, auth, fake_github.url).installation_client(INSTALLATION)
        base = f"/repos/{OWNER}/{REPO}"
        small = await gh.getitem(f"{base}/contents/small.txt")
        big = await gh.getitem(f"{base}/contents/big.txt")
        blob = await gh.getitem(f"{base}/git/blobs/{big['sha']}")
    assert small["encoding"] == "base64" and base64.b64decode(small["content"]) == b"hi\n"
    assert (big["encoding"], big["content"], big["size"]) == ("none", "", 1_200_000)
    assert len(base64.b64decode(blob["content"])) == 1_200_000


async def test_push_of_a_file_over_1_mb_still_finds_its_secret(fake_github, sqlite_url) -> None:
    sample = stripe_sample()
    fake_github.create_repo(OWNER, REPO, {"README.md": "# big\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    async with engine_on_fake(fake_github, sqlite_url, INSTALLATION) as (engine, _db):
        await engine.scan(ScanRequest(OWNER, REPO, INSTALLATION, reason="install"))
        before = fake_github.branches(OWNER, REPO)["main"]
        # Over GitHub's 1 MB contents limit, under Patchwell's 1 MiB file limit.
        big = padded(sample.text, 1_020_000)
        assert 1_000_000 < len(big) < 1024 * 1024
        after = fake_github.push(OWNER, REPO, "main", {"config/app.conf": big}, "big settings")
        fake_github.clear_calls()
        outcome = await engine.scan(push_request(before, after))
    assert outcome.mode == "incremental"  # read through the contents API, not the tarball
    assert fake_github.count_calls("GET", r"/git/blobs/") == 1
    run = fake_github.check_runs(OWNER, REPO)[-1]
    assert run["conclusion"] == "failure"
    assert any(
        a["path"] == "config/app.conf" and a["title"].startswith("secrets:")
        for a in run["annotations"]
    )


async def test_push_of_a_file_over_the_file_limit_is_reported_not_scanned(
    fake_github, sqlite_url
) -> None:
    sample = stripe_sample()
    fake_github.create_repo(OWNER, REPO, {"README.md": "# big\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    async with engine_on_fake(fake_github, sqlite_url, INSTALLATION) as (engine, _db):
        await engine.scan(ScanRequest(OWNER, REPO, INSTALLATION, reason="install"))
        before = fake_github.branches(OWNER, REPO)["main"]
        huge = padded(sample.text, 2_500_000)
        after = fake_github.push(OWNER, REPO, "main", {"dump.conf": huge}, "huge file")
        fake_github.clear_calls()
        await engine.scan(push_request(before, after))
    # Its size is known from the contents answer: the blob is not downloaded to be thrown away.
    assert fake_github.count_calls("GET", r"/git/blobs/") == 0
    run = fake_github.check_runs(OWNER, REPO)[-1]
    summary = run["output"]["summary"]
    assert "Not scanned" in summary
    assert "`dump.conf`" in summary and "too-large" in summary
    assert sample.secret not in repr(run)
