"""``pull_request``: Patchwell's PRs merged or closed by people.

A Patchwell PR that a person closes without merging means "not this change":
like Dependabot, Patchwell then stops proposing it (``@patchwell recreate`` on
the closed PR brings it back). Merged PRs need nothing: the next scan finds the
problem gone and deletes the branch.
"""

from __future__ import annotations

from dataclasses import replace

from gidgethub.routing import Router

from bot.scan.pulls import BRANCH_PREFIX

router = Router()


@router.register("pull_request", action="closed")
async def pull_request_closed(event, gh, ctx) -> None:
    data = event.data
    pr = data.get("pull_request") or {}
    branch = (pr.get("head") or {}).get("ref") or ""
    sender = data.get("sender") or {}
    full_name = (data.get("repository") or {}).get("full_name", "")
    if not branch.startswith(BRANCH_PREFIX) or pr.get("merged"):
        await ctx.record("pull_request", f"#{pr.get('number')} closed (merged {pr.get('merged')})")
        return
    if sender.get("type") == "Bot":
        await ctx.record("pull_request", f"#{pr.get('number')} closed by a bot")
        return
    record = (await ctx.store.branches(full_name)).get(branch)
    if record is not None and record.state != "closed":
        await ctx.store.save_branch(replace(record, state="ignored"))
    await ctx.record(
        "pull_request",
        f"#{pr.get('number')} closed unmerged by "
        f"{sender.get('login')}: {branch} ignored from now on",
    )


@router.register("pull_request")
async def pull_request(event, gh, ctx) -> None:
    if event.data.get("action") == "closed":
        return
    pr = event.data.get("pull_request") or {}
    await ctx.record("pull_request", f"action {event.data.get('action')} on #{pr.get('number')}")
