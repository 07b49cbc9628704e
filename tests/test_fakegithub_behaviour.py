"""Behaviour: the fake refuses, limits and fails the way GitHub does."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest

from tests.fakegithub import FakeGitHub, generate_private_key_pem

OWNER, NAME, INSTALLATION = "acme", "shop", 77
REPO = f"/repos/{OWNER}/{NAME}"


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any


class Client:
    """A bare HTTP client, so these tests see exactly what the fake answers."""

    def __init__(self, session: aiohttp.ClientSession, fake: FakeGitHub) -> None:
        self.session, self.fake = session, fake
        self.token: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        auth: str | None = "token",
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if auth == "token":
            sent["Authorization"] = f"token {self.token}"
        elif auth is not None:
            sent["Authorization"] = auth
        url = path if path.startswith("http") else f"{self.fake.url}{path}"
        async with self.session.request(
            method, url, json=json, data=data, headers=sent, params=params, allow_redirects=False
        ) as response:
            raw = await response.read()
            body: Any = raw
            if response.content_type == "application/json" and raw:
                body = await response.json()
            return Answer(response.status, response.headers, body)


def app_jwt(fake: FakeGitHub, key: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iat": now - 60, "exp": now + 540, "iss": fake.app_id} | claims
    # PyJWS, not jwt.encode: PyJWT refuses an integer "iss", which GitHub accepts
    raw = json.dumps(payload).encode()
    return jwt.PyJWS().encode(raw, key or fake.private_key_pem, algorithm="RS256")


@pytest.fixture
async def client(fake_github: FakeGitHub) -> AsyncIterator[Client]:
    fake_github.create_repo(OWNER, NAME, {"README.md": "hi\n", "src/app.py": "x = 1\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [NAME])
    async with aiohttp.ClientSession() as session:
        c = Client(session, fake_github)
        got = await c.call(
            "POST",
            f"/app/installations/{INSTALLATION}/access_tokens",
            auth=f"Bearer {app_jwt(fake_github)}",
        )
        assert got.status == 201
        c.token = got.body["token"]
        yield c


# --- app JWTs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "wrong_key", "message"),
    [
        # iat/exp are seconds from when the test runs (not from collection: a long suite
        # made "iat in the future" a valid JWT by the time it ran)
        ({"iat": -700, "exp": -100}, False, "'Expiration time'"),
        ({"exp": 3600}, False, "too far in the future"),
        ({}, True, "could not be decoded"),
        ({"iss": 1}, False, "could not be decoded"),
        ({"iss": "not-a-number"}, False, "'Issuer' claim ('iss') must be an Integer"),
        ({"iat": 300, "exp": 600}, False, "'Issued at'"),
    ],
    ids=["expired", "too-long", "wrong-key", "wrong-iss", "bad-iss", "iat-in-future"],
)
async def test_bad_app_jwt_is_401(
    client: Client, fake_github: FakeGitHub, claims: dict[str, Any], wrong_key: bool, message: str
) -> None:
    key = generate_private_key_pem() if wrong_key else None
    now = int(time.time())
    claims = {k: now + v if k in ("iat", "exp") else v for k, v in claims.items()}
    got = await client.call("GET", "/app", auth=f"Bearer {app_jwt(fake_github, key, **claims)}")
    assert got.status == 401
    assert message in got.body["message"]


async def test_good_app_jwt_with_string_iss(client: Client, fake_github: FakeGitHub) -> None:
    token = app_jwt(fake_github, iss=str(fake_github.app_id))
    got = await client.call("GET", "/app", auth=f"Bearer {token}")
    assert got.status == 200
    by_client_id = app_jwt(fake_github, iss=fake_github.client_id)
    assert (await client.call("GET", "/app", auth=f"Bearer {by_client_id}")).status == 200
    assert got.body["id"] == fake_github.app_id
    listed = await client.call("GET", "/app/installations", auth=f"Bearer {token}")
    assert [i["id"] for i in listed.body] == [INSTALLATION]
    assert listed.body[0]["account"]["login"] == OWNER
    # an installation token is not an app credential
    assert (await client.call("GET", "/app")).status == 401


async def test_access_tokens(client: Client, fake_github: FakeGitHub) -> None:
    bearer = f"Bearer {app_jwt(fake_github)}"
    missing = await client.call("POST", "/app/installations/999/access_tokens", auth=bearer)
    assert missing.status == 404
    tokens = [
        (await client.call("POST", f"/app/installations/{INSTALLATION}/access_tokens", auth=bearer))
        for _ in range(6)
    ]
    values = [t.body["token"] for t in tokens]
    assert all(v.startswith("ghs_") for v in values)
    assert len(set(values)) == 6
    assert len({len(v) for v in values}) > 1  # lengths vary, so clients must not assume one
    assert tokens[0].body["expires_at"].endswith("Z")
    assert fake_github.tokens_issued == 7  # the fixture's token and these six


async def test_expired_and_foreign_tokens(client: Client, fake_github: FakeGitHub) -> None:
    assert (await client.call("GET", REPO)).status == 200
    fake_github.create_repo("other", "private", {"a": "b"}, private=True)
    assert (await client.call("GET", "/repos/other/private")).status == 404
    assert (await client.call("GET", "/repos/acme/nope")).status == 404
    bad = await client.call("GET", REPO, auth="token ghs_made_up")
    assert (bad.status, bad.body["message"]) == (401, "Bad credentials")
    assert (await client.call("GET", REPO, auth=None)).status == 401
    fake_github.expire_tokens()
    expired = await client.call("GET", REPO)
    assert (expired.status, expired.body["message"]) == (401, "Bad credentials")


async def test_short_token_lifetime(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.token_lifetime = 0
    got = await client.call(
        "POST",
        f"/app/installations/{INSTALLATION}/access_tokens",
        auth=f"Bearer {app_jwt(fake_github)}",
    )
    client.token = got.body["token"]
    assert (await client.call("GET", REPO)).status == 401


async def test_installation_repositories_paginated(client: Client, fake_github: FakeGitHub) -> None:
    for i in range(4):
        fake_github.create_repo(OWNER, f"r{i}", {"f": "x"})
    fake_github.add_installation(INSTALLATION, OWNER, [NAME, "r0", "r1", "r2", "r3"])
    first = await client.call("GET", "/installation/repositories", params={"per_page": "2"})
    assert first.body["total_count"] == 5
    assert len(first.body["repositories"]) == 2
    assert 'rel="next"' in first.headers["Link"]


# --- git data ------------------------------------------------------------------------------


async def test_tree_edits_commit_and_verification(client: Client, fake_github: FakeGitHub) -> None:
    head = fake_github.branches(OWNER, NAME)["main"]
    base_tree = fake_github.commit(OWNER, NAME, head)["commit"]["tree"]["sha"]
    blob = await client.call("POST", f"{REPO}/git/blobs", {"content": "aGk=", "encoding": "base64"})
    assert blob.status == 201
    tree = await client.call(
        "POST",
        f"{REPO}/git/trees",
        {
            "base_tree": base_tree,
            "tree": [
                {
                    "path": "deep/er/file.txt",
                    "mode": "100644",
                    "type": "blob",
                    "sha": blob.body["sha"],
                },
                {"path": "new.md", "mode": "100644", "type": "blob", "content": "new\n"},
                {"path": "src/app.py", "mode": "100644", "type": "blob", "sha": None},
            ],
        },
    )
    assert tree.status == 201
    paths = {e["path"] for e in tree.body["tree"]}
    assert paths == {"README.md", "deep", "new.md"}  # "src" vanished with its only file
    bot = await client.call(
        "POST", f"{REPO}/git/commits", {"message": "m", "tree": tree.body["sha"], "parents": [head]}
    )
    assert bot.status == 201
    assert bot.body["verification"] == bot.body["verification"] | {
        "verified": True,
        "reason": "valid",
    }
    human = await client.call(
        "POST",
        f"{REPO}/git/commits",
        {
            "message": "m",
            "tree": tree.body["sha"],
            "parents": [head],
            "author": {"name": "Bob", "email": "bob@example.com"},
        },
    )
    assert human.body["verification"]["verified"] is False
    assert human.body["verification"]["reason"] == "unsigned"
    await client.call("POST", f"{REPO}/git/refs", {"ref": "refs/heads/f", "sha": bot.body["sha"]})
    assert fake_github.file_at(OWNER, NAME, "f", "deep/er/file.txt") == b"hi"
    assert fake_github.file_at(OWNER, NAME, "f", "src/app.py") is None
    rest = await client.call("GET", f"{REPO}/commits/f")
    by_name = {f["filename"]: f for f in rest.body["files"]}
    assert by_name["src/app.py"]["status"] == "removed"
    assert by_name["new.md"]["patch"] == "@@ -0,0 +1 @@\n+new"
    assert rest.body["author"]["login"] == "patchwell[bot]"


async def test_refs_fast_forward_rules(client: Client, fake_github: FakeGitHub) -> None:
    base = fake_github.branches(OWNER, NAME)["main"]
    created = await client.call("POST", f"{REPO}/git/refs", {"ref": "refs/heads/x", "sha": base})
    assert created.status == 201
    again = await client.call("POST", f"{REPO}/git/refs", {"ref": "refs/heads/x", "sha": base})
    assert (again.status, again.body["message"]) == (422, "Reference already exists")
    ahead = fake_github.push(OWNER, NAME, "main", {"a": "1"}, "human work")
    side = fake_github.push(OWNER, NAME, "x", {"b": "2"}, "side work")
    ff = await client.call("PATCH", f"{REPO}/git/refs/heads/x", {"sha": ahead})
    assert (ff.status, ff.body["message"]) == (422, "Update is not a fast forward")
    forced = await client.call("PATCH", f"{REPO}/git/refs/heads/x", {"sha": ahead, "force": True})
    assert forced.status == 200
    assert fake_github.branches(OWNER, NAME)["x"] == ahead
    assert side not in fake_github.branches(OWNER, NAME).values()
    assert (await client.call("DELETE", f"{REPO}/git/refs/heads/x")).status == 204
    assert (await client.call("GET", f"{REPO}/git/ref/heads/x")).status == 404
    assert (await client.call("GET", f"{REPO}/branches/x")).status == 404


async def test_compare_statuses(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.create_branch(OWNER, NAME, "topic")
    same = await client.call("GET", f"{REPO}/compare/main...topic")
    assert same.body["status"] == "identical"
    fake_github.push(OWNER, NAME, "topic", {"t": "t\n"}, "t")
    ahead = await client.call("GET", f"{REPO}/compare/main...topic")
    assert (ahead.body["status"], ahead.body["ahead_by"], ahead.body["behind_by"]) == (
        "ahead",
        1,
        0,
    )
    fake_github.push(OWNER, NAME, "main", {"m": "m\n"}, "m")
    diverged = await client.call("GET", f"{REPO}/compare/main...topic")
    assert (diverged.body["status"], diverged.body["behind_by"]) == ("diverged", 1)
    assert [f["filename"] for f in diverged.body["files"]] == ["t"]


# --- pulls ---------------------------------------------------------------------------------


async def test_pull_rules_and_head_follows_branch(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.create_branch(OWNER, NAME, "empty")
    none = await client.call(
        "POST", f"{REPO}/pulls", {"title": "t", "head": "empty", "base": "main"}
    )
    assert none.status == 422
    assert "No commits between" in none.body["errors"][0]["message"]
    fake_github.push(OWNER, NAME, "fix", {"a": "1"}, "one")
    spec = {"title": "Fix", "head": f"{OWNER}:fix", "base": "main"}
    first = await client.call("POST", f"{REPO}/pulls", spec)
    assert first.status == 201
    second = await client.call("POST", f"{REPO}/pulls", spec)
    assert second.status == 422
    assert second.body["message"] == "Validation Failed"
    assert second.body["errors"] == [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": f"A pull request already exists for {OWNER}:fix.",
        }
    ]
    newer = fake_github.push(OWNER, NAME, "fix", {"a": "2"}, "two")
    got = await client.call("GET", f"{REPO}/pulls/{first.body['number']}")
    assert got.body["head"]["sha"] == newer
    assert got.body["commits"] == 2
    merged_sha = fake_github.merge_pull(OWNER, NAME, first.body["number"])
    pr = fake_github.pull(OWNER, NAME, first.body["number"])
    assert (pr["state"], pr["merged"], pr["merge_commit_sha"]) == ("closed", True, merged_sha)
    assert len(fake_github.commit(OWNER, NAME, merged_sha)["parents"]) == 2
    assert fake_github.file_at(OWNER, NAME, "main", "a") == b"2"
    # the same head may get a new pull request once the old one is closed
    fake_github.push(OWNER, NAME, "fix", {"a": "3"}, "three")
    assert (await client.call("POST", f"{REPO}/pulls", spec)).status == 201


async def test_link_pagination(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.push(OWNER, NAME, "fix", {"a": "1"}, "one")
    pr = await client.call("POST", f"{REPO}/pulls", {"title": "t", "head": "fix", "base": "main"})
    number = pr.body["number"]
    for i in range(7):
        await client.call("POST", f"{REPO}/issues/{number}/comments", {"body": f"c{i}"})
    url: str | None = f"{client.fake.url}{REPO}/issues/{number}/comments?per_page=3"
    seen, pages = [], []
    while url:
        got = await client.call("GET", url)
        seen += [c["body"] for c in got.body]
        links = _links(got.headers.get("Link", ""))
        pages.append(set(links))
        url = links.get("next")
    assert seen == [f"c{i}" for i in range(7)]
    assert pages == [{"next", "last"}, {"prev", "next", "last", "first"}, {"prev", "first"}]
    assert all(u.startswith(client.fake.url) for u in _links(got.headers["Link"]).values())


def _links(header: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in header.split(","))):
        url, rel = part.split(";")
        out[rel.strip().removeprefix('rel="').removesuffix('"')] = url.strip("<> ")
    return out


async def test_etag_304_does_not_use_rate_limit(client: Client, fake_github: FakeGitHub) -> None:
    first = await client.call("GET", f"{REPO}/branches/main")
    etag = first.headers["ETag"]
    remaining = int(first.headers["x-ratelimit-remaining"])
    again = await client.call("GET", f"{REPO}/branches/main", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    assert int(again.headers["x-ratelimit-remaining"]) == remaining
    fake_github.push(OWNER, NAME, "main", {"a": "1"}, "change")
    changed = await client.call("GET", f"{REPO}/branches/main", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 1
    limits = await client.call("GET", "/rate_limit")
    assert limits.body["resources"]["core"]["remaining"] == remaining - 1


# --- checks --------------------------------------------------------------------------------


def _annotations(count: int, level: str = "warning") -> list[dict[str, Any]]:
    return [
        {
            "path": "a.py",
            "start_line": i + 1,
            "end_line": i + 1,
            "annotation_level": level,
            "message": "m",
        }
        for i in range(count)
    ]


async def test_check_run_annotation_limits(client: Client, fake_github: FakeGitHub) -> None:
    sha = fake_github.branches(OWNER, NAME)["main"]
    output = {"title": "t", "summary": "s"}
    too_many = await client.call(
        "POST",
        f"{REPO}/check-runs",
        {"name": "pw", "head_sha": sha, "output": output | {"annotations": _annotations(51)}},
    )
    assert too_many.status == 422
    assert "No more than 50 items are allowed; 51 were supplied." in too_many.body["message"]
    bad_level = await client.call(
        "POST",
        f"{REPO}/check-runs",
        {
            "name": "pw",
            "head_sha": sha,
            "output": output | {"annotations": _annotations(1, "error")},
        },
    )
    assert bad_level.status == 422
    bad_conclusion = await client.call(
        "POST", f"{REPO}/check-runs", {"name": "pw", "head_sha": sha, "conclusion": "great"}
    )
    assert bad_conclusion.status == 422
    run = await client.call(
        "POST",
        f"{REPO}/check-runs",
        {"name": "pw", "head_sha": sha, "output": output | {"annotations": _annotations(50)}},
    )
    assert run.status == 201
    updated = await client.call(
        "PATCH",
        f"{REPO}/check-runs/{run.body['id']}",
        {"conclusion": "failure", "output": output | {"annotations": _annotations(20)}},
    )
    assert updated.body["output"]["annotations_count"] == 70
    assert updated.body["status"] == "completed"
    assert len(fake_github.check_runs(OWNER, NAME)[0]["annotations"]) == 70
    rerun = await client.call("POST", f"{REPO}/check-runs", {"name": "pw", "head_sha": sha})
    latest = await client.call("GET", f"{REPO}/commits/main/check-runs")
    assert [r["id"] for r in latest.body["check_runs"]] == [rerun.body["id"]]
    every = await client.call("GET", f"{REPO}/commits/main/check-runs", params={"filter": "all"})
    assert every.body["total_count"] == 2


# --- faults and rate limits ----------------------------------------------------------------


async def test_injected_server_error_then_normal(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.inject("GET", r"/branches/main$", status=502, times=2)
    assert [(await client.call("GET", f"{REPO}/branches/main")).status for _ in range(3)] == [
        502,
        502,
        200,
    ]
    assert fake_github.count_calls("GET", r"/branches/main$", status=502) == 2


async def test_secondary_rate_limit_and_429(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.inject_secondary_rate_limit("POST", r"/pulls$", retry_after=7)
    fake_github.inject_429("GET", r"^/repos/acme/shop$", retry_after=3)
    fake_github.push(OWNER, NAME, "fix", {"a": "1"}, "one")
    got = await client.call("POST", f"{REPO}/pulls", {"title": "t", "head": "fix", "base": "main"})
    assert got.status == 403
    assert got.headers["Retry-After"] == "7"
    assert got.body["message"].startswith("You have exceeded a secondary rate limit")
    assert "documentation_url" in got.body
    limited = await client.call("GET", REPO)
    assert (limited.status, limited.headers["Retry-After"]) == (429, "3")
    assert fake_github.pulls(OWNER, NAME) == []  # the refused request did nothing


async def test_content_creation_limits_per_installation(
    client: Client, fake_github: FakeGitHub
) -> None:
    """GitHub's 80/min and 500/h, here 3 per 2 s and 5 per 6 s: the same rule, faster."""
    for n in range(4):  # off by default: a test not about limits is never refused
        assert (await client.call("POST", f"{REPO}/issues", {"title": f"free {n}"})).status == 201
    fake_github.set_content_limits(per_minute=3, per_hour=5, minute=2, hour=6)
    other = await client.call(  # a second token of the same installation shares the budget
        "POST",
        f"/app/installations/{INSTALLATION}/access_tokens",
        auth=f"Bearer {app_jwt(fake_github)}",
    )
    tokens = [client.token, other.body["token"]]
    for n in range(3):
        client.token = tokens[n % 2]
        assert (await client.call("POST", f"{REPO}/issues", {"title": f"t{n}"})).status == 201
    refused = await client.call("POST", f"{REPO}/issues", {"title": "too fast"})
    assert refused.status == 403
    assert "secondary rate limit" in refused.body["message"]
    assert refused.body["documentation_url"].endswith("#about-secondary-rate-limits")
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert (await client.call("GET", REPO)).status == 200  # reads are not content
    await asyncio.sleep(int(refused.headers["Retry-After"]))
    for n in range(2):
        assert (await client.call("POST", f"{REPO}/issues", {"title": f"u{n}"})).status == 201
    hourly = await client.call("POST", f"{REPO}/issues", {"title": "over the hour"})
    assert hourly.status == 403 and int(hourly.headers["Retry-After"]) >= 2
    titles = [i["title"] for i in fake_github.issues(OWNER, NAME)]
    assert "too fast" not in titles and "over the hour" not in titles  # refused: nothing made
    assert fake_github.refused_writes(INSTALLATION) == 2
    assert len(fake_github.writes(INSTALLATION)) == 4 + 3 + 1 + 2 + 1
    assert fake_github.max_writes_in_flight(INSTALLATION) == 1


