"""What git tracks in a local checkout, for ``patchwell scan``.

Patchwell on GitHub sees exactly the committed tree; a local checkout also holds
a developer's own ``.env``, build output and scratch files. In a git work tree
the scan therefore reads the files git tracks (``git ls-files``), like GitHub
would, and reports the rest as skipped (``untracked``, ``git-ignored``).
``--include-untracked`` adds untracked files that ``.gitignore`` does not ignore
(what the next ``git add .`` would commit); ignored files are never read.

git runs with ``core.fsmonitor`` off: a checkout's own config must not make
listing its files run a program of its choosing.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fixers.contract import SkippedFile
from fixers.local import Listing, SkipReason

__all__ = ["GitFiles", "git_files"]

_TIMEOUT = 60
# A listing bigger than this is not walked path by path into the skip report.
_MAX_REPORTED = 50_000


@dataclass(frozen=True, slots=True)
class GitFiles:
    """The listing to read, or why git could not give one (then the tree is walked)."""

    listing: Listing | None
    note: str


def _git(root: Path, *args: str) -> list[str] | None:
    git = shutil.which("git")
    if git is None:
        return None
    cmd = [git, "-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", "-C", str(root)]
    try:
        proc = subprocess.run(
            [*cmd, *args], capture_output=True, timeout=_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    text = proc.stdout.decode("utf-8", errors="surrogateescape")
    return [p for p in text.split("\0") if p]


def git_files(root: Path, *, include_untracked: bool = False) -> GitFiles:
    """Which files of ``root`` to read, when ``root`` is inside a git work tree."""
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside[0].strip() != "true":
        return GitFiles(None, "not a git work tree: every file is read")
    tracked = _git(root, "ls-files", "-z", "--cached")
    untracked = _git(root, "ls-files", "-z", "--others", "--exclude-standard")
    ignored = _git(root, "ls-files", "-z", "--others", "--ignored", "--exclude-standard",
                   "--directory")  # fmt: skip
    if tracked is None or untracked is None or ignored is None:
        return GitFiles(None, "git could not list the files: every file is read")
    if not tracked:
        # A plain directory inside some other repository: nothing here is git's.
        return GitFiles(None, "git tracks no file here: every file is read")
    paths = list(tracked)
    skipped: list[SkippedFile] = []
    if include_untracked:
        paths += untracked
    else:
        skipped += [SkippedFile(p, SkipReason.UNTRACKED) for p in untracked[:_MAX_REPORTED]]
    skipped += [SkippedFile(p, SkipReason.GIT_IGNORED) for p in ignored[:_MAX_REPORTED]]
    what = "tracked and untracked" if include_untracked else "tracked"
    note = f"reading the files git lists as {what} ({len(paths)})"
    return GitFiles(Listing(tuple(paths), tuple(skipped)), note)
