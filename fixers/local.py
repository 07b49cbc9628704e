"""Snapshots of a local directory (``patchwell scan``), and the limits every snapshot obeys.

:class:`SnapshotLimits` and the helpers :func:`skip_reason_for_path` and
:func:`is_binary` are shared with the GitHub side, so a tree loaded from a
checkout and one loaded from the API skip exactly the same files for the same
reasons. Every skip is recorded as a :class:`~fixers.contract.SkippedFile`:
limits are reported, never silent.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fixers.contract import MemorySnapshot, SkippedFile, matches_any

__all__ = [
    "DEFAULT_SKIP_DIRS",
    "DEFAULT_SKIP_FILES",
    "Listing",
    "Progress",
    "SkipReason",
    "SnapshotLimits",
    "is_binary",
    "load_directory",
    "skip_reason_for_path",
]


class SkipReason:
    """The reasons a path is not loaded (stable strings: they appear in JSON output)."""

    VENDORED = "vendored-or-generated"
    TOO_LARGE = "too-large"
    BINARY = "binary"
    FILE_LIMIT = "file-count-limit"
    TOTAL_LIMIT = "total-size-limit"
    SYMLINK_OUTSIDE = "symlink-outside-root"
    SYMLINK_DIR = "symlinked-directory"
    NOT_REGULAR = "not-a-regular-file"
    UNREADABLE = "unreadable"
    # A checkout read through git: files git does not track are not the repository.
    UNTRACKED = "untracked"
    GIT_IGNORED = "git-ignored"
    MISSING = "deleted-in-work-tree"
    # An archive (GitHub's tarball) read up to its budgets; the member named is the first
    # one not read, and nothing after it was (a gzip bomb is never inflated further).
    ARCHIVE_BYTES = "archive-uncompressed-limit"
    ARCHIVE_MEMBERS = "archive-member-limit"
    SYMLINK_LOOP = "symlink-loop"


@dataclass(frozen=True, slots=True)
class Listing:
    """The files to read when something knows better than a walk (git's index): every
    other file is not looked at, and ``skipped`` says what was left out and why."""

    paths: tuple[str, ...]
    skipped: tuple[SkippedFile, ...] = ()


# Directory names that hold other people's code or build output: scanning them
# would report problems the repository owner cannot fix (and cost the most).
DEFAULT_SKIP_DIRS: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        "jspm_packages",
        ".venv",
        "venv",
        "virtualenv",
        ".tox",
        ".nox",
        "vendor",
        "third_party",
        "dist",
        "build",
        "__pycache__",
        "site-packages",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".next",
        ".nuxt",
        ".terraform",
        ".gradle",
        "target",
        "coverage",
        "htmlcov",
        ".eggs",
    }
)

# Generated single files: minified bundles and source maps are machine output.
DEFAULT_SKIP_FILES: tuple[str, ...] = ("*.min.js", "*.min.css", "*.js.map", "*.css.map")

# Git's own heuristic: a NUL byte in the first 8000 bytes means binary.
_SNIFF_BYTES = 8000

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while files are read."""


@dataclass(frozen=True, slots=True)
class SnapshotLimits:
    """What a snapshot loads. Defaults suit a typical application repository."""

    max_file_bytes: int = 1024 * 1024
    max_files: int = 20_000
    max_total_bytes: int = 256 * 1024 * 1024
    #: Uncompressed bytes read from an archive, skipped members' data included (git stores
    #: one blob for a thousand identical 100 MB zero files; the tarball holds them all).
    max_archive_bytes: int = 2 * 1024 * 1024 * 1024
    #: Archive members looked at, skipped ones included (ten times ``max_files``).
    max_archive_members: int = 200_000
    skip_dirs: frozenset[str] = field(default=DEFAULT_SKIP_DIRS)
    skip_files: tuple[str, ...] = DEFAULT_SKIP_FILES


def skip_reason_for_path(path: str, limits: SnapshotLimits = SnapshotLimits()) -> str | None:
    """Why ``path`` (``/``-separated, relative) is skipped by name alone, or ``None``."""
    parts = path.split("/")
    if any(part in limits.skip_dirs for part in parts[:-1]):
        return SkipReason.VENDORED
    if matches_any(parts[-1], limits.skip_files):
        return SkipReason.VENDORED
    return None


def is_binary(data: bytes) -> bool:
    """Git's NUL-byte rule, except for UTF-16 text with a byte-order mark (Windows
    tools write ``pip freeze`` output that way, and pip reads it)."""
    head = data[:_SNIFF_BYTES]
    if b"\x00" not in head:
        return False
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16-le" if head[:2] == b"\xff\xfe" else "utf-16-be"
        try:  # incremental: the sniffed head may end inside a character
            text = codecs.getincrementaldecoder(codec)().decode(head[2:], final=False)
        except UnicodeDecodeError:
            return True
        return "\x00" in text
    return True


@dataclass(slots=True)
class _Walk:
    """What walking the tree found: files to read, every path seen, and the skips."""

    candidates: list[tuple[str, Path, int]] = field(default_factory=list)
    all_paths: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _walk(root: Path, limits: SnapshotLimits) -> _Walk:
    """List the tree without reading contents (iterative: deep trees cannot overflow)."""
    found = _Walk()
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            found.skipped.append(SkippedFile(prefix.rstrip("/") or ".", SkipReason.UNREADABLE))
            continue
        for entry in entries:
            _visit(entry, prefix, root, limits, found, stack)
    # Path order, so which files a limit cuts off is the same on every machine.
    found.candidates.sort(key=lambda c: c[0])
    return found


def _visit(
    entry: os.DirEntry[str],
    prefix: str,
    root: Path,
    limits: SnapshotLimits,
    found: _Walk,
    stack: list[tuple[Path, str]],
) -> None:
    rel = prefix + entry.name
    try:
        is_link = entry.is_symlink()
        if entry.is_dir(follow_symlinks=False):
            if entry.name in limits.skip_dirs:
                found.skipped.append(SkippedFile(rel + "/", SkipReason.VENDORED))
            else:
                stack.append((Path(entry.path), rel + "/"))
            return
        if is_link:
            _visit_link(Path(entry.path), rel, root, found)
            return
        info = entry.stat(follow_symlinks=False)
    except OSError:
        found.skipped.append(SkippedFile(rel, SkipReason.UNREADABLE))
        return
    if not stat.S_ISREG(info.st_mode):
        found.skipped.append(SkippedFile(rel, SkipReason.NOT_REGULAR))
        return
    found.all_paths.append(rel)
    found.candidates.append((rel, Path(entry.path), info.st_size))


def _visit_link(link: Path, rel: str, root: Path, found: _Walk) -> None:
    """A symlink is read only when it resolves to a regular file inside the root.

    Symlinked directories are never descended: they can loop, and their files
    are already scanned under their real path when they live in the root.
    """
    try:
        target = link.resolve()
    except (RuntimeError, OSError):  # a loop (3.11 raises RuntimeError, later ones OSError)
        found.skipped.append(SkippedFile(rel, SkipReason.SYMLINK_LOOP))
        return
    if not _inside(target, root):
        found.skipped.append(SkippedFile(rel, SkipReason.SYMLINK_OUTSIDE))
        return
    if target.is_dir():
        found.skipped.append(SkippedFile(rel, SkipReason.SYMLINK_DIR))
        return
    if not target.is_file():
        found.skipped.append(SkippedFile(rel, SkipReason.NOT_REGULAR))
        return
    found.all_paths.append(rel)
    found.candidates.append((rel, target, target.stat().st_size))


def _from_listing(root: Path, listing: Listing) -> _Walk:
    """The listed files only (no walk): what git tracks, say."""
    found = _Walk(skipped=list(listing.skipped))
    for rel in sorted(set(listing.paths)):
        path = root / rel
        try:
            info = path.lstat()
        except FileNotFoundError:
            found.skipped.append(SkippedFile(rel, SkipReason.MISSING))
            continue
        except OSError:
            found.skipped.append(SkippedFile(rel, SkipReason.UNREADABLE))
            continue
        if stat.S_ISLNK(info.st_mode):
            _visit_link(path, rel, root, found)
        elif not stat.S_ISREG(info.st_mode):
            found.skipped.append(SkippedFile(rel, SkipReason.NOT_REGULAR))  # e.g. a submodule
        else:
            found.all_paths.append(rel)
            found.candidates.append((rel, path, info.st_size))
    found.candidates.sort(key=lambda c: c[0])
    return found


def _read(
    candidates: Iterable[tuple[str, Path, int]],
    total: int,
    limits: SnapshotLimits,
    progress: Progress | None,
) -> tuple[dict[str, bytes], list[SkippedFile]]:
    files: dict[str, bytes] = {}
    skipped: list[SkippedFile] = []
    loaded_bytes = 0
    for done, (rel, path, size) in enumerate(candidates, start=1):
        if progress is not None:
            progress(done, total)
        reason = skip_reason_for_path(rel, limits)
        if reason is None and size > limits.max_file_bytes:
            reason = SkipReason.TOO_LARGE
        elif reason is None and len(files) >= limits.max_files:
            reason = SkipReason.FILE_LIMIT
        elif reason is None and loaded_bytes + size > limits.max_total_bytes:
            reason = SkipReason.TOTAL_LIMIT
        if reason is not None:
            skipped.append(SkippedFile(rel, reason))
            continue
        try:
            with path.open("rb") as handle:
                data = _read_bounded(handle, size, limits.max_file_bytes)
        except OSError:
            skipped.append(SkippedFile(rel, SkipReason.UNREADABLE))
            continue
        if len(data) > limits.max_file_bytes:
            skipped.append(SkippedFile(rel, SkipReason.TOO_LARGE))
        elif is_binary(data):
            skipped.append(SkippedFile(rel, SkipReason.BINARY))
        else:
            files[rel] = data
            loaded_bytes += len(data)
    return files, skipped


def _read_bounded(handle: BinaryIO, size: int, limit: int) -> bytes:
    """The file's bytes, at most one over ``limit`` (it may have grown since ``stat`` said
    ``size``). Asked for ``size + 1`` first: asking every file for ``limit + 1`` bytes
    allocated (and gave back) a mebibyte a file, half the time of reading a tree."""
    data = handle.read(min(size, limit) + 1)
    if size < len(data) <= limit:  # it grew: read on, to one byte over the limit
        data += handle.read(limit + 1 - len(data))
    return data


def load_directory(
    root: Path,
    *,
    limits: SnapshotLimits = SnapshotLimits(),
    progress: Progress | None = None,
    listing: Listing | None = None,
) -> MemorySnapshot:
    """Load the text files under ``root`` into a snapshot, applying ``limits``.

    With ``listing``, only the listed paths are read (``patchwell scan`` passes what
    git tracks); without it, the whole tree is walked.

    Raises ``NotADirectoryError`` / ``FileNotFoundError`` when ``root`` is not a
    directory (a usage error for the CLI); anything wrong inside the tree is a
    recorded skip instead.
    """
    root = Path(root).resolve()
    if not root.exists():
        raise FileNotFoundError(f"no such directory: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")
    walked = _walk(root, limits) if listing is None else _from_listing(root, listing)
    files, read_skips = _read(walked.candidates, len(walked.candidates), limits, progress)
    skipped = sorted([*walked.skipped, *read_skips], key=lambda s: s.path)
    return MemorySnapshot(
        files,
        commit=_head_commit(root),
        all_paths=walked.all_paths,
        skipped=skipped,
    )


def _head_commit(root: Path) -> str | None:
    """The checked-out commit of a plain git work tree (best effort, without git)."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text(encoding="ascii").strip()
        if head.startswith("ref: "):
            ref = head[5:]
            ref_file = git / ref
            if ref_file.is_file():
                return ref_file.read_text(encoding="ascii").strip() or None
            return _packed_ref(git, ref)
        return head or None
    except (OSError, UnicodeDecodeError):
        return None


def _packed_ref(git: Path, ref: str) -> str | None:
    try:
        for line in (git / "packed-refs").read_text(encoding="ascii").splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
    except (OSError, UnicodeDecodeError):
        return None
    return None
