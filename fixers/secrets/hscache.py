"""Compiled Hyperscan databases kept on disk, so a scan process starts without compiling.

Compiling every rule takes about a second; loading the serialized database takes well
under a millisecond. Every ``patchwell scan`` and every sandboxed worker scan is a new
process, so without this each one pays the compile.

A database file is named by the SHA-256 of everything that shapes it (the patterns, their
flags and ids, the mode, the Hyperscan version and the machine), so a changed rule or a
different CPU never loads a stale database. Each file carries the SHA-256 of its payload:
a truncated or damaged file is recompiled, never handed to Hyperscan. Any problem with the
cache directory (read-only, full, absent) only means compiling, never a failed scan.

Where: ``$PATCHWELL_CACHE_DIR`` (what the worker sets), else ``$XDG_CACHE_HOME/patchwell``,
else ``~/.cache/patchwell``; then ``hyperscan/`` below it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

_MAGIC = b"PWHS1\n"
# A database of our rules is well under a megabyte; a bigger file is not ours.
MAX_DATABASE_BYTES = 64 * 1024 * 1024


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The Hyperscan cache directory for this environment (``None``: no usable home)."""
    env = os.environ if env is None else env
    base = env.get("PATCHWELL_CACHE_DIR")
    if not base and env.get("XDG_CACHE_HOME"):
        base = str(Path(env["XDG_CACHE_HOME"]) / "patchwell")
    if not base and env.get("HOME"):
        base = str(Path(env["HOME"]) / ".cache" / "patchwell")
    return Path(base) / "hyperscan" if base else None


def database_key(hs: Any, patterns: Sequence[bytes], flags: Sequence[int], mode: int) -> str:
    """What names a database file: every input of the compile, and where it runs."""
    h = hashlib.sha256()
    parts = [
        str(getattr(hs, "__version__", "?")).encode(),
        platform.machine().encode(),
        str(mode).encode(),
        *(f"{i}:{f}:".encode() + p for i, (p, f) in enumerate(zip(patterns, flags, strict=True))),
    ]
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def load_or_compile(
    hs: Any,
    key: str,
    mode: int,
    compile_db: Callable[[], Any],
    cache_dir: Path | None,
) -> Any:
    """The database named ``key`` from ``cache_dir``, or ``compile_db()`` (then stored)."""
    if cache_dir is None:
        return compile_db()
    path = cache_dir / f"{key}.hsdb"
    db = _load(hs, path, mode)
    if db is not None:
        return db
    db = compile_db()
    _store(hs, path, db)
    return db


def _load(hs: Any, path: Path, mode: int) -> Any:
    try:
        with path.open("rb") as handle:
            blob = handle.read(MAX_DATABASE_BYTES + 1)
    except OSError:
        return None
    head = len(_MAGIC) + 32
    if len(blob) > MAX_DATABASE_BYTES or len(blob) <= head or not blob.startswith(_MAGIC):
        return None
    digest, payload = blob[len(_MAGIC) : head], blob[head:]
    if hashlib.sha256(payload).digest() != digest:
        return None
    try:
        return hs.loadb(payload, mode)
    except hs.error:  # another Hyperscan build or CPU wrote it: recompile
        return None


def _store(hs: Any, path: Path, db: Any) -> None:
    """Write atomically (temp file + rename): a concurrent scan reads old or new, whole."""
    try:
        payload = hs.dumpb(db)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".hsdb")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except (OSError, hs.error):
        return  # no cache this time; the scan has its database already
