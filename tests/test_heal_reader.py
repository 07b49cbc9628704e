"""Reading a failed job's log from the fake GitHub: the 302, the byte cap, huge logs."""

from __future__ import annotations

import pytest

from bot.github import AppAuth, GitHubClients, new_session
from bot.heal.reader import JobReader
from tests import joblogs
from tests.heal_fixtures import OWNER, REPO, failing_job

pytestmark = pytest.mark.asyncio


def huge_log(filler_bytes: int) -> str:
    """A pytest step printing ``filler_bytes`` of output before failing on an import."""
    text = joblogs.module_not_found_log("yaml")
    line = "2024-01-01T00:00:05.0000000Z tests/test_load.py::test_case PASSED" + " " * 30 + "\n"
    filler = line * (filler_bytes // len(line))
    at = text.rindex("\n", 0, text.index("=" * 36 + " ERRORS")) + 1  # that line's start
    return text[:at] + filler + text[at:]


async def read(fake, log: str, **caps):
    run = fake.add_workflow_run(OWNER, REPO, [failing_job(log)])
    async with new_session() as session:
        clients = GitHubClients(session, AppAuth(fake.app_id, fake.private_key_pem), fake.url)
        gh = await clients.installation_client(4711)
        reader = JobReader(gh, clients, OWNER, REPO, **caps)
        (job,) = await reader.failed_jobs(run.id)
        return reader, await reader.diagnose(job)


async def test_a_huge_log_is_read_to_its_end_keeping_only_head_and_tail(repo) -> None:
    log = huge_log(3 * 1024 * 1024)
    reader, result = await read(
        repo, log, max_bytes=8 << 20, head_bytes=64 << 10, tail_bytes=256 << 10
    )
    assert result.log_state == "truncated"
    assert [d.id for d in result.diagnoses] == ["module-not-found"]
    assert reader.bytes_read == len(log.encode())
    assert result.calls == 3  # annotations, the 302, the download


async def test_a_log_over_the_cap_is_not_read_past_it(repo) -> None:
    log = huge_log(3 * 1024 * 1024)
    reader, result = await read(
        repo, log, max_bytes=1 << 20, head_bytes=64 << 10, tail_bytes=256 << 10
    )
    assert reader.bytes_read == 1 << 20  # stopped at the cap
    assert result.diagnoses == []  # the failing step was past it: nothing guessed


async def test_a_running_job_has_no_log_yet(repo) -> None:
    from tests.fakegithub.server import FakeJob

    run = repo.add_workflow_run(OWNER, REPO, [FakeJob("test", None, (("Set up job", None),), None)])
    async with new_session() as session:
        clients = GitHubClients(session, AppAuth(repo.app_id, repo.private_key_pem), repo.url)
        gh = await clients.installation_client(4711)
        reader = JobReader(gh, clients, OWNER, REPO)
        assert await reader.failed_jobs(run.id) == []
        log, state = await reader.job_log(repo.workflow_job_json(OWNER, REPO, run.job_ids[0])["id"])
        assert (log, state) == (None, "missing")


@pytest.mark.parametrize(
    "job",
    [
        {"id": "x", "conclusion": "failure"},
        {"id": True, "conclusion": "failure"},
        {"id": 5, "conclusion": "failure", "run_id": "abc", "run_attempt": [1]},
        {"id": 5, "conclusion": "failure", "steps": "Set up job"},
        {"id": 5, "conclusion": "failure", "steps": [{"name": "x", "number": "7b"}, 3, None]},
        {"id": 5, "conclusion": "failure", "steps": [{"name": "x", "conclusion": {"a": 1}}]},
    ],
)
async def test_a_malformed_job_payload_never_raises(job) -> None:
    from bot.heal.reader import failed_job

    parsed = failed_job(job)
    assert parsed is None or (parsed.id == 5 and parsed.run_attempt >= 1)
    if parsed is not None:
        assert all(isinstance(s.number, int) for s in parsed.steps)
