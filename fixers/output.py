"""Rendering a :class:`~fixers.runner.ScanResult`: text, JSON, SARIF 2.1.0 and unified diffs.

Everything here is user-visible, so it is also where the last line of defence
against echoing a secret sits: a diff of a patch that removes a leaked secret
shows the removed lines masked, as it does any context line a secret finding
points at.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fixers.contract import Finding, Severity, Snapshot, mask, unified_diff
from fixers.repo_config import ConfigProblem
from fixers.runner import PlannedPatch, ScanResult

__all__ = [
    "JSON_FORMAT_VERSION",
    "SARIF_SCHEMA_URI",
    "ScanReport",
    "diff_is_masked",
    "patch_diff",
    "render_json",
    "render_sarif",
    "render_text",
    "to_json",
    "to_sarif",
]

JSON_FORMAT_VERSION = 1
TOOL_NAME = "patchwell"
TOOL_VERSION = "0.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
# JSON output lists at most this many skipped paths (counts per reason are always complete).
MAX_SKIPPED_LISTED = 500

_SARIF_LEVEL = {
    Severity.LEAKED_SECRET: "error",
    Severity.VULNERABILITY: "error",
    Severity.BROKEN_BUILD: "warning",
    Severity.DRIFT: "warning",
    Severity.HYGIENE: "note",
}
# GitHub code scanning ranks security results by this property (a CVSS-like score as a string).
_SECURITY_SEVERITY = {Severity.LEAKED_SECRET: "9.0", Severity.VULNERABILITY: "7.5"}
_BINARY = "GIT binary patch\n"
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")
# C0/C1 control characters other than tab and newline: a file name or a line of a
# hostile repository could otherwise drive the reader's terminal (ANSI escapes).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


@dataclass(frozen=True)
class ScanReport:
    """What a renderer needs: the result, the snapshot it came from, and the context around it."""

    result: ScanResult
    snapshot: Snapshot
    root: str = "."
    config_problems: Sequence[ConfigProblem] = field(default_factory=tuple)
    #: ``"git"`` when only what git tracks was read, ``"directory"`` for a whole-tree walk.
    source: str = "directory"
    #: Checks that did not run for want of a service (``--offline``), one line each.
    not_checked: Sequence[str] = field(default_factory=tuple)


# --------------------------------------------------------------------------- diffs


def _secret_lines(findings: Iterable[Finding]) -> dict[str, set[int]]:
    lines: dict[str, set[int]] = {}
    for f in findings:
        if f.severity == Severity.LEAKED_SECRET and f.path and f.line:
            last = f.end_line if f.end_line and f.end_line >= f.line else f.line
            lines.setdefault(f.path, set()).update(range(f.line, last + 1))
    return lines


def _masked_line(prefix: str, content: str) -> str:
    return f"{prefix}{mask(content.strip())}  [masked by patchwell: may hold a secret]\n"


def _mask_diff(diff: str, secret_lines: set[int], mask_removed: bool) -> str:
    """Mask removed lines (``mask_removed``) and old-side lines listed in ``secret_lines``."""
    out: list[str] = []
    old = 0
    # Split on "\n" only, as the diff was written (splitlines() would also split on \x0c...).
    for line in re.split(r"(?<=\n)", diff):
        if not line:
            continue
        hunk = _HUNK.match(line)
        if hunk:
            old = int(hunk.group(1))
            out.append(line)
            continue
        if line.startswith(("---", "+++")) and old == 0:
            out.append(line)
            continue
        kind = line[:1]
        if kind in {"-", " "}:
            secret = old in secret_lines or (kind == "-" and mask_removed)
            out.append(_masked_line(kind, line[1:]) if secret else line)
            old += 1
        else:
            out.append(line)
    return "".join(out)


def patch_diff(snapshot: Snapshot, planned: PlannedPatch, findings: Sequence[Finding] = ()) -> str:
    """The diff the patch's PR would carry, in the form ``git apply`` accepts, with
    secret-bearing lines masked (a masked diff shows the change but cannot apply:
    see :func:`diff_is_masked`)."""
    return _diff(snapshot, planned, findings)


def _diff(snapshot: Snapshot, planned: PlannedPatch, findings: Sequence[Finding]) -> str:
    secret_lines = _secret_lines(findings)
    # Every secrets patch removes a value: a hard-coded fallback's literal too (severity
    # "vulnerability", but a committed value all the same: `|| '<literal>'`).
    mask_removed = (
        planned.patch.severity == Severity.LEAKED_SECRET or planned.patch.fixer == "secrets"
    )
    parts = []
    for edit in planned.patch.edits:
        before = snapshot.read(edit.path)
        after = None if edit.action == "delete" else edit.content
        diff = unified_diff(edit.path, before, after)
        secret = secret_lines.get(edit.path, set())
        if _BINARY in diff and (secret or mask_removed):
            # A binary patch carries the whole file: never for one that may hold a secret.
            head = diff[: diff.index(_BINARY)]
            diff = head + f"Binary files a/{edit.path} and b/{edit.path} differ\n"
        parts.append(_mask_diff(diff, secret, mask_removed))
    return "".join(parts)


def diff_is_masked(
    snapshot: Snapshot, planned: PlannedPatch, findings: Sequence[Finding] = ()
) -> bool:
    """Whether :func:`patch_diff` hid lines: then ``git apply`` cannot take it, by design
    (the lines it would need are the secret)."""
    raw = "".join(
        unified_diff(e.path, snapshot.read(e.path), None if e.action == "delete" else e.content)
        for e in planned.patch.edits
    )
    return raw != _diff(snapshot, planned, findings)


# --------------------------------------------------------------------------- text


def _location(f: Finding) -> str:
    if not f.path:
        return "(repository)"
    return f"{f.path}:{f.line}" if f.line else f.path


def _skip_summary(result: ScanResult) -> str:
    counts = Counter(s.reason for s in result.skipped)
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_text(report: ScanReport, *, diff: bool = False) -> str:
    """Human-readable report; control characters from the repository are shown escaped."""
    result = report.result
    lines: list[str] = []
    for problem in report.config_problems:
        lines.append(f"config: {problem}")
    n = len(result.findings)
    lines.append(
        f"patchwell scan {report.root}: {n} finding{'s' if n != 1 else ''}, "
        f"{len(result.patches)} patch{'es' if len(result.patches) != 1 else ''}"
    )
    for f in result.findings:
        tag = " [patch]" if result.has_patch(f) else ""
        lines.append(f"  {f.severity.label:<13} {_location(f)}  {f.fixer}/{f.rule}{tag}")
        lines.append(f"      {f.message}")
    if result.fixers_off:
        lines.append(f"fixers off by config: {', '.join(result.fixers_off)}")
    for check in report.not_checked:
        lines.append(f"not checked: {check}")
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)} paths: {_skip_summary(result)}")
    for error in result.errors:
        lines.append(f"error: {error.fixer}: {error.message}")
    text = "\n".join(lines) + "\n"
    if diff:
        text += "".join(_text_patch(report, p) for p in result.patches)
    return _printable(text)


def _text_patch(report: ScanReport, planned: PlannedPatch) -> str:
    patch = planned.patch
    what = "would open a PR" if planned.should_open else "report mode: no PR"
    head = f"\n=== {patch.title}\n=== branch {patch.branch} ({what})\n"
    if diff_is_masked(report.snapshot, planned, report.result.findings):
        head += "=== lines that may hold a secret are masked: this diff does not apply as is\n"
    return head + patch_diff(report.snapshot, planned, report.result.findings)


# --------------------------------------------------------------------------- json


def _finding_json(f: Finding, result: ScanResult) -> dict[str, Any]:
    return {
        "fixer": f.fixer,
        "rule": f.rule,
        "severity": f.severity.label,
        "severity_rank": int(f.severity),
        "path": f.path,
        "line": f.line,
        "end_line": f.end_line,
        "title": f.title,
        "message": f.message,
        "fingerprint": f.fingerprint,
        "has_patch": result.has_patch(f),
    }


def _patch_json(report: ScanReport, planned: PlannedPatch, diff: bool) -> dict[str, Any]:
    patch = planned.patch
    out: dict[str, Any] = {
        "fixer": patch.fixer,
        "key": patch.key,
        "branch": patch.branch,
        "title": patch.title,
        "severity": patch.severity.label,
        "mode": planned.mode,
        "opens_pr": planned.should_open,
        "labels": list(patch.labels),
        "fingerprints": list(patch.fingerprints),
        "files": [{"path": e.path, "action": e.action} for e in patch.edits],
    }
    if diff:
        out["diff"] = patch_diff(report.snapshot, planned, report.result.findings)
        out["diff_masked"] = diff_is_masked(report.snapshot, planned, report.result.findings)
    return out


def to_json(report: ScanReport, *, diff: bool = False) -> dict[str, Any]:
    """The documented, stable JSON shape (see README, "patchwell scan")."""
    result = report.result
    counts = Counter(s.reason for s in result.skipped)
    return {
        "version": JSON_FORMAT_VERSION,
        "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "root": report.root,
        "commit": report.snapshot.commit,
        "findings": [_finding_json(f, result) for f in result.findings],
        "patches": [_patch_json(report, p, diff) for p in result.patches],
        "skipped": {
            "total": len(result.skipped),
            "by_reason": dict(sorted(counts.items())),
            "files": [
                {"path": s.path, "reason": s.reason} for s in result.skipped[:MAX_SKIPPED_LISTED]
            ],
        },
        "errors": [{"fixer": e.fixer, "message": e.message} for e in result.errors],
        "config_problems": [
            {"path": p.path, "line": p.line, "column": p.column, "message": p.message}
            for p in report.config_problems
        ],
        "fixers": {"run": list(result.fixers_run), "off": list(result.fixers_off)},
        "source": report.source,
        "not_checked": list(report.not_checked),
    }


def render_json(report: ScanReport, *, diff: bool = False) -> str:
    return json.dumps(to_json(report, diff=diff), indent=2) + "\n"


# --------------------------------------------------------------------------- sarif


def _rule_id(f: Finding) -> str:
    return f"{f.fixer}/{f.rule}"


def _sarif_rule(f: Finding) -> dict[str, Any]:
    properties: dict[str, Any] = {"tags": [f.fixer, f.severity.label]}
    if f.severity in _SECURITY_SEVERITY:
        properties["tags"].append("security")
        properties["security-severity"] = _SECURITY_SEVERITY[f.severity]
    return {
        "id": _rule_id(f),
        "name": f.rule,
        "shortDescription": {"text": f.title or f.rule},
        "defaultConfiguration": {"level": _SARIF_LEVEL[f.severity]},
        "properties": properties,
    }


def _sarif_location(f: Finding) -> dict[str, Any]:
    # GitHub code scanning requires a location on every result; a finding about
    # the repository as a whole (no path) is pinned to its root.
    region: dict[str, Any] = {"startLine": max(1, f.line or 1)}
    if f.end_line and f.end_line >= region["startLine"]:
        region["endLine"] = f.end_line
    uri = quote(f.path, safe="/") if f.path else "."
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
            "region": region,
        }
    }


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """A SARIF 2.1.0 log GitHub code scanning accepts (one run, rules in ``tool.driver``)."""
    result = report.result
    rules: dict[str, dict[str, Any]] = {}
    for f in result.findings:
        rules.setdefault(_rule_id(f), _sarif_rule(f))
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    results = [
        {
            "ruleId": _rule_id(f),
            "ruleIndex": index[_rule_id(f)],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [_sarif_location(f)],
            "partialFingerprints": {"patchwell/v1": f.fingerprint},
            "properties": {"has_patch": result.has_patch(f)},
        }
        for f in result.findings
    ]
    invocation: dict[str, Any] = {"executionSuccessful": not result.errors}
    if result.errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": f"{e.fixer}: {e.message}"}}
            for e in result.errors
        ]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": TOOL_VERSION,
                        "semanticVersion": TOOL_VERSION,
                        "rules": list(rules.values()),
                    }
                },
                "invocations": [invocation],
                "results": results,
                "properties": {"skipped": _skip_counts(result)},
            }
        ],
    }


def _skip_counts(result: ScanResult) -> Mapping[str, int]:
    return dict(sorted(Counter(s.reason for s in result.skipped).items()))


def render_sarif(report: ScanReport) -> str:
    return json.dumps(to_sarif(report), indent=2) + "\n"
