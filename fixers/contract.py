"""The fixer contract: what every detector and fixer is written against.

A fixer is pure code over a :class:`Snapshot` (the files of a repository at one
commit). It reaches the outside world only through the :class:`Services` it is
handed (package index, advisories, clock), so the very same code runs on a
GitHub installation, on a local checkout (``patchwell scan``) and in tests
without a network.

A fixer module exposes one object satisfying :class:`Fixer`:

* ``name`` -- the fixer's stable name (``"secrets"``, ``"dependencies"``, ...);
* ``patterns`` -- glob patterns of the paths it reads, so the engine fetches
  only those blobs;
* ``scope`` -- ``"file"`` when each file's findings depend on that file alone
  (a push scan may then read only the changed files), ``"repo"`` when findings
  depend on several files together (re-run in full when any matching path
  changes);
* ``detect(snapshot, ctx) -> list[Finding]``;
* ``fix(snapshot, findings, ctx) -> list[Patch]`` -- patches for the findings
  that can be fixed mechanically; a finding with no patch is report-only.

Findings never carry a secret value: anything user-visible goes through
:func:`mask`.
"""

from __future__ import annotations

import base64
import difflib
import enum
import fnmatch
import hashlib
import zlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

__all__ = [
    "Context",
    "EditAction",
    "Explanation",
    "FileEdit",
    "Finding",
    "Fixer",
    "MemorySnapshot",
    "Patch",
    "Services",
    "Severity",
    "SkippedFile",
    "Snapshot",
    "fingerprint",
    "mask",
    "matches_any",
    "unified_diff",
]


T = TypeVar("T")


class Severity(enum.IntEnum):
    """How urgent a finding is; PRs are opened highest first.

    leaked secret > known vulnerability > broken build > drift > hygiene.
    """

    HYGIENE = 1
    DRIFT = 2
    BROKEN_BUILD = 3
    VULNERABILITY = 4
    LEAKED_SECRET = 5

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @property
    def is_high(self) -> bool:
        """High severities make the check run fail."""
        return self >= Severity.VULNERABILITY


def fingerprint(*parts: str) -> str:
    """A stable identifier for a finding, independent of line numbers and commits.

    Fixers pass whatever makes a finding *the same finding* across rescans:
    rule id, path, package name, a hash of a secret value -- never a raw secret.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:24]


def mask(value: str, keep: int = 4) -> str:
    """Mask a secret for display: at most its first ``keep`` characters survive."""
    if not value:
        return "****"
    keep = min(keep, max(0, len(value) // 4))
    return value[:keep] + "****"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found at one place.

    ``fingerprint`` identifies the finding across rescans (see :func:`fingerprint`).
    ``message`` is user-visible and must never contain a secret value.
    ``data`` is the fixer's own JSON-serialisable detail (package name, versions,
    env-var name, ...): the engine stores it and hands it back to ``fix``; like
    everything else it must hold no secret values.
    """

    fixer: str
    rule: str
    severity: Severity
    message: str
    fingerprint: str
    path: str | None = None
    line: int | None = None
    end_line: int | None = None
    title: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    #: True when the fixer could not check everything (a service it needs was
    #: unreachable): the absence of its other findings then proves nothing, so the
    #: engine keeps what it knew from the last scan and closes none of its PRs.
    incomplete: bool = False
    #: True when the fixer found this but could not decide its patch this scan (the
    #: dependency fixer's resolution budget ran out before it was checked): a PR proposed
    #: for it earlier is neither updated nor withdrawn.
    undecided: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "fixer": self.fixer,
            "rule": self.rule,
            "severity": self.severity.label,
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "title": self.title,
            "message": self.message,
            "fingerprint": self.fingerprint,
        }


EditAction = Literal["create", "modify", "delete"]


@dataclass(frozen=True, slots=True)
class FileEdit:
    """A change to one file: its whole new content (``None`` for a delete)."""

    path: str
    action: EditAction
    content: bytes | None = None

    def __post_init__(self) -> None:
        if self.action == "delete" and self.content is not None:
            raise ValueError("a delete carries no content")
        if self.action != "delete" and self.content is None:
            raise ValueError(f"a {self.action} needs content")


@dataclass(frozen=True, slots=True)
class Explanation:
    """The five parts every Patchwell PR explains, in Markdown."""

    found: str
    why: str
    changes: str
    verify: str
    rollback: str
    preface: str = ""

    def markdown(self) -> str:
        parts = [self.preface.strip()] if self.preface.strip() else []
        parts += [
            f"### What was found\n\n{self.found.strip()}",
            f"### Why it matters\n\n{self.why.strip()}",
            f"### What this patch changes\n\n{self.changes.strip()}",
            f"### How to verify\n\n{self.verify.strip()}",
            f"### How to roll back\n\n{self.rollback.strip()}",
        ]
        return "\n\n".join(parts) + "\n"


