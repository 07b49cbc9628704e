"""PR bodies: what changes, why, what could break, how to roll back.

Every value shown comes from the index or the advisory database (via the
finding's data); text from outside is escaped for Markdown tables and bounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from fixers.contract import Explanation
from fixers.dependencies.conventions import Conventions

_GITHUB_REPO = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_SAFE_URL = re.compile(r"^https?://[^\s<>()\[\]|`]+$")


def cell(text: Any, limit: int = 160) -> str:
    """One Markdown table cell: no pipes, newlines or HTML from outside data."""
    value = str(text if text is not None else "")
    value = value.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def code(text: Any, limit: int = 80) -> str:
    """Inline code from outside data: backticks and newlines removed, bounded."""
    value = str(text if text is not None else "").replace("`", "'").replace("\n", " ")
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return f"`{value}`"


@dataclass(frozen=True, slots=True)
class Change:
    """One package moving from one version to another in this PR."""

    package: str
    old: str
    new: str
    data: Mapping[str, Any]
    files: tuple[str, ...]
    hashes_updated: bool = False
    left_alone: tuple[str, ...] = ()


def _date(iso: str | None) -> str:
    return iso[:10] if iso else "unknown"


def release_links(urls: Mapping[str, str], conv: Conventions) -> list[str]:
    """Release notes / changelog first, then the source, from the project's own URLs."""
    links = []
    for labels in (conv.changelog_labels, conv.source_labels):
        for label, url in urls.items():
            if label.strip().lower() in labels and _SAFE_URL.match(url) and len(links) < 3:
                entry = f"[{cell(label, 40)}]({url})"
                if entry not in links:
                    links.append(entry)
        if links and labels is conv.changelog_labels:
            return links
    # No changelog published: a GitHub source repository has a releases page.
    for url in urls.values():
        m = _GITHUB_REPO.match(url)
        if m and _SAFE_URL.match(url):
            return [f"[Releases](https://github.com/{m.group(1)}/releases)", *links][:3]
    return links


def change_table(changes: Sequence[Change], conv: Conventions) -> str:
    rows = ["| Package | From | To | Released | Notes |", "|---|---|---|---|---|"]
    for c in changes:
        links = release_links(c.data.get("urls") or {}, conv)
        released = _date((c.data.get("to_release") or {}).get("released"))
        rows.append(
            f"| `{cell(c.package, 80)}` | {cell(c.old)} | {cell(c.new)} | {released} | "
            f"{', '.join(links) or 'no links published'} |"
        )
    return "\n".join(rows)


def advisory_table(changes: Sequence[Change]) -> str:
    rows = []
    for c in changes:
        for a in c.data.get("advisories") or []:
            ids = ", ".join([a["id"], *a.get("aliases", [])])
            severity = cell(a.get("severity") or "unknown")
            fixed = cell(", ".join(a.get("fixed") or []) or "none")
            summary = cell(a.get("summary") or "")
            rows.append(
                f"| `{cell(c.package, 80)}` | {cell(ids, 200)} | {severity} | {summary} | {fixed} |"
            )
    if not rows:
        return ""
    head = "| Package | Advisory | Severity | Summary | Fixed in |\n|---|---|---|---|---|\n"
    return head + "\n".join(rows)


def risks(changes: Sequence[Change]) -> str:
    notes = []
    for c in changes:
        kind = c.data.get("update_type")
        if kind == "major":
            notes.append(
                f"- **Major version bump** of `{c.package}` ({c.old} → {c.new}): expect breaking "
                "changes; read the release notes before merging."
            )
        old_py = (c.data.get("from_release") or {}).get("requires_python")
        new_py = (c.data.get("to_release") or {}).get("requires_python")
        if new_py and not _same_python(new_py, old_py):
            notes.append(
                f"- `{c.package}` {c.new} requires Python {code(new_py, 60)} "
                f"(was {code(old_py or 'unspecified', 60)})."
            )
        for note in c.left_alone:
            notes.append(f"- Left alone: {note}")
        if c.data.get("moved_with"):
            notes.append(
                f"- `{c.package}` moves because `{cell(c.data['moved_with'], 80)}` {c.new} "
                "does not install with the old version (found by resolving)."
            )
    if not notes:
        return "- Patch or minor updates only; no Python requirement changes reported by the index."
    return "\n".join(notes)


def _same_python(new: str, old: str | None) -> bool:
    """``>=3.7`` and ``>=3.7.0``, or the same clauses reordered, are no change: real
    indexes spell one release's requirement one way and the next release's another
    (found on miguelgrinberg/microblog: charset-normalizer, six)."""
    if old is None:
        return False
    try:
        return SpecifierSet(new) == SpecifierSet(old)
    except InvalidSpecifier:
        return new.strip() == old.strip()


