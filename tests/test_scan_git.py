"""``patchwell scan`` in a git checkout reads what git tracks, and says what ``--offline`` skips."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from bot.cli_scan import build_parser, run_scan
from bot.git_listing import git_files
from tests.diffcheck import GIT

pytestmark = pytest.mark.skipif(GIT is None, reason="git is not installed")

APP = 'import os\nfrom flask import Flask\n\napp = Flask(__name__)\nKEY = os.environ["API_KEY"]\n'


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip


def checkout(root: Path) -> Path:
    (root / "app.py").write_text(APP)
    (root / ".gitignore").write_text(".env\n.env.*\n!.env.example\nlocal/\n")
    (root / ".env.example").write_text("API_KEY=\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    # A developer's own files: an ignored .env with a value, scratch output, a new module.
    (root / ".env").write_text("API_KEY=sk-local-only-value\n")
    (root / "local").mkdir()
    (root / "local" / "notes.py").write_text("x = 1\n")
    (root / "wip.py").write_text('import os\nTOKEN = os.environ["WIP_TOKEN"]\n')
    return root


def scan(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_scan(build_parser().parse_args([*argv, "--format", "json"]), stdout=out, stderr=err)
    return code, json.loads(out.getvalue()), err.getvalue()


def test_git_checkout_reads_only_tracked_files(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    _, data, _ = scan(str(root), "--offline", "--only", "env-names")
    assert data["source"] == "git"
    reasons = {s["path"]: s["reason"] for s in data["skipped"]["files"]}
    assert reasons == {"wip.py": "untracked", ".env": "git-ignored", "local/": "git-ignored"}
    rules = {(f["rule"], f["path"]) for f in data["findings"]}
    # The developer's .env is not "committed", and the untracked module's name is not asked for.
    assert not any(rule == "env-file-committed" for rule, _ in rules)
    assert ("env-example-missing", "wip.py") not in rules


def test_include_untracked_adds_what_git_add_would_commit(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    _, data, _ = scan(str(root), "--offline", "--only", "env-names", "--include-untracked")
    reasons = {s["path"]: s["reason"] for s in data["skipped"]["files"]}
    assert reasons == {".env": "git-ignored", "local/": "git-ignored"}
    assert ("env-example-missing", "wip.py") in {(f["rule"], f["path"]) for f in data["findings"]}


def test_plain_directory_is_walked(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    assert git_files(tmp_path).listing is None
    _, data, _ = scan(str(tmp_path), "--offline", "--only", "env-names")
    assert data["source"] == "directory"


def test_subdirectory_of_a_checkout_lists_relative_paths(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "svc").mkdir()
    (root / "svc" / "main.py").write_text("x = 1\n")
    git(root, "add", "svc")
    git(root, "commit", "-qm", "svc")
    listed = git_files(root / "svc")
    assert listed.listing is not None and listed.listing.paths == ("main.py",)


def test_offline_says_which_checks_it_skipped(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "requirements.txt").write_text("flask==3.0.0\n")
    git(root, "add", "requirements.txt")
    git(root, "commit", "-qm", "deps")
    _, data, err = scan(str(root), "--offline")
    assert any(c.startswith("dependencies: known vulnerabilities") for c in data["not_checked"])
    assert "not checked (--offline): dependencies: newer releases" in err
    _, data, err = scan(str(root), "--offline", "--only", "env-names")
    assert data["not_checked"] == [] and "not checked" not in err
