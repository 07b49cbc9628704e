"""No PR unless the whole change was verified: lock files and installability.

A dependency patch is opened only when every lock or compiled file it implies was
updated consistently in the same patch (``lockfix``) and, with a resolver, every change
in it was resolved in the sandbox (``installable``). Otherwise the patch is *withheld*:
its findings stay, report-only, and say exactly why there is no PR and what the
maintainer can run instead. A manifest bumped beside a stale ``uv.lock`` fails ``uv lock
--check``, and beside a stale ``poetry.lock`` fails ``poetry install``: such a PR would
be worse than none (found on djangopackages, mealie and readthedocs.org).

Fixing runs twice per scan -- once in ``detect``, so the findings can say why no PR,
and once in ``fix`` -- over the same snapshot; :class:`MemoResolver` answers the second
run's tool calls from the first's, so the sandbox runs each lock once.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fixers.contract import Explanation, FileEdit, Finding, Snapshot
from fixers.dependencies.lockfix import LockFailure, lock_edits
from fixers.dependencies.locks import compiled_header
from fixers.dependencies.model import ParseResult, decode_manifest
from fixers.dependencies.pythons import PythonTargets
from fixers.dependencies.resolution import Resolver

_MEMO_KEY = ("dependencies", "resolver-results")
_MAX_WHY = 700
_MAX_COMMANDS = 3


@dataclass(frozen=True, slots=True)
class NoPr:
    """Why a patch was not opened, and what to run instead."""

    why: str  # one or more clauses without a trailing period
    commands: tuple[str, ...]
    short: str  # a few words for the finding's title
    advice: str = ""  # the sentence that says how to make the change by hand

    def as_json(self) -> dict[str, Any]:
        return {"why": self.why, "commands": list(self.commands), "short": self.short}

    def sentence(self) -> str:
        why = self.why if len(self.why) <= _MAX_WHY else self.why[: _MAX_WHY - 1] + "…"
        return f"Patchwell opens no PR for this: {why}. {self.advice}".strip()


def _s(items: Sequence[object]) -> str:
    return "s" if len(items) > 1 else ""


def _run(commands: Sequence[str]) -> str:
    return " and ".join(f"`{c}`" for c in commands[:_MAX_COMMANDS])


def from_lock_failures(failures: Sequence[LockFailure]) -> NoPr:
    commands = tuple(dict.fromkeys(f.command for f in failures))
    paths = ", ".join(dict.fromkeys(f"`{f.path}`" for f in failures))
    why = "; ".join(dict.fromkeys(f.why for f in failures))
    if all(f.compiled for f in failures):
        why += (
            f". Its pins are written by its compile command: edited by hand, {paths} "
            "would no longer be what the command produces, and may not install"
        )
        advice = (
            f"To make the change, run {_run(commands)} and commit the re-compiled "
            f"file{_s(commands)}."
        )
        short = f"{paths} does not re-compile here"
    else:
        why += (
            f". A PR that changed the manifest without {paths} would leave the lock stale "
            "(installs from it fail, or keep the old versions)"
        )
        advice = (
            f"To make the change, set the new version in the manifest, run {_run(commands)} "
            "and commit the lock with it."
        )
        short = f"{paths} cannot be updated here"
    return NoPr(why=why, commands=commands, short=short, advice=advice)


def from_stale_hashes(stale: Sequence[tuple[str, str, str]]) -> NoPr:
    """Hash-pinned lines whose new release the index gave no sha256 for: with the old
    hashes kept, ``pip install --require-hashes`` would refuse the file."""
    where = ", ".join(dict.fromkeys(f"`{path}`" for path, _n, _v in stale))
    names = ", ".join(dict.fromkeys(f"{n} {v}" for _p, n, v in stale))
    commands = tuple(
        dict.fromkeys(
            f"pip download {n}=={v} --no-deps -d hashes && pip hash hashes/*" for _p, n, v in stale
        )
    )
    why = (
        f"{where} pins `--hash` values and the package index published no sha256 for "
        f"{names}: with its old hashes the line would fail `pip install --require-hashes`"
    )
    advice = (
        f"To make the change, get the new hashes with {_run(commands)}, put them on the "
        "line with the new version and commit it."
    )
    return NoPr(why=why, commands=commands, short=f"no hashes for {names}", advice=advice)


# --------------------------------------------------------------------------- installability


def unverified(snapshot: Snapshot, finding: Finding, resolver: object | None) -> NoPr | None:
    """A :class:`NoPr` when a resolver was asked but this change was not resolved.

    Without a resolver at all (the operator turned it off) nothing is claimed and the
    PR says "not checked"; lock files then stop the PR on their own (``lockfix``)."""
    install = finding.data.get("install")
    if resolver is None or not isinstance(install, Mapping):
        return None
    partly = str(install.get("not_checked") or "")
    if install.get("status") != "unchecked" and not partly:
        return None
    name, target = str(finding.data.get("package")), str(finding.data.get("target"))
    message = partly or str(install.get("message") or "")
    message = message.replace("not checked: ", "")
    files = [finding.path] if finding.path else []
    units = [str(u) for u in install.get("units") or []]
    found = [install_command(snapshot, u, name, target) for u in dict.fromkeys(files + units)]
    # The repository's own tool first (its compile command, its lock), else a resolution.
    best = min((rank for rank, _c in found), default=2)
    commands = tuple(dict.fromkeys(c for rank, c in found if rank == best))
    why = (
        f"{name} {target} could not be resolved with the rest of the requirements in "
        f"Patchwell's sandbox ({message.rstrip('.')}), so nothing shows the change installs"
    )
    verb = "succeeds" if len(commands) == 1 else "succeed"
    if best == 0:
        advice = (
            f"To make the change, run {_run(commands)} and commit the re-compiled "
            f"file{_s(commands)}."
        )
    elif best == 1:
        advice = (
            f"To make the change, set {name} to {target} in the manifest, run {_run(commands)} "
            "and commit the lock with it."
        )
    else:
        advice = (
            f"To make the change, set {name} to {target}, check that {_run(commands)} {verb}, "
            "and commit the result."
        )
    return NoPr(why=why, commands=commands, short="not resolved in the sandbox", advice=advice)


def install_command(snapshot: Snapshot, unit: str, name: str, target: str) -> tuple[int, str]:
    """What a maintainer runs to resolve ``name==target`` in one install unit, ranked:
    0 the file's own compile command, 1 its lock tool, 2 a plain resolution."""
    folder = posixpath.dirname(unit)
    if posixpath.basename(unit) == "pyproject.toml":
        if posixpath.join(folder, "uv.lock") in snapshot.all_paths:
            return 1, f"uv lock --upgrade-package {name}=={target}"
        if posixpath.join(folder, "poetry.lock") in snapshot.all_paths:
            return 1, f"poetry update --lock {name}"
    raw = snapshot.read(unit)
    compiled = compiled_header(unit, decode_manifest(raw)[0]) if raw is not None else None
    if compiled is not None and compiled.command:
        return 0, f"{compiled.command[:200]} --upgrade-package {name}=={target}"
    return 2, f"uv pip compile {unit}"


