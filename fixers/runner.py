"""Run the fixers over one snapshot with one repository config: findings and patches.

Pure and I/O-free: the local CLI and the GitHub engine both call
:func:`run_fixers` and differ only in how they got the snapshot and what they
do with the result. One fixer failing never costs the others their results: it
becomes a :class:`ScanError` and a ``fixer-crashed`` finding, so a bug in one
detector is visible instead of looking like a clean repository.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fixers.contract import (
    Context,
    Finding,
    Fixer,
    MemorySnapshot,
    Patch,
    Services,
    Severity,
    SkippedFile,
    Snapshot,
    fingerprint,
)
from fixers.repo_config import FixerMode, RepoConfig

__all__ = [
    "CRASH_RULE",
    "FixerOutcome",
    "PlannedPatch",
    "ScanError",
    "ScanPlan",
    "ScanResult",
    "UnknownFixerError",
    "assemble",
    "plan_scan",
    "run_fixers",
    "run_one",
]

CRASH_RULE = "fixer-crashed"


class UnknownFixerError(ValueError):
    """``only`` named a fixer that is not registered (a usage error)."""

    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        super().__init__(
            f"unknown fixer(s): {', '.join(unknown)} (known: {', '.join(known) or 'none'})"
        )
        self.unknown = tuple(unknown)
        self.known = tuple(known)


@dataclass(frozen=True, slots=True)
class ScanError:
    """A fixer that failed, or a patch the engine refused. Never carries file content."""

    fixer: str
    message: str


@dataclass(frozen=True, slots=True)
class PlannedPatch:
    """A patch plus what the engine may do with it.

    ``mode == "report"`` patches are computed (``scan --diff`` shows them) but
    the GitHub engine must not open a PR for them.
    """

    patch: Patch
    mode: FixerMode

    @property
    def should_open(self) -> bool:
        return self.mode == "fix"


@dataclass(frozen=True, slots=True)
class ScanResult:
    findings: tuple[Finding, ...]
    patches: tuple[PlannedPatch, ...]
    errors: tuple[ScanError, ...]
    skipped: tuple[SkippedFile, ...]
    fixers_run: tuple[str, ...]
    fixers_off: tuple[str, ...]

    @property
    def patched_fingerprints(self) -> frozenset[str]:
        return frozenset(fp for planned in self.patches for fp in planned.patch.fingerprints)

    @property
    def withdrawn_fingerprints(self) -> frozenset[str]:
        """Findings a fixer checked in full and chose not to patch (a lock it cannot update,
        a file it cannot rewrite safely): a PR proposed for them earlier no longer stands.
        A fixer that crashed, was stopped or could not check everything says nothing here,
        nor does a finding whose patch it left undecided."""
        unsure = {e.fixer for e in self.errors} | {f.fixer for f in self.findings if f.incomplete}
        patched = self.patched_fingerprints
        return frozenset(
            f.fingerprint
            for f in self.findings
            if f.fixer not in unsure and f.fingerprint not in patched and not f.undecided
        )

    def has_patch(self, finding: Finding) -> bool:
        return finding.fingerprint in self.patched_fingerprints


def _select(fixers: Sequence[Fixer], only: str | Iterable[str] | None) -> list[Fixer]:
    if only is None:
        return list(fixers)
    wanted = [only] if isinstance(only, str) else list(only)
    known = [f.name for f in fixers]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UnknownFixerError(unknown, known)
    return [f for f in fixers if f.name in wanted]


def _visible(snapshot: Snapshot, ignore_paths: tuple[str, ...]) -> Snapshot:
    """The snapshot without repo-wide ignored paths: no fixer reads them.

    Ignored paths stay in ``all_paths`` (existence checks still see them).
    """
    if not ignore_paths:
        return snapshot
    ctx = Context(ignore_paths=ignore_paths)
    files = {}
    for path in snapshot.paths():
        data = snapshot.read(path)
        if data is not None and not ctx.ignored(path):
            files[path] = data
    return MemorySnapshot(
        files,
        commit=snapshot.commit,
        all_paths=snapshot.all_paths,
        skipped=snapshot.skipped,
        changed=snapshot.changed,
        added_lines=snapshot.added_lines,
    )


def _crash(fixer: str, stage: str, exc: BaseException) -> tuple[ScanError, Finding]:
    # Only the exception's type: its text may quote file content (a secret).
    kind = type(exc).__name__
    error = ScanError(fixer, f"{stage} raised {kind}")
    finding = Finding(
        fixer=fixer,
        rule=CRASH_RULE,
        severity=Severity.HYGIENE,
        message=f"The {fixer} fixer crashed in {stage} ({kind}); its results are missing.",
        fingerprint=fingerprint(fixer, CRASH_RULE, stage),
        title=f"{fixer} fixer crashed",
        # Its other results are missing, not resolved: keep what the last scan knew.
        incomplete=True,
    )
    return error, finding


def _unsafe(path: str) -> bool:
    norm = posixpath.normpath(path)
    return (
        not path
        or path.startswith("/")
        or "\\" in path
        or norm != path
        or norm.split("/")[0] in {"..", ".git"}
    )


def _check_patch(
    patch: Patch, name: str, snapshot: Snapshot, ctx: Context, out: _Collector
) -> str | None:
    """Why ``patch`` must be dropped, or ``None`` when it is sound."""
    if patch.fixer != name:
        return f"patch {patch.key!r} claims fixer {patch.fixer!r}; dropped"
    if not patch.edits:
        return f"patch {patch.key!r} has no edits; dropped"
    if patch.branch in out.branches:
        return f"patch {patch.key!r} repeats branch {patch.branch}; dropped"
    changes = False
    for edit in patch.edits:
        if _unsafe(edit.path):
            return f"patch {patch.key!r} edits an unsafe path; dropped"
        if ctx.ignored(edit.path):
            return f"patch {patch.key!r} edits ignored path {edit.path}; dropped"
        if edit.action != "create" and edit.path not in out.existing:
            return f"patch {patch.key!r} would {edit.action} missing file {edit.path}; dropped"
        changes = changes or edit.action == "delete" or snapshot.read(edit.path) != edit.content
    if not changes:
        return f"patch {patch.key!r} changes nothing; dropped"
    return None


@dataclass
class _Collector:
    findings: list[Finding]
    patches: list[PlannedPatch]
    errors: list[ScanError]
    branches: set[str]
    existing: frozenset[str]


def _run_one(
    fixer: Fixer,
    snapshot: Snapshot,
    ctx: Context,
    out: _Collector,
    reraise: tuple[type[BaseException], ...],
) -> None:
    name = fixer.name
    try:
        found = [f for f in fixer.detect(snapshot, ctx) if not (f.path and ctx.ignored(f.path))]
    except reraise:
        raise
    except Exception as exc:
        error, finding = _crash(name, "detect", exc)
        out.errors.append(error)
        out.findings.append(finding)
        return
    out.findings.extend(found)
    if not found:
        return
    try:
        patches = fixer.fix(snapshot, found, ctx)
    except reraise:
        raise
    except Exception as exc:
        error, finding = _crash(name, "fix", exc)
        out.errors.append(error)
        out.findings.append(finding)
        return
    for patch in patches:
        problem = _check_patch(patch, name, snapshot, ctx, out)
        if problem is not None:
            out.errors.append(ScanError(name, problem))
            continue
        out.branches.add(patch.branch)
        out.patches.append(PlannedPatch(patch, ctx.mode))


def _finding_order(f: Finding) -> tuple[int, str, int, str, str, str]:
    return (-int(f.severity), f.path or "", f.line or 0, f.fixer, f.rule, f.fingerprint)


@dataclass(frozen=True, slots=True)
class FixerOutcome:
    """What one fixer produced: plain data, so it can come back from a child process."""

    fixer: str
    findings: tuple[Finding, ...]
    patches: tuple[PlannedPatch, ...]
    errors: tuple[ScanError, ...]


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """Which fixers run over which view of the snapshot (the repo-wide ignores applied)."""

    run: tuple[Fixer, ...]
    off: tuple[str, ...]
    visible: Snapshot
    existing: frozenset[str]


def plan_scan(
    snapshot: Snapshot,
    config: RepoConfig,
    fixers: Sequence[Fixer] | None = None,
    only: str | Iterable[str] | None = None,
) -> ScanPlan:
    """The fixers to run (``only`` naming an unknown one raises :class:`UnknownFixerError`)."""
    if only is not None and not isinstance(only, str):
        only = list(only)  # read twice below
    if fixers is None:
        fixers = _registry(only)
    selected = _select(fixers, only)
    run = tuple(f for f in selected if config.mode_for(f.name) != "off")
    off = tuple(f.name for f in selected if config.mode_for(f.name) == "off")
    existing = frozenset(snapshot.all_paths) | set(snapshot.paths())
    return ScanPlan(run, off, _visible(snapshot, config.ignore_paths), existing)


def _registry(only: str | list[str] | None) -> list[Fixer]:
    """The registry's fixers ``only`` names (all without it), importing only those."""
    from fixers.registry import all_fixers, fixer_names, fixers_named  # late: fixers import

    if only is None:
        return all_fixers()
    wanted = [only] if isinstance(only, str) else only
    known = fixer_names()
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UnknownFixerError(unknown, known)
    return fixers_named(wanted)