async def test_chaos_fails_a_share_of_answers_the_ways_github_does(
    client: Client, fake_github: FakeGitHub
) -> None:
    fake_github.set_chaos(0.5, seed=11, timeout_delay=0.3)
    answers = [await client.call("GET", REPO) for _ in range(60)]
    faults = fake_github.chaos_faults()
    assert set(faults) == {"server_error", "timeout", "secondary"}
    failed = [a for a in answers if a.status != 200]
    # Timeouts are answered (late): only errors and limits show as failures.
    assert len(failed) == faults["server_error"] + faults["secondary"]
    assert {a.status for a in failed} <= {403, 500, 502, 503}
    assert all(a.headers["Retry-After"] == "1" for a in failed if a.status == 403)
    # A write that timed out was made all the same; a refused one was not.
    fake_github.set_chaos(1.0, seed=3, timeout_delay=0.3)
    fake_github.state.chaos.weights = (0.0, 1.0, 0.0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await client.call("POST", f"{REPO}/issues", {"title": "late"})
    await asyncio.sleep(0.5)
    fake_github.state.chaos.weights = (0.0, 0.0, 1.0)
    assert (await client.call("POST", f"{REPO}/issues", {"title": "refused"})).status == 403
    fake_github.set_chaos(0)
    assert (await client.call("GET", REPO)).status == 200
    assert [i["title"] for i in fake_github.issues(OWNER, NAME)] == ["late"]
    assert fake_github.chaos_faults() == {"timeout": 1, "secondary": 1}


async def test_primary_rate_limit(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.inject_rate_limit_exhausted("GET", r"^/repos/acme/shop$", reset_in=120)
    got = await client.call("GET", REPO)
    assert got.status == 403
    assert got.headers["x-ratelimit-remaining"] == "0"
    assert int(got.headers["x-ratelimit-reset"]) > time.time() + 60
    fake_github.rate_limit = 2
    statuses = [(await client.call("GET", REPO)).status for _ in range(3)]
    assert statuses == [200, 200, 403]


async def test_slow_response(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.inject_slow("GET", r"^/repos/acme/shop$", delay=5.0)
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.5):
            await client.call("GET", REPO)
    assert (await client.call("GET", REPO)).status == 200  # only the first one was slow


async def test_slow_answer_ends_at_reset_and_stays_out_of_the_next_log(
    client: Client, fake_github: FakeGitHub
) -> None:
    fake_github.inject_slow("GET", r"^/repos/acme/shop$", delay=60.0)
    pending = asyncio.create_task(client.call("GET", REPO))
    for _ in range(500):  # wait (bounded) until the fake has picked the request up
        if not fake_github.state.injections[0].times:
            break
        await asyncio.sleep(0.01)
    fake_github.reset()  # what the fixture does between tests
    answer = await asyncio.wait_for(pending, timeout=30)
    assert answer.status == 401  # its token belonged to the previous test
    assert fake_github.calls == []


# --- HTTP details --------------------------------------------------------------------------


async def test_errors_and_headers(client: Client) -> None:
    unknown = await client.call("GET", "/definitely/not/here")
    assert unknown.status == 404
    assert unknown.body["message"] == "Not Found"
    assert unknown.headers["Content-Type"] == "application/json; charset=utf-8"
    assert unknown.headers["x-github-request-id"]
    broken = await client.call("POST", f"{REPO}/pulls", data=b"{not json")
    assert (broken.status, broken.body["message"]) == (400, "Problems parsing JSON")
    invalid = await client.call("POST", f"{REPO}/pulls", {"head": "x"})
    assert invalid.status == 422
    assert invalid.body["errors"][0]["field"] == "title"


async def test_tarball_redirect(client: Client, fake_github: FakeGitHub) -> None:
    sha = fake_github.branches(OWNER, NAME)["main"]
    redirect = await client.call("GET", f"{REPO}/tarball/main")
    assert redirect.status == 302
    location = redirect.headers["Location"]
    assert location.startswith(fake_github.url) and "token=" in location
    archive = await client.call("GET", location, auth=None)
    assert archive.status == 200
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive.body))) as tar:
        names = tar.getnames()
        top = f"{OWNER}-{NAME}-{sha[:7]}"
        assert {n.split("/")[0] for n in names} == {top}
        assert f"{top}/src/app.py" in names
        extracted = tar.extractfile(f"{top}/README.md")
        assert extracted is not None and extracted.read() == b"hi\n"
    forged = await client.call("GET", location.split("?")[0] + "?token=forged", auth=None)
    assert forged.status == 404


