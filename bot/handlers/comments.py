"""``issue_comment``: maintainers' commands on Patchwell's pull requests."""

from __future__ import annotations

from gidgethub.routing import Router

router = Router()


@router.register("issue_comment")
async def comment(event, gh, ctx) -> None:
    data = event.data
    issue = data.get("issue") if isinstance(data.get("issue"), dict) else {}
    author = (data.get("comment") or {}).get("user", {}) or {}
    # The comment body is untrusted text: recorded only by length, never echoed.
    body = (data.get("comment") or {}).get("body") or ""
    await ctx.record(
        "issue_comment",
        f"action {data.get('action')} on #{issue.get('number')} by {author.get('login')} "
        f"({'pull request' if issue.get('pull_request') else 'issue'}), {len(body)} chars",
    )
