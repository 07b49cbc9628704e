"""``poetry.lock`` in the same PR, written by Poetry itself (``Services.resolver``'s
``tool_lock``, the optional ``poetry`` extra; see ``toolrunner``).

One update moves only the named packages (``poetry update --lock NAME...``) and is
accepted only when

* every named package is locked at (at least) its planned release: Poetry picks the
  newest release the manifest allows, which for a raised range can be newer;
* ``poetry check --lock`` passes on the PR's pyproject and lock;
* the lock keeps its ``lock-version`` (Poetry 2 rewrites a 2.0 lock from top to
  bottom, which is not a reviewable PR) and at most :data:`MAX_REWRITTEN` entries of
  packages whose version did not change were rewritten (a moved dependency can change
  another entry's markers; those are named in the PR). Otherwise the PR gives the
  command instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from fixers.dependencies.locks import parse_lock
from fixers.dependencies.model import normalize
from fixers.dependencies.resolution import ResolveResult, ToolLockRequest

_BLOCK = re.compile(r"(?m)^\[\[package\]\]\n")
_NAME = re.compile(r'(?m)^name = "([^"]+)"')
_LOCK_VERSION = re.compile(r'(?m)^lock-version = "([^"]+)"')
MAX_REWRITTEN = 3


@dataclass(frozen=True, slots=True)
class PoetryUpdate:
    lock: bytes | None  # the new poetry.lock, or None (then ``why`` says what to run)
    why: str = ""
    versions: Mapping[str, str] | None = None  # moved name -> locked version
    seconds: float = 0.0
    rewritten: tuple[str, ...] = ()  # unmoved packages whose entry changed anyway


def blocks(text: str) -> dict[str, str]:
    """``[[package]]`` entries by normalised name (a name locked twice, under
    different markers, keeps all its entries together)."""
    out: dict[str, str] = {}
    for chunk in _BLOCK.split(text)[1:]:
        body = chunk.split("\n[metadata]", 1)[0]
        m = _NAME.search(body)
        if m:
            key = normalize(m.group(1))
            out[key] = out.get(key, "") + body
    return out


def rewritten(before: str, after: str) -> list[str]:
    """Packages locked at the same version in both whose entries differ anyway."""
    old, new = parse_lock("poetry.lock", before).packages, parse_lock("poetry.lock", after).packages
    was, now = blocks(before), blocks(after)
    return sorted(
        n
        for n in was.keys() & now.keys()
        if n in old and n in new and old[n].version == new[n].version and was[n] != now[n]
    )


def _at_least(locked: str | None, planned: str) -> bool:
    try:
        return locked is not None and Version(locked) >= Version(planned)
    except InvalidVersion:
        return locked == planned


def _short(produced: bytes, changes: Mapping[str, str]) -> list[str]:
    """The planned packages the new lock does not hold at (at least) their release."""
    locked = parse_lock("poetry.lock", produced.decode("utf-8", "replace")).packages
    return sorted(
        n for n, v in changes.items() if not _at_least(getattr(locked.get(n), "version", None), v)
    )


def _last(result: ResolveResult) -> str:
    if result.refused:
        return result.refused
    lines = [ln.strip() for ln in result.message.splitlines() if ln.strip()]
    return (" ".join(lines[-3:]) or "no output")[:400]


def update_poetry_lock(
    tool: object, pyproject: bytes, lock: bytes, changes: Mapping[str, str]
) -> PoetryUpdate:
    """``lock`` with only ``changes`` moved by Poetry, checked (see module doc)."""
    run = tool.tool_lock  # type: ignore[attr-defined]
    names = tuple(sorted(changes))
    files = (("pyproject.toml", pyproject), ("poetry.lock", lock))
    seconds = 0.0
    produced: bytes | None = None
    short: list[str] = []
    for refresh in (False, True):
        # Poetry's cached index pages (kept for their max-age) may predate the release
        # being proposed: a miss is retried once without the cache.
        request = ToolLockRequest("poetry", files, update=names, refresh=refresh)
        result: ResolveResult = run(request)
        seconds += result.seconds
        produced = result.outputs.get("poetry.lock") if result.ok else None
        if produced is None and (refresh or result.refused or result.unavailable):
            why = f"Poetry could not update it ({_last(result)})"
            return PoetryUpdate(None, why, seconds=seconds)
        short = _short(produced, changes) if produced is not None else list(changes)
        if not short:
            break
    if short or produced is None:
        return PoetryUpdate(
            None, f"Poetry did not lock {', '.join(short)} as planned", seconds=seconds
        )
    before, after = lock.decode("utf-8", "replace"), produced.decode("utf-8", "replace")
    locked = parse_lock("poetry.lock", after).packages
    touched = rewritten(before, after)
    old_v, new_v = _LOCK_VERSION.search(before), _LOCK_VERSION.search(after)
    formats = (old_v.group(1) if old_v else None, new_v.group(1) if new_v else None)
    if formats[0] != formats[1]:
        return PoetryUpdate(
            None,
            f"the lock has lock-version {formats[0]} and Patchwell's Poetry writes "
            f"{formats[1]}: it would rewrite every entry",
            seconds=seconds,
        )
    if len(touched) > MAX_REWRITTEN:
        return PoetryUpdate(
            None,
            f"Patchwell's Poetry would rewrite {len(touched)} unchanged entries, e.g. "
            f"{', '.join(touched[:3])}",
            seconds=seconds,
        )
    files = (("pyproject.toml", pyproject), ("poetry.lock", produced))
    check: ResolveResult = run(ToolLockRequest("poetry", files, check=True))
    seconds += check.seconds
    if not check.ok:
        return PoetryUpdate(None, f"`poetry check --lock` failed ({_last(check)})", seconds=seconds)
    moved = {n: locked[n].version for n in changes if n in locked}
    return PoetryUpdate(produced, versions=moved, seconds=seconds, rewritten=tuple(touched))
