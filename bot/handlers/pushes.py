"""``push``: scans of the default branch.

Pushes to other branches are ignored -- except Patchwell's own ``patchwell/*``
branches, where a push by anyone else means a human took the branch over: the
next sync sees a head it did not write, comments once and leaves it alone.
"""

from __future__ import annotations

from gidgethub.routing import Router

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
        await ctx.record("push", f"{ref}: not the default branch, ignored")
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
