"""Secrets on every branch, before merge: what push protection does, as a check run.

A push to any branch other than the default (and Patchwell's own), and a pull request
opened, synchronized or reopened, gets a ``patchwell`` check run on its head commit that
looks only at the lines the branch adds (the compare API's diff against the default
branch, or the pull request's base): it fails on a newly added leaked secret, with
annotations that name the rule and the mask, never the value.

No pull request is ever opened against a person's branch. On a pull request, Patchwell
comments once with the fix (the replacement lines, which hold no value) and edits that
same comment when the branch changes; when the secret is gone the comment says so.
"""

from __future__ import annotations

import asyncio
import difflib
from dataclasses import dataclass

import gidgethub

from bot.github import GitHubClients
from bot.scan import checks, snapshot
from bot.scan.engine import COMPARE_FILE_LIMIT, added_lines_from_patch
from bot.scan.state import StoredFinding
from fixers.contract import Finding, MemorySnapshot, Patch, Services
from fixers.isolation import ScanBudget, run_budgeted
from fixers.registry import all_fixers
from fixers.repo_config import CONFIG_PATH, load_repo_config

MARKER = "<!-- patchwell:branch-secrets -->"
MAX_COMMENT_CHARS = 60_000
MAX_SUGGESTED_LINES = 40
_NO_DIFF = ("removed", "renamed")  # statuses whose entries carry no added lines


@dataclass(frozen=True)
class BranchTarget:
    owner: str
    repo: str
    head_sha: str
    base: str  # a branch name or a commit SHA to compare against
    pr_number: int | None = None


@dataclass(frozen=True)
class BranchOutcome:
    findings: int
    check_run_id: int
    commented: bool


async def _added(gh, t: BranchTarget) -> tuple[list[str], dict[str, set[int]] | None]:
    """(changed paths, added lines per path), or all lines when GitHub left diffs out."""
    compare = await gh.getitem(
        "/repos/{owner}/{repo}/compare/{basehead}",
        {"owner": t.owner, "repo": t.repo, "basehead": f"{t.base}...{t.head_sha}"},
    )
    files = [f for f in compare.get("files") or [] if isinstance(f.get("filename"), str)]
    changed = [f["filename"] for f in files if f.get("status") != "removed"]
    diffless = [f for f in files if "patch" not in f and f.get("status") not in _NO_DIFF]
    if len(files) >= COMPARE_FILE_LIMIT or diffless:
        return changed, None  # too big for the compare API: whole changed files count
    return changed, {
        f["filename"]: added_lines_from_patch(f["patch"]) for f in files if "patch" in f
    }


async def _snapshot(
    gh, clients: GitHubClients, t: BranchTarget, changed: list[str], added
) -> MemorySnapshot:
    if len(changed) <= snapshot.MAX_CONTENT_CALLS:
        return await snapshot.contents_snapshot(
            gh, t.owner, t.repo, t.head_sha, changed, changed=changed, added_lines=added
        )
    full = await snapshot.tarball_snapshot(gh, clients, t.owner, t.repo, t.head_sha)
    wanted = set(changed)
    return MemorySnapshot(
        {p: full.read(p) or b"" for p in full.paths() if p in wanted},
        commit=t.head_sha,
        all_paths=full.all_paths,
        skipped=[s for s in full.skipped if s.path in wanted],
        changed=changed,
        added_lines=added,
    )


def _scan(
    snap: MemorySnapshot, config_text: str | None, budget: ScanBudget
) -> tuple[list[Finding], list[Patch]]:
    """The secrets fixer alone, with the branch's own config (its accept-list and ignores), in a
    scan process under the budget like every scan: a branch is as hostile as a repository."""
    known = [f.name for f in all_fixers()]
    config, _problems = load_repo_config(config_text, known_fixers=known)
    result = run_budgeted(snap, config, Services(), only=["secrets"], budget=budget)
    return list(result.findings), [planned.patch for planned in result.patches]


