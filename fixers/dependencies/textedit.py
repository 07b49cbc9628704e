"""Text edits at offsets, and ``--hash`` options rewritten in their own layout."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_HASH_OPT = re.compile(r"--hash(?:=|[ \t]+)\S+")


@dataclass(frozen=True, slots=True)
class Replacement:
    start: int
    end: int
    text: str


def apply(text: str, replacements: Sequence[Replacement]) -> str:
    """Apply non-overlapping replacements (offsets in the original text)."""
    out, pos = [], 0
    for r in sorted(replacements, key=lambda r: r.start):
        if r.start < pos:
            raise ValueError("overlapping edits")
        out += [text[pos : r.start], r.text]
        pos = r.end
    out.append(text[pos:])
    return "".join(out)


def _line_start(text: str, line: int) -> int:
    pos = 0
    for _ in range(line - 1):
        nxt = text.find("\n", pos)
        if nxt < 0:
            return len(text)
        pos = nxt + 1
    return pos


def hash_replacement(text: str, line: int, hashes: Sequence[str]) -> Replacement | None:
    """New ``--hash`` options for the requirement starting at ``line``, in its own layout."""
    start = _line_start(text, line)
    end = start
    while True:
        nl = text.find("\n", end)
        stop = len(text) if nl < 0 else nl
        if not text[end:stop].rstrip("\r").endswith("\\") or nl < 0:
            end = stop
            break
        end = nl + 1
    matches = list(_HASH_OPT.finditer(text, start, end))
    if not matches or not hashes:
        return None
    sep = (
        text[matches[0].end() : matches[1].start()]
        if len(matches) > 1
        else _single_hash_separator(text, matches[0].start())
    )
    new = sep.join(f"--hash=sha256:{h}" for h in hashes)
    return Replacement(matches[0].start(), matches[-1].end(), new)


def _single_hash_separator(text: str, at: int) -> str:
    """With one old hash, copy its layout: own continuation line, or same line."""
    line_start = text.rfind("\n", 0, at) + 1
    prefix = text[line_start:at]
    if line_start == 0 or prefix.strip():
        return " "
    newline = "\r\n" if text[max(0, line_start - 2) : line_start] == "\r\n" else "\n"
    return " \\" + newline + prefix
