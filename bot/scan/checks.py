"""The ``patchwell`` check run on each scanned head commit.

Conclusion: ``failure`` when a high-severity finding exists (a leaked secret, a
known vulnerability) or ``.github/patchwell.yml`` has problems; ``neutral`` when
findings exist; ``success`` when clean. Annotations sit at file and line --
their messages are the fixers' own, which never hold a secret value -- and go
out at most 50 per request, as GitHub requires: the first batch with the
creating call, the rest as updates (GitHub appends them).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot.scan.state import StoredFinding
from fixers.contract import Severity, SkippedFile
from fixers.local import SkipReason
from fixers.repo_config import ConfigProblem

CHECK_NAME = "patchwell"
ANNOTATIONS_PER_REQUEST = 50
#: GitHub caps output.summary and output.text at 65,535 characters.
MAX_OUTPUT_CHARS = 65_000
MAX_SUMMARY_ROWS = 200
MAX_NAMED_SKIPS = 20


@dataclass(frozen=True)
class WaitingPatch:
    branch: str
    title: str
    severity: Severity


@dataclass(frozen=True)
class FailedPatch:
    """A patch GitHub refused to take (its other patches went on): why, in GitHub's words."""

    branch: str
    title: str
    status: int
    reason: str


@dataclass(frozen=True)
class CheckReport:
    findings: Sequence[StoredFinding]
    config_problems: Sequence[ConfigProblem] = ()
    waiting: Sequence[WaitingPatch] = ()
    skipped: Sequence[SkippedFile] = ()
    errors: Sequence[str] = ()
    open_prs: Sequence[tuple[int, str]] = field(default_factory=tuple)
    failed_patches: Sequence[FailedPatch] = ()
    #: The scan itself could not finish (the repository could not be read, retries ran
    #: out): what is known is unknown, said so instead of no check run at all.
    scan_failure: str | None = None

    @property
    def conclusion(self) -> str:
        if self.config_problems or any(f.severity.is_high for f in self.findings):
            return "failure"
        if self.findings or self.errors or self.scan_failure:
            return "neutral"
        return "success"

    @property
    def title(self) -> str:
        if self.scan_failure is not None:
            return "Patchwell could not scan this commit"
        if not self.findings and not self.config_problems:
            return "No problems found"
        parts = []
        if self.findings:
            counts = Counter(f.severity for f in self.findings)
            parts.append(
                ", ".join(f"{n} {s.label}" for s, n in sorted(counts.items(), reverse=True))
            )
        if self.config_problems:
            parts.append(f"{len(self.config_problems)} config problem(s)")
        return "; ".join(parts)


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")[:200]


def render_summary(report: CheckReport) -> str:
    lines: list[str] = []
    if report.scan_failure is not None:
        lines += [
            "### The scan did not finish",
            "",
            f"{_cell(report.scan_failure)}. Nothing here says this commit is clean: the next "
            "scan (a push, the periodic rescan or `@patchwell rescan`) tries again.",
            "",
        ]
    if report.config_problems:
        lines += ["### `.github/patchwell.yml` has problems (defaults used for those parts)", ""]
        lines += [
            f"- `{p.path}` line {p.line}, column {p.column}: {_cell(p.message)}"
            for p in report.config_problems
        ]
        lines.append("")
    if report.findings:
        lines += [
            "### Findings",
            "",
            "| severity | fixer | rule | where | finding | PR |",
            "|---|---|---|---|---|---|",
        ]
        for f in report.findings[:MAX_SUMMARY_ROWS]:
            where = (
                f"`{f.path}:{f.line}`" if f.path and f.line else (f"`{f.path}`" if f.path else "")
            )
            patch = "yes" if f.has_patch else "report only"
            lines.append(
                f"| {f.severity.label} | {f.fixer} | `{f.rule}` | {where} | "
                f"{_cell(f.title or f.message)} | {patch} |"
            )
        if len(report.findings) > MAX_SUMMARY_ROWS:
            lines.append(
                f"\n…and {len(report.findings) - MAX_SUMMARY_ROWS} more (see the annotations)."
            )
        lines.append("")
    if report.open_prs:
        lines += ["### Open Patchwell pull requests", ""]
        lines += [f"- #{n} {_cell(title)}" for n, title in report.open_prs]
        lines.append("")
    if report.waiting:
        lines += [
            "### Waiting for the open-pull-request limit",
            "",
            "These patches open as soon as an open Patchwell PR is merged or closed "
            "(raise `open-pull-requests-limit` in `.github/patchwell.yml` to open more):",
            "",
        ]
        lines += [f"- {w.severity.label}: {_cell(w.title)} (`{w.branch}`)" for w in report.waiting]
        lines.append("")
    if report.failed_patches:
        lines += ["### Patches GitHub refused (the others went ahead)", ""]
        lines += [
            f"- `{f.branch}` ({_cell(f.title)}): GitHub answered {f.status}: {_cell(f.reason)}"
            + (_WORKFLOWS_HINT if "workflows" in f.reason and f.status == 403 else "")
            for f in report.failed_patches
        ]
        lines.append("")
    if report.skipped:
        reasons = Counter(s.reason for s in report.skipped)
        lines += ["### Not scanned", ""]
        lines += [f"- {n} file(s): {reason}" for reason, n in sorted(reasons.items())]
        # Files too large to read are named: what they hold went unchecked (a leaked key
        # in one would otherwise pass as a clean scan).
        large = [s.path for s in report.skipped if s.reason == SkipReason.TOO_LARGE]
        lines += [f"  - `{_cell(p)}`" for p in large[:MAX_NAMED_SKIPS]]
        if len(large) > MAX_NAMED_SKIPS:
            lines.append(f"  - …and {len(large) - MAX_NAMED_SKIPS} more")
        lines.append("")
    if report.errors:
        lines += ["### Errors", ""] + [f"- {_cell(e)}" for e in report.errors] + [""]
    if not lines:
        lines = ["Patchwell found nothing to heal in this commit."]
    text = "\n".join(lines)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n…(truncated)"