async def test_permissions_and_call_log(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.set_permission(OWNER, NAME, "mia", "maintain")
    got = await client.call("GET", f"{REPO}/collaborators/mia/permission")
    assert (got.body["permission"], got.body["role_name"]) == ("write", "maintain")
    stranger = await client.call("GET", f"{REPO}/collaborators/zed/permission")
    assert stranger.body["permission"] == "read"  # anyone can read a public repository
    kinds = {(c.path, c.auth) for c in fake_github.calls}
    assert (f"/app/installations/{INSTALLATION}/access_tokens", "jwt") in kinds
    assert (f"{REPO}/collaborators/mia/permission", "token") in kinds
    fake_github.clear_calls()
    assert fake_github.calls == []


async def test_docs_example_jwt_is_accepted(client: Client, fake_github: FakeGitHub) -> None:
    # GitHub's documented recipe: iat 60 s in the past, exp 10 minutes from now
    now = int(time.time())
    token = app_jwt(fake_github, iat=now - 60, exp=now + 600)
    assert (await client.call("GET", "/app", auth=f"Bearer {token}")).status == 200


async def test_installation_permissions_and_archived_repos(
    client: Client, fake_github: FakeGitHub
) -> None:
    fake_github.add_installation(
        INSTALLATION, OWNER, [NAME, "old"], permissions={"contents": "read", "metadata": "read"}
    )
    fake_github.create_repo(OWNER, "old", {"a": "b"}, archived=True)
    assert (await client.call("GET", f"{REPO}/branches/main")).status == 200
    refused = await client.call("POST", f"{REPO}/git/blobs", {"content": "x"})
    assert (refused.status, refused.body["message"]) == (
        403,
        "Resource not accessible by integration",
    )
    assert refused.headers["x-accepted-github-permissions"] == "contents=write"
    no_pulls = await client.call("GET", f"{REPO}/pulls")
    assert no_pulls.status == 403
    fake_github.add_installation(INSTALLATION, OWNER, [NAME, "old"])
    archived = await client.call("POST", f"/repos/{OWNER}/old/git/blobs", {"content": "x"})
    assert (archived.status, archived.body["message"]) == (
        403,
        "Repository was archived so is read-only.",
    )


async def test_conflicts_make_a_pull_unmergeable(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.push(OWNER, NAME, "fix", {"README.md": "fix\n"}, "fix readme")
    pr = await client.call("POST", f"{REPO}/pulls", {"title": "t", "head": "fix", "base": "main"})
    number = pr.body["number"]
    assert pr.body["mergeable"] is True
    listed = await client.call("GET", f"{REPO}/pulls")
    assert "mergeable" not in listed.body[0]  # list items omit merge state, like GitHub
    fake_github.push(OWNER, NAME, "main", {"README.md": "other\n"}, "conflicting change")
    got = await client.call("GET", f"{REPO}/pulls/{number}")
    assert (got.body["mergeable"], got.body["mergeable_state"]) == (False, "dirty")
    stale = await client.call("PUT", f"{REPO}/pulls/{number}/merge", {"sha": "0" * 40})
    assert stale.status == 409
    refused = await client.call("PUT", f"{REPO}/pulls/{number}/merge", {})
    assert refused.status == 405
    assert fake_github.pull(OWNER, NAME, number)["state"] == "open"


async def test_concurrent_writes_from_both_threads(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.push(OWNER, NAME, "fix", {"a": "1"}, "one")
    pr = await client.call("POST", f"{REPO}/pulls", {"title": "t", "head": "fix", "base": "main"})
    number = pr.body["number"]
    posts = [
        client.call("POST", f"{REPO}/issues/{number}/comments", {"body": f"bot {i}"})
        for i in range(15)
    ]
    helpers = [
        asyncio.to_thread(fake_github.add_comment, OWNER, NAME, number, f"human {i}", "alice")
        for i in range(5)
    ]
    await asyncio.gather(*posts, *helpers)
    comments = fake_github.comments(OWNER, NAME, number)
    assert len(comments) == 20
    assert len({c["id"] for c in comments}) == 20


def test_reachable_from_a_subprocess(fake_github: FakeGitHub) -> None:
    script = (
        "import json, sys, urllib.request\n"
        "with urllib.request.urlopen(sys.argv[1] + '/rate_limit') as r:\n"
        "    print(json.load(r)['rate']['limit'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, fake_github.url], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "60"  # unauthenticated callers get GitHub's anonymous limit


HOSTILE_BODIES: list[Any] = [
    None,
    [],
    "text",
    7,
    {},
    {"title": 5, "head": ["x"], "base": {"a": 1}, "body": 3},
    {"content": 5, "encoding": "rot13"},
    {"tree": "x", "base_tree": 5},
    {"tree": [5, {"path": 3}, {"path": "a", "sha": "zz"}, {"path": "../x", "content": "c"}]},
    {"message": "m", "tree": "0" * 40, "parents": "p", "author": "me"},
    {"ref": "refs/heads/a..b", "sha": 5},
    {"sha": None, "force": "yes"},
    {"name": "n", "head_sha": 5, "status": "done", "output": {"annotations": "x"}},
    {
        "name": "n",
        "head_sha": "0" * 40,
        "output": {"title": "t", "summary": "s", "annotations": [{}]},
    },
    {"labels": [None, 3]},
    {"content": "ok"},
    {"reviewers": "alice"},
    {"merge_method": "octopus", "sha": 5},
    {"state": "reopened", "base": 9},
]
WRITES = [
    ("POST", "/git/blobs"),
    ("POST", "/git/trees"),
    ("POST", "/git/commits"),
    ("POST", "/git/refs"),
    ("PATCH", "/git/refs/heads/main"),
    ("POST", "/pulls"),
    ("PATCH", "/pulls/1"),
    ("POST", "/pulls/1/requested_reviewers"),
    ("PUT", "/pulls/1/merge"),
    ("PUT", "/pulls/1/update-branch"),
    ("PUT", "/contents/README.md"),
    ("PUT", "/contents/new/file.txt"),
    ("POST", "/issues"),
    ("POST", "/issues/1/comments"),
    ("POST", "/issues/1/labels"),
    ("POST", "/check-runs"),
]


async def test_hostile_bodies_get_bounded_answers(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.push(OWNER, NAME, "fix", {"a": "1"}, "one")
    await client.call("POST", f"{REPO}/pulls", {"title": "t", "head": "fix", "base": "main"})
    for method, path in WRITES:
        for body in HOSTILE_BODIES:
            raw = b"null" if body is None else None
            got = await client.call(method, f"{REPO}{path}", None if raw else body, data=raw)
            assert 400 <= got.status < 500 or got.status in (200, 201), (method, path, body)
            assert isinstance(got.body, dict | list), (method, path, body)
    assert fake_github.internal_errors == []
    for query in ("per_page=abc&page=-3", "per_page=100000", "state=weird", "page=99"):
        got = await client.call("GET", f"{REPO}/pulls?{query}")
        assert got.status in (200, 422)
    weird_paths = ["/pulls/abc", "/issues/comments/x", "/check-runs/%00", "/git/blobs/zz"]
    for path in weird_paths:
        assert (await client.call("GET", f"{REPO}{path}")).status == 404


async def test_human_pull_request(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.push(OWNER, NAME, "feature", {"f.py": "f = 1\n"}, "feature", author_login="bob")
    number = fake_github.open_pull(OWNER, NAME, "feature", author_login="bob")
    got = await client.call("GET", f"{REPO}/pulls/{number}")
    assert (got.body["user"]["login"], got.body["base"]["ref"]) == ("bob", "main")
    commits = await client.call("GET", f"{REPO}/pulls/{number}/commits")
    assert [c["author"]["login"] for c in commits.body] == ["bob"]
    assert commits.body[0]["commit"]["verification"]["verified"] is False


async def test_reviewers_must_be_collaborators(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.push(OWNER, NAME, "fix", {"a": "1"}, "one")
    pr = await client.call("POST", f"{REPO}/pulls", {"title": "t", "head": "fix", "base": "main"})
    path = f"{REPO}/pulls/{pr.body['number']}/requested_reviewers"
    stranger = await client.call("POST", path, {"reviewers": ["zed"]})
    assert stranger.status == 422
    fake_github.set_permission(OWNER, NAME, "mia", "write")
    asked = await client.call("POST", path, {"reviewers": ["mia"]})
    assert asked.status == 201
    assert [u["login"] for u in asked.body["requested_reviewers"]] == ["mia"]


async def test_contents_put_and_update_branch(client: Client, fake_github: FakeGitHub) -> None:
    old_sha = (await client.call("GET", f"{REPO}/contents/README.md")).body["sha"]
    content = base64.b64encode(b"# shop\n").decode()
    create = {"message": "add", "content": content, "branch": "main"}
    stale = await client.call("PUT", f"{REPO}/contents/README.md", create)
    assert stale.status == 422  # updating needs the current blob sha
    wrong = await client.call("PUT", f"{REPO}/contents/README.md", create | {"sha": "0" * 40})
    assert wrong.status == 409
    updated = await client.call("PUT", f"{REPO}/contents/README.md", create | {"sha": old_sha})
    assert updated.status == 200
    assert updated.body["commit"]["verification"]["verified"] is True
    fake_github.push(OWNER, NAME, "fix", {"a": "1"}, "one")
    pr = await client.call("POST", f"{REPO}/pulls", {"title": "t", "head": "fix", "base": "main"})
    number = pr.body["number"]
    added = await client.call("PUT", f"{REPO}/contents/docs/new.md", create)
    assert added.status == 201
    behind = await client.call("GET", f"{REPO}/compare/main...fix")
    assert behind.body["behind_by"] == 1
    moved = await client.call("PUT", f"{REPO}/pulls/{number}/update-branch", {})
    assert moved.status == 202
    assert fake_github.file_at(OWNER, NAME, "fix", "docs/new.md") == b"# shop\n"
    assert (await client.call("GET", f"{REPO}/compare/main...fix")).body["behind_by"] == 0
    again = await client.call("PUT", f"{REPO}/pulls/{number}/update-branch", {})
    assert again.status == 422


async def test_suspended_and_removed_installations(client: Client, fake_github: FakeGitHub) -> None:
    fake_github.suspend_installation(INSTALLATION)
    suspended = await client.call("GET", REPO)
    assert (suspended.status, suspended.body["message"]) == (
        403,
        "This installation has been suspended",
    )
    bearer = f"Bearer {app_jwt(fake_github)}"
    path = f"/app/installations/{INSTALLATION}/access_tokens"
    assert (await client.call("POST", path, auth=bearer)).status == 403
    fake_github.suspend_installation(INSTALLATION, suspended=False)
    assert (await client.call("GET", REPO)).status == 200
    fake_github.remove_installation(INSTALLATION)
    assert (await client.call("GET", REPO)).status == 401
    assert (await client.call("POST", path, auth=bearer)).status == 404
