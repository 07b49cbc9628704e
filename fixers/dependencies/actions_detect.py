"""GitHub Actions findings: outdated major versions and mutable refs under ``pin: sha``."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from fixers.contract import Finding, Severity
from fixers.dependencies.model import Dependency
from fixers.dependencies.policy import Policy
from fixers.dependencies.sources import ActionsCatalog
from fixers.dependencies.workflows import is_sha

_SEMVER_TAG = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


def _tag_version(tag: str) -> tuple[int, int, int] | None:
    m = _SEMVER_TAG.match(tag)
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def action_findings(
    deps: Sequence[Dependency], actions: ActionsCatalog | None, policy: Policy, finding: Any
) -> list[Finding]:
    """Findings for every action used (``finding`` builds a Finding, as in detect)."""
    by_action: dict[str, list[Dependency]] = defaultdict(list)
    for d in deps:
        by_action[d.name].append(d)
    out: list[Finding] = []
    for action, ds in sorted(by_action.items()):
        owner, repo = action.split("/", 1)
        tags: Sequence[tuple[str, str]] = ()
        if actions is not None:
            try:
                tags = actions.tags(owner, repo)
            except Exception:  # an injected GitHub client failing must not stop the scan
                tags = ()
        out += _one_action(action, ds, tags, policy, finding)
    return out


def _one_action(
    action: str,
    deps: Sequence[Dependency],
    tags: Sequence[tuple[str, str]],
    policy: Policy,
    _finding: Any,
) -> list[Finding]:
    versioned = sorted(
        ((v, t, sha) for t, sha in tags if (v := _tag_version(t)) is not None),
        key=lambda x: x[0],
    )
    latest = versioned[-1] if versioned else None
    out: list[Finding] = []
    outdated: list[Dependency] = []
    mutable: list[Dependency] = []
    for d in deps:
        ref = d.pinned or ""
        if is_sha(ref):
            tag = d.ref_comment or next((t for v, t, s in reversed(versioned) if s == ref), None)
            cur = _tag_version(tag) if tag else None
        else:
            cur = _tag_version(ref)
            if policy.actions_pin == "sha":
                mutable.append(d)
        if latest is not None and cur is not None and cur[0] < latest[0][0]:
            outdated.append(d)
    if latest is None:
        target_tag, target_sha = None, None
    else:
        target_tag, target_sha = latest[1], latest[2]
    data = {
        "ecosystem": "actions",
        "package": action,
        "target_tag": target_tag,
        "target_sha": target_sha,
        "major_tags": {str(v[0]): t for v, t, _s in versioned if t == f"v{v[0]}"},
        # For pinning a tag to its commit without changing version (bounded list).
        "tags": [[t, s] for _v, t, s in versioned[-300:]],
        "pin": policy.actions_pin,
    }
    if outdated:
        first = outdated[0]
        refs = sorted({d.ref_comment or d.pinned or "" for d in outdated})
        out.append(
            _finding(
                "action-outdated-major",
                Severity.DRIFT,
                f"{action} is used at {', '.join(refs)}; the newest major version is "
                f"{target_tag}. Old majors stop getting fixes (and runner updates).",
                (action,),
                path=first.file,
                line=first.line,
                title=f"{action} {refs[0]} -> {target_tag}",
                data={**data, "lines": [[d.file, d.line] for d in outdated]},
            )
        )
    if mutable:
        first = mutable[0]
        refs_text = ", ".join(sorted({d.pinned or "" for d in mutable}))
        out.append(
            _finding(
                "action-mutable-tag",
                Severity.HYGIENE,
                f"{action} is referenced by a mutable ref ({refs_text}) but the configuration "
                "asks for commit SHAs (actions: pin: sha). A tag can be moved to different "
                "code; a SHA cannot."
                + (
                    "" if tags else " The action's tags are not available, so no patch is proposed."
                ),
                (action, "mutable"),
                path=first.file,
                line=first.line,
                title=f"{action}: pin to a commit SHA",
                data={**data, "lines": [[d.file, d.line] for d in mutable]},
            )
        )
    return out
