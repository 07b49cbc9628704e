"""Where TOML string literals sit in the text, so edits can touch only their bytes.

``tomllib`` gives values but no positions; this small lexer records every
single-line string literal's content offsets. Multi-line strings are skipped
(dependency specifiers are never written that way in practice) and escaped
basic strings are recorded without a span, so the fixer refuses to edit them
instead of guessing.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_HEADER = re.compile(r"(?m)^[ \t]*+\[")
_KEY = re.compile(r"""(?m)^[ \t]*+(?:"([^"\n]*)"|'([^'\n]*)'|([A-Za-z0-9_.-]+))[ \t]*+=""")


@dataclass(frozen=True, slots=True)
class Literal:
    value: str
    start: int  # offset of the first content character
    end: int
    line: int
    exact: bool  # content bytes == value (no escapes), so offsets map 1:1


def string_literals(text: str) -> list[Literal]:
    literals: list[Literal] = []
    i, n, line = 0, len(text), 1
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith('"""', i) or text.startswith("'''", i):
            quote = text[i : i + 3]
            j = text.find(quote, i + 3)
            j = n if j < 0 else j + 3
            line += text.count("\n", i, j)
            i = j
        elif ch in "\"'":
            j = i + 1
            escaped = False
            while j < n and text[j] != ch and text[j] != "\n":
                if ch == '"' and text[j] == "\\":
                    escaped = True
                    j += 1
                j += 1
            content = text[i + 1 : min(j, n)]
            literals.append(Literal(content, i + 1, i + 1 + len(content), line, not escaped))
            i = j + 1
        else:
            i += 1
    return literals


class LiteralIndex:
    """Finds the literal that holds a value, in document order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.literals = string_literals(text)
        # Per value, the literals not yet taken, in document order: ``take`` is
        # then O(occurrences of that value), not O(file) -- hostile files can
        # hold tens of thousands of literals.
        self._unused: dict[str, list[Literal]] = {}
        for lit in self.literals:
            self._unused.setdefault(lit.value, []).append(lit)
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        # One pass over the text for table headers and ``key =`` lines, so a table
        # of thousands of entries is located in linear time.
        self._headers = [m.start() for m in _HEADER.finditer(text)]
        self._keys: dict[str, list[int]] = {}
        for m in _KEY.finditer(text):
            key = next(g for g in m.groups() if g is not None)
            self._keys.setdefault(key, []).append(m.end())

    def take(self, value: str, after: int = 0) -> Literal | None:
        """The first unused literal at or after offset ``after`` whose content is ``value``."""
        candidates = self._unused.get(value)
        if not candidates:
            return None
        for i, lit in enumerate(candidates):
            if lit.start >= after:
                return candidates.pop(i)
        return None

    def table_start(self, dotted: str) -> int | None:
        """Offset just after the ``[a.b.c]`` header, tolerating spaces and quoted keys."""
        parts = [re.escape(p) for p in dotted.split(".")]
        sep = r"\s*\.\s*"
        key = sep.join(rf"(?:{p}|\"{p}\"|'{p}')" for p in parts)
        m = re.search(rf"(?m)^[ \t]*\[\s*{key}\s*\][ \t]*(?:#.*)?$", self.text)
        return m.end() if m else None

    def key_position(self, key: str, after: int) -> int | None:
        """Offset just after ``key =`` at the start of a line after ``after``, inside its table."""
        offsets = self._keys.get(key)
        if not offsets:
            return None
        idx = bisect.bisect_left(offsets, after)
        if idx == len(offsets):
            return None
        nxt = bisect.bisect_right(self._headers, after)
        if nxt < len(self._headers) and self._headers[nxt] < offsets[idx]:
            return None  # the next occurrence belongs to a later table
        return offsets[idx]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)
