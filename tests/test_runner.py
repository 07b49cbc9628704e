"""The fixer runner: modes, ignores, ordering, crash isolation and patch re-checks.

The fixers here are small but real: they read the snapshot and compute their
findings and patches from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pytest

from fixers.contract import (
    Context,
    Explanation,
    FileEdit,
    Finding,
    MemorySnapshot,
    Patch,
    Services,
    Severity,
    Snapshot,
    fingerprint,
)
from fixers.repo_config import load_repo_config
from fixers.runner import CRASH_RULE, UnknownFixerError, run_fixers

EXPLAIN = Explanation("found", "why", "changes", "verify", "rollback")


@dataclass
class TodoFixer:
    """Reports each line containing TODO; its patch deletes those lines."""

    name: str = "todo"
    patterns: tuple[str, ...] = ("**/*",)
    scope: Literal["file", "repo"] = "file"
    severity: Severity = Severity.HYGIENE
    seen_contexts: list[Context] = field(default_factory=list)
    seen_paths: list[str] = field(default_factory=list)

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        self.seen_contexts.append(ctx)
        out = []
        for path in snapshot.paths():
            self.seen_paths.append(path)
            text = (snapshot.read(path) or b"").decode()
            for no, line in enumerate(text.splitlines(), start=1):
                if "TODO" in line:
                    out.append(
                        Finding(
                            self.name,
                            "todo-left",
                            self.severity,
                            f"TODO left in {path}",
                            fingerprint(self.name, path, line.strip()),
                            path=path,
                            line=no,
                        )
                    )
        return out

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        patches = []
        for path in sorted({f.path for f in findings if f.path}):
            text = (snapshot.read(path) or b"").decode()
            kept = "".join(ln for ln in text.splitlines(keepends=True) if "TODO" not in ln)
            patches.append(
                Patch(
                    self.name,
                    key=path.replace("/", "-"),
                    title=f"Remove TODOs from {path}",
                    edits=(FileEdit(path, "modify", kept.encode()),),
                    explanation=EXPLAIN,
                    severity=self.severity,
                    fingerprints=tuple(f.fingerprint for f in findings if f.path == path),
                )
            )
        return patches


@dataclass
class CrashingFixer:
    name: str = "crashy"
    patterns: tuple[str, ...] = ("**/*",)
    scope: Literal["file", "repo"] = "repo"
    stage: str = "detect"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        content = (snapshot.read("secret.txt") or b"").decode()
        if self.stage == "detect":
            raise ValueError(f"cannot parse {content}")
        return [Finding(self.name, "thing", Severity.DRIFT, "a thing", "fp-thing", path="a.txt")]

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        raise KeyError((snapshot.read("secret.txt") or b"").decode())


@dataclass
class BadPatchFixer:
    """Produces one finding and whatever patches it was built with."""

    patches: list[Patch]
    name: str = "badpatch"
    patterns: tuple[str, ...] = ("**/*",)
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        return [Finding(self.name, "r", Severity.DRIFT, "m", "fp-bad", path="a.txt", line=1)]

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        return self.patches


class Transient(Exception):
    pass


@dataclass
class FlakyFixer:
    name: str = "flaky"
    patterns: tuple[str, ...] = ("**/*",)
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        raise Transient("index timed out")

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        return []


SNAP = MemorySnapshot(
    {
        "a.txt": b"hello\n# TODO one\n",
        "docs/b.txt": b"TODO in docs\n",
        "secret.txt": b"sk_live_hunter2hunter2\n",
        "z/c.txt": b"fine\nTODO two\n",
    }
)


def config(text: str | None = None, known: Sequence[str] = ("todo", "crashy", "urgent")):
    cfg, problems = load_repo_config(text, known_fixers=known)
    assert problems == []
    return cfg


def test_findings_and_patches_with_defaults() -> None:
    todo = TodoFixer()
    result = run_fixers(SNAP, config(), Services(), fixers=[todo])
    assert [(f.path, f.line) for f in result.findings] == [
        ("a.txt", 2),
        ("docs/b.txt", 1),
        ("z/c.txt", 2),
    ]
    assert [p.patch.branch for p in result.patches] == [
        "patchwell/todo/a.txt",
        "patchwell/todo/docs-b.txt",
        "patchwell/todo/z-c.txt",
    ]
    assert all(p.should_open for p in result.patches)
    assert all(result.has_patch(f) for f in result.findings)
    assert result.errors == ()
    assert result.fixers_run == ("todo",)
    assert todo.seen_contexts[0].mode == "fix"


def test_findings_sorted_by_severity_then_path_and_line() -> None:
    low = TodoFixer(name="todo")
    high = TodoFixer(name="urgent", severity=Severity.VULNERABILITY)
    snap = MemorySnapshot({"b.txt": b"TODO\nTODO\n", "a.txt": b"x\nTODO\n"})
    result = run_fixers(snap, config(), Services(), fixers=[low, high])
    assert [(f.fixer, f.path, f.line) for f in result.findings] == [
        ("urgent", "a.txt", 2),
        ("urgent", "b.txt", 1),
        ("urgent", "b.txt", 2),
        ("todo", "a.txt", 2),
        ("todo", "b.txt", 1),
        ("todo", "b.txt", 2),
    ]
    assert [p.patch.fixer for p in result.patches] == ["urgent", "urgent", "todo", "todo"]


def test_ignore_paths_hide_files_from_fixers() -> None:
    todo = TodoFixer()
    result = run_fixers(SNAP, config('ignore-paths: ["docs/**"]'), Services(), fixers=[todo])
    assert "docs/b.txt" not in todo.seen_paths
    assert all(f.path != "docs/b.txt" for f in result.findings)
    assert todo.seen_contexts[0].ignore_paths == ("docs/**",)


def test_report_mode_computes_patches_but_marks_them_not_to_open() -> None:
    todo = TodoFixer()
    cfg = config("fixers:\n  todo: {mode: report}\n")
    result = run_fixers(SNAP, cfg, Services(), fixers=[todo])
    assert result.patches and not any(p.should_open for p in result.patches)
    assert {p.mode for p in result.patches} == {"report"}
    assert todo.seen_contexts[0].mode == "report"


def test_off_fixers_are_not_run() -> None:
    todo = TodoFixer()
    result = run_fixers(SNAP, config("fixers:\n  todo: off\n"), Services(), fixers=[todo])
    assert todo.seen_contexts == []
    assert result.findings == () and result.patches == ()
    assert result.fixers_off == ("todo",)


def test_options_reach_the_fixer() -> None:
    todo = TodoFixer(name="secrets")
    cfg, _ = load_repo_config("fixers:\n  secrets: {mode: fix, accepted: [abcdef12]}\n")
    run_fixers(SNAP, cfg, Services(), fixers=[todo])
    assert dict(todo.seen_contexts[0].options) == {"accepted": ["abcdef12"]}


def test_only_selects_and_rejects_unknown_names() -> None:
    todo, crashy = TodoFixer(), CrashingFixer()
    result = run_fixers(SNAP, config(), Services(), fixers=[todo, crashy], only="todo")
    assert result.fixers_run == ("todo",)
    with pytest.raises(UnknownFixerError, match="nope"):
        run_fixers(SNAP, config(), Services(), fixers=[todo], only=["todo", "nope"])


@pytest.mark.parametrize("stage", ["detect", "fix"])
def test_a_crashing_fixer_is_isolated_and_its_text_never_leaks(stage: str) -> None:
    todo = TodoFixer()
    result = run_fixers(SNAP, config(), Services(), fixers=[CrashingFixer(stage=stage), todo])
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.fixer == "crashy"
    expected_type = "ValueError" if stage == "detect" else "KeyError"
    assert error.message == f"{stage} raised {expected_type}"
    crashed = [f for f in result.findings if f.rule == CRASH_RULE]
    assert len(crashed) == 1 and expected_type in crashed[0].message
    # The other fixer still ran.
    assert sum(f.fixer == "todo" for f in result.findings) == 3
    everything = repr(result)
    assert "hunter2" not in everything
    if stage == "fix":  # detect's findings survive a crash in fix
        assert any(f.rule == "thing" for f in result.findings)


def test_reraise_lets_transient_errors_through() -> None:
    with pytest.raises(Transient):
        run_fixers(SNAP, config(), Services(), fixers=[FlakyFixer()], reraise=(Transient,))
    result = run_fixers(SNAP, config(), Services(), fixers=[FlakyFixer()])
    assert result.errors[0].message == "detect raised Transient"


def _patch(key: str, *edits: FileEdit, fixer: str = "badpatch") -> Patch:
    return Patch(fixer, key, "t", tuple(edits), EXPLAIN, Severity.DRIFT, ("fp-bad",))


@pytest.mark.parametrize(
    ("patch", "why"),
    [
        (_patch("empty"), "no edits"),
        (_patch("ign", FileEdit("docs/b.txt", "modify", b"x")), "ignored path"),
        (_patch("dots", FileEdit("../etc/passwd", "create", b"x")), "unsafe path"),
        (_patch("abs", FileEdit("/etc/passwd", "create", b"x")), "unsafe path"),
        (_patch("git", FileEdit(".git/config", "create", b"x")), "unsafe path"),
        (_patch("gone", FileEdit("nope.txt", "modify", b"x")), "missing file"),
        (_patch("gone2", FileEdit("nope.txt", "delete")), "missing file"),
        (_patch("same", FileEdit("a.txt", "modify", b"hello\n# TODO one\n")), "changes nothing"),
        (_patch("liar", FileEdit("a.txt", "delete"), fixer="todo"), "claims fixer"),
    ],
)
def test_unsound_patches_are_dropped_with_an_error(patch: Patch, why: str) -> None:
    fixer = BadPatchFixer([patch])
    result = run_fixers(SNAP, config('ignore-paths: ["docs/**"]'), Services(), fixers=[fixer])
    assert result.patches == ()
    assert len(result.errors) == 1 and why in result.errors[0].message
    assert not result.has_patch(result.findings[0])


def test_duplicate_branches_keep_the_first() -> None:
    first = _patch("k", FileEdit("a.txt", "delete"))
    second = _patch("k", FileEdit("z/c.txt", "delete"))
    result = run_fixers(SNAP, config(), Services(), fixers=[BadPatchFixer([first, second])])
    assert [p.patch for p in result.patches] == [first]
    assert "repeats branch" in result.errors[0].message


def test_skipped_files_are_carried_into_the_result() -> None:
    from fixers.contract import SkippedFile

    snap = MemorySnapshot({"a.txt": b"x"}, skipped=[SkippedFile("big.bin", "binary")])
    result = run_fixers(snap, config(), Services(), fixers=[TodoFixer()])
    assert result.skipped == (SkippedFile("big.bin", "binary"),)


def test_default_fixer_list_is_the_registry() -> None:
    from fixers.registry import all_fixers

    result = run_fixers(MemorySnapshot({}), config(known=()), Services())
    assert result.fixers_run == tuple(f.name for f in all_fixers())