async def check_branch(
    gh, clients: GitHubClients, t: BranchTarget, budget: ScanBudget | None = None
) -> BranchOutcome:
    changed, added = await _added(gh, t)
    snap = await _snapshot(gh, clients, t, changed, added)
    config = await snapshot.read_file(gh, t.owner, t.repo, CONFIG_PATH, t.head_sha)
    text = config.decode("utf-8", "replace") if config is not None else None
    findings, patches = await asyncio.to_thread(_scan, snap, text, budget or ScanBudget())
    patched = {fp for p in patches for fp in p.fingerprints}
    report = checks.CheckReport(
        findings=[StoredFinding.of(f, f.fingerprint in patched) for f in findings],
        skipped=snap.skipped,
    )
    run_id = await checks.publish(gh, t.owner, t.repo, t.head_sha, report)
    commented = False
    if t.pr_number is not None:
        # The comment asks for a rotation: only for what fails the check. A test's fake
        # password or a docs example stays in the check run, at low severity.
        leaked = [f for f in findings if f.severity.is_high]
        commented = await _comment(gh, t, leaked, patches, snap)
    return BranchOutcome(len(findings), run_id, commented)


def suggestion(snap: MemorySnapshot, patch: Patch) -> list[str]:
    """The fix as the lines to write: only the new side, which holds no secret value."""
    out: list[str] = []
    for edit in patch.edits:
        old = (snap.read(edit.path) or b"").decode("utf-8", "replace").splitlines()
        if edit.action == "delete":
            out.append(f"- delete `{edit.path}` (the file is the credential)")
            continue
        new = (edit.content or b"").decode("utf-8", "replace").splitlines()
        lines = [
            line[1:]
            for line in difflib.unified_diff(old, new, lineterm="", n=0)
            if line.startswith("+") and not line.startswith("+++")
        ]
        out.append(f"`{edit.path}`:\n```\n" + "\n".join(lines[:MAX_SUGGESTED_LINES]) + "\n```")
    return out


def comment_body(findings: list[Finding], patches: list[Patch], snap: MemorySnapshot) -> str:
    if not findings:
        return (
            f"{MARKER}\n**Patchwell:** no leaked secret in the lines this branch adds any more. "
            "If one was pushed earlier, rotate it: it is still in the branch's history."
        )
    rows = [
        f"- `{f.path}` line {f.line}: {f.title or f.rule} "
        f"(`{f.data.get('masked', '****')}`, accept-list id `{f.data.get('accept_fingerprint')}`)"
        for f in findings
    ]
    fixes = [s for p in patches for s in suggestion(snap, p)]
    body = (
        f"{MARKER}\n**Patchwell found credentials in the lines this branch adds** "
        "(values masked). Rotate each one now: it is in this branch's history even after "
        "the fix.\n\n" + "\n".join(rows)
    )
    if fixes:
        body += "\n\nThe fix (Patchwell does not push to your branch):\n\n" + "\n\n".join(fixes)
    return body[:MAX_COMMENT_CHARS]


async def _comment(gh, t: BranchTarget, findings, patches, snap) -> bool:
    """One comment per pull request, edited in place; none while there was never a finding."""
    v = {"owner": t.owner, "repo": t.repo, "number": t.pr_number}
    existing = None
    async for c in gh.getiter("/repos/{owner}/{repo}/issues/{number}/comments", v):
        if MARKER in (c.get("body") or ""):
            existing = c
            break
    if existing is None and not findings:
        return False
    body = comment_body(findings, patches, snap)
    if existing is not None:
        if existing.get("body") == body:
            return False
        try:
            await gh.patch(
                "/repos/{owner}/{repo}/issues/comments/{id}",
                {"owner": t.owner, "repo": t.repo, "id": existing["id"]},
                data={"body": body},
            )
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) != 404:
                raise
        return True
    await gh.post("/repos/{owner}/{repo}/issues/{number}/comments", v, data={"body": body})
    return True
