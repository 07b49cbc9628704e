"""Is this pull request really Patchwell's?

A branch name proves nothing: anyone can open a PR from a fork whose branch is called
``patchwell/<fixer>/<key>``. Patchwell acts on a PR (a close read as "not this change", an
``ignore`` that deletes a branch) only when all of these hold: its head branch lives in the
base repository itself, the App opened it, and it is the PR number Patchwell recorded for that
branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.scan.pulls import is_own_pull
from bot.scan.state import BranchRecord


def patchwell_record(
    pull: Mapping[str, Any],
    full_name: str,
    bot_login: str,
    records: Mapping[str, BranchRecord],
) -> BranchRecord | None:
    """The branch record behind ``pull`` when it is Patchwell's own PR, else None."""
    if not is_own_pull(pull, full_name, bot_login):
        return None
    branch = pull["head"]["ref"]
    record = records.get(branch)
    if record is None or record.pr_number is None or record.pr_number != pull.get("number"):
        return None
    return record
