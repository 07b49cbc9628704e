"""Local-directory snapshots: what is loaded, what is skipped and why (never silently)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from fixers.contract import Snapshot
from fixers.local import (
    SkipReason,
    SnapshotLimits,
    _read_bounded,
    is_binary,
    load_directory,
    skip_reason_for_path,
)


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def reasons(snapshot: Snapshot) -> dict[str, str]:
    return {s.path: s.reason for s in snapshot.skipped}


def test_loads_text_files_with_slash_paths(tmp_path: Path) -> None:
    write(tmp_path, "app.py", "print('hi')\n")
    write(tmp_path, "pkg/sub/mod.py", "x = 1\n")
    write(tmp_path, "empty.txt", b"")
    snap = load_directory(tmp_path)
    assert isinstance(snap, Snapshot)
    assert list(snap.paths()) == ["app.py", "empty.txt", "pkg/sub/mod.py"]
    assert snap.read("pkg/sub/mod.py") == b"x = 1\n"
    assert snap.read("empty.txt") == b""
    assert snap.read("missing") is None
    assert snap.skipped == ()
    assert snap.changed is None


def test_vendored_and_generated_dirs_are_skipped_and_reported(tmp_path: Path) -> None:
    write(tmp_path, "app.py", "x\n")
    write(tmp_path, "node_modules/left-pad/index.js", "module.exports = 1\n")
    write(tmp_path, "web/.venv/lib/site.py", "x\n")
    write(tmp_path, "dist/bundle.js", "x\n")
    write(tmp_path, ".git/config", "[core]\n")
    write(tmp_path, "static/app.min.js", "x\n")
    snap = load_directory(tmp_path)
    assert list(snap.paths()) == ["app.py"]
    got = reasons(snap)
    assert got == {
        "node_modules/": SkipReason.VENDORED,
        "web/.venv/": SkipReason.VENDORED,
        "dist/": SkipReason.VENDORED,
        ".git/": SkipReason.VENDORED,
        "static/app.min.js": SkipReason.VENDORED,
    }
    # A skipped file by name still exists in the tree for existence checks.
    assert "static/app.min.js" in snap.all_paths


def test_size_binary_and_count_limits(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "a" * 10)
    write(tmp_path, "b.bin", b"PK\x03\x04\x00\x00binary")
    write(tmp_path, "c.txt", "c" * 200)
    write(tmp_path, "d.txt", "d")
    write(tmp_path, "e.txt", "e")
    snap = load_directory(tmp_path, limits=SnapshotLimits(max_file_bytes=100, max_files=2))
    assert list(snap.paths()) == ["a.txt", "d.txt"]
    assert reasons(snap) == {
        "b.bin": SkipReason.BINARY,
        "c.txt": SkipReason.TOO_LARGE,
        "e.txt": SkipReason.FILE_LIMIT,
    }
    assert set(snap.all_paths) == {"a.txt", "b.bin", "c.txt", "d.txt", "e.txt"}


def test_total_bytes_limit(tmp_path: Path) -> None:
    for name in "abcd":
        write(tmp_path, f"{name}.txt", name * 40)
    snap = load_directory(tmp_path, limits=SnapshotLimits(max_total_bytes=100))
    assert list(snap.paths()) == ["a.txt", "b.txt"]
    assert set(reasons(snap).values()) == {SkipReason.TOTAL_LIMIT}


def test_symlinks_never_leave_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "outside the root\n")
    root = tmp_path / "repo"
    write(root, "real.txt", "inside\n")
    write(root, "sub/x.txt", "x\n")
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "escape-dir").symlink_to(outside, target_is_directory=True)
    (root / "alias.txt").symlink_to(root / "real.txt")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling").symlink_to(root / "nope")
    snap = load_directory(root)
    assert list(snap.paths()) == ["alias.txt", "real.txt", "sub/x.txt"]
    assert snap.read("alias.txt") == b"inside\n"
    got = reasons(snap)
    assert got["escape.txt"] == SkipReason.SYMLINK_OUTSIDE
    assert got["escape-dir"] == SkipReason.SYMLINK_OUTSIDE
    assert got["loop"] == SkipReason.SYMLINK_DIR
    assert got["dangling"] == SkipReason.NOT_REGULAR
    assert all(snap.read(p) != b"outside the root" for p in snap.paths())


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine runs tests as root (who reads any file), so the OS refusal is simulated.
    write(tmp_path, "locked.txt", "x")
    write(tmp_path, "ok.txt", "y")
    real_open = Path.open

    def refusing_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refusing_open)
    snap = load_directory(tmp_path)
    assert reasons(snap) == {"locked.txt": SkipReason.UNREADABLE}
    assert list(snap.paths()) == ["ok.txt"]


def test_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    write(tmp_path, "a.txt", "a")
    snap = load_directory(tmp_path)
    assert reasons(snap) == {"pipe": SkipReason.NOT_REGULAR}


def test_bad_root_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_directory(tmp_path / "nope")
    write(tmp_path, "f.txt", "x")
    with pytest.raises(NotADirectoryError):
        load_directory(tmp_path / "f.txt")


def test_progress_reports_every_file(tmp_path: Path) -> None:
    for i in range(5):
        write(tmp_path, f"f{i}.txt", "x")
    calls: list[tuple[int, int]] = []
    load_directory(tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]


def test_head_commit_is_read_from_git_dir(tmp_path: Path) -> None:
    sha = "a" * 40
    write(tmp_path, ".git/HEAD", "ref: refs/heads/main\n")
    write(tmp_path, ".git/refs/heads/main", sha + "\n")
    assert load_directory(tmp_path).commit == sha
    (tmp_path / ".git/refs/heads/main").unlink()
    write(tmp_path, ".git/packed-refs", f"# pack-refs\n{'b' * 40} refs/heads/main\n")
    assert load_directory(tmp_path).commit == "b" * 40


def test_shared_helpers() -> None:
    assert skip_reason_for_path("node_modules/x/y.js") == SkipReason.VENDORED
    assert skip_reason_for_path("src/vendor/lib.py") == SkipReason.VENDORED
    assert skip_reason_for_path("src/vendor.py") is None
    assert skip_reason_for_path("build.gradle") is None
    assert is_binary(b"abc\x00def")
    assert not is_binary("héllo".encode())
    assert not is_binary(b"a" * 9000 + b"\x00")  # past the sniff window, like git


def test_a_file_is_read_to_its_stat_size_and_past_it_only_when_it_grew() -> None:
    """Each file is asked for the size ``stat`` gave plus one byte (asking every file for
    the limit allocated a mebibyte a file); one that grew since is still read to one byte
    over the limit, so it is skipped as too large exactly as before."""
    data = bytes(range(256)) * 4  # 1,024 bytes
    assert _read_bounded(io.BytesIO(data), 1024, 4096) == data
    assert _read_bounded(io.BytesIO(data), 1024, 1024) == data
    assert _read_bounded(io.BytesIO(data), 10, 4096) == data  # grew, still under the limit
    assert _read_bounded(io.BytesIO(data), 10, 100) == data[:101]  # grew past it
    assert _read_bounded(io.BytesIO(data), 100, 100) == data[:101]
    assert _read_bounded(io.BytesIO(data[:5]), 10, 100) == data[:5]  # shrank
