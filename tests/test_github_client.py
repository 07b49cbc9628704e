"""App auth and the REST client against the fake GitHub (which checks JWTs and tokens)."""

from __future__ import annotations

import time

import aiohttp
import gidgethub
import pytest

from bot.errors import Deferred, TransientError
from bot.github import AppAuth, GitHubClients, as_transient, maybe_carried_out, new_session
from bot.metrics import Metrics

pytestmark = pytest.mark.asyncio


@pytest.fixture
def installed(fake_github):
    fake_github.create_repo("acme", "shop", {"README.md": "# shop\n"})
    fake_github.add_installation(77, "acme", ["shop"])
    return fake_github


async def clients_for(fake, metrics=None, timeout=None):
    session = new_session(timeout)
    auth = AppAuth(fake.app_id, fake.private_key_pem)
    return session, GitHubClients(session, auth, fake.url, metrics)


async def test_installation_token_is_cached_per_installation(installed) -> None:
    session, clients = await clients_for(installed)
    async with session:
        for _ in range(3):
            gh = await clients.installation_client(77)
            repo = await gh.getitem("/repos/{owner}/{repo}", {"owner": "acme", "repo": "shop"})
            assert repo["full_name"] == "acme/shop"
    assert installed.tokens_issued == 1


async def test_token_renewed_shortly_before_expiry(installed) -> None:
    installed.token_lifetime = 120  # inside the five-minute refresh margin: never reused
    session, clients = await clients_for(installed)
    async with session:
        await clients.installation_client(77)
        await clients.installation_client(77)
    assert installed.tokens_issued == 2


async def test_forgotten_token_is_replaced(installed) -> None:
    session, clients = await clients_for(installed)
    async with session:
        gh = await clients.installation_client(77)
        installed.expire_tokens()
        with pytest.raises(gidgethub.BadRequest) as refused:
            await gh.getitem("/repos/acme/shop")
        assert int(refused.value.status_code) == 401
        clients.forget_token(77)
        gh = await clients.installation_client(77)
        assert (await gh.getitem("/repos/acme/shop"))["name"] == "shop"


async def test_repeated_reads_are_conditional(installed) -> None:
    session, clients = await clients_for(installed)
    async with session:
        gh = await clients.installation_client(77)
        first = await gh.getitem("/repos/acme/shop")
        installed.clear_calls()
        second = await gh.getitem("/repos/acme/shop")
    assert first == second
    assert installed.count_calls("GET", r"^/repos/acme/shop$", status=304) == 1


async def test_calls_use_the_configured_base_url_and_count_into_metrics(installed) -> None:
    metrics = Metrics()
    session, clients = await clients_for(installed, metrics)
    async with session:
        gh = await clients.installation_client(77)
        await gh.getitem("/repos/acme/shop")
    text = metrics.render().decode()
    assert 'patchwell_github_requests_total{method="POST",status="201"} 1.0' in text
    assert 'patchwell_github_requests_total{method="GET",status="200"} 1.0' in text
    assert "patchwell_github_ratelimit_remaining" in text


async def test_tarball_download_follows_the_redirect(installed) -> None:
    session, clients = await clients_for(installed)
    async with session:
        gh = await clients.installation_client(77)
        data = await clients.download(gh, "/repos/acme/shop/tarball/main", max_bytes=1 << 20)
    assert data[:2] == b"\x1f\x8b"  # gzip


@pytest.mark.parametrize(
    ("inject", "retry_after"),
    [
        # A read is tried three times before a 5xx reaches the job.
        (lambda f: f.inject("GET", r"^/repos/acme/shop$", status=502, times=3), None),
        (lambda f: f.inject_secondary_rate_limit("GET", r"^/repos/acme/shop$", retry_after=7), 7),
        (lambda f: f.inject_429("GET", r"^/repos/acme/shop$", retry_after=3), 3),
    ],
    ids=["5xx", "secondary-403", "429"],
)
async def test_transient_failures_are_classified(installed, inject, retry_after) -> None:
    session, clients = await clients_for(installed)
    async with session:
        gh = await clients.installation_client(77)
        inject(installed)
        with pytest.raises(gidgethub.HTTPException) as failure:
            await gh.getitem("/repos/acme/shop")
    transient = as_transient(failure.value)
    assert isinstance(transient, TransientError)
    assert transient.retry_after == retry_after
    # GitHub's limits are waits: the job is handed back without spending an attempt.
    assert isinstance(transient, Deferred) == (retry_after is not None)


