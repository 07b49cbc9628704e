"""TOML and JSON from a repository, parsed only when nested within a depth budget (issue 9).

``tomllib``, ``tomlkit`` and ``json`` all recurse once per nested array or table: a
``pyproject.toml`` holding ``a = [[[[…]]]]`` 50,000 deep raised RecursionError in five
fixers at once. Counting the brackets first (outside strings and comments, one linear
regex pass) refuses such a document before any parser sees it, with an error of the
parser's own type, so every reader that already handles a broken file handles this one
too -- and says why, naming the budget.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import tomlkit

__all__ = [
    "MAX_NESTING",
    "JsonTooDeep",
    "TomlTooDeep",
    "json_loads",
    "nesting_depth",
    "toml_loads",
    "tomlkit_parse",
]

#: Arrays/tables/objects nested deeper than this are not parsed. Real manifests and
#: lock files nest under 10; the parsers fail somewhere past 300.
MAX_NESTING = 100

# Brackets, and the strings and comments whose brackets do not count. Possessive and
# delimited: one pass, no backtracking (tests/test_hostile_regex.py checks them).
_TOML_TOKENS = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*+"""'
    r"|'''(?:[^']|'(?!''))*+'''"
    r'|"(?:[^"\\\n]|\\.)*+"'
    r"|'[^'\n]*+'"
    r"|#[^\n]*+"
    r"|[\[\]{}]",
    re.S,
)
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]', re.S)


class TomlTooDeep(tomllib.TOMLDecodeError):
    """A TOML document nested past :data:`MAX_NESTING`."""


class JsonTooDeep(json.JSONDecodeError):
    """A JSON document nested past :data:`MAX_NESTING`."""


def _message(limit: int) -> str:
    return f"nested more than {limit} levels deep (the nesting budget), so it was not parsed"


def nesting_depth(text: str, tokens: re.Pattern[str], stop: int) -> tuple[int, int]:
    """(deepest nesting seen, offset where it passed ``stop``, or -1)."""
    depth = deepest = 0
    for m in tokens.finditer(text):
        char = m.group()
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth > stop:
                    return deepest, m.start()
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest, -1


def _text(data: str | bytes) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def toml_loads(text: str, limit: int = MAX_NESTING) -> dict[str, Any]:
    """``tomllib.loads`` within the nesting budget (:class:`TomlTooDeep` past it)."""
    _depth, at = nesting_depth(text, _TOML_TOKENS, limit)
    if at >= 0:
        raise TomlTooDeep(_message(limit))
    return tomllib.loads(text)


def tomlkit_parse(text: str, limit: int = MAX_NESTING) -> tomlkit.TOMLDocument:
    """``tomlkit.parse`` within the nesting budget (:class:`TomlTooDeep` past it)."""
    _depth, at = nesting_depth(text, _TOML_TOKENS, limit)
    if at >= 0:
        raise TomlTooDeep(_message(limit))
    return tomlkit.parse(text)


def json_loads(data: str | bytes, limit: int = MAX_NESTING) -> Any:
    """``json.loads`` within the nesting budget (:class:`JsonTooDeep` past it)."""
    text = _text(data)
    _depth, at = nesting_depth(text, _JSON_TOKENS, limit)
    if at >= 0:
        raise JsonTooDeep(_message(limit), text, at)
    return json.loads(data)
