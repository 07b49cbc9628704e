"""Our own webhook payloads have GitHub's shape: each is valid against octokit's schema.

The schemas live in ``../shared/github/schemas`` (CI has them); without them these tests skip
with the reason, and the rest of the suite still runs on our payloads alone.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.payloads import CATALOGUE, payload
from tests.webhooks import shared_dir


def _schema_file(event: str) -> Path:
    return shared_dir() / "github" / "schemas" / f"{event}.schema.json"


@cache
def _validator(event: str, action: str | None) -> Draft7Validator:
    schema: dict[str, Any] = json.loads(_schema_file(event).read_text())
    # Point the root at the action's own definition so an error names the field that is wrong
    # instead of "not valid under any of the given schemas" from the oneOf over every action.
    root = f"{event}${action}" if action else schema["$ref"].rsplit("/", 1)[-1]
    if root not in schema["definitions"]:
        root = schema["$ref"].rsplit("/", 1)[-1]
    return Draft7Validator({**schema, "$ref": f"#/definitions/{root}"})


def _cases() -> list:
    cases = []
    for event, action in CATALOGUE:
        marks = []
        if not _schema_file(event).is_file():
            marks.append(
                pytest.mark.skip(reason=f"no octokit schema for {event} at {_schema_file(event)}")
            )
        cases.append(pytest.param(event, action, marks=marks, id=f"{event}.{action}"))
    return cases


@pytest.mark.parametrize(("event", "action"), _cases())
def test_payload_is_valid_against_githubs_schema(event: str, action: str | None) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in _validator(event, action).iter_errors(payload(event, action))
    ]
    assert errors == []


def test_builders_hand_out_fresh_copies() -> None:
    first = payload("push")
    first["repository"]["full_name"] = "changed/by-a-test"
    assert payload("push")["repository"]["full_name"] != "changed/by-a-test"


@pytest.mark.skipif(not _schema_file("push").is_file(), reason="no octokit push schema")
def test_the_schema_check_catches_a_missing_field() -> None:
    body = payload("push")
    del body["repository"]["default_branch"]
    assert list(_validator("push", None).iter_errors(body))