@dataclass(frozen=True, slots=True)
class Patch:
    """One small pull request's worth of change.

    ``key`` names the branch ``patchwell/<fixer>/<key>``: the same problem must
    produce the same key on every scan so the PR is updated, never duplicated.
    ``fingerprints`` lists the findings this patch resolves.
    ``bypass_limit`` lets security patches skip the open-PR cap.
    """

    fixer: str
    key: str
    title: str
    edits: tuple[FileEdit, ...]
    explanation: Explanation
    severity: Severity
    fingerprints: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    bypass_limit: bool = False

    @property
    def branch(self) -> str:
        return f"patchwell/{self.fixer}/{self.key}"


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A path the snapshot did not load, and why (limits are reported, never silent)."""

    path: str
    reason: str


@runtime_checkable
class Snapshot(Protocol):
    """The files of a repository at one commit, read-only."""

    @property
    def commit(self) -> str | None: ...

    def paths(self) -> Sequence[str]:
        """Every loaded path, sorted, using ``/`` separators."""
        ...

    def read(self, path: str) -> bytes | None:
        """A file's bytes, or ``None`` when absent or not loaded."""
        ...

    @property
    def all_paths(self) -> Sequence[str]:
        """Every path in the tree, loaded or not (for existence checks)."""
        ...

    @property
    def skipped(self) -> Sequence[SkippedFile]: ...

    @property
    def changed(self) -> frozenset[str] | None:
        """Paths changed by the push being scanned, or ``None`` for a full scan."""
        ...

    @property
    def added_lines(self) -> Mapping[str, frozenset[int]] | None:
        """Per path, the 1-based line numbers a push added (``None`` when unknown)."""
        ...


def matches_any(path: str, patterns: Iterable[str]) -> bool:
    """``fnmatch`` that also lets ``**/`` match zero directories."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(path, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:]):
            return True
    return False


class MemorySnapshot:
    """A snapshot held in memory: built from a local directory, a tarball or blobs."""

    def __init__(
        self,
        files: Mapping[str, bytes],
        *,
        commit: str | None = None,
        all_paths: Iterable[str] | None = None,
        skipped: Iterable[SkippedFile] = (),
        changed: Iterable[str] | None = None,
        added_lines: Mapping[str, Iterable[int]] | None = None,
    ) -> None:
        self._files = dict(files)
        self._commit = commit
        self._paths = sorted(self._files)
        self._all = sorted(set(all_paths) | set(self._files)) if all_paths else self._paths
        self._skipped = tuple(skipped)
        self._changed = frozenset(changed) if changed is not None else None
        self._added = (
            {p: frozenset(lines) for p, lines in added_lines.items()}
            if added_lines is not None
            else None
        )
        self._memo: dict[Hashable, Any] = {}

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per snapshot and key: several fixers that derive the same
        facts from the same files (every env-var read, say) pay for it once per scan.
        The snapshot is immutable, so a memoised value can never go stale."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def commit(self) -> str | None:
        return self._commit

    def paths(self) -> Sequence[str]:
        return self._paths

    def read(self, path: str) -> bytes | None:
        return self._files.get(path)

    def read_text(self, path: str) -> str | None:
        data = self._files.get(path)
        return None if data is None else data.decode("utf-8", errors="replace")

    @property
    def all_paths(self) -> Sequence[str]:
        return self._all

    @property
    def skipped(self) -> Sequence[SkippedFile]:
        return self._skipped

    @property
    def changed(self) -> frozenset[str] | None:
        return self._changed

    @property
    def added_lines(self) -> Mapping[str, frozenset[int]] | None:
        return self._added

    def glob(self, patterns: Iterable[str]) -> Iterator[str]:
        pats = tuple(patterns)
        return (p for p in self._paths if matches_any(p, pats))

    def with_edits(self, edits: Iterable[FileEdit]) -> MemorySnapshot:
        """A new snapshot with ``edits`` applied (used to re-check a patch)."""
        files = dict(self._files)
        for edit in edits:
            if edit.action == "delete":
                files.pop(edit.path, None)
            else:
                assert edit.content is not None
                files[edit.path] = edit.content
        return MemorySnapshot(files, commit=None, skipped=self._skipped)


class PackageIndex(Protocol):
    """What fixers may ask of a package index (see ``fixers/deps`` for the client)."""

    def project(self, name: str) -> Any: ...


class AdvisoryService(Protocol):
    """What fixers may ask of an advisory database."""

    def advisories(self, name: str, version: str) -> Sequence[Any]: ...


class ActionsCatalog(Protocol):
    """Tags of an action's repository: ``tags(owner, repo) -> [(tag, commit sha)]``."""

    def tags(self, owner: str, repo: str) -> Sequence[tuple[str, str]]: ...


