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
        self._starts = [lit.start for lit in self.literals]
        self._used: set[int] = set()
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def take(self, value: str, after: int = 0) -> Literal | None:
        """The first unused literal at or after offset ``after`` whose content is ``value``."""
        pos = bisect.bisect_left(self._starts, after)
        for idx in range(pos, len(self.literals)):
            lit = self.literals[idx]
            if idx not in self._used and lit.value == value:
                self._used.add(idx)
                return lit
        return None

    def table_start(self, dotted: str) -> int | None:
        """Offset just after the ``[a.b.c]`` header, tolerating spaces and quoted keys."""
        parts = [re.escape(p) for p in dotted.split(".")]
        sep = r"\s*\.\s*"
        key = sep.join(rf"(?:{p}|\"{p}\"|'{p}')" for p in parts)
        m = re.search(rf"(?m)^[ \t]*\[\s*{key}\s*\][ \t]*(?:#.*)?$", self.text)
        return m.end() if m else None

    def key_position(self, key: str, after: int) -> int | None:
        """Offset of ``key =`` at the start of a line after ``after`` (inside its table)."""
        k = re.escape(key)
        m = re.compile(rf"(?m)^[ \t]*(?:{k}|\"{k}\"|'{k}')[ \t]*=").search(self.text, after)
        if not m:
            return None
        next_table = re.compile(r"(?m)^[ \t]*\[").search(self.text, after)
        if next_table and next_table.start() < m.start():
            return None
        return m.end()

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)
