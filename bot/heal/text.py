"""What the heal engine writes: the section in a heal PR's body, comments, the report.

Every quoted log line has been masked already (``fixers.heal.mask``); code fences are
chosen longer than any backtick run in the quote, so a log cannot close them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.scan.pulls import HEAL_BLOCK_END, HEAL_BLOCK_START
from fixers.contract import Patch, unified_diff
from fixers.heal.signatures import Diagnosis

STATUS_START = "<!-- patchwell:heal-status -->"
STATUS_END = "<!-- /patchwell:heal-status -->"
MAX_QUOTE_CHARS = 6000


@dataclass(frozen=True)
class Failure:
    """Where a diagnosis was made: the run, the job, the commit and the branch."""

    workflow: str
    workflow_path: str
    run_url: str
    job_name: str
    job_url: str
    head_sha: str
    branch: str


def fence(lines: Sequence[str], lang: str = "text") -> str:
    body = "\n".join(lines)[:MAX_QUOTE_CHARS]
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _where(f: Failure, d: Diagnosis) -> str:
    step = f" in step `{d.step}`" if d.step else ""
    return (
        f"[`{f.workflow}` run]({f.run_url}) · job [`{f.job_name}`]({f.job_url}) failed on "
        f"`{f.branch}` at `{f.head_sha[:12]}`{step}"
    )


def status_line(text: str) -> str:
    return f"{STATUS_START}\n{text}\n{STATUS_END}"


def waiting_status(f: Failure) -> str:
    return status_line(
        f"⏳ **Not verified yet.** This pull request's own `{f.workflow}` run "
        f"(`{f.workflow_path}`) is the check: Patchwell marks it here when it passes, and says "
        "so and stops if it fails the same way."
    )


def heal_block(f: Failure, d: Diagnosis) -> str:
    return "\n".join(
        [
            HEAL_BLOCK_START,
            f"**This heals a failing check.** {_where(f, d)}:",
            "",
            fence(d.excerpt or (d.line,)),
            "",
            f"Diagnosis: {d.title} (signature `{d.id}`, [source]({d.signature.source})).",
            "",
            waiting_status(f),
            HEAL_BLOCK_END,
        ]
    )


def replace_status(body: str, new_status: str) -> str:
    start, end = body.find(STATUS_START), body.find(STATUS_END)
    if start < 0 or end < start:
        return body
    return body[:start] + new_status + body[end + len(STATUS_END) :]


def strip_heal_block(body: str) -> str:
    start, end = body.find(HEAL_BLOCK_START), body.find(HEAL_BLOCK_END)
    if start < 0 or end < start:
        return body
    return (body[:start] + body[end + len(HEAL_BLOCK_END) :]).lstrip("\n")


def report_text(f: Failure, d: Diagnosis, report: str) -> str:
    return "\n".join(
        [
            f"{_where(f, d)}.",
            "",
            f"**{d.title[:1].upper() + d.title[1:]}.** {d.signature.why}",
            "",
            fence(report.splitlines()),
            "",
            "Patchwell proposes no change: which requirement should give way is the project's "
            f"call. Source: {d.signature.source}",
        ]
    )


def patch_diff(patch: Patch, before: dict[str, bytes | None]) -> str:
    return "".join(unified_diff(e.path, before.get(e.path), e.content) for e in patch.edits)
