"""The real web process over HTTP: verify, store, answer."""

from __future__ import annotations

import json
import logging

import pytest

from bot.service import PARTS
from tests.appfixtures import WEBHOOK_SECRET
from tests.payloads import CATALOGUE, payload
from tests.webhooks import (
    delivery,
    example,
    examples,
    load_example,
    shared_examples_missing,
)

pytestmark = pytest.mark.asyncio


async def stored_jobs(app) -> list:
    return await app[PARTS].queue.list_jobs(states=("queued", "running", "done", "dead"))


async def post(client, d):
    return await client.post("/webhook", data=d.body, headers=d.headers)


async def test_signed_delivery_is_stored_as_one_job(web) -> None:
    client, app = web
    d = delivery("push", example("push"), WEBHOOK_SECRET)
    response = await post(client, d)
    assert response.status == 202
    jobs = await stored_jobs(app)
    assert [(j.delivery_id, j.event, j.state) for j in jobs] == [(d.delivery_id, "push", "queued")]
    assert json.loads(jobs[0].payload) == json.loads(d.body)
    assert jobs[0].repository == example("push")["repository"]["full_name"]


async def test_redelivery_is_acknowledged_not_processed_again(web) -> None:
    client, app = web
    d = delivery("issue_comment", example("issue_comment", "created"), WEBHOOK_SECRET)
    assert (await post(client, d)).status == 202
    again = await post(client, d)
    assert again.status == 200
    assert (await again.json())["status"] == "duplicate"
    assert len(await stored_jobs(app)) == 1


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage"])
async def test_missing_or_wrong_signature_is_401_and_nothing_stored(web, signature) -> None:
    client, app = web
    d = delivery("push", example("push"), WEBHOOK_SECRET)
    headers = dict(d.headers)
    headers.pop("X-Hub-Signature-256")
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = await client.post("/webhook", data=d.body, headers=headers)
    assert response.status == 401
    assert await stored_jobs(app) == []


async def test_signature_from_another_secret_is_401(web) -> None:
    client, app = web
    d = delivery("push", example("push"), "not-the-secret")
    assert (await post(client, d)).status == 401
    assert await stored_jobs(app) == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
async def test_malformed_body_is_400(web, body) -> None:
    client, app = web
    d = delivery("push", body, WEBHOOK_SECRET)
    assert (await post(client, d)).status == 400
    assert await stored_jobs(app) == []


@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
async def test_missing_event_or_delivery_header_is_400(web, header) -> None:
    client, app = web
    d = delivery("push", example("push"), WEBHOOK_SECRET)
    headers = dict(d.headers)
    del headers[header]
    assert (await client.post("/webhook", data=d.body, headers=headers)).status == 400
    assert await stored_jobs(app) == []


async def test_oversize_body_is_413_by_content_length(web) -> None:
    client, app = web
    body = b'{"pad": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    d = delivery("push", body, WEBHOOK_SECRET)
    response = await post(client, d)
    assert response.status == 413
    assert await stored_jobs(app) == []


async def test_oversize_chunked_body_is_413(web) -> None:
    client, app = web
    chunk = b"x" * (1024 * 1024)

    async def stream():
        yield b'{"pad": "'
        for _ in range(26):
            yield chunk
        yield b'"}'

    headers = delivery("push", b"{}", WEBHOOK_SECRET).headers
    response = await client.post("/webhook", data=stream(), headers=headers)
    assert response.status == 413
    assert await stored_jobs(app) == []


async def test_ping_is_answered_and_dropped(web) -> None:
    client, app = web
    d = delivery("ping", example("ping"), WEBHOOK_SECRET)
    response = await post(client, d)
    assert response.status == 200
    assert (await response.json())["status"] == "pong"
    assert await stored_jobs(app) == []


async def test_unknown_event_is_answered_and_dropped(web) -> None:
    client, app = web
    d = delivery("star", {"action": "created", "starred_at": None}, WEBHOOK_SECRET)
    response = await post(client, d)
    assert response.status == 202
    assert (await response.json())["status"] == "ignored"
    assert await stored_jobs(app) == []


ROUTED = [
    "installation",
    "installation_repositories",
    "push",
    "check_run",
    "check_suite",
    "workflow_run",
    "issue_comment",
    "pull_request",
]


def _shared_routed_examples() -> list:
    """octokit's real examples of the routed events, or one skipped case saying why not."""
    reason = shared_examples_missing()
    if reason is not None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-shared-examples")]
    return [
        pytest.param(e, id=e["file"].split("/", 1)[1])
        for e in examples()
        if e["x_github_event"] in ROUTED
    ]


@pytest.mark.parametrize("entry", _shared_routed_examples())
async def test_every_real_example_of_every_routed_event_is_stored(web, entry) -> None:
    client, app = web
    payload = load_example(entry)
    d = delivery(entry["x_github_event"], payload, WEBHOOK_SECRET)
    assert (await post(client, d)).status == 202
    (job,) = await stored_jobs(app)
    assert job.event == entry["x_github_event"]
    assert job.action == entry["action"]
    if entry["has_installation"]:
        assert job.installation_id == payload["installation"]["id"]


@pytest.mark.parametrize(
    ("event", "action"),
    [(e, a) for e, a in CATALOGUE if e in ROUTED or e == "workflow_job"],
    ids=lambda v: str(v),
)
async def test_every_routed_delivery_we_build_is_stored(web, event, action) -> None:
    """The same over our own payloads, so a clone with nothing beside it checks it too."""
    client, app = web
    body = payload(event, action)
    assert (await post(client, delivery(event, body, WEBHOOK_SECRET))).status == 202
    (job,) = await stored_jobs(app)
    assert (job.event, job.action) == (event, action)
    assert job.installation_id == body["installation"]["id"]
    assert job.repository == body.get("repository", {}).get("full_name")


async def test_health_ready_and_metrics(web) -> None:
    client, _app = web
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    await post(client, delivery("push", example("push"), WEBHOOK_SECRET))
    await post(client, delivery("push", b"{", WEBHOOK_SECRET))
    text = await (await client.get("/metrics")).text()
    assert 'patchwell_webhook_deliveries_total{event="push",outcome="accepted"} 1.0' in text
    assert 'patchwell_webhook_deliveries_total{event="push",outcome="bad_request"} 1.0' in text
    assert 'patchwell_queue_jobs{state="queued"} 1.0' in text
    assert "patchwell_job_duration_seconds" in text
    assert "patchwell_github_requests_total" in text or "patchwell_github_requests" in text


async def test_readyz_reports_an_unreachable_database(web) -> None:
    client, app = web
    await app[PARTS].db.close()
    response = await client.get("/readyz")
    assert response.status == 503
    assert "database unreachable" in (await response.json())["problems"][0]


async def test_secrets_never_in_logs_or_responses(web, caplog, rsa_private_key_pem) -> None:
    client, _app = web
    caplog.set_level(logging.DEBUG)
    bodies = []
    for d in (
        delivery("push", example("push"), WEBHOOK_SECRET),
        delivery("push", example("push"), "wrong"),
        delivery("push", b"{", WEBHOOK_SECRET),
    ):
        response = await post(client, d)
        bodies.append(await response.text())
    for path in ("/healthz", "/readyz", "/metrics"):
        bodies.append(await (await client.get(path)).text())
    everything = "\n".join(bodies) + caplog.text
    key_body = "".join(rsa_private_key_pem.strip().splitlines()[1:-1])
    assert WEBHOOK_SECRET not in everything
    assert key_body[:40] not in everything
