"""Apply a diff Patchwell printed with the real ``git apply``, in a scratch tree.

Shared by the diff tests and the suite-wide check in ``tests/conftest.py`` that
every diff a test produces applies to the files it was computed from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["GIT", "apply_diff"]

GIT = shutil.which("git")


def apply_diff(files: Mapping[str, bytes | None], diff: str) -> dict[str, bytes | None]:
    """``files`` (path -> bytes, ``None`` = absent) after ``git apply`` of ``diff``.

    Raises ``AssertionError`` with git's message when the diff does not apply.
    """
    assert GIT is not None, "git is needed to check diffs"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        for rel, data in files.items():
            if data is not None:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
        patch = Path(tmp) / "p.diff"
        patch.write_bytes(diff.encode("utf-8"))
        # Outside any repository (a ceiling at tmp): git applies paths as given.
        env = {**os.environ, "GIT_CEILING_DIRECTORIES": tmp}
        for args in (["apply", "--check"], ["apply"]):
            proc = subprocess.run(
                [GIT, *args, str(patch)], cwd=root, env=env, capture_output=True, text=True
            )
            assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr.strip()}\n{diff}"
        return {rel: (root / rel).read_bytes() if (root / rel).is_file() else None for rel in files}
