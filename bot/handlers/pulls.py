"""``pull_request``: Patchwell's PRs merged or closed by people.

A Patchwell PR that a person closes without merging means "not this change", said back in a
comment. For a dependency version update it is an ignore of that version (and older): a newer
release gets a new PR, like Dependabot. For anything else the change is not proposed again.
Either way the ignore is stored (:mod:`bot.scan.ignores`), shown on the dashboard, and
``@patchwell unignore NAME`` undoes it. Merged PRs need nothing: the next scan finds the
problem gone and deletes the branch.

Only Patchwell's own PRs count (:mod:`bot.scan.ownership`): a stranger's fork PR from a branch
named ``patchwell/...`` closes nothing of ours.
"""

from __future__ import annotations

from dataclasses import replace

import gidgethub
from gidgethub.routing import Router

from bot.scan.branch_check import BranchTarget, check_branch
from bot.scan.engine import SCAN_JOB, scan_payload, split_full_name
from bot.scan.ignores import IgnoreRule, IgnoreStore, up_to
from bot.scan.ownership import patchwell_record
from bot.scan.pulls import comment_once
from fixers.contract import Severity

router = Router()


@router.register("pull_request", action="closed")
async def pull_request_closed(event, gh, ctx) -> None:
    data = event.data
    pr = data.get("pull_request") or {}
    sender = data.get("sender") or {}
    full_name = (data.get("repository") or {}).get("full_name", "")
    number = pr.get("number")
    if pr.get("merged"):
        await ctx.record("pull_request", f"#{number} closed (merged True)")
        return
    bot_login = await ctx.bot_login()
    if sender.get("type") == "Bot" or (sender.get("login") or "").lower() == bot_login.lower():
        await ctx.record("pull_request", f"#{number} closed by a bot")
        return
    record = patchwell_record(pr, full_name, bot_login, await ctx.store.branches(full_name))
    if record is None:
        await ctx.record(
            "pull_request", f"#{number} closed: not an open Patchwell PR, nothing to do"
        )
        return
    # Recorded already: this job ran before and stopped (a fault at the comment or the branch
    # delete), or the delivery came again. The ignore stands; finish what may be missing.
    again = record.state in ("closed", "ignored")
    slug = bot_login.removesuffix("[bot]")
    who = sender.get("login") or "someone"
    store = IgnoreStore(ctx.db)
    subjects = await store.subjects(full_name, record.branch)
    ranges = [(s, up_to(s.new)) for s in subjects]
    if subjects and record.severity < Severity.VULNERABILITY and all(r for _, r in ranges):
        for s, spec in ranges:
            await store.add(
                IgnoreRule(
                    full_name, "versions", s.package, spec or "", f"#{number} closed by @{who}"
                )
            )
        state = "closed"
        listed = ", ".join(f"`{s.package}` {s.new}" for s in subjects)
        text = (
            f"OK: Patchwell will not propose {listed} (or anything older) again; a newer "
            f"release gets a new pull request. `@{slug} unignore "
            f"{subjects[0].package}` undoes this."
        )
    else:
        await store.add(
            IgnoreRule(full_name, "patch", record.branch, "", f"#{number} closed by @{who}")
        )
        state = "ignored"
        text = (
            "OK: Patchwell will not propose this change again. "
            f"`@{slug} unignore {record.branch}` undoes this."
        )
    if not again:
        await ctx.store.save_branch(replace(record, state=state))
    owner, repo = split_full_name(full_name)
    v = {"owner": owner, "repo": repo, "number": number}
    await comment_once(
        gh, owner, repo, number, bot_login=bot_login, marker="closed-unmerged", text=text
    )
    if record.state != "human" and not record.human_noticed:  # a person's commits stay
        try:
            await gh.delete(
                "/repos/{owner}/{repo}/git/refs/{+ref}", {**v, "ref": f"heads/{record.branch}"}
            )
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) not in (404, 422):
                raise
    if ctx.queue is not None:  # the dashboard shows the ignore, a waiting patch takes the slot
        installation_id = int((data.get("installation") or {}).get("id") or 0)
        await ctx.queue.enqueue(
            SCAN_JOB,
            scan_payload(owner, repo, installation_id, "closed"),
            repository=full_name,
            installation_id=installation_id,
            dedupe_key=f"scan:{full_name}:closed:{number}",
        )
    await ctx.record(
        "pull_request", f"#{number} closed unmerged by {who}: {record.branch} {state} from now on"
    )


BRANCH_CHECK_ACTIONS = ("opened", "synchronize", "reopened")


@router.register("pull_request")
async def pull_request(event, gh, ctx) -> None:
    action = event.data.get("action")
    if action == "closed":
        return
    pr = event.data.get("pull_request") or {}
    number = pr.get("number")
    if action not in BRANCH_CHECK_ACTIONS or not isinstance(number, int):
        await ctx.record("pull_request", f"action {action} on #{number}")
        return
    full_name = (event.data.get("repository") or {}).get("full_name", "")
    head, base = pr.get("head") or {}, pr.get("base") or {}
    own = (head.get("repo") or {}).get("full_name") == full_name and str(
        head.get("ref", "")
    ).startswith("patchwell/")
    if own or not head.get("sha") or not base.get("sha"):
        await ctx.record("pull_request", f"#{number} {action}: Patchwell's own branch, no check")
        return
    owner, repo = split_full_name(full_name)
    engine = await ctx.scan_engine(gh)
    outcome = await check_branch(
        gh,
        engine.clients,
        BranchTarget(owner, repo, head["sha"], base["sha"], number),
        engine.budget,
    )
    await ctx.record(
        "pull_request",
        f"#{number} {action} at {head['sha'][:12]}: branch check, {outcome.findings} secrets"
        + (", commented" if outcome.commented else ""),
    )
