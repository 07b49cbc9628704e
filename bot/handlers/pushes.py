"""``push``: scans of the default branch, and Patchwell's own branches."""

from __future__ import annotations

from gidgethub.routing import Router

router = Router()


@router.register("push")
async def push(event, gh, ctx) -> None:
    data = event.data
    ref = data.get("ref", "")
    default = (data.get("repository") or {}).get("default_branch")
    on_default = ref == f"refs/heads/{default}"
    commits = data.get("commits") if isinstance(data.get("commits"), list) else []
    await ctx.record(
        "push",
        f"ref {ref} ({'default branch' if on_default else 'other branch'}), "
        f"{len(commits)} commits, head {str(data.get('after', ''))[:12]}",
    )
