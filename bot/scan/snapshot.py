"""Snapshots of a repository on GitHub at one commit.

Two ways in, chosen by API calls (measured in ``benchmarks/scan_api.py``):

* **tarball** -- one call (GitHub redirects to a signed download) brings every
  file at the commit: used for full scans and for pushes that touch something
  a repository-wide fixer reads;
* **contents** -- one call per file: used for small pushes where only
  per-file fixers need the changed files (at most :data:`MAX_CONTENT_CALLS`).

Limits (file size, file count, total bytes, binaries, vendored and generated
directories) are the same as for local scans (:class:`fixers.local.SnapshotLimits`)
and every skipped path is recorded with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import gidgethub

from bot.errors import TransientError
from bot.github import GitHubClients
from fixers.contract import MemorySnapshot, SkippedFile
from fixers.local import SkipReason, SnapshotLimits, is_binary, skip_reason_for_path

DEFAULT_LIMITS = SnapshotLimits()
#: A push reading more files than this fetches the tarball instead (one call).
MAX_CONTENT_CALLS = 3
#: Compressed tarballs above this are refused (the scan reports it) rather than read.
MAX_TARBALL_BYTES = 200 * 1024 * 1024


def _strip_top(name: str) -> str | None:
    # GitHub's tarballs hold one top-level directory, "<owner>-<repo>-<sha7>/".
    parts = name.split("/", 1)
    return parts[1] if len(parts) == 2 and parts[1] else None


class _OverBudget(Exception):
    pass


class _Inflated(io.RawIOBase):
    """The gunzipped tar stream, counted: reading past ``limit`` bytes raises
    :class:`_OverBudget`, so a gzip bomb stops at the budget however well it packs."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._stream = gzip.GzipFile(fileobj=io.BytesIO(data))
        self._limit = limit
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._stream.readinto(buffer)
        self.read_bytes += n
        if self.read_bytes > self._limit:
            raise _OverBudget
        return n


def snapshot_from_tarball(
    data: bytes,
    *,
    commit: str,
    limits: SnapshotLimits = DEFAULT_LIMITS,
    changed: Iterable[str] | None = None,
    added_lines: Mapping[str, Iterable[int]] | None = None,
) -> MemorySnapshot:
    """The files of a gzipped tarball, within ``limits`` -- uncompressed bytes and member
    count included: past either, the member reached is skipped with that budget's reason
    and nothing after it is read. Blocking (it inflates): call it off the event loop.

    A truncated or corrupt archive raises ``EOFError``, ``tarfile.TarError``,
    ``zlib.error`` or ``gzip.BadGzipFile`` (for the caller to retry)."""
    files: dict[str, bytes] = {}
    all_paths: list[str] = []
    skipped: list[SkippedFile] = []
    total = members = 0
    name = "(archive)"
    # Stream mode ("r|"): members in order, nothing seeks back or is inflated twice.
    stream = io.BufferedReader(_Inflated(data, limits.max_archive_bytes))
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                members += 1
                path = _strip_top(member.name)
                name = path or member.name
                if members > limits.max_archive_members:
                    skipped.append(SkippedFile(name, SkipReason.ARCHIVE_MEMBERS))
                    break
                if path is None or not member.isfile():
                    continue  # directories, symlinks (never followed), the pax header
                all_paths.append(path)
                reason = _skip_reason(path, member.size, len(files), total, limits)
                if reason is not None:
                    skipped.append(SkippedFile(path, reason))
                    continue
                handle = archive.extractfile(member)
                content = handle.read() if handle is not None else b""
                if is_binary(content):
                    skipped.append(SkippedFile(path, SkipReason.BINARY))
                    continue
                files[path] = content
                total += len(content)
    except _OverBudget:
        skipped.append(SkippedFile(name, SkipReason.ARCHIVE_BYTES))
    return MemorySnapshot(
        files,
        commit=commit,
        all_paths=all_paths,
        skipped=skipped,
        changed=changed,
        added_lines=added_lines,
    )


def _skip_reason(
    path: str, size: int, loaded: int, total: int, limits: SnapshotLimits
) -> str | None:
    reason = skip_reason_for_path(path, limits)
    if reason is None and size > limits.max_file_bytes:
        reason = SkipReason.TOO_LARGE
    if reason is None and loaded >= limits.max_files:
        reason = SkipReason.FILE_LIMIT
    if reason is None and total + size > limits.max_total_bytes:
        reason = SkipReason.TOTAL_LIMIT
    return reason


