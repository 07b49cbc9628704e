"""``issue_comment``: maintainers' commands on Patchwell's pull requests."""

from __future__ import annotations

from dataclasses import replace

from gidgethub.routing import Router

from bot.commands import may_command, parse_commands
from bot.scan.engine import SCAN_JOB, scan_payload, split_full_name
from bot.scan.pulls import BRANCH_PREFIX

router = Router()


@router.register("issue_comment", action="created")
async def comment(event, gh, ctx) -> None:
    data = event.data
    issue = data.get("issue") or {}
    author = (data.get("comment") or {}).get("user") or {}
    body = (data.get("comment") or {}).get("body") or ""
    commands = parse_commands(body, ctx.settings.bot_name)
    if not commands or not issue.get("pull_request") or author.get("type") == "Bot":
        await ctx.record("issue_comment", f"#{issue.get('number')}: no command for Patchwell")
        return
    full_name = data["repository"]["full_name"]
    owner, repo = split_full_name(full_name)
    v = {"owner": owner, "repo": repo, "number": issue["number"]}
    pull = await gh.getitem("/repos/{owner}/{repo}/pulls/{number}", v)
    branch = (pull.get("head") or {}).get("ref") or ""
    if not branch.startswith(BRANCH_PREFIX):
        await ctx.record("issue_comment", f"#{issue['number']}: not a Patchwell PR, ignored")
        return
    login = author.get("login") or ""
    permission = await gh.getitem(
        "/repos/{owner}/{repo}/collaborators/{user}/permission", {**v, "user": login}
    )
    level = permission.get("role_name") or permission.get("permission")
    comment_id = data["comment"]["id"]
    if not may_command(level):
        await _react(gh, v, comment_id, "confused")
        await _say(
            gh,
            v,
            f"@{login} only people with write access to this repository can "
            "give Patchwell commands.",
        )
        await ctx.record("issue_comment", f"#{issue['number']}: {login} ({level}) refused")
        return
    await _react(gh, v, comment_id, "+1")
    for command in commands:
        await _run(command.name, gh, ctx, v, full_name, branch, pull, data)
    await ctx.record(
        "issue_comment", f"#{issue['number']}: {login} ran {', '.join(c.name for c in commands)}"
    )


async def _run(
    name: str, gh, ctx, v: dict, full_name: str, branch: str, pull: dict, data: dict
) -> None:
    store = ctx.store
    record = (await store.branches(full_name)).get(branch)
    installation_id = data["installation"]["id"]
    if name == "ignore":
        if record is not None:
            await store.save_branch(replace(record, state="ignored"))
        await _say(
            gh,
            v,
            "Ignored: Patchwell closed this PR and will not propose this change "
            f"again. Comment `@{ctx.settings.bot_name} recreate` to undo.",
        )
        await gh.patch("/repos/{owner}/{repo}/pulls/{number}", v, data={"state": "closed"})
        await gh.delete("/repos/{owner}/{repo}/git/refs/{+ref}", {**v, "ref": f"heads/{branch}"})
        return
    if name == "explain":
        findings = [
            f
            for f in await store.findings(full_name)
            if record is not None and f.fingerprint in record.fingerprints
        ]
        lines = [
            f"- **{f.severity.label}** `{f.rule}` at `{f.path}:{f.line}`: {f.message}"
            for f in findings
        ] or ["- (the findings behind this PR are no longer current)"]
        await _say(
            gh,
            v,
            "What Patchwell found, behind this pull request:\n\n"
            + "\n".join(lines)
            + "\n\nThe PR description explains why it matters, how to verify and how "
            "to roll back.",
        )
        return
    if name == "recreate" and record is not None:
        # Adopt the branch's current head as ours, so the next sync rebuilds it.
        head = (pull.get("head") or {}).get("sha")
        await store.save_branch(
            replace(record, state="open", head_sha=head, tree_sha=None, human_noticed=False)
        )
    owner, repo = split_full_name(full_name)
    await ctx.queue.enqueue(
        SCAN_JOB,
        scan_payload(owner, repo, installation_id, name),
        repository=full_name,
        installation_id=installation_id,
        dedupe_key=f"scan:{full_name}:{name}",
    )
    await _say(gh, v, f"On it: Patchwell will {name} this branch in its next scan (queued now).")


async def _react(gh, v: dict, comment_id: int, content: str) -> None:
    await gh.post(
        "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
        {**v, "comment_id": comment_id},
        data={"content": content},
        accept="application/vnd.github+json",
    )


async def _say(gh, v: dict, text: str) -> None:
    await gh.post("/repos/{owner}/{repo}/issues/{number}/comments", v, data={"body": text})
