"""PEP 508 requirement parsing with a fast path for the common simple shapes.

``packaging.requirements.Requirement`` costs ~0.3 ms a line; most lines are
``name``, ``name==1.2.3`` or ``name[extra]>=1`` with no marker. Those are parsed
with one regex and validated with ``packaging.specifiers.Specifier``; every
other line goes to ``packaging`` itself, so the accepted grammar is unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

# Possessive quantifiers (Python 3.11+): adjacent optional whitespace runs must not
# backtrack into each other, or a long run of blanks costs quadratic time.
_SIMPLE = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)[ \t]*+"
    r"(?:\[(?P<extras>[A-Za-z0-9._, \t-]*+)\])?+[ \t]*+"
    r"(?P<spec>(?:===?|~=|>=|<=|!=|<|>)[ \t]*+[A-Za-z0-9.*+!_-]++)?+[ \t]*+$"
)


@dataclass(frozen=True, slots=True)
class Req:
    name: str
    extras: frozenset[str]
    specifier: SpecifierSet
    marker: str | None
    url: str | None


def parse_requirement(text: str) -> Req:
    """Raises ``packaging.requirements.InvalidRequirement`` like packaging does."""
    m = _SIMPLE.match(text)
    if m is not None:
        try:
            spec = SpecifierSet(m.group("spec") or "")
        except InvalidSpecifier:
            spec = None
        if spec is not None:
            extras = frozenset(e.strip() for e in (m.group("extras") or "").split(",") if e.strip())
            return Req(m.group("name"), extras, spec, None, None)
    req = Requirement(text)
    return Req(
        req.name,
        frozenset(req.extras),
        req.specifier,
        str(req.marker) if req.marker else None,
        req.url,
    )


__all__ = ["InvalidRequirement", "Req", "parse_requirement"]
