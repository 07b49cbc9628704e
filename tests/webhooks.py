"""Signed webhook deliveries built from the real payload examples in ``../shared``.

The examples are octokit's published payloads (see shared/github/README.md).
A test picks one, optionally adjusts it, and gets the exact bytes to send and
the headers GitHub would send with them -- the signature is computed over those
very bytes.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest


def shared_dir() -> Path:
    configured = os.environ.get("PATCHWELL_SHARED_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared"


@cache
def _index() -> tuple[dict[str, Any], ...]:
    index = shared_dir() / "github" / "index.json"
    if not index.is_file():
        index = shared_dir() / "github" / "webhooks" / "index.json"
    if not index.is_file():
        pytest.skip(f"webhook examples not found under {shared_dir()} (set PATCHWELL_SHARED_DIR)")
    return tuple(json.loads(index.read_text()))


def examples(event: str | None = None) -> list[dict[str, Any]]:
    """Index entries (``file``, ``x_github_event``, ``action``, ...) for one event or all."""
    return [e for e in _index() if event is None or e["x_github_event"] == event]


def load_example(entry_or_file: dict[str, Any] | str) -> dict[str, Any]:
    file = entry_or_file if isinstance(entry_or_file, str) else entry_or_file["file"]
    return json.loads((shared_dir() / "github" / file).read_text())


def example(event: str, action: str | None = None, *, with_installation: bool = True) -> dict:
    """A deep copy of the first example of ``event``/``action`` (with an installation if asked)."""
    for entry in examples(event):
        if action is not None and entry["action"] != action:
            continue
        if with_installation and not entry["has_installation"]:
            continue
        return copy.deepcopy(load_example(entry))
    for entry in examples(event):
        if action is None or entry["action"] == action:
            return copy.deepcopy(load_example(entry))
    raise LookupError(f"no example for {event}.{action}")


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
