"""``issues``: ticks on the dashboard issue.

An ``edited`` delivery on the dashboard is compared with the body Patchwell last rendered.
Only boxes Patchwell rendered unticked and now ticked count ("open this PR now", "rescan
now"), and only from someone the collaborator permission API says may write -- never from the
payload's ``author_association``. A writer's tick queues the scan that acts on it (which then
re-renders the dashboard); anyone else's edit is reverted to what Patchwell rendered.
"""

from __future__ import annotations

from gidgethub.routing import Router

from bot.commands import may_command
from bot.scan.dashboard import RESCAN, Dashboard, DashboardStore, newly_ticked
from bot.scan.engine import SCAN_JOB, scan_payload, split_full_name

router = Router()


@router.register("issues", action="edited")
async def issue_edited(event, gh, ctx) -> None:
    data = event.data
    issue = data.get("issue") or {}
    sender = data.get("sender") or {}
    full_name = (data.get("repository") or {}).get("full_name", "")
    number = issue.get("number")
    row = await DashboardStore(ctx.db).row(full_name)
    if row is None or row.issue_number != number or row.body is None:
        await ctx.record("issues", f"#{number} edited: not the dashboard")
        return
    bot_login = await ctx.bot_login()
    login = sender.get("login") or ""
    if sender.get("type") == "Bot" or login.lower() == bot_login.lower():
        await ctx.record("issues", f"#{number} edited by a bot")
        return
    owner, repo = split_full_name(full_name)
    board = Dashboard(gh, ctx.db, owner=owner, repo=repo, bot_login=bot_login)
    permission = await gh.getitem(
        "/repos/{owner}/{repo}/collaborators/{user}/permission",
        {"owner": owner, "repo": repo, "user": login},
    )
    level = permission.get("role_name") or permission.get("permission")
    if not may_command(level):
        await board.show(number, row.body)
        await ctx.record("issues", f"#{number} edited by {login} ({level}): reverted")
        return
    ticked = newly_ticked(row.body, issue.get("body"))
    if not ticked:
        await ctx.record("issues", f"#{number} edited by {login}: no box ticked")
        return
    store = DashboardStore(ctx.db)
    for action, branch in ticked:
        if action == "open" and branch:
            await store.request(full_name, branch, login)
    installation_id = int((data.get("installation") or {}).get("id") or 0)
    await ctx.queue.enqueue(
        SCAN_JOB,
        scan_payload(owner, repo, installation_id, "dashboard"),
        repository=full_name,
        installation_id=installation_id,
        dedupe_key=f"scan:{full_name}:dashboard:{event.delivery_id}",
    )
    names = ", ".join(b or RESCAN for _, b in ticked)
    await ctx.record("issues", f"#{number} ticked by {login}: {names}; scan queued")