# --------------------------------------------------------------------------- locking


@dataclass(frozen=True)
class Locking:
    """What lock updates need (the resolver and the Pythons to compile for), and the
    patches withheld so far in this fix run (``withheld``: fingerprint -> why)."""

    resolver: Resolver | None
    targets: PythonTargets
    now: datetime | None = None  # the scan's clock (a compiled file's upload window)
    withheld: dict[str, NoPr] = field(default_factory=dict)

    def withhold(self, fingerprints: Sequence[str], why: NoPr) -> None:
        for fp in fingerprints:
            self.withheld.setdefault(fp, why)

    def finish(
        self,
        snapshot: Snapshot,
        parsed: ParseResult,
        edits: tuple[FileEdit, ...],
        changes: Mapping[str, str],
        explanation: Explanation,
        *,
        hashless: Sequence[tuple[str, str, str]] = (),
    ) -> tuple[tuple[FileEdit, ...], Explanation] | NoPr:
        """The patch's edits with its lock files brought along and the PR text about
        them, or why there is no PR (a lock or compiled file that could not follow, or
        ``hashless`` lines -- (file, package, version) whose new release has no hashes
        from the index -- in a file no re-compile rewrote)."""
        outcome = lock_edits(
            snapshot, parsed, edits, changes, self.resolver, self.targets, now=self.now
        )
        if outcome.failed:
            return from_lock_failures(outcome.failed)
        stale = [h for h in hashless if h[0] not in outcome.updated]
        if stale:
            return from_stale_hashes(stale)
        if not outcome.notes:
            return tuple(outcome.edits), explanation
        notes = "\n".join(f"- {n}" for n in outcome.notes)
        changed = explanation.changes + "\n\n#### Lock files\n\n" + notes
        return tuple(outcome.edits), dataclasses.replace(explanation, changes=changed)


def annotate(findings: Sequence[Finding], withheld: Mapping[str, NoPr]) -> list[Finding]:
    """Findings whose patch was withheld, saying why (``data["no_pr"]``, message, title)."""
    out = []
    for f in findings:
        why = withheld.get(f.fingerprint)
        if why is None:
            out.append(f)
            continue
        data = {**f.data, "no_pr": why.as_json()}
        title = f"{f.title} (no PR: {why.short})" if f.title else None
        message = f.message.rstrip() + " " + why.sentence()
        out.append(dataclasses.replace(f, data=data, message=message, title=title))
    return out


# --------------------------------------------------------------------------- memo


class MemoResolver:
    """``resolver`` with its answers kept in ``cache`` (one scan's snapshot memo): the
    same request asked twice in a scan (detect's fix run, then fix's) runs once."""

    def __init__(self, inner: Any, cache: dict[Hashable, Any]) -> None:
        self._inner = inner
        self._cache = cache

    def _call(self, method: str, request: Hashable) -> Any:
        key = (method, request)
        if key not in self._cache:
            self._cache[key] = getattr(self._inner, method)(request)
        return self._cache[key]

    def compile(self, request: Any) -> Any:
        return self._call("compile", request)

    def lock(self, request: Any) -> Any:
        return self._call("lock", request)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._inner, name)  # AttributeError when the inner lacks it
        if name == "tool_lock":
            return lambda request: self._call("tool_lock", request)
        return value


def memo_resolver(snapshot: Snapshot, resolver: Any) -> Any:
    """``resolver`` wrapped in this snapshot's memo (as is, when there is none)."""
    memo: Callable[[Hashable, Callable[[], dict[Hashable, Any]]], Any] | None = getattr(
        snapshot, "memo", None
    )
    if resolver is None or memo is None:
        return resolver
    return MemoResolver(resolver, memo(_MEMO_KEY, dict))