async def tarball_snapshot(
    gh,
    clients: GitHubClients,
    owner: str,
    repo: str,
    sha: str,
    *,
    limits: SnapshotLimits = DEFAULT_LIMITS,
    changed: Iterable[str] | None = None,
    added_lines: Mapping[str, Iterable[int]] | None = None,
) -> MemorySnapshot:
    data = await clients.download(
        gh, f"/repos/{owner}/{repo}/tarball/{sha}", max_bytes=MAX_TARBALL_BYTES
    )
    try:
        # Inflating holds the thread for as long as the archive takes: never the event loop's.
        return await asyncio.to_thread(
            snapshot_from_tarball,
            data,
            commit=sha,
            limits=limits,
            changed=changed,
            added_lines=added_lines,
        )
    except (EOFError, tarfile.TarError, zlib.error, gzip.BadGzipFile) as exc:
        # A download cut short (or a proxy's garbage) is not the repository: read it again.
        raise TransientError(
            f"the tarball of {sha[:12]} was cut short or corrupt ({type(exc).__name__})"
        ) from None


class FileTooLarge(Exception):
    """A file over the snapshot's per-file limit: skipped (and said so), never read as empty."""

    def __init__(self, path: str, size: int) -> None:
        super().__init__(f"{path}: {size} bytes")
        self.path, self.size = path, size


async def read_file(
    gh,
    owner: str,
    repo: str,
    path: str,
    ref: str,
    *,
    max_bytes: int = DEFAULT_LIMITS.max_file_bytes,
) -> bytes | None:
    """One file at ``ref`` through the contents API, or ``None`` when absent.

    The contents API's JSON has no content for files over 1 MB (``encoding: "none"``); those
    are read through the blob API (up to 100 MB), or -- over ``max_bytes`` -- raise
    :class:`FileTooLarge` without being downloaded."""
    try:
        item = await gh.getitem(
            "/repos/{owner}/{repo}/contents/{+path}{?ref}",
            {"owner": owner, "repo": repo, "path": path, "ref": ref},
        )
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) == 404:
            return None
        if int(exc.status_code) == 403 and "too large" in str(exc).lower():
            raise FileTooLarge(path, -1) from None  # over 100 MB: GitHub serves it no more
        raise
    if not isinstance(item, dict) or item.get("type") != "file":
        return None
    size = item.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise FileTooLarge(path, size)
    if item.get("encoding") == "base64":
        data = base64.b64decode(item.get("content") or "")
    elif item.get("encoding") == "none" or (size and not item.get("content")):
        data = await _read_blob(gh, owner, repo, str(item.get("sha")))
    else:
        raise ValueError(f"{path}: unexpected contents encoding")  # never scan it as empty
    if len(data) > max_bytes:
        raise FileTooLarge(path, len(data))
    return data


async def _read_blob(gh, owner: str, repo: str, sha: str) -> bytes:
    blob = await gh.getitem(
        "/repos/{owner}/{repo}/git/blobs/{sha}", {"owner": owner, "repo": repo, "sha": sha}
    )
    content = blob.get("content") if isinstance(blob, dict) else None
    encoding = blob.get("encoding") if isinstance(blob, dict) else None
    if not isinstance(content, str) or encoding not in ("base64", "utf-8"):
        raise ValueError(f"blob {sha[:12]}: unexpected answer")
    return base64.b64decode(content) if encoding == "base64" else content.encode()


async def contents_snapshot(
    gh,
    owner: str,
    repo: str,
    sha: str,
    paths: Iterable[str],
    *,
    limits: SnapshotLimits = DEFAULT_LIMITS,
    changed: Iterable[str] | None = None,
    added_lines: Mapping[str, Iterable[int]] | None = None,
) -> MemorySnapshot:
    files: dict[str, bytes] = {}
    skipped: list[SkippedFile] = []
    for path in paths:
        reason = skip_reason_for_path(path, limits)
        if reason is not None:
            skipped.append(SkippedFile(path, reason))
            continue
        try:
            content = await read_file(gh, owner, repo, path, sha, max_bytes=limits.max_file_bytes)
        except FileTooLarge:
            skipped.append(SkippedFile(path, SkipReason.TOO_LARGE))
            continue
        if content is None:
            continue
        if is_binary(content):
            skipped.append(SkippedFile(path, SkipReason.BINARY))
        else:
            files[path] = content
    return MemorySnapshot(
        files, commit=sha, skipped=skipped, changed=changed, added_lines=added_lines
    )