async def test_a_read_answered_5xx_or_late_is_tried_again(installed) -> None:
    session, clients = await clients_for(installed, timeout=1.0)
    async with session:
        gh = await clients.installation_client(77)
        installed.inject("GET", r"^/repos/acme/shop$", status=503)
        installed.inject_slow("GET", r"^/repos/acme/shop$", delay=3)
        assert (await gh.getitem("/repos/acme/shop"))["name"] == "shop"
        installed.inject("GET", r"/tarball/main$", status=502, times=2)
        data = await clients.download(gh, "/repos/acme/shop/tarball/main", max_bytes=1 << 20)
        assert data[:2] == b"\x1f\x8b"
        # A write is never sent twice by the client: the job is redone instead.
        installed.inject("POST", r"/issues$", status=502)
        with pytest.raises(gidgethub.GitHubBroken):
            await gh.post("/repos/acme/shop/issues", data={"title": "once"})
    # (the late answer to the slow try is logged whenever it ends: not counted here)
    assert installed.count_calls("GET", r"^/repos/acme/shop$", status=503) == 1
    assert installed.count_calls("GET", r"/tarball/main$", status=502) == 2
    assert installed.count_calls("POST", r"/issues$") == 1


async def test_a_write_never_answered_holds_the_job_until_github_is_done_with_it(
    installed, monkeypatch
) -> None:
    """A timed-out write may still land (GitHub works on a request for up to 10 s): the job
    must not let go of its repository before that, or its retry (or the next job for the
    repository) looks for its check run or PR, finds none and writes a second one (the chaos
    storm caught two identical check runs on one commit)."""
    monkeypatch.setattr("bot.github.GITHUB_REQUEST_CEILING", 2.5)  # GitHub's 10 s, shortened
    session, clients = await clients_for(installed, timeout=0.5)
    async with session:
        gh = await clients.installation_client(77)
        installed.inject_slow("POST", r"/issues$", delay=1.5)  # carried out, answered late
        with pytest.raises(TransientError) as late:
            await gh.post("/repos/acme/shop/issues", data={"title": "once"})
        # Raised only once GitHub is done with it: whoever looks next sees the write.
        assert [i["title"] for i in installed.issues("acme", "shop")] == ["once"]
        assert late.value.retry_after is None
    # A read changes nothing, and a write that never connected was never sent: no wait.
    assert not maybe_carried_out("GET", TimeoutError())
    assert maybe_carried_out("POST", TimeoutError())
    assert maybe_carried_out("PATCH", aiohttp.ServerDisconnectedError())
    refused = aiohttp.ClientConnectorError(None, OSError(111, "refused"))  # type: ignore[arg-type]
    assert not maybe_carried_out("POST", refused)


async def test_exhausted_primary_limit_waits_until_reset(installed) -> None:
    session, clients = await clients_for(installed)
    async with session:
        gh = await clients.installation_client(77)
        installed.inject_rate_limit_exhausted("GET", r"^/repos/acme/shop$", reset_in=120)
        with pytest.raises(gidgethub.RateLimitExceeded) as failure:
            await gh.getitem("/repos/acme/shop")
    transient = as_transient(failure.value, now=time.time())
    assert transient is not None
    assert 100 <= transient.retry_after <= 121


async def test_not_found_is_not_transient(installed) -> None:
    session, clients = await clients_for(installed)
    async with session:
        gh = await clients.installation_client(77)
        with pytest.raises(gidgethub.BadRequest) as failure:
            await gh.getitem("/repos/acme/elsewhere")
    assert as_transient(failure.value) is None


async def test_unreachable_github_is_transient() -> None:
    async with new_session() as session:
        clients = GitHubClients(session, AppAuth(1, "unused"), "http://127.0.0.1:9")
        gh = clients.app_client()
        with pytest.raises(TransientError):
            await gh.getitem("/app")