def install_note(changes: Sequence[Change]) -> str:
    """What the resolver established for this PR's changes (``data["install"]``)."""
    infos = [(c.package, c.data["install"]) for c in changes if c.data.get("install")]
    if not infos:
        return ""
    unchecked = [(n, i) for n, i in infos if i.get("status") == "unchecked"]
    checked = [i for _n, i in infos if i.get("status") != "unchecked"]

    def why(info: Mapping[str, Any]) -> str:
        return cell(str(info.get("message") or "").removeprefix("not checked: "), 300)

    if not checked:
        return "Installability was **not checked**: " + why(unchecked[0][1])
    pythons = sorted({p for i in checked for p in i.get("python") or []})
    units = sorted({u for i in checked for u in i.get("units") or []})
    where = ", ".join(f"`{cell(u, 80)}`" for u in units[:5])
    notes = sorted({str(i.get("message")) for i in checked if i.get("message")})
    extra = cell(notes[0], 300) if notes else ""
    text = (
        f"Resolved with uv before this PR was opened: the full requirement set of {where} "
        f"installs with these versions on Python {', '.join(pythons)}{extra}."
    )
    if unchecked:
        names = ", ".join(f"`{n}`" for n, _i in unchecked[:5])
        text += f" Not checked: {names} ({why(unchecked[0][1])})."
    return text


def explain_pypi(changes: Sequence[Change], conv: Conventions, *, security: bool) -> Explanation:
    files = sorted({f for c in changes for f in c.files})
    advisories = advisory_table(changes)
    found = (
        "Known vulnerabilities in pinned dependencies:\n\n" + advisories
        if security
        else f"{len(changes)} dependenc{'y is' if len(changes) == 1 else 'ies are'} behind "
        "the newest release the project's Python allows."
    )
    why = (
        "The pinned versions are affected by the advisories above. This PR takes the "
        "**smallest** upgrade that fixes every known advisory, to keep the change reviewable."
        if security
        else "Small, regular upgrades are cheaper than one large one later, and keep security "
        "fixes one patch away. Releases younger than the cooldown are not proposed."
    )
    hashes = [c.package for c in changes if c.hashes_updated]
    changes_md = change_table(changes, conv) + "\n\nFiles: " + ", ".join(f"`{f}`" for f in files)
    changes_md += "\n\nOnly the version numbers change; comments, order and formatting are kept."
    if hashes:
        changes_md += f"\nHashes were refreshed from the package index for: {', '.join(hashes)}."
    changes_md += "\n\n#### What could break\n\n" + risks(changes)
    verify = (
        "Run the test suite on this branch (CI does). Check the release notes linked above for "
        "deprecations you use."
    )
    checked = install_note(changes)
    if checked:
        verify = checked + "\n\n" + verify
    rollback = (
        "Revert this PR, or pin back:\n\n```\n"
        + "\n".join(f"{c.package}=={c.old}" for c in changes)
        + "\n```"
    )
    return Explanation(found=found, why=why, changes=changes_md, verify=verify, rollback=rollback)


def explain_action(
    action: str,
    old_refs: Sequence[str],
    new_ref: str,
    tag: str | None,
    files: Sequence[str],
    *,
    major: bool,
    sha: bool,
) -> Explanation:
    what = f"`{action}` is used at {', '.join(f'`{cell(r, 60)}`' for r in old_refs)}."
    why_parts = []
    if major:
        why_parts.append("Old major versions of actions stop receiving fixes and runtime updates.")
    if sha:
        why_parts.append(
            "A tag can be re-pointed to different code; a commit SHA cannot. The `# vX.Y.Z` "
            "comment lets Dependabot and Patchwell keep the SHA current."
        )
    shown = f"`{new_ref}`" + (f" (`{tag}`)" if tag and tag != new_ref else "")
    changes = f"Every use in {', '.join(f'`{f}`' for f in files)} now points at {shown}."
    if major:
        changes += (
            "\n\n#### What could break\n\n- **Major version bump**: inputs and outputs may have "
            "changed; read the action's release notes."
        )
    return Explanation(
        found=what,
        why=" ".join(why_parts) or "Keeps workflow dependencies current.",
        changes=changes,
        verify="The workflows run on this PR; check they pass.",
        rollback=f"Revert this PR (the previous refs were {', '.join(old_refs)}).",
    )
