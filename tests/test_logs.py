"""Structured logs: JSON lines with the delivery context, secrets masked."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import configure_logging


def capture(fmt: str, secrets=()) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    configure_logging(fmt, "INFO", secrets=secrets, stream=stream)
    return logging.getLogger("patchwell.test"), stream


def test_json_line_carries_extra_fields() -> None:
    logger, stream = capture("json")
    logger.info(
        "delivery accepted",
        extra={
            "delivery_id": "abc-1",
            "event": "push",
            "installation": 7,
            "outcome": "accepted",
            "duration_ms": 1.5,
        },
    )
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "delivery accepted"
    assert entry["delivery_id"] == "abc-1"
    assert entry["installation"] == 7
    assert entry["outcome"] == "accepted"
    assert entry["level"] == "info"


def test_known_secrets_and_token_shapes_are_masked_everywhere() -> None:
    secret = "whsec-very-secret-value"
    token = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
    logger, stream = capture("json", secrets=[secret])
    logger.info("message with %s and %s", secret, token, extra={"detail": f"x {token} y"})
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        logger.exception("boom")
    text = stream.getvalue()
    assert secret not in text
    assert token not in text
    assert "ghs_****" in text


def test_text_format_is_one_line_with_context() -> None:
    logger, stream = capture("text")
    logger.info("job done", extra={"job_id": 3, "outcome": "done"})
    line = stream.getvalue().strip()
    assert "job done" in line and "job_id=3" in line and "outcome=done" in line
