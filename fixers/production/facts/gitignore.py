"""Enough of gitignore(5) to answer the questions fixers ask ("is ``.env`` ignored?")."""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- gitignore


def _gitignore_regex(pattern: str) -> re.Pattern[str]:
    """A gitignore glob as a regex over a whole ``/``-separated path."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    out: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        elif body[i] == "[" and (end := body.find("]", i + 1)) > i:
            out.append("[" + body[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + "".join(out))


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
        try:
            regex = _gitignore_regex(pattern)
        except re.error:
            continue
        for candidate, candidate_is_dir in candidates:
            if dir_only and not candidate_is_dir:
                continue
            if regex.fullmatch(candidate):
                # A rule that ignores a parent directory ignores the path; a negation
                # only re-includes the path itself (git cannot re-include inside an
                # excluded directory).
                if negate and candidate != path:
                    continue
                ignored = not negate
                break
    return ignored
