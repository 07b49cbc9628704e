"""A person's PR whose check failed: one comment, never a push to their branch.

The comment holds the diagnosis and the exact change: a review comment with a GitHub
``suggestion`` block when every line the fix touches is in the PR's diff (one click to
apply), else a conversation comment with the diff. One comment per PR and workflow:
a re-run or redelivery edits it (or leaves it, when nothing changed); a different
failure rewrites it in place; a later passing run marks it resolved.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.heal.store import HealCase
from bot.heal.text import Failure, fence, patch_diff, report_text
from bot.scan.sticky import delete_comment, upsert_comment, upsert_review_comment
from fixers.contract import MemorySnapshot
from fixers.heal.remedies import Remedy
from fixers.heal.signatures import Diagnosis

MAX_SUGGESTION_LINES = 12
_FOOTER = "\n\nPatchwell does not push to your branch."
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def comment_key(pr_number: int, workflow_path: str) -> str:
    return f"heal:pr{pr_number}:{workflow_path}"


def diff_lines(patch_text: str) -> set[int]:
    """New-side line numbers a PR file's diff shows (where a review comment may go)."""
    lines: set[int] = set()
    for text in patch_text.splitlines():
        m = _HUNK.match(text)
        if m:
            start, count = int(m.group(1)), int(m.group(2) or 1)
            lines |= set(range(start, start + count))
    return lines


