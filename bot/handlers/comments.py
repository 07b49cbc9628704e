"""``issue_comment``: maintainers' commands on Patchwell's PRs and on its dashboard issue.

What happens to a comment:

1. Only ``created`` comments count: an edited or deleted comment never runs a command (an edit
   would run it twice, and a deletion is someone taking it back). Bots, Patchwell included,
   never command.
2. The commands are parsed for ``@<slug>`` (the slug from ``GET /app``). Nothing addressed to
   the App: nothing is done, nothing is written.
3. The target must be Patchwell's own PR (see :mod:`bot.scan.ownership`) or the dashboard.
4. 👀 on the comment at once, so the person knows it was seen.
5. The author's permission comes from the collaborator permission API (never the payload's
   ``author_association``). Without write access: 😕, and one short refusal per person per PR.
6. Each command runs (:mod:`bot.handlers.command_actions`) and answers with a reply, or with
   👍/😕 where a reply would be noise.
"""

from __future__ import annotations

from gidgethub.routing import Router

from bot.commands import may_command, parse_commands
from bot.handlers.command_actions import Target, react, run_command, say
from bot.scan.dashboard import DashboardStore
from bot.scan.engine import split_full_name
from bot.scan.ignores import IgnoreStore
from bot.scan.ownership import patchwell_record

router = Router()


@router.register("issue_comment", action="created")
async def comment(event, gh, ctx) -> None:
    data = event.data
    issue = data.get("issue") or {}
    note = data.get("comment") or {}
    author = note.get("user") or {}
    login = author.get("login") or ""
    bot_login = await ctx.bot_login()
    number = issue.get("number")
    if author.get("type") == "Bot" or login.lower() == bot_login.lower() or not login:
        await ctx.record("issue_comment", f"#{number}: by a bot, not read")
        return
    slug = bot_login.removesuffix("[bot]")
    commands = parse_commands(note.get("body") or "", slug)
    if not commands:
        await ctx.record("issue_comment", f"#{number}: no command for Patchwell")
        return
    full_name = data["repository"]["full_name"]
    installation_id = int((data.get("installation") or {}).get("id") or 0)
    target = await _target(gh, ctx, full_name, issue, bot_login, installation_id)
    if target is None:
        await ctx.record("issue_comment", f"#{number}: not a Patchwell PR or dashboard, ignored")
        return
    await react(gh, target, note["id"], "eyes")
    permission = await gh.getitem(
        "/repos/{owner}/{repo}/collaborators/{user}/permission", {**target.vars, "user": login}
    )
    level = permission.get("role_name") or permission.get("permission")
    if not may_command(level):
        await react(gh, target, note["id"], "confused")
        if await IgnoreStore(ctx.db).refuse_once(full_name, target.number, login):
            await say(
                gh,
                target,
                f"@{login} only people with write access to this repository can give "
                "Patchwell commands.",
            )
        await ctx.record("issue_comment", f"#{number}: {login} ({level}) refused")
        return
    outcomes = []
    for command in commands:
        outcomes.append(await run_command(command, gh, ctx, target, note["id"], login, slug))
    await ctx.record("issue_comment", f"#{number}: {login} ran " + "; ".join(outcomes))


async def _target(
    gh, ctx, full_name: str, issue: dict, bot_login: str, installation_id: int
) -> Target | None:
    owner, repo = split_full_name(full_name)
    number = int(issue["number"])
    v = {"owner": owner, "repo": repo, "number": number}
    if issue.get("pull_request"):
        pull = await gh.getitem("/repos/{owner}/{repo}/pulls/{number}", v)
        record = patchwell_record(pull, full_name, bot_login, await ctx.store.branches(full_name))
        if record is None:
            return None
        return Target("pull", full_name, number, installation_id, record, pull)
    row = await DashboardStore(ctx.db).row(full_name)
    if row is None or row.issue_number != number:
        return None
    return Target("dashboard", full_name, number, installation_id, None, None)
