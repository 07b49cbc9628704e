"""Inline holds: what people write next to a pin to say "not past this" or "leave it".

A small, documented set (other comments are ordinary comments):

| Comment | Meaning |
|---|---|
| ``# pyup: ignore``, ``# patchwell: ignore`` | never propose an update for this package |
| ``# pin``, ``# pinned``, ``# noqa``, ``# do not upgrade`` / ``# don't upgrade`` | the same |
| ``# pyup: < 6.1``, ``# pyup: >=2,<3``, ``# patchwell: < 6.1`` | only releases in the range |

PyUp's syntax is the one most found in the wild (``pyup: <spec>`` and ``pyup: ignore``);
``patchwell:`` accepts the same forms. A security fix outside a cap is not proposed:
the finding says which release fixes it and that the comment holds it back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from fixers.dependencies.model import Dependency

_TOOL = re.compile(r"^#\s*(?:pyup|patchwell)\s*:\s*(?P<rest>.*)$", re.IGNORECASE)
_LEAVE = re.compile(
    r"^#\s*(?:pin|pinned|noqa|do\s+not\s+upgrade|don'?t\s+upgrade)\b", re.IGNORECASE
)
MAX_SPEC = 100


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold read from one comment: ``ignore`` everything, or a ``cap`` range."""

    kind: Literal["ignore", "cap"]
    where: str  # ``file:line``
    comment: str
    spec: str | None = None

    def allows(self, version: Version) -> bool:
        if self.kind == "ignore":
            return False
        assert self.spec is not None
        return SpecifierSet(self.spec).contains(version, prereleases=True)

    def describe(self) -> str:
        shown = self.comment[:60].replace("`", "'")
        return f"`{shown}` at {self.where}"


def hold_from_comment(comment: str | None, where: str) -> Hold | None:
    """The hold a line comment expresses, or ``None`` for an ordinary comment."""
    if not comment:
        return None
    text = comment.strip()
    tool = _TOOL.match(text)
    if tool:
        rest = tool.group("rest").strip()
        if rest.lower().startswith("ignore"):
            return Hold("ignore", where, text)
        spec = rest.split("#", 1)[0].replace(" ", "")[:MAX_SPEC]
        try:
            SpecifierSet(spec)
        except InvalidSpecifier:
            return None  # ``# pyup: update minor`` and other forms we do not act on
        return Hold("cap", where, text, spec) if spec else None
    if _LEAVE.match(text):
        return Hold("ignore", where, text)
    return None


def holds_for(deps: Iterable[Dependency]) -> list[Hold]:
    """Every hold written next to any declaration of one package."""
    out = []
    for d in deps:
        hold = hold_from_comment(d.comment, f"{d.file}:{d.line}")
        if hold is not None:
            out.append(hold)
    return out


def allowed(holds: Iterable[Hold], version: Version) -> bool:
    return all(h.allows(version) for h in holds)


def line_comment(lines: list[str], line: int) -> str | None:
    """The ``#`` comment ending physical line ``line`` (1-based) of a TOML/INI file
    (``lines``: the file split once by the caller).

    A ``#`` inside a quoted string is skipped; bounded like every parse of repository text.
    """
    if not 0 < line <= len(lines):
        return None
    body = lines[line - 1][:2000]
    quote: str | None = None
    for i, ch in enumerate(body):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or body[i - 1].isspace() or body[i - 1] in ",]"):
            return body[i:].strip()[:200] or None
    return None
