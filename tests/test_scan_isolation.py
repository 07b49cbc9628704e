"""Issue 9 point 4: one refused write or one unreadable answer never silences a scan.

* GitHub refusing one patch (a 403 on a workflow-file patch while the installation has not
  accepted the ``workflows`` permission) is reported on that patch in the check run; the
  other patches are opened and the periodic rescan is scheduled.
* A truncated tarball (``EOFError``) or a 200 whose body is not JSON is transient: the job is
  retried; when the last attempt fails too, the check run says the scan did not finish and
  the periodic rescan is still scheduled.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import time

import pytest

from bot.errors import TransientError
from bot.scan.engine import ScanRequest
from tests.appfixtures import engine_on_fake
from tests.test_scan_engine import INSTALLATION, OWNER, REPO
from tests.toyfixers import WORKFLOW, FixmeFixer, WorkflowFixme

NO_WORKFLOWS = {
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}


def request() -> ScanRequest:
    return ScanRequest(OWNER, REPO, INSTALLATION, reason="rescan")


async def pending_rescans(db) -> int:
    rows = await db.fetchall(
        "SELECT COUNT(*) FROM jobs WHERE kind = 'patchwell_scan' AND state = 'queued'"
        " AND run_at > ?",
        (time.time() + 3600,),
    )
    return rows[0][0]


async def test_a_refused_workflow_patch_is_reported_and_the_rest_goes_on(
    fake_github, tmp_path
) -> None:
    files = {"notes/todo.txt": "FIXME drift\n", WORKFLOW: "on: push\n# FIXME\njobs: {}\n"}
    fake_github.create_repo(OWNER, REPO, files)
    fake_github.add_installation(INSTALLATION, OWNER, [REPO], permissions=NO_WORKFLOWS)
    url = f"sqlite:///{tmp_path / 'scan.db'}"
    async with engine_on_fake(
        fake_github, url, INSTALLATION, fixers=[FixmeFixer(), WorkflowFixme()], run_key="job-1"
    ) as (engine, db):
        outcome = await engine.scan(request())
        assert await pending_rescans(db) == 1
    assert [p["head"]["ref"] for p in fake_github.pulls(OWNER, REPO)] == [
        "patchwell/fixme/notes-todo"
    ]
    (run,) = fake_github.check_runs(OWNER, REPO)
    summary = run["output"]["summary"]
    assert "patchwell/wffixme/ci" in summary and "403" in summary
    assert "`workflows` permission" in summary
    assert outcome.pulls is not None and [f.branch for f in outcome.pulls.failed] == [
        "patchwell/wffixme/ci"
    ]


def truncated_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"FIXME drift\n" * 5000
        info = tarfile.TarInfo("acme-shop-0000000/notes/todo.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    whole = buffer.getvalue()
    assert gzip.decompress(whole)
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type"),
    [
        ("GET", r"^/_codeload/", truncated_tarball(), "application/x-gzip"),
        ("GET", r"^/repos/acme/shop$", b'{"ref": "refs/heads/ma', "application/json"),
        ("GET", r"^/repos/acme/shop$", b"<html>502 Bad Gateway</html>", "text/html"),
    ],
    ids=["truncated-tarball", "cut-json", "html-page"],
)
async def test_an_unreadable_answer_is_retried_and_the_last_attempt_still_reports(
    fake_github, tmp_path, method: str, path: str, body: bytes, content_type: str
) -> None:
    fake_github.create_repo(OWNER, REPO, {"notes/todo.txt": "FIXME drift\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    head = fake_github.branches(OWNER, REPO)["main"]
    fake_github.inject(method, path, status=200, times=None, body=body, content_type=content_type)
    url = f"sqlite:///{tmp_path / 'scan.db'}"
    for last in (False, True):
        async with engine_on_fake(
            fake_github,
            url,
            INSTALLATION,
            fixers=[FixmeFixer()],
            run_key="job-1",
            last_attempt=last,
        ) as (engine, db):
            with pytest.raises(TransientError):
                await engine.scan(ScanRequest(OWNER, REPO, INSTALLATION, "rescan", head_sha=head))
            runs = fake_github.check_runs(OWNER, REPO)
            if not last:
                assert runs == []  # it runs again: nothing to say yet
                continue
            (run,) = runs
            assert run["head_sha"] == head and run["conclusion"] == "neutral"
            assert run["output"]["title"] == "Patchwell could not scan this commit"
            assert "not JSON" in run["output"]["summary"] or "cut short" in run["output"]["summary"]
            assert await pending_rescans(db) == 1
