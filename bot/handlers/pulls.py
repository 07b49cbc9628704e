"""``pull_request``: Patchwell's PRs being merged, closed or edited by people."""

from __future__ import annotations

from gidgethub.routing import Router

router = Router()


@router.register("pull_request")
async def pull_request(event, gh, ctx) -> None:
    data = event.data
    pr = data.get("pull_request") if isinstance(data.get("pull_request"), dict) else {}
    head = (pr.get("head") or {}).get("ref")
    await ctx.record(
        "pull_request",
        f"action {data.get('action')} on #{pr.get('number')} head {head} merged {pr.get('merged')}",
    )
