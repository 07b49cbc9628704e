"""What maintainers told Patchwell to stop proposing, kept in the database (migration 0004).

An ignore comes from a command (``@patchwell ignore this major version``) or from closing a
Patchwell PR without merging it. It survives restarts, shows on the dashboard and in
``@patchwell show ignore conditions``, and ``@patchwell unignore NAME`` removes it.

Three kinds:

* ``patch`` -- one patch branch is never proposed again (the PR engine skips branches whose
  record is ``ignored``; the row is what makes it visible and undoable);
* ``dependency`` -- no update of a package at all (security updates included: that is what
  "ignore this dependency" says);
* ``versions`` -- no version update of a package into a PEP 440 range (``==5.*`` for "this
  major version", ``<=5.0.1`` for a closed PR: newer releases are proposed again). Like
  Dependabot, a security update to the smallest fixed release still comes.

Dependency ignores reach the fixer as extra entries of its ``ignore`` option, so the fixer's
own, tested rule matching decides; this module never re-implements it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from packaging.version import InvalidVersion, Version

from fixers.repo_config import FixerSettings, RepoConfig

DEPENDENCIES = "dependencies"
#: Rules kept per repository (a bound on what a dashboard and a fixer option carry).
MAX_RULES = 500


@dataclass(frozen=True)
class IgnoreRule:
    repository: str
    kind: str  # patch | dependency | versions
    name: str
    versions: str = ""
    reason: str = ""
    created_at: float = 0.0

    def describe(self) -> str:
        if self.kind == "patch":
            return f"the change on branch `{self.name}`"
        if self.kind == "dependency":
            return f"every update of `{self.name}`"
        return f"updates of `{self.name}` to versions `{self.versions}`"


@dataclass(frozen=True)
class Subject:
    """One package a dependency patch moves: ``package`` from ``old`` to ``new``."""

    package: str
    old: str
    new: str


def major_range(version: str) -> str | None:
    parsed = _version(version)
    return f"=={parsed.major}.*" if parsed else None


def minor_range(version: str) -> str | None:
    parsed = _version(version)
    return f"=={parsed.major}.{parsed.minor}.*" if parsed else None


def up_to(version: str) -> str | None:
    return f"<={version}" if _version(version) else None


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except (InvalidVersion, TypeError):
        return None


class IgnoreStore:
    def __init__(self, db, *, now: Callable[[], float] = time.time) -> None:
        self.db = db
        self.now = now

    # ---------------------------------------------------------------- rules

    async def add(self, rule: IgnoreRule) -> bool:
        """Store ``rule``; False when the same rule was there already (or the bound is hit)."""
        row = await self.db.fetchone(
            "SELECT count(*) FROM ignore_rules WHERE repository = ?", (rule.repository,)
        )
        if row and int(row[0]) >= MAX_RULES:
            return False
        added = await self.db.execute(
            "INSERT INTO ignore_rules (repository, kind, name, versions, reason, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repository, kind, name, versions) DO NOTHING",
            (rule.repository, rule.kind, rule.name, rule.versions, rule.reason[:300], self.now()),
        )
        return added > 0

    async def rules(self, repository: str) -> list[IgnoreRule]:
        rows = await self.db.fetchall(
            "SELECT repository, kind, name, versions, reason, created_at FROM ignore_rules"
            " WHERE repository = ? ORDER BY kind, name, versions",
            (repository,),
        )
        return [IgnoreRule(*row) for row in rows]

    async def remove(self, repository: str, name: str) -> list[IgnoreRule]:
        """Remove every rule for ``name`` (a package, case-insensitively, or a branch)."""
        gone = [
            r
            for r in await self.rules(repository)
            if (r.name == name if r.kind == "patch" else r.name.lower() == name.lower())
        ]
        async with self.db.transaction() as tx:
            for r in gone:
                await tx.execute(
                    "DELETE FROM ignore_rules WHERE repository = ? AND kind = ? AND name = ?"
                    " AND versions = ?",
                    (repository, r.kind, r.name, r.versions),
                )
            for r in gone:
                if r.kind == "patch":
                    # The branch may be proposed again: the next scan opens it if still needed.
                    await tx.execute(
                        "UPDATE patch_branches SET state = 'closed' WHERE repository = ?"
                        " AND branch = ? AND state = 'ignored'",
                        (repository, r.name),
                    )
        return gone

    # ---------------------------------------------------------------- patch subjects

    async def save_subjects(self, repository: str, subjects: Mapping[str, Sequence[Subject]]):
        async with self.db.transaction() as tx:
            for branch, items in subjects.items():
                await tx.execute(
                    "INSERT INTO patch_subjects (repository, branch, subjects) VALUES (?, ?, ?)"
                    " ON CONFLICT (repository, branch) DO UPDATE SET subjects = excluded.subjects",
                    (repository, branch, json.dumps([[s.package, s.old, s.new] for s in items])),
                )

    async def subjects(self, repository: str, branch: str) -> list[Subject]:
        row = await self.db.fetchone(
            "SELECT subjects FROM patch_subjects WHERE repository = ? AND branch = ?",
            (repository, branch),
        )
        return [Subject(*item) for item in json.loads(row[0])] if row else []

    # ---------------------------------------------------------------- refusals

    async def refuse_once(self, repository: str, number: int, login: str) -> bool:
        """True the first time ``login`` is refused on issue/PR ``number``, then False."""
        added = await self.db.execute(
            "INSERT INTO command_refusals (repository, number, login, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (repository, number, login) DO NOTHING",
            (repository, number, login.lower(), self.now()),
        )
        return added > 0


def with_ignores(config: RepoConfig, rules: Iterable[IgnoreRule]) -> RepoConfig:
    """``config`` with the stored dependency ignores added to the dependencies fixer's own."""
    extra: list[dict[str, Any]] = []
    for rule in rules:
        if rule.kind == "dependency":
            extra.append({"name": rule.name})
        elif rule.kind == "versions":
            extra.append({"name": rule.name, "versions": [rule.versions]})
    if not extra:
        return config
    settings = config.settings_for(DEPENDENCIES)
    options = dict(settings.options)
    own = options.get("ignore")
    options["ignore"] = [*(own if isinstance(own, list | tuple) else ()), *extra]
    fixers = dict(config.fixers)
    fixers[DEPENDENCIES] = FixerSettings(settings.mode, MappingProxyType(options))
    return replace(config, fixers=MappingProxyType(fixers))


def subjects_of(results: Iterable[Any]) -> dict[str, list[Subject]]:
    """Per dependency patch branch, the packages it moves (from the findings behind it)."""
    out: dict[str, list[Subject]] = {}
    for result in results:
        by_fingerprint = {f.fingerprint: f for f in result.findings if f.fixer == DEPENDENCIES}
        for planned in result.patches:
            patch = planned.patch
            if patch.fixer != DEPENDENCIES:
                continue
            items: dict[str, Subject] = {}
            for fingerprint in patch.fingerprints:
                finding = by_fingerprint.get(fingerprint)
                data = finding.data if finding is not None else {}
                package, old, new = data.get("package"), data.get("from"), data.get("target")
                if isinstance(package, str) and old and new and package not in items:
                    items[package] = Subject(package, str(old), str(new))
            if items:
                out[patch.branch] = list(items.values())
    return out
