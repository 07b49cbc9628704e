"""``push``: scans of the default branch; a secrets check of every other branch.

A push to any other branch gets a ``patchwell`` check run on its head for the lines the
branch adds over the default branch (:mod:`bot.scan.branch_check`): no PR, no comment
(a pull request from it gets the comment). Patchwell's own ``patchwell/*`` branches are
skipped: a push there by anyone else means a human took the branch over, and the next sync
sees a head it did not write, comments once and leaves it alone.
"""

from __future__ import annotations

from gidgethub.routing import Router

from bot.scan.branch_check import BranchTarget, check_branch
from bot.scan.engine import ScanRequest

router = Router()


@router.register("push")
async def push(event, gh, ctx) -> None:
    data = event.data
    ref = data.get("ref", "")
    repository = data.get("repository") or {}
    default = repository.get("default_branch")
    full_name = repository.get("full_name", "")
    if data.get("deleted") or not data.get("after"):
        await ctx.record("push", f"{ref}: branch deleted, nothing to scan")
        return
    if ref.startswith("refs/heads/patchwell/"):
        sender = (data.get("sender") or {}).get("login")
        await ctx.record("push", f"{ref} pushed by {sender}: checked at the next sync")
        return
    if ref != f"refs/heads/{default}":
        if not ref.startswith("refs/heads/") or not default:
            await ctx.record("push", f"{ref}: not a branch, ignored")
            return
        owner, _, repo = full_name.partition("/")
        engine = await ctx.scan_engine(gh)
        outcome = await check_branch(
            gh, engine.clients, BranchTarget(owner, repo, data["after"], default), engine.budget
        )
        await ctx.record(
            "push", f"{ref} at {data['after'][:12]}: branch check, {outcome.findings} secrets"
        )
        return
    owner, _, repo = full_name.partition("/")
    engine = await ctx.scan_engine(gh)
    outcome = await engine.scan(
        ScanRequest(
            owner,
            repo,
            data["installation"]["id"],
            reason="push",
            head_sha=data["after"],
            default_branch=default,
            before_sha=data.get("before"),
        )
    )
    await ctx.record(
        "push",
        f"{full_name} {ref} at {outcome.head_sha[:12]}: {outcome.mode}, "
        f"{outcome.findings} findings",
    )
