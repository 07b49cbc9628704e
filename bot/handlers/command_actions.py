"""What each command does, once :mod:`bot.handlers.comments` has checked who asked and where.

Every action answers: a reply when it has something to say (``help``, ``explain``, the ignore
family, ``show ignore conditions``, unknown commands), else a 👍 reaction (``rebase``,
``recreate``, ``rescan``: the scan they queue shows its own result). Replies never quote the
comment they answer; the only text taken from it is a validated package or branch name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gidgethub

from bot.commands import UNKNOWN, Command, help_text, spec_of
from bot.scan.engine import SCAN_JOB, scan_payload, split_full_name
from bot.scan.ignores import IgnoreRule, IgnoreStore, Subject, major_range, minor_range
from bot.scan.state import BranchRecord
from fixers.contract import Severity


@dataclass(frozen=True)
class Target:
    kind: str  # "pull" (a Patchwell PR) | "dashboard"
    full_name: str
    number: int
    installation_id: int
    record: BranchRecord | None
    pull: dict[str, Any] | None

    @property
    def vars(self) -> dict[str, Any]:
        owner, repo = split_full_name(self.full_name)
        return {"owner": owner, "repo": repo, "number": self.number}


async def react(gh, target: Target, comment_id: int, content: str) -> None:
    await gh.post(
        "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
        {**target.vars, "comment_id": comment_id},
        data={"content": content},
    )


async def say(gh, target: Target, text: str) -> None:
    await gh.post(
        "/repos/{owner}/{repo}/issues/{number}/comments", target.vars, data={"body": text}
    )


async def run_command(
    command: Command, gh, ctx, target: Target, comment_id: int, login: str, slug: str
) -> str:
    """Run one command; returns a short summary for the event log."""
    spec = spec_of(command.name)
    if command.name == UNKNOWN or spec is None:
        await react(gh, target, comment_id, "confused")
        await say(
            gh,
            target,
            f"Patchwell does not know that command. It knows:\n\n{help_text(slug, target.kind)}",
        )
        return "unknown command"
    if target.kind not in spec.where:
        await react(gh, target, comment_id, "confused")
        await say(
            gh,
            target,
            f"`{spec.name}` works on a Patchwell pull request, not here. Here you can use:\n\n"
            + help_text(slug, target.kind),
        )
        return f"{spec.name} (wrong place)"
    action = _ACTIONS[spec.name]
    return await action(Call(command, gh, ctx, target, comment_id, login, slug))


@dataclass(frozen=True)
class Call:
    command: Command
    gh: Any
    ctx: Any
    target: Target
    comment_id: int
    login: str
    slug: str

    @property
    def ignores(self) -> IgnoreStore:
        return IgnoreStore(self.ctx.db)

    @property
    def record(self) -> BranchRecord:
        assert self.target.record is not None
        return self.target.record

    async def thumbs_up(self) -> None:
        await react(self.gh, self.target, self.comment_id, "+1")

    async def queue_scan(self, reason: str) -> None:
        owner, repo = split_full_name(self.target.full_name)
        await self.ctx.queue.enqueue(
            SCAN_JOB,
            scan_payload(owner, repo, self.target.installation_id, reason),
            repository=self.target.full_name,
            installation_id=self.target.installation_id,
            # One per comment: a second "rescan" later must scan again.
            dedupe_key=f"scan:{self.target.full_name}:{reason}:{self.comment_id}",
        )

    async def close_pull(self, state: str) -> None:
        """Close this PR, delete its branch (ours: checked by the caller) and record it."""
        pull = self.target.pull or {}
        if pull.get("state") == "open":
            await self.gh.patch(
                "/repos/{owner}/{repo}/pulls/{number}", self.target.vars, data={"state": "closed"}
            )
        if self.record.state != "human":
            try:
                await self.gh.delete(
                    "/repos/{owner}/{repo}/git/refs/{+ref}",
                    {**self.target.vars, "ref": f"heads/{self.record.branch}"},
                )
            except gidgethub.BadRequest as exc:
                if int(exc.status_code) not in (404, 422):  # already gone is fine
                    raise
        await self.ctx.store.save_branch(replace(self.record, state=state))


async def _help(call: Call) -> str:
    await say(
        call.gh,
        call.target,
        f"Patchwell commands (one per line, people with write access):\n\n"
        f"{help_text(call.slug, call.target.kind)}\n\nMerging is yours: use GitHub's "
        "auto-merge if you want merges without a click.",
    )
    return "help"


async def _rescan(call: Call) -> str:
    await call.queue_scan(call.command.name)
    await call.thumbs_up()
    return f"{call.command.name} queued"


async def _recreate(call: Call) -> str:
    # Adopt the branch's current head as ours, so the next sync rebuilds it; an ignored PR
    # is un-ignored (recreate on a closed PR brings it back).
    head = ((call.target.pull or {}).get("head") or {}).get("sha")
    await call.ctx.store.save_branch(
        replace(call.record, state="open", head_sha=head, tree_sha=None, human_noticed=False)
    )
    await call.ignores.remove(call.target.full_name, call.record.branch)
    return await _rescan(call)


async def _explain(call: Call) -> str:
    record = call.record
    findings = [
        f
        for f in await call.ctx.store.findings(call.target.full_name)
        if f.fingerprint in record.fingerprints
    ]
    lines = [
        f"- **{f.severity.label}** `{f.rule}` at `{f.path}:{f.line}`: {f.message}" for f in findings
    ] or ["- (the findings behind this PR are no longer current)"]
    await say(
        call.gh,
        call.target,
        "What Patchwell found, behind this pull request:\n\n"
        + "\n".join(lines)
        + "\n\nThe PR description explains why it matters, how to verify and how to roll back.",
    )
    return "explain"


async def _ignore(call: Call) -> str:
    branch = call.record.branch
    await call.ignores.add(
        IgnoreRule(call.target.full_name, "patch", branch, reason=f"@{call.login} said ignore")
    )
    await call.close_pull("ignored")
    await call.queue_scan("ignore")
    await say(
        call.gh,
        call.target,
        "Ignored: Patchwell closed this pull request and will not propose this change again. "
        f"Undo with `@{call.slug} unignore {branch}` (here or on the dashboard).",
    )
    return f"ignore {branch}"


async def _ignore_dependency(call: Call) -> str:
    subjects = await call.ignores.subjects(call.target.full_name, call.record.branch)
    if not subjects:
        return await _not_a_dependency(call)
    for s in subjects:
        await call.ignores.add(
            IgnoreRule(
                call.target.full_name,
                "dependency",
                s.package,
                reason=f"@{call.login} on #{call.target.number}",
            )
        )
    await call.close_pull("closed")
    await call.queue_scan("ignore")
    names = ", ".join(f"`{s.package}`" for s in subjects)
    await say(
        call.gh,
        call.target,
        f"Ignored: Patchwell will not propose any update of {names} again (security updates "
        f"included) and closed this pull request. Undo with "
        + " ".join(f"`@{call.slug} unignore {s.package}`" for s in subjects)
        + ".",
    )
    return f"ignore dependency {', '.join(s.package for s in subjects)}"


async def _ignore_versions(call: Call) -> str:
    subjects = await call.ignores.subjects(call.target.full_name, call.record.branch)
    if not subjects:
        return await _not_a_dependency(call)
    which = "major" if "major" in call.command.name else "minor"
    ranges: list[tuple[Subject, str]] = []
    for s in subjects:
        spec = major_range(s.new) if which == "major" else minor_range(s.new)
        if spec is not None:
            ranges.append((s, spec))
            await call.ignores.add(
                IgnoreRule(
                    call.target.full_name,
                    "versions",
                    s.package,
                    spec,
                    reason=f"@{call.login} on #{call.target.number}",
                )
            )
    if not ranges:
        return await _not_a_dependency(call)
    listed = ", ".join(f"`{s.package}` `{spec}`" for s, spec in ranges)
    undo = " ".join(f"`@{call.slug} unignore {s.package}`" for s, _ in ranges)
    if call.record.severity >= Severity.VULNERABILITY:
        # Like Dependabot: version ignores do not hold back a fix for a known vulnerability.
        await say(
            call.gh,
            call.target,
            f"Noted: Patchwell will not propose version updates into {listed}. This pull "
            "request fixes a known vulnerability, so it stays open; comment "
            f"`@{call.slug} ignore` to close it. Undo with {undo}.",
        )
        return f"ignore {which} (security PR kept)"
    await call.close_pull("closed")
    await call.queue_scan("ignore")
    await say(
        call.gh,
        call.target,
        f"Ignored: Patchwell will not propose updates into {listed} and closed this pull "
        f"request; a later {which} version gets a new one. Undo with {undo}.",
    )
    return f"ignore {which} version"


async def _not_a_dependency(call: Call) -> str:
    await react(call.gh, call.target, call.comment_id, "confused")
    await say(
        call.gh,
        call.target,
        f"This pull request does not update a dependency Patchwell knows the version of; "
        f"`@{call.slug} ignore` stops proposing this change.",
    )
    return f"{call.command.name}: not a dependency update"


async def _unignore(call: Call) -> str:
    name = call.command.argument or ""
    gone = await call.ignores.remove(call.target.full_name, name)
    if not gone:
        await react(call.gh, call.target, call.comment_id, "confused")
        await say(
            call.gh,
            call.target,
            f"Nothing named `{name}` is ignored here. `@{call.slug} show ignore conditions` "
            "lists what is.",
        )
        return "unignore: nothing"
    await call.queue_scan("unignore")
    await say(
        call.gh,
        call.target,
        "No longer ignored:\n\n"
        + "\n".join(f"- {r.describe()}" for r in gone)
        + "\n\nPatchwell is rescanning now and will propose what is still needed.",
    )
    return f"unignore {name}: {len(gone)}"


async def _show(call: Call) -> str:
    rules = await call.ignores.rules(call.target.full_name)
    if not rules:
        text = "Nothing is ignored in this repository."
    else:
        text = "Ignored in this repository:\n\n" + "\n".join(
            f"- {r.describe()} ({r.reason}); undo: `@{call.slug} unignore {r.name}`" for r in rules
        )
    await say(call.gh, call.target, text)
    return f"show ignore conditions ({len(rules)})"


_ACTIONS = {
    "help": _help,
    "rebase": _rescan,
    "rescan": _rescan,
    "recreate": _recreate,
    "explain": _explain,
    "ignore": _ignore,
    "ignore this dependency": _ignore_dependency,
    "ignore this major version": _ignore_versions,
    "ignore this minor version": _ignore_versions,
    "unignore": _unignore,
    "show ignore conditions": _show,
}
