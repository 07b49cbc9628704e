"""Token shapes masked wherever Patchwell quotes text it did not write.

Our own logs, the errors a job stores and the job-log lines a heal diagnosis quotes may hold
a GitHub token or a JWT that no secret rule was told about. These shapes are masked on top
of every known value, and they are matched in linear time: the text can come from a
stranger's repository or CI log.

A JWT is three dot-separated base64url parts starting with ``eyJ`` (the encoding of ``{"``).
The obvious regex, ``\\beyJ[A-Za-z0-9_-]{8,}\\.…``, restarts at every ``eyJ`` of a run like
``-eyJ-eyJ-eyJ…`` and rescans the rest of the run from each: quadratic. Here each run of
base64url characters is read once, and only its first ``eyJ`` can start a token: every later
one in the same run would need the same two parts after the run, so it adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

__all__ = ["jwt_spans", "mask_token_shapes", "replace_jwts"]

#: GitHub installation, user, OAuth, refresh and server tokens, and fine-grained PATs. The
#: classes stop at characters that can separate two of them, so no run is rescanned.
GITHUB_TOKEN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9_]{16,}+|github_pat_[A-Za-z0-9_]{20,}+)")

_RUN = re.compile(r"[A-Za-z0-9_-]++")
_JWT_REST = re.compile(r"\.[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+")
_WORD = re.compile(r"\w")
#: Characters a JWT's first part needs after its ``eyJ``.
_MIN_PART = 8


def jwt_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every JWT-shaped token in ``text``, left to right.

    The spans are those of ``\\beyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}``
    under ``finditer``."""
    taken = 0
    for run in _RUN.finditer(text):
        if run.start() < taken:
            continue  # the second or third part of the token just found
        start = _first_head(text, run.start(), run.end())
        if start is None:
            continue
        rest = _JWT_REST.match(text, run.end())
        if rest is not None:
            taken = rest.end()
            yield start, taken


def _first_head(text: str, run_start: int, run_end: int) -> int | None:
    """Where the first ``eyJ`` at a word boundary in the run starts, if enough of the run
    follows it to be a JWT's first part."""
    at = text.find("eyJ", run_start, run_end)
    while at != -1:
        before = text[at - 1] if at > 0 else ""
        if not before or not _WORD.match(before):
            return at if run_end - (at + 3) >= _MIN_PART else None
        at = text.find("eyJ", at + 1, run_end)
    return None


def replace_jwts(text: str, replacement: Callable[[str], str]) -> str:
    """``text`` with every JWT-shaped token replaced by ``replacement(token)``."""
    pieces: list[str] = []
    done = 0
    for start, end in jwt_spans(text):
        pieces += (text[done:start], replacement(text[start:end]))
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def mask_token_shapes(text: str) -> str:
    """GitHub tokens and JWTs in ``text`` cut to their first four characters and ``****``."""

    def keep_prefix(token: str) -> str:
        return token[:4] + "****"

    # JWTs first: a part of one may hold `-ghp_…`, and masking that first would leave the
    # rest of the token unrecognised and shown.
    text = replace_jwts(text, keep_prefix)
    return GITHUB_TOKEN.sub(lambda m: keep_prefix(m.group(0)), text)