def suggestion_for(before: bytes, after: bytes) -> tuple[int, int, str] | None:
    """(first line, last line, replacement text) when the change is one contiguous block
    of whole lines that a suggestion can express; None otherwise."""
    old = before.decode("utf-8", "replace").split("\n")
    new = after.decode("utf-8", "replace").split("\n")
    ops = [
        op
        for op in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    if len(ops) != 1:
        return None
    tag, i1, i2, j1, j2 = ops[0]
    if tag == "insert":  # a suggestion replaces lines: anchor on the line before
        if i1 == 0:
            return None
        i1 -= 1
        j1 -= 1
    if i2 - i1 > MAX_SUGGESTION_LINES or j2 - j1 > MAX_SUGGESTION_LINES or i2 <= i1:
        return None
    return i1 + 1, i2, "\n".join(new[j1:j2])


async def _pr_diff_lines(engine, owner: str, name: str, number: int) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    async for f in engine.gh.getiter(
        "/repos/{owner}/{repo}/pulls/{number}/files{?per_page}",
        {"owner": owner, "repo": name, "number": number, "per_page": 100},
    ):
        if isinstance(f.get("patch"), str):
            out[f["filename"]] = diff_lines(f["patch"])
    return out


def _intro(failure: Failure, d: Diagnosis) -> str:
    step = f" in step `{d.step}`" if d.step else ""
    return (
        f"🩹 [`{failure.workflow}` run]({failure.run_url}) · job [`{failure.job_name}`]"
        f"({failure.job_url}) failed at `{failure.head_sha[:12]}`{step}:\n\n"
        f"{fence(d.excerpt or (d.line,))}\n\n"
        f"**{d.title[:1].upper() + d.title[1:]}.** {d.signature.why}"
    )


@dataclass(frozen=True)
class PersonCause:
    """One recognised cause of a failure on a person's PR and what Patchwell would change."""

    failure: Failure  # the run and the job it failed in
    diagnosis: Diagnosis
    result: Remedy
    case: HealCase


async def _placed_suggestion(
    engine, owner: str, name: str, number: int, patch, snap: MemorySnapshot
) -> tuple[str, int, int, str] | None:
    """(path, first line, last line, text) when the whole fix is one block of lines the PR's
    diff shows (a suggestion can go there); None otherwise."""
    if len(patch.edits) != 1:
        return None
    edit = patch.edits[0]
    before = snap.read(edit.path)
    suggestion = suggestion_for(before, edit.content or b"") if before is not None else None
    if suggestion is None:
        return None
    in_diff = (await _pr_diff_lines(engine, owner, name, number)).get(edit.path, set())
    first, last, text = suggestion
    if all(line in in_diff for line in range(first, last + 1)):
        return edit.path, first, last, text
    return None


def _section(cause: PersonCause, snap: MemorySnapshot) -> str:
    """One cause as the conversation comment shows it: the diagnosis and the diff (or, with
    nothing to change, the report)."""
    failure, d, result = cause.failure, cause.diagnosis, cause.result
    if result.report is not None:
        return report_text(failure, d, result.report)
    patch = result.patches[0]
    before = {e.path: snap.read(e.path) for e in patch.edits}
    return (
        f"{_intro(failure, d)}\n\nThe fix ({patch.explanation.changes.strip()}) -- apply it "
        f"with `git apply`:\n\n{fence(patch_diff(patch, before).splitlines(), 'diff')}\n\n"
        f"Source: {d.signature.source}"
    )


async def on_person_failure(
    engine,
    owner: str,
    name: str,
    target,
    causes: Sequence[PersonCause],
    snap: MemorySnapshot,
    report,
) -> None:
    """One comment for every cause of this workflow's failure on the PR: a suggestion when
    there is one cause whose whole fix is on lines of the diff, else one conversation comment
    with each cause's diff or report. The same causes again write nothing."""
    if not causes:
        return
    number = int(target.pr_number)
    key = comment_key(number, causes[0].failure.workflow_path)
    told = [c for c in causes if c.result.report is not None or c.result.patches]
    for c in causes:
        if c not in told:
            report.skipped.append(f"{c.diagnosis.id}: {c.result.reason}")
            await engine.store.save(c.case.but(state="nofix", summary=c.result.reason or ""))
    if not told:
        return
    first = told[0]
    previous = await _previous_comment(engine, f"{owner}/{name}", first.case)
    placed = None
    if len(told) == 1 and first.result.patches:
        placed = await _placed_suggestion(
            engine, owner, name, number, first.result.patches[0], snap
        )
    if placed is not None:
        path, first_line, last_line, text = placed
        patch = first.result.patches[0]
        body = (
            f"{_intro(first.failure, first.diagnosis)}\n\nThe fix "
            f"({patch.explanation.changes.strip()}):\n\n"
            f"{fence(text.splitlines(), 'suggestion')}{_FOOTER}"
            f" Source: {first.diagnosis.signature.source}"
        )
        if previous and previous[1] == "issue":
            await delete_comment(engine.gh, owner, name, previous[0], "issue")
        sticky = await upsert_review_comment(
            engine.gh,
            owner,
            name,
            number,
            key,
            body,
            commit_id=first.failure.head_sha,
            path=path,
            line=last_line,
            start_line=first_line if first_line < last_line else None,
            bot_login=engine.bot_login,
        )
    else:
        body = "\n\n---\n\n".join(_section(c, snap) for c in told) + _FOOTER
        if previous and previous[1] == "review":
            await delete_comment(engine.gh, owner, name, previous[0], "review")
            previous = None
        sticky = await upsert_comment(
            engine.gh,
            owner,
            name,
            number,
            key,
            body,
            comment_id=previous[0] if previous else None,
            bot_login=engine.bot_login,
        )
    if sticky.changed:
        report.comments.append(sticky.id)
    for c in told:
        await engine.store.save(
            c.case.but(
                comment_id=sticky.id,
                comment_kind=sticky.kind,
                state="reported" if c.result.report is not None else "open",
                summary=c.diagnosis.title,
            )
        )


async def _previous_comment(engine, full: str, case: HealCase) -> tuple[int, str] | None:
    """The comment already on this PR for this workflow (any earlier cause)."""
    cases = await engine.store.for_target(full, "pull", case.pr_number, case.workflow_path)
    for other in [case, *cases]:
        if other.comment_id is not None and other.comment_kind:
            return other.comment_id, other.comment_kind
    return None


async def on_person_pass(engine, owner: str, name: str, target, failure: Failure, report) -> None:
    full = f"{owner}/{name}"
    number = int(target.pr_number)
    key = comment_key(number, failure.workflow_path)
    cases = await engine.store.for_target(full, "pull", number, failure.workflow_path)
    live = [c for c in cases if c.state in ("open", "reported") and c.comment_id is not None]
    if not live:
        return
    case = live[0]
    body = (
        f"✅ **Resolved.** [`{failure.workflow}` run]({failure.run_url}) passed at "
        f"`{failure.head_sha[:12]}`.\n\n<details><summary>What had failed</summary>\n\n"
        f"{case.summary}\n\n</details>"
    )
    if case.comment_kind == "review":
        # a resolved suggestion has nothing left to apply: say so in a conversation comment
        await delete_comment(engine.gh, owner, name, int(case.comment_id), "review")
        sticky = await upsert_comment(
            engine.gh, owner, name, number, key, body, bot_login=engine.bot_login
        )
    else:
        sticky = await upsert_comment(
            engine.gh,
            owner,
            name,
            number,
            key,
            body,
            comment_id=case.comment_id,
            bot_login=engine.bot_login,
        )
    report.comments.append(sticky.id)
    for c in live:
        await engine.store.save(c.but(state="resolved", comment_id=sticky.id, comment_kind="issue"))