def run_one(
    fixer: Fixer,
    plan: ScanPlan,
    config: RepoConfig,
    services: Services,
    reraise: tuple[type[BaseException], ...] = (),
) -> FixerOutcome:
    """One fixer over the plan's snapshot; its crash is its own outcome, never the scan's."""
    out = _Collector([], [], [], set(), plan.existing)
    ctx = config.context_for(fixer.name, services)
    _run_one(fixer, plan.visible, ctx, out, reraise)
    return FixerOutcome(fixer.name, tuple(out.findings), tuple(out.patches), tuple(out.errors))


def assemble(snapshot: Snapshot, plan: ScanPlan, outcomes: Sequence[FixerOutcome]) -> ScanResult:
    """The scan's result from its fixers' outcomes (in any order)."""
    findings = [f for o in outcomes for f in o.findings]
    patches = [p for o in outcomes for p in o.patches]
    return ScanResult(
        findings=tuple(sorted(findings, key=_finding_order)),
        patches=tuple(sorted(patches, key=lambda p: (-int(p.patch.severity), p.patch.branch))),
        errors=tuple(e for o in outcomes for e in o.errors),
        skipped=tuple(snapshot.skipped),
        fixers_run=tuple(f.name for f in plan.run),
        fixers_off=plan.off,
    )


def run_fixers(
    snapshot: Snapshot,
    config: RepoConfig,
    services: Services,
    *,
    fixers: Sequence[Fixer] | None = None,
    only: str | Iterable[str] | None = None,
    reraise: tuple[type[BaseException], ...] = (),
) -> ScanResult:
    """Run every fixer (or those named in ``only``) that ``config`` does not turn off.

    ``fixers`` defaults to the registry. ``only`` naming an unregistered fixer
    raises :class:`UnknownFixerError`. Exceptions of the ``reraise`` types
    propagate (the GitHub engine passes its transient-error type so a timeout
    at the package index retries the job instead of reporting a crash).
    """
    plan = plan_scan(snapshot, config, fixers, only)
    outcomes = [run_one(f, plan, config, services, reraise) for f in plan.run]
    return assemble(snapshot, plan, outcomes)
