"""Every branch, before merge: a push to a feature branch and its pull request get a
``patchwell`` check run on their head for the lines the branch adds; no PR is opened
against the person's branch, and the pull request gets one comment with the fix, edited in
place as the branch moves. Real server, fake GitHub, signed webhooks."""

from __future__ import annotations

import pytest

from bot.service import PARTS
from fixers.secrets.samples import all_samples
from tests import payloads
from tests.fakegithub.server import FakeGitHub
from tests.test_secrets_on_github import send, settle

OWNER, REPO, INSTALLATION = payloads.OWNER, payloads.REPO, payloads.INSTALLATION_ID


def _runs(fake: FakeGitHub, sha: str) -> list[dict]:
    return [r for r in fake.check_runs(OWNER, REPO) if r["head_sha"] == sha]


def _no_value(fake: FakeGitHub, number: int, secret: str) -> bool:
    texts = [c["body"] for c in fake.comments(OWNER, REPO, number)]
    texts += [repr(r["output"]) + repr(r.get("annotations")) for r in fake.check_runs(OWNER, REPO)]
    return not any(secret in t for t in texts)


@pytest.mark.asyncio
async def test_feature_branch_push_and_pull_request_are_checked_without_prs(
    live_web, fake_github: FakeGitHub
) -> None:
    stripe = next(s for s in all_samples(seed=4) if s.rule == "stripe-secret-key")
    old = next(s for s in all_samples(seed=5) if s.rule == "github-pat-classic")
    # A secret already on main is main's finding, not this branch's.
    fake_github.create_repo(OWNER, REPO, {"legacy.py": old.text + "\n", "app.py": "x = 1\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    client, app = live_web
    queue = app[PARTS].queue

    base = fake_github.create_branch(OWNER, REPO, "feature")
    head = fake_github.push(OWNER, REPO, "feature", {"billing.py": stripe.text + "\n"}, "pay")
    push = payloads.push(ref="refs/heads/feature", before=base, after=head)
    await send(client, "push", push, delivery_id="push-feature")
    await settle(queue)
    (run,) = _runs(fake_github, head)
    assert run["conclusion"] == "failure"
    assert [a["path"] for a in run["annotations"]] == ["billing.py"]  # not legacy.py
    assert "****" in run["annotations"][0]["message"]
    assert fake_github.pulls(OWNER, REPO) == []  # nothing opened against a person's branch

    number = fake_github.open_pull(OWNER, REPO, "feature")
    opened = payloads.pull_request(
        "opened", number=number, head_ref="feature", head_sha=head, base_sha=base
    )
    await send(client, "pull_request", opened, delivery_id="pr-opened")
    await settle(queue)
    assert _runs(fake_github, head)[-1]["conclusion"] == "failure"
    (comment,) = fake_github.comments(OWNER, REPO, number)
    assert 'os.environ["STRIPE_API_KEY"]' in comment["body"]
    assert [p["number"] for p in fake_github.pulls(OWNER, REPO)] == [number]

    # New commits on the branch: the same comment is edited, never a second one.
    head2 = fake_github.push(OWNER, REPO, "feature", {"notes.md": "more\n"}, "notes")
    sync = payloads.pull_request(
        "synchronize", number=number, head_ref="feature", head_sha=head2, base_sha=base
    )
    await send(client, "pull_request", sync, delivery_id="pr-sync-1")
    await settle(queue)
    assert len(fake_github.comments(OWNER, REPO, number)) == 1
    assert _runs(fake_github, head2)[-1]["conclusion"] == "failure"

    # The person applies the fix: the check passes and the comment says so, in place.
    fixed = "import os\n\nSTRIPE_API_KEY = os.environ['STRIPE_API_KEY']\n"
    head3 = fake_github.push(OWNER, REPO, "feature", {"billing.py": fixed}, "fix")
    sync = payloads.pull_request(
        "synchronize", number=number, head_ref="feature", head_sha=head3, base_sha=base
    )
    await send(client, "pull_request", sync, delivery_id="pr-sync-2")
    await settle(queue)
    assert _runs(fake_github, head3)[-1]["conclusion"] == "success"
    (comment,) = fake_github.comments(OWNER, REPO, number)
    assert "no leaked secret" in comment["body"]
    assert _no_value(fake_github, number, stripe.secret)
    assert not [p for p in fake_github.pulls(OWNER, REPO) if p["head"]["ref"].startswith("patch")]


@pytest.mark.asyncio
async def test_reopened_pull_request_is_checked_again_and_keeps_its_one_comment(
    live_web, fake_github: FakeGitHub
) -> None:
    """Issue 15 point 4 names `reopened` with opened and synchronize: a pull request closed
    and reopened gets a fresh check run on its head, and still one comment."""
    token = next(s for s in all_samples(seed=6) if s.rule == "github-pat-classic")
    fake_github.create_repo(OWNER, REPO, {"app.py": "x = 1\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    client, app = live_web
    queue = app[PARTS].queue
    base = fake_github.create_branch(OWNER, REPO, "feature")
    head = fake_github.push(OWNER, REPO, "feature", {"ci.py": token.text + "\n"}, "ci")
    number = fake_github.open_pull(OWNER, REPO, "feature")
    seen = 0
    for action in ("opened", "reopened"):
        event = payloads.pull_request(
            action, number=number, head_ref="feature", head_sha=head, base_sha=base
        )
        await send(client, "pull_request", event, delivery_id=f"pr-{action}")
        await settle(queue)
        runs = _runs(fake_github, head)
        assert len(runs) > seen, f"{action} got no check run of its own"
        seen = len(runs)
        assert runs[-1]["conclusion"] == "failure", action
        assert [a["path"] for a in runs[-1]["annotations"]] == ["ci.py"]
        assert len(fake_github.comments(OWNER, REPO, number)) == 1, action
    assert _no_value(fake_github, number, token.secret)
    assert [p["number"] for p in fake_github.pulls(OWNER, REPO)] == [number]


@pytest.mark.asyncio
async def test_a_pull_request_adding_a_tests_fake_password_gets_no_rotation_comment(
    live_web, fake_github: FakeGitHub
) -> None:
    """A test's made-up password and a docs example are low severity: the check run lists
    them without failing, and no comment asks anyone to rotate them."""
    import random
    import string

    rng = random.Random(8)
    fake = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(14)) + "7Q"
    fake_github.create_repo(OWNER, REPO, {"app.py": "x = 1\n"})
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    client, app = live_web
    queue = app[PARTS].queue
    base = fake_github.create_branch(OWNER, REPO, "feature")
    added = {
        "tests/test_login.py": f'def test_login(client):\n    client.login(password="{fake}")\n',
        "docs/config.rst": f"    app.secret_key = '{fake[::-1]}'\n",
    }
    head = fake_github.push(OWNER, REPO, "feature", added, "tests")
    number = fake_github.open_pull(OWNER, REPO, "feature")
    opened = payloads.pull_request(
        "opened", number=number, head_ref="feature", head_sha=head, base_sha=base
    )
    await send(client, "pull_request", opened, delivery_id="pr-fixture")
    await settle(queue)
    run = _runs(fake_github, head)[-1]
    assert run["conclusion"] == "neutral"
    assert sorted(a["path"] for a in run["annotations"]) == sorted(added)
    assert all("Rotate it now" not in a["message"] for a in run["annotations"])
    assert fake_github.comments(OWNER, REPO, number) == []
    assert _no_value(fake_github, number, fake)
