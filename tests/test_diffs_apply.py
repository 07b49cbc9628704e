"""Every diff Patchwell prints applies with the real ``git apply`` and yields the patch's bytes.

The shapes that broke before (no final newline, CRLF, deletions, empty files,
odd names, form feeds) each get a case; then every patch every fixer makes over
the example app and the production fixtures is applied and compared byte for
byte with the content the PR would commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixers.contract import (
    Explanation,
    FileEdit,
    Finding,
    MemorySnapshot,
    Patch,
    Services,
    Severity,
    unified_diff,
)
from fixers.local import load_directory
from fixers.output import diff_is_masked, patch_diff
from fixers.repo_config import RepoConfig
from fixers.runner import PlannedPatch, run_fixers
from tests.diffcheck import GIT, apply_diff

pytestmark = pytest.mark.skipif(GIT is None, reason="git is not installed")

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "no newline at end, before and after": ("a.txt", b"one\ntwo", b"one\nthree"),
    "newline added at end": ("a.txt", b"one\ntwo", b"one\ntwo\n"),
    "newline removed at end": ("a.txt", b"one\ntwo\n", b"one\ntwo"),
    "crlf": (".gitignore", b"node_modules\r\n.venv\r\n", b"node_modules\r\n.venv\r\n.env\r\n"),
    "crlf, no final newline": (".env.example", b"A=\r\nB=", b"A=\r\nB=\r\nC=\r\n"),
    "form feed and line separator kept inside a line": (
        "x.py",
        "a = 1\x0c\nb = '\u2028'\n".encode(),
        "a = 1\x0c\nb = '\u2028'\nc = 2\n".encode(),
    ),
    "lone carriage return": ("a.txt", b"one\rtwo\n", b"one\rtwo\nthree\n"),
    "created": ("new/PROD.md", None, b"# Production contract\n"),
    "created without final newline": ("new.txt", None, b"x"),
    "created empty": ("empty.txt", None, b""),
    "deleted": ("old.txt", b"gone\n", None),
    "deleted, no final newline": ("old.txt", b"gone", None),
    "deleted empty": ("empty.txt", b"", None),
    "emptied": ("a.txt", b"x\n", b""),
    "name with a space": ("dir name/a b.txt", b"1\n", b"2\n"),
    "name with non-ASCII and a quote": ('caf\u00e9 "q".txt', b"1\n", b"2\n"),
    "name with a tab": ("a\tb.txt", b"1\n", b"2\n"),
    "not UTF-8": ("latin.txt", b"caf\xe9\n", b"caf\xe9\nthe\n"),
    "not UTF-8, created": ("latin.txt", None, b"\xff\xfe"),
    "not UTF-8, deleted": ("latin.txt", b"\xff", None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_unified_diff_applies_with_git(name: str) -> None:
    path, before, after = CASES[name]
    diff = unified_diff(path, before, after)
    assert diff, "a change must produce a diff"
    assert apply_diff({path: before}, diff) == {path: after}


def test_no_change_no_diff() -> None:
    assert unified_diff("a.txt", b"x\n", b"x\n") == ""


def test_old_no_newline_diff_failed_git_apply() -> None:
    """The shape of the reported bug: difflib alone drops the marker and git refuses."""
    import difflib

    old = "".join(difflib.unified_diff(["one\n", "two"], ["one\n", "three"], "a/a.txt", "b/a.txt"))
    with pytest.raises(AssertionError, match="git apply"):
        apply_diff({"a.txt": b"one\ntwo"}, old)


def _planned(edits: tuple[FileEdit, ...], severity: Severity = Severity.HYGIENE) -> PlannedPatch:
    explanation = Explanation("f", "w", "c", "v", "r")
    patch = Patch("x", "k", "t", edits, explanation, severity)
    return PlannedPatch(patch, "fix")


def test_multi_file_patch_applies_as_one_diff() -> None:
    files = {"a.txt": b"1", "b.txt": b"gone\n", "c.txt": None}
    edits = (
        FileEdit("a.txt", "modify", b"1\n2"),
        FileEdit("b.txt", "delete"),
        FileEdit("c.txt", "create", b"new\n"),
    )
    planned = _planned(edits)
    diff = patch_diff(MemorySnapshot({k: v for k, v in files.items() if v is not None}), planned)
    assert not diff_is_masked(MemorySnapshot({}), _planned(()))
    assert apply_diff(files, diff) == {"a.txt": b"1\n2", "b.txt": None, "c.txt": b"new\n"}


def test_secret_patch_diff_is_masked_and_says_so() -> None:
    snapshot = MemorySnapshot({"s.py": b"KEY = 'hunter2hunter2'\n"})
    planned = _planned(
        (FileEdit("s.py", "modify", b"KEY = os.environ['KEY']\n"),), Severity.LEAKED_SECRET
    )
    diff = patch_diff(snapshot, planned)
    assert "hunter2hunter2" not in diff
    assert diff_is_masked(snapshot, planned)


def test_binary_patch_withheld_for_a_file_that_may_hold_a_secret() -> None:
    data = b"KEY = 'caf\xe9-s3cr3t-value'\n"
    snapshot = MemorySnapshot({"s.py": data})
    finding = Finding("secrets", "r", Severity.LEAKED_SECRET, "m", "fp", path="s.py", line=1)
    planned = _planned((FileEdit("s.py", "modify", data + b"x = 1\n"),))
    diff = patch_diff(snapshot, planned, [finding])
    assert "GIT binary patch" not in diff and "Binary files" in diff
    assert diff_is_masked(snapshot, planned, [finding])


def _trees() -> list[Path]:
    fixtures = ROOT / "tests" / "fixtures" / "production"
    return [ROOT / "examples" / "vibe-app", *sorted(p for p in fixtures.iterdir() if p.is_dir())]


@pytest.mark.parametrize("tree", _trees(), ids=lambda p: p.name)
def test_every_fixer_patch_on_fixtures_applies_exactly(tree: Path) -> None:
    snapshot = load_directory(tree)
    result = run_fixers(snapshot, RepoConfig(), Services())
    for planned in result.patches:
        if diff_is_masked(snapshot, planned, result.findings):
            continue
        diff = patch_diff(snapshot, planned, result.findings)
        files = {e.path: snapshot.read(e.path) for e in planned.patch.edits}
        expected = {e.path: e.content for e in planned.patch.edits}
        assert apply_diff(files, diff) == expected, planned.patch.branch
