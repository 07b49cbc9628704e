"""Issue 9 (7): what an unauthenticated stranger can make the webhook server spend.

Each test failed on the code before the fix: every distinct ``X-GitHub-Event`` became a
Prometheus series, bodies were buffered with no cap on the bytes in flight, ``sha1=<hmac>``
passed in ``X-Hub-Signature-256`` and a deeply nested signed body answered 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.service import PARTS, build_app
from tests.appfixtures import WEBHOOK_SECRET
from tests.webhooks import delivery, example


async def stored_jobs(app) -> list:
    return await app[PARTS].queue.list_jobs(states=("queued", "running", "done", "dead"))


def event_labels(metrics_text: str) -> set[str]:
    return set(re.findall(r'patchwell_webhook_deliveries_total\{event="([^"]*)"', metrics_text))


async def test_unverified_event_header_does_not_grow_the_metric_label_set(web) -> None:
    client, _app = web
    for i in range(40):
        headers = {"X-GitHub-Event": f"made_up_event_{i}", "X-GitHub-Delivery": f"d-{i}"}
        assert (await client.post("/webhook", data=b"{}", headers=headers)).status == 401
    # A signed delivery of an event Patchwell does not route counts as "other" too.
    star = delivery("star", {"action": "created"}, WEBHOOK_SECRET)
    assert (await client.post("/webhook", data=star.body, headers=star.headers)).status == 202
    push = delivery("push", example("push"), WEBHOOK_SECRET)
    assert (await client.post("/webhook", data=push.body, headers=push.headers)).status == 202
    text = await (await client.get("/metrics")).text()
    assert event_labels(text) == {"other", "push"}
    assert 'event="other",outcome="bad_signature"} 40.0' in text
    assert 'event="other",outcome="ignored"} 1.0' in text


async def test_sha1_hmac_in_the_sha256_header_is_refused(web) -> None:
    client, app = web
    d = delivery("push", example("push"), WEBHOOK_SECRET)
    sha1 = "sha1=" + hmac.new(WEBHOOK_SECRET.encode(), d.body, hashlib.sha1).hexdigest()
    headers = {**d.headers, "X-Hub-Signature-256": sha1}
    response = await client.post("/webhook", data=d.body, headers=headers)
    assert response.status == 401
    assert await stored_jobs(app) == []


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
async def test_deeply_nested_signed_body_is_400_not_500(web, opener) -> None:
    client, app = web
    body = opener * 200_000
    d = delivery("push", body, WEBHOOK_SECRET)
    response = await client.post("/webhook", data=d.body, headers=d.headers)
    assert response.status == 400
    assert await stored_jobs(app) == []


@pytest.fixture
async def small_budget_web(patchwell_env):
    env = {**patchwell_env, "PATCHWELL_WEBHOOK_INFLIGHT_BYTES": str(1024 * 1024)}
    app = await build_app(env, inline_worker=False)
    async with TestClient(TestServer(app)) as client:
        yield client, app


async def _held_request(client: TestClient, size: int, release: asyncio.Event, sent: asyncio.Event):
    """A delivery whose body arrives in two halves, the second only once ``release`` is set."""
    d = delivery("push", b'{"pad": "' + b"x" * (size - 11) + b'"}', WEBHOOK_SECRET)
    half = len(d.body) // 2

    async def body():
        yield d.body[:half]
        sent.set()
        await release.wait()
        yield d.body[half:]

    headers = {**d.headers, "Content-Length": str(len(d.body))}
    return await client.post("/webhook", data=body(), headers=headers)


async def test_bytes_in_flight_are_capped_with_503_and_retry_after(small_budget_web) -> None:
    client, app = small_budget_web
    release, sent = asyncio.Event(), asyncio.Event()
    held = asyncio.create_task(_held_request(client, 700 * 1024, release, sent))
    await asyncio.wait_for(sent.wait(), 10)
    await asyncio.sleep(0.1)  # the server has the first half and has reserved the body's size
    second = delivery("push", b'{"pad": "' + b"y" * (500 * 1024) + b'"}', WEBHOOK_SECRET)
    refused = await client.post("/webhook", data=second.body, headers=second.headers)
    assert refused.status == 503
    assert int(refused.headers["Retry-After"]) >= 1
    release.set()
    assert (await held).status == 202
    # The held body's bytes are released once it is answered: the same delivery now fits.
    again = await client.post("/webhook", data=second.body, headers=second.headers)
    assert again.status == 202
    assert len(await stored_jobs(app)) == 2
    text = await (await client.get("/metrics")).text()
    assert 'outcome="busy"} 1.0' in text


async def test_chunked_bodies_count_against_the_in_flight_budget(small_budget_web) -> None:
    client, _app = small_budget_web
    release, sent = asyncio.Event(), asyncio.Event()
    held = asyncio.create_task(_held_request(client, 1000 * 1024, release, sent))
    await asyncio.wait_for(sent.wait(), 10)
    await asyncio.sleep(0.1)

    async def chunked():
        for _ in range(8):
            yield b"z" * (64 * 1024)

    headers = delivery("push", b"{}", WEBHOOK_SECRET).headers
    refused = await client.post("/webhook", data=chunked(), headers=headers)
    assert refused.status == 503
    release.set()
    assert (await held).status == 202


def test_in_flight_budget_is_validated(patchwell_env) -> None:
    from bot.config import load_settings
    from bot.errors import ConfigError

    for bad in ("0", "-5", "lots", "1000"):
        with pytest.raises(ConfigError, match="PATCHWELL_WEBHOOK_INFLIGHT_BYTES"):
            load_settings({**patchwell_env, "PATCHWELL_WEBHOOK_INFLIGHT_BYTES": bad}, None)
    settings = load_settings(patchwell_env, None)
    assert settings.webhook_inflight_bytes >= 4 * 25 * 1024 * 1024
