"""Enough of gitignore(5) to answer the questions fixers ask ("is ``.env`` ignored?")."""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- gitignore

# A gitignore glob is matched by simulating all its positions at once (a Thompson NFA
# over its tokens), never by a backtracking regex: translated to `[^/]*a[^/]*a…b`,
# `*a*a*a*a*a*a*a*a*a*a*b` against a long `.env.aaaa…` name takes exponential time.
# This way a match costs at most (pattern tokens) x (path characters) steps.

_LITERAL, _ONE, _CLASS, _STAR, _ANYTHING, _DIRS = range(6)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: int
    char: str = ""
    ranges: tuple[tuple[str, str], ...] = ()
    negate: bool = False

    def accepts(self, c: str) -> bool:
        if self.kind == _LITERAL:
            return c == self.char
        if self.kind == _CLASS:
            inside = any(lo <= c <= hi for lo, hi in self.ranges)
            return c != "/" and inside != self.negate
        return c != "/"  # _ONE


def _class(body: str, i: int) -> tuple[_Token, int] | None:
    """The ``[...]`` class starting at ``body[i]`` and the index after it, or None."""
    j = i + 1
    negate = j < len(body) and body[j] in "!^"
    j += negate
    ranges: list[tuple[str, str]] = []
    first = True
    while j < len(body) and (body[j] != "]" or first):
        first = False
        c = body[j]
        if c == "\\" and j + 1 < len(body):
            j += 1
            c = body[j]
        if j + 2 < len(body) and body[j + 1] == "-" and body[j + 2] != "]":
            ranges.append((c, body[j + 2]))
            j += 3
        else:
            ranges.append((c, c))
            j += 1
    if j >= len(body):
        return None  # no closing bracket: a literal `[`
    return _Token(_CLASS, ranges=tuple(ranges), negate=negate), j + 1


def _tokens(pattern: str) -> tuple[_Token, ...]:
    """A gitignore glob as tokens over a whole ``/``-separated path; an unanchored one
    may start after any directory."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    out: list[_Token] = [] if anchored else [_Token(_DIRS)]
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append(_Token(_DIRS))
            i += 3
        elif body.startswith("**", i):
            out.append(_Token(_ANYTHING))
            i += 2
        elif body[i] == "*":
            if not (out and out[-1].kind == _STAR):  # `**`-free runs of `*` are one `*`
                out.append(_Token(_STAR))
            i += 1
        elif body[i] == "?":
            out.append(_Token(_ONE))
            i += 1
        elif body[i] == "[" and (found := _class(body, i)) is not None:
            out.append(found[0])
            i = found[1]
        else:
            if body[i] == "\\" and i + 1 < len(body):
                i += 1
            out.append(_Token(_LITERAL, char=body[i]))
            i += 1
    return tuple(out)


def _closure(tokens: tuple[_Token, ...], states: set[int]) -> set[int]:
    """``states`` plus every state reachable without reading a character: ``*``,
    ``**`` and ``**/`` may all match nothing. A negative state ``-(i + 1)`` is "inside
    the directories of ``**/`` at token i" (it may not skip ahead)."""
    todo = [s for s in states if s >= 0]
    while todo:
        s = todo.pop()
        if s < len(tokens) and tokens[s].kind in (_STAR, _ANYTHING, _DIRS) and s + 1 not in states:
            states.add(s + 1)
            todo.append(s + 1)
    return states


def _glob_match(tokens: tuple[_Token, ...], path: str) -> bool:
    states = _closure(tokens, {0})
    for c in path:
        following: set[int] = set()
        for s in states:
            i = s if s >= 0 else -s - 1
            if i >= len(tokens):
                continue
            token = tokens[i]
            if token.kind == _DIRS:
                following.add(-i - 1)  # still inside the directories
                if c == "/":
                    following.add(i + 1)
            elif s < 0:
                continue
            elif token.kind == _STAR:
                if c != "/":
                    following.add(i)
            elif token.kind == _ANYTHING:
                following.add(i)
            elif token.accepts(c):
                following.add(i + 1)
        if not following:
            return False
        states = _closure(tokens, following)
    return len(tokens) in states


def gitignored(gitignore: str, path: str, *, is_dir: bool = False) -> bool:
    """Whether a root ``.gitignore`` text ignores ``path`` (last matching rule wins).

    Enough of gitignore(5) for the questions fixers ask ("is ``.env`` ignored?"):
    negation, anchoring, ``*``/``**``/``?``/classes, directory-only rules and
    rules that ignore a parent directory. Nested ignore files are not consulted.
    """
    parts = path.split("/")
    candidates = [("/".join(parts[:i]), True) for i in range(1, len(parts))]
    candidates.append((path, is_dir))
    ignored = False
    for raw in gitignore.splitlines()[:5000]:
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        line = line.rstrip(" ") if not line.endswith("\\ ") else line
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        if pattern.startswith("\\"):
            pattern = pattern[1:]
        dir_only = pattern.endswith("/")
        tokens = _tokens(pattern)
        for candidate, candidate_is_dir in candidates:
            if dir_only and not candidate_is_dir:
                continue
            if _glob_match(tokens, candidate):
                # A rule that ignores a parent directory ignores the path; a negation
                # only re-includes the path itself (git cannot re-include inside an
                # excluded directory).
                if negate and candidate != path:
                    continue
                ignored = not negate
                break
    return ignored