_WORKFLOWS_HINT = (
    " -- accept the App's `workflows` permission (the installation's settings page) and "
    "Patchwell opens it on the next scan"
)


def _level(severity: Severity) -> str:
    if severity.is_high:
        return "failure"
    return "warning" if severity >= Severity.DRIFT else "notice"


def annotations(report: CheckReport) -> list[dict]:
    notes = [
        {
            "path": p.path,
            "start_line": max(1, p.line),
            "end_line": max(1, p.line),
            "annotation_level": "failure",
            "title": "patchwell.yml",
            "message": p.message[:4000],
        }
        for p in report.config_problems
    ]
    for f in report.findings:
        if not f.path:
            continue
        line = max(1, f.line or 1)
        notes.append(
            {
                "path": f.path,
                "start_line": line,
                "end_line": line,
                "annotation_level": _level(f.severity),
                "title": f"{f.fixer}: {f.rule}"[:255],
                "message": f.message[:4000],
            }
        )
    return notes


def findings_digest(report: CheckReport, run_key: str) -> str:
    """The scan and what its check run says about the commit (not the PR lists): its
    ``external_id``.

    The same scan running again on the same head (a retry, a job handed back while its writes
    were paced, a crash after publishing) finds its own run by this digest and reuses it
    instead of adding a duplicate. Another scan (a rescan someone asked for) posts its own.
    """
    facts = {
        "run": run_key,
        "conclusion": report.conclusion,
        "title": report.title,
        "summary": render_summary(replace(report, waiting=(), open_prs=(), failed_patches=())),
        "annotations": annotations(report),
    }
    encoded = json.dumps(facts, sort_keys=True, separators=(",", ":")).encode()
    return "patchwell:" + hashlib.sha256(encoded).hexdigest()[:32]


async def _existing_run(
    gh, owner: str, repo: str, head_sha: str, digest: str, expected_annotations: int, app_slug
) -> dict | None:
    """Our completed run on ``head_sha`` with the same findings, if a previous run made it."""
    async for run in gh.getiter(
        "/repos/{owner}/{repo}/commits/{ref}/check-runs{?check_name,filter,per_page}",
        {
            "owner": owner,
            "repo": repo,
            "ref": head_sha,
            "check_name": CHECK_NAME,
            "filter": "all",
            "per_page": 100,
        },
        iterable_key="check_runs",
    ):
        if app_slug is not None and (run.get("app") or {}).get("slug") != app_slug:
            continue  # another App's check run that happens to share our name
        output = run.get("output") or {}
        if (
            run.get("external_id") == digest
            and run.get("status") == "completed"
            and output.get("annotations_count") == expected_annotations
        ):
            return run
    return None


async def publish(
    gh,
    owner: str,
    repo: str,
    head_sha: str,
    report: CheckReport,
    *,
    run_key: str | None = None,
    app_slug: str | None = None,
) -> int:
    """The completed check run for ``head_sha`` (annotations in batches of 50); returns its id.

    With ``run_key`` (the job's identity) it is published once: a run the same scan already
    published with the same findings is reused, its summary brought up to date if the PR
    lists changed.
    """
    notes = annotations(report)
    output = {"title": report.title, "summary": render_summary(report)}
    digest = None
    if run_key is not None:
        digest = findings_digest(report, run_key)
        existing = await _existing_run(gh, owner, repo, head_sha, digest, len(notes), app_slug)
        if existing is not None:
            if (existing.get("output") or {}).get("summary") != output["summary"]:
                await update_summary(gh, owner, repo, existing["id"], report)
            return int(existing["id"])
    first, rest = notes[:ANNOTATIONS_PER_REQUEST], notes[ANNOTATIONS_PER_REQUEST:]
    created = await gh.post(
        "/repos/{owner}/{repo}/check-runs",
        {"owner": owner, "repo": repo},
        data={
            "name": CHECK_NAME,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": report.conclusion,
            **({"external_id": digest} if digest else {}),
            "output": {**output, "annotations": first},
        },
    )
    run_id = created["id"]
    for start in range(0, len(rest), ANNOTATIONS_PER_REQUEST):
        batch = rest[start : start + ANNOTATIONS_PER_REQUEST]
        await gh.patch(
            "/repos/{owner}/{repo}/check-runs/{run_id}",
            {"owner": owner, "repo": repo, "run_id": run_id},
            data={"output": {**output, "annotations": batch}},
        )
    return run_id


async def update_summary(gh, owner: str, repo: str, run_id: int, report: CheckReport) -> None:
    """Rewrite the run's title and summary (no annotations: GitHub would append them again)."""
    await gh.patch(
        "/repos/{owner}/{repo}/check-runs/{run_id}",
        {"owner": owner, "repo": repo, "run_id": run_id},
        data={"output": {"title": report.title, "summary": render_summary(report)}},
    )
