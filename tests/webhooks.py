"""Signed webhook deliveries: the exact bytes to send and the headers GitHub sends with them.

Bodies come from :mod:`tests.payloads` (our own GitHub-shaped payloads), so the suite needs
nothing beside the clone. When octokit's published examples are present in ``../shared`` (CI),
:func:`examples` lists them too, so a test can also prove every real example is accepted; on a
machine without them it returns nothing and :func:`shared_examples_missing` says why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests import payloads


def shared_dir() -> Path:
    configured = os.environ.get("PATCHWELL_SHARED_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared"


def _index_path() -> Path | None:
    for candidate in ("index.json", "webhooks/index.json"):
        path = shared_dir() / "github" / candidate
        if path.is_file():
            return path
    return None


def shared_examples_missing() -> str | None:
    """None when octokit's examples are beside the clone, else the reason they are not used."""
    if _index_path() is None:
        return f"octokit webhook examples not found under {shared_dir()} (PATCHWELL_SHARED_DIR)"
    return None


@cache
def _index() -> tuple[dict[str, Any], ...]:
    path = _index_path()
    return () if path is None else tuple(json.loads(path.read_text()))


def examples(event: str | None = None) -> list[dict[str, Any]]:
    """octokit index entries (``file``, ``x_github_event``, ``action``, ...); [] when absent."""
    return [e for e in _index() if event is None or e["x_github_event"] == event]


def load_example(entry_or_file: dict[str, Any] | str) -> dict[str, Any]:
    file = entry_or_file if isinstance(entry_or_file, str) else entry_or_file["file"]
    return json.loads((shared_dir() / "github" / file).read_text())


def example(event: str, action: str | None = None) -> dict[str, Any]:
    """A fresh body of our own for ``event``/``action`` (see :mod:`tests.payloads`)."""
    return payloads.payload(event, action)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    event: str
    delivery_id: str
    body: bytes
    headers: dict[str, str]


def delivery(
    event: str, payload: dict[str, Any] | bytes, secret: str, *, delivery_id: str | None = None
) -> Delivery:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    delivery_id = delivery_id or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/patchwell-tests",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": "1",
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-Hub-Signature-256": sign(body, secret),
    }
    return Delivery(event, delivery_id, body, headers)