class DependencyResolver(Protocol):
    """The real resolver, sandboxed (``fixers/dependencies/uvrunner.py``); requests and
    results are the plain data of ``fixers/dependencies/resolution.py``."""

    def compile(self, request: Any) -> Any: ...

    def lock(self, request: Any) -> Any: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    """The outside world, injected. Any of these may be ``None`` when offline;
    a fixer that needs one and does not get it reports nothing rather than guessing."""

    index: PackageIndex | None = None
    advisories: AdvisoryService | None = None
    clock: Callable[[], datetime] = _utcnow
    #: Tags of GitHub Actions repositories (GitHub data, read by the engine).
    actions: ActionsCatalog | None = None
    #: The sandboxed real resolver (uv) for lock files and "does this PR install".
    resolver: DependencyResolver | None = None


@dataclass(frozen=True)
class Context:
    """What a fixer is handed besides the snapshot.

    ``options`` is the fixer's own section of ``.github/patchwell.yml`` (already
    validated against the schema); ``ignore_paths`` the repository-wide ignores;
    ``mode`` ``"report"`` or ``"fix"`` (the engine never calls a fixer that is off).
    """

    services: Services = field(default_factory=Services)
    options: Mapping[str, Any] = field(default_factory=dict)
    ignore_paths: tuple[str, ...] = ()
    mode: Literal["report", "fix"] = "fix"

    def ignored(self, path: str) -> bool:
        return matches_any(path, self.ignore_paths)


class Fixer(Protocol):
    name: str
    patterns: tuple[str, ...]
    scope: Literal["file", "repo"]

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]: ...

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]: ...


def _git_quote(name: str) -> str:
    """A path as git writes it in a diff header: C-quoted when it holds a quote, a
    backslash, a control character or non-ASCII (git's ``core.quotePath``)."""
    raw = name.encode("utf-8", "surrogateescape")
    if not any(b < 0x20 or b >= 0x7F or b in b'"\\' for b in raw):
        return name
    named = {0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r"}
    out = []
    for b in raw:
        if b in named:
            out.append("\\" + named[b])
        elif b in b'"\\':
            out.append("\\" + chr(b))
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\{b:03o}")
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


def _header_name(prefix: str, path: str) -> str:
    quoted = _git_quote(prefix + path)
    # git ends a ---/+++ name that holds a space with a tab, so the name is unambiguous.
    return quoted + ("\t" if " " in path and not quoted.startswith('"') else "")


def _lines(text: str) -> list[str]:
    """Lines split on ``\\n`` only (``str.splitlines`` also splits on form feeds,
    ``\\x1c``, U+2028 ..., which git does not: such a diff would not apply)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _blob_id(data: bytes | None) -> str:
    if data is None:
        return "0" * 40
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _binary_literal(data: bytes) -> str:
    """git's ``literal`` binary hunk: zlib, then base85 in lines of at most 52 bytes."""
    packed = zlib.compress(data, 9)
    rows = [f"literal {len(data)}"]
    for i in range(0, len(packed), 52):
        chunk = packed[i : i + 52]
        size = (
            chr(ord("A") + len(chunk) - 1) if len(chunk) <= 26 else chr(ord("a") + len(chunk) - 27)
        )
        rows.append(size + base64.b85encode(chunk, pad=True).decode("ascii"))
    return "\n".join(rows) + "\n\n"


def unified_diff(path: str, before: bytes | None, after: bytes | None) -> str:
    """The diff a patch carries for one file, in the form ``git apply`` accepts.

    A git header (``diff --git``, ``new file mode`` / ``deleted file mode``) so
    empty files and deletions apply; ``\\ No newline at end of file`` markers;
    lines split on ``\\n`` only, so CRLF and other control characters survive
    byte for byte; names quoted as git quotes them. Content that is not UTF-8 is
    written as a git binary patch. ``""`` when nothing changes.
    """
    if before == after:
        return ""
    head = [f"diff --git {_git_quote('a/' + path)} {_git_quote('b/' + path)}\n"]
    if before is None:
        head.append("new file mode 100644\n")
    elif after is None:
        head.append("deleted file mode 100644\n")
    try:
        old = "" if before is None else before.decode("utf-8")
        new = "" if after is None else after.decode("utf-8")
    except UnicodeDecodeError:
        mode = " 100644" if before is not None and after is not None else ""
        head.append(f"index {_blob_id(before)}..{_blob_id(after)}{mode}\n")
        return "".join(head) + "GIT binary patch\n" + _binary_literal(after or b"")
    if not old and not new:
        return "".join(head)  # an empty file created or deleted: the header says it all
    body = list(
        difflib.unified_diff(
            _lines(old),
            _lines(new),
            fromfile="/dev/null" if before is None else _header_name("a/", path),
            tofile="/dev/null" if after is None else _header_name("b/", path),
        )
    )
    out = head
    for line in body:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)
