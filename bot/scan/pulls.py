"""The PR engine: one branch and one pull request per patch, exactly once.

Each patch lives on ``patchwell/<fixer>/<key>`` as **one commit on top of the
default branch head**, made through the Git Data API (a tree with the new file
contents, a commit with no custom author or committer -- GitHub then signs it
and shows it as Verified -- and a ref). Idempotent by construction:

* the branch name comes from the patch's stable key, and the tree is content
  addressed, so replaying a delivery, retrying a job or restarting a worker
  finds the same branch with the same tree and parent and writes nothing;
* an existing open PR for the branch is updated, never duplicated (a 422 "A
  pull request already exists" means another worker got there first: adopt it);
* when the base moves the branch is rebuilt on the new head -- but only if its
  head is still the commit Patchwell wrote. If a human pushed to it, Patchwell
  comments once and leaves the branch alone;
* when a patch's findings are gone from the default branch, its PR is closed
  with a comment saying why, and its branch deleted;
* at most ``open-pull-requests-limit`` Patchwell PRs are open, highest severity
  first; security patches (``bypass_limit``) do not wait. What waits is returned
  for the check run.

Patchwell never writes to any ref outside ``refs/heads/patchwell/``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

import gidgethub

from bot.budget import writes_for
from bot.commands import help_text
from bot.github import as_transient
from bot.scan.checks import FailedPatch, WaitingPatch
from bot.scan.state import BranchRecord, ScanStore
from fixers.contract import Patch
from fixers.repo_config import RepoConfig

log = logging.getLogger("patchwell.pulls")

BRANCH_PREFIX = "patchwell/"

COMMANDS_FOOTER = """
---
<details>
<summary>Commands</summary>

Comment on this pull request (people with write access only):

{commands}

</details>

<sub>Opened by Patchwell. Merging is your call: nothing here runs in your production.</sub>
"""


@dataclass
class SyncReport:
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    human: list[str] = field(default_factory=list)
    waiting: list[WaitingPatch] = field(default_factory=list)
    open_prs: list[tuple[int, str]] = field(default_factory=list)
    failed: list[FailedPatch] = field(default_factory=list)


def refusal(exc: BaseException) -> gidgethub.BadRequest | None:
    """``exc`` when it is GitHub refusing this one write for good (a 403 without a rate
    limit, a 404, a 409 conflict, a 422): that patch fails, the others go on. Rate limits
    and 5xx are not refusals -- the job retries them."""
    if isinstance(exc, gidgethub.BadRequest) and as_transient(exc) is None:
        return exc
    return None


def _reason(exc: gidgethub.BadRequest) -> str:
    # GitHub's own message (it never echoes our token), bounded for the check run.
    return (str(exc) or type(exc).__name__)[:300]


@dataclass(frozen=True)
class Base:
    branch: str
    sha: str
    tree: str


def pr_body(patch: Patch, bot: str) -> str:
    return patch.explanation.markdown() + COMMANDS_FOOTER.format(commands=help_text(bot, "pull"))


#: A section the heal engine (``bot.heal``) adds to a fixer's PR it reuses for a failing
#: check; a scan re-syncing the same patch keeps it.
HEAL_BLOCK_START = "<!-- patchwell:heal -->"
HEAL_BLOCK_END = "<!-- /patchwell:heal -->"


def keep_heal_block(old_body: str | None, new_body: str) -> str:
    old_body = old_body or ""
    start, end = old_body.find(HEAL_BLOCK_START), old_body.find(HEAL_BLOCK_END)
    if start < 0 or end < start or HEAL_BLOCK_START in new_body:
        return new_body
    return old_body[start : end + len(HEAL_BLOCK_END)] + "\n\n" + new_body


def _tree_entry(edit) -> dict:
    if edit.action == "delete":
        return {"path": edit.path, "mode": "100644", "type": "blob", "sha": None}
    try:
        return {
            "path": edit.path,
            "mode": "100644",
            "type": "blob",
            "content": edit.content.decode("utf-8"),
        }
    except UnicodeDecodeError:
        return {"path": edit.path, "mode": "100644", "type": "blob", "_binary": edit.content}


def is_own_pull(pull: dict, full_name: str, bot_login: str) -> bool:
    """Did Patchwell open ``pull`` from its own branch in this repository?

    A branch name proves nothing: a stranger's fork can name its branch ``patchwell/...``,
    and once the fork is deleted GitHub shows the PR's ``head.repo`` as null -- never read
    that as "this repository". The author must be the App too.
    """
    head = pull.get("head") or {}
    ref = head.get("ref") or ""
    head_repo = (head.get("repo") or {}).get("full_name") or ""
    author = (pull.get("user") or {}).get("login") or ""
    return (
        isinstance(ref, str)
        and ref.startswith(BRANCH_PREFIX)
        and head_repo.lower() == full_name.lower()
        and author.lower() == bot_login.lower()
    )


async def comment_once(
    gh, owner: str, repo: str, number: int, *, bot_login: str, marker: str, text: str
) -> None:
    """Comment unless Patchwell already left the comment ``marker`` names: a job stopped after
    the comment but before what follows it (closing, deleting, recording) runs again."""
    tag = f"<!-- patchwell:{marker} -->"
    v = {"owner": owner, "repo": repo, "number": number}
    async for existing in gh.getiter(
        "/repos/{owner}/{repo}/issues/{number}/comments{?per_page}", {**v, "per_page": 100}
    ):
        login = (existing.get("user") or {}).get("login") or ""
        if login.lower() == bot_login.lower() and tag in (existing.get("body") or ""):
            return
    await gh.post(
        "/repos/{owner}/{repo}/issues/{number}/comments", v, data={"body": f"{text}\n\n{tag}"}
    )


class PullRequestEngine:
    """Syncs one repository's patches with its branches and PRs."""

    def __init__(
        self,
        gh,
        store: ScanStore,
        *,
        owner: str,
        repo: str,
        base: Base,
        config: RepoConfig,
        bot_login: str,
        bot_name: str = "patchwell",
    ) -> None:
        self.gh = gh
        self.store = store
        self.owner = owner
        self.repo = repo
        self.full_name = f"{owner}/{repo}"
        self.base = base
        self.config = config
        self.bot_login = bot_login
        self.bot_name = bot_name
        self._vars = {"owner": owner, "repo": repo}

    # ------------------------------------------------------------------ entry point

    async def sync(
        self,
        patches: Sequence[Patch],
        current_fingerprints: set[str],
        withdrawn: Collection[str] = (),
    ) -> SyncReport:
        """Open or update a PR per patch and close the PRs that no longer stand: those whose
        findings are gone, and those whose findings' fixer checked them in full this scan
        and no longer proposes a patch (``withdrawn``: a lock it cannot update, ...)."""
        report = SyncReport()
        records = await self.store.branches(self.full_name)
        open_pulls = await self._open_patchwell_pulls()
        wanted = {p.branch: p for p in patches}
        await self._close_resolved(
            records, open_pulls, wanted, current_fingerprints, set(withdrawn), report
        )
        # Security PRs neither wait for nor take a place under the limit.
        open_count = sum(
            1
            for branch, pr in open_pulls.items()
            if pr["number"] not in report.closed
            and not (branch in wanted and wanted[branch].bypass_limit)
        )
        for patch in sorted(
            patches, key=lambda p: (-int(p.bypass_limit), -int(p.severity), p.branch)
        ):
            record = records.get(patch.branch)
            if record is not None and record.state == "ignored":
                continue
            has_pr = patch.branch in open_pulls
            if (
                not has_pr
                and not patch.bypass_limit
                and open_count >= self.config.open_pull_requests_limit
            ):
                report.waiting.append(WaitingPatch(patch.branch, patch.title, patch.severity))
                await self.store.save_branch(self._record(patch, record, state="waiting"))
                continue
            try:
                with writes_for(patch.severity):  # paced by severity within the write budget
                    number = await self._sync_one(
                        patch, record, open_pulls.get(patch.branch), report
                    )
            except gidgethub.BadRequest as exc:
                refused = refusal(exc)
                if refused is None:
                    raise
                self._failed(patch, refused, report)
                continue
            if number is not None and not has_pr:
                open_count += 0 if patch.bypass_limit else 1
                report.open_prs.append((number, patch.title))
        report.open_prs += [
            (pr["number"], pr["title"])
            for pr in open_pulls.values()
            if pr["number"] not in report.closed
        ]
        report.open_prs.sort()
        return report

    def _failed(self, patch: Patch, exc: gidgethub.BadRequest, report: SyncReport) -> None:
        status = int(exc.status_code)
        report.failed.append(FailedPatch(patch.branch, patch.title, status, _reason(exc)))
        log.warning(
            "GitHub refused a patch; the others go on",
            extra={"repository": self.full_name, "branch": patch.branch, "status": status},
        )

    async def sync_single(self, patch: Patch) -> tuple[int | None, SyncReport]:
        """One patch's branch and PR, nothing else (the heal engine's entry): no other PR is
        closed, no limit applies. Same idempotence as :meth:`sync`."""
        report = SyncReport()
        record = (await self.store.branches(self.full_name)).get(patch.branch)
        if record is not None and record.state == "ignored":
            return None, report
        pull = None
        async for item in self.gh.getiter(
            "/repos/{owner}/{repo}/pulls{?state,head}",
            {**self._vars, "state": "open", "head": f"{self.owner}:{patch.branch}"},
        ):
            pull = item
            break
        with writes_for(patch.severity):  # paced by severity within the write budget
            number = await self._sync_one(patch, record, pull, report)
        return number, report

    # ------------------------------------------------------------------ one patch

    async def _sync_one(
        self, patch: Patch, record: BranchRecord | None, pull: dict | None, report: SyncReport
    ) -> int | None:
        branch_sha = await self._branch_sha(patch.branch)
        if branch_sha is not None and not await self._is_ours(branch_sha, record):
            await self._notice_human(patch, record, pull, report)
            return pull["number"] if pull else None
        tree = await self._tree_for(patch)
        if (
            branch_sha is not None
            and record is not None
            and record.head_sha == branch_sha
            and record.tree_sha == tree
            and record.base_sha == self.base.sha
        ) or (branch_sha is not None and await self._head_matches(branch_sha, tree)):
            changed = False
        else:
            commit = await self._commit(patch, tree)
            await self._point_branch(patch.branch, commit, exists=branch_sha is not None)
            branch_sha = commit
            changed = True
        number = await self._ensure_pull(patch, record, pull, report, changed)
        await self.store.save_branch(
            self._record(
                patch, record, state="open", pr_number=number, head_sha=branch_sha, tree_sha=tree
            )
        )
        return number

    async def _branch_sha(self, branch: str) -> str | None:
        try:
            ref = await self.gh.getitem(
                "/repos/{owner}/{repo}/git/ref/{+ref}", {**self._vars, "ref": f"heads/{branch}"}
            )
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) == 404:
                return None
            raise
        return ref["object"]["sha"]

    async def _is_ours(self, sha: str, record: BranchRecord | None) -> bool:
        """Is the branch head the commit Patchwell wrote?

        The recorded head answers at no cost. Otherwise (a fresh database, or a crash
        between moving the ref and recording it) GitHub's own record decides: Patchwell's
        commits are authored by the App, signed by GitHub, and have one parent.
        """
        if record is not None and record.head_sha == sha:
            return True
        commit = await self.gh.getitem(
            "/repos/{owner}/{repo}/commits/{sha}", {**self._vars, "sha": sha}
        )
        author = (commit.get("author") or {}).get("login")
        verified = ((commit.get("commit") or {}).get("verification") or {}).get("verified")
        return author == self.bot_login and bool(verified) and len(commit.get("parents") or []) == 1

    async def _head_matches(self, sha: str, tree: str) -> bool:
        commit = await self.gh.getitem(
            "/repos/{owner}/{repo}/git/commits/{sha}", {**self._vars, "sha": sha}
        )
        parents = [p["sha"] for p in commit.get("parents", [])]
        return commit["tree"]["sha"] == tree and parents == [self.base.sha]

    async def _tree_for(self, patch: Patch) -> str:
        entries = []
        for edit in patch.edits:
            entry = _tree_entry(edit)
            binary = entry.pop("_binary", None)
            if binary is not None:
                blob = await self.gh.post(
                    "/repos/{owner}/{repo}/git/blobs",
                    self._vars,
                    data={"content": base64.b64encode(binary).decode(), "encoding": "base64"},
                )
                entry["sha"] = blob["sha"]
            entries.append(entry)
        tree = await self.gh.post(
            "/repos/{owner}/{repo}/git/trees",
            self._vars,
            data={"base_tree": self.base.tree, "tree": entries},
        )
        return tree["sha"]

    async def _commit(self, patch: Patch, tree: str) -> str:
        prefix = self.config.commit_message_prefix.strip()
        message = (
            f"{prefix} {patch.title}".strip()
            + "\n\n"
            + f"Patchwell {patch.fixer} fix for {len(patch.fingerprints)} finding(s)."
        )
        # No author or committer: GitHub authors it as the App and signs it (Verified).
        commit = await self.gh.post(
            "/repos/{owner}/{repo}/git/commits",
            self._vars,
            data={"message": message, "tree": tree, "parents": [self.base.sha]},
        )
        return commit["sha"]

    async def _point_branch(self, branch: str, sha: str, *, exists: bool) -> None:
        assert branch.startswith(BRANCH_PREFIX)  # never any other branch
        if not exists:
            try:
                await self.gh.post(
                    "/repos/{owner}/{repo}/git/refs",
                    self._vars,
                    data={"ref": f"refs/heads/{branch}", "sha": sha},
                )
                return
            except gidgethub.BadRequest as exc:
                if int(exc.status_code) != 422:
                    raise
                # Created meanwhile by another worker: fall through to a forced update.
        # Rebuilt on a new base, so not a fast-forward: only ever done to our own branch.
        await self.gh.patch(
            "/repos/{owner}/{repo}/git/refs/{+ref}",
            {**self._vars, "ref": f"heads/{branch}"},
            data={"sha": sha, "force": True},
        )

    async def _ensure_pull(
        self,
        patch: Patch,
        record: BranchRecord | None,
        pull: dict | None,
        report: SyncReport,
        changed: bool,
    ) -> int:
        body = keep_heal_block(pull.get("body") if pull else None, pr_body(patch, self.bot_name))
        if pull is None:
            pull = await self._create_pull(patch, body)
            if pull.get("_created"):
                report.opened.append(pull["number"])
                await self._decorate(pull["number"])
                return pull["number"]
        if record is None or record.pr_number != pull["number"]:
            # Opened by a run that stopped before recording it (a fault after POST /pulls or
            # during its labels): finish setting it up. Labels and review requests are sets
            # on GitHub, so doing this twice still leaves them once.
            await self._decorate(pull["number"])
        if pull.get("title") != patch.title or pull.get("body") != body:
            await self.gh.patch(
                "/repos/{owner}/{repo}/pulls/{number}",
                {**self._vars, "number": pull["number"]},
                data={"title": patch.title, "body": body},
            )
            report.updated.append(pull["number"])
        elif changed:
            report.updated.append(pull["number"])
        else:
            report.unchanged.append(pull["number"])
        return pull["number"]

    async def _create_pull(self, patch: Patch, body: str) -> dict:
        try:
            pull = await self.gh.post(
                "/repos/{owner}/{repo}/pulls",
                self._vars,
                data={
                    "title": patch.title,
                    "head": patch.branch,
                    "base": self.base.branch,
                    "body": body,
                    "maintainer_can_modify": True,
                },
            )
            return {**pull, "_created": True}
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) != 422 or "already exists" not in str(exc):
                raise
        # Another worker (or an earlier, interrupted run) opened it: adopt that one.
        async for pull in self.gh.getiter(
            "/repos/{owner}/{repo}/pulls{?state,head}",
            {**self._vars, "state": "open", "head": f"{self.owner}:{patch.branch}"},
        ):
            return pull
        raise RuntimeError(f"GitHub says a PR exists for {patch.branch} but lists none")

    async def _decorate(self, number: int) -> None:
        if self.config.labels:
            await self.gh.post(
                "/repos/{owner}/{repo}/issues/{number}/labels",
                {**self._vars, "number": number},
                data={"labels": list(self.config.labels)},
            )
        if self.config.reviewers:
            try:
                await self.gh.post(
                    "/repos/{owner}/{repo}/pulls/{number}/requested_reviewers",
                    {**self._vars, "number": number},
                    data={"reviewers": list(self.config.reviewers)},
                )
            except gidgethub.BadRequest as exc:
                # A reviewer who is not a collaborator must not fail the whole scan.
                log.warning(
                    "could not request reviewers",
                    extra={
                        "repository": self.full_name,
                        "pr": number,
                        "status": int(exc.status_code),
                    },
                )

    # ------------------------------------------------------------------ humans and cleanup

    async def _notice_human(
        self, patch: Patch, record: BranchRecord | None, pull: dict | None, report: SyncReport
    ) -> None:
        report.human.append(patch.branch)
        already = record is not None and record.human_noticed
        if pull is not None and not already:
            await self.comment_once(
                pull["number"],
                "human-pushed",
                (
                    "Someone else pushed to this branch, so Patchwell will not rebuild or "
                    "force-push it any more: your commits stay as they are. "
                    f"Comment `@{self.bot_name} recreate` to let Patchwell start it over "
                    "(that discards the extra commits)."
                ),
            )
        await self.store.save_branch(
            self._record(
                patch,
                record,
                state="human",
                pr_number=pull["number"] if pull else None,
                human_noticed=already or pull is not None,
            )
        )

    async def _close_resolved(
        self,
        records: dict[str, BranchRecord],
        open_pulls: dict[str, dict],
        wanted: dict[str, Patch],
        current: set[str],
        withdrawn: set[str],
        report: SyncReport,
    ) -> None:
        for branch, pull in open_pulls.items():
            if branch in wanted:
                continue
            record = records.get(branch)
            if record is None or record.state in ("ignored",) or record.fixer == "heal":
                continue  # heal PRs answer a failed check, not a finding: bot.heal closes them
            live = [fp for fp in record.fingerprints if fp in current]
            if live and not all(fp in withdrawn for fp in live):
                continue  # still a problem, just not re-proposed by this (partial) scan
            try:
                with writes_for(record.severity):
                    await self._close_one(pull, branch, withdrawn=bool(live))
            except gidgethub.BadRequest as exc:
                if refusal(exc) is None:
                    raise
                log.warning(
                    "GitHub refused closing a resolved PR",
                    extra={"repository": self.full_name, "pr": pull["number"]},
                )
                continue
            report.closed.append(pull["number"])
            await self.store.save_branch(replace(record, state="closed"))
        # Branches whose PR was merged or closed by people: delete the branch once resolved.
        for branch, record in records.items():
            if branch in wanted or branch in open_pulls or record.state in ("closed", "ignored"):
                continue
            if record.fixer == "heal":
                continue
            if any(fp in current for fp in record.fingerprints):
                continue
            with writes_for(record.severity):
                await self.delete_branch(branch)
            await self.store.save_branch(replace(record, state="closed"))

    async def _close_one(self, pull: dict, branch: str, *, withdrawn: bool = False) -> None:
        if withdrawn:
            # Its finding stands, but the fixer would not make this change today (it found it
            # could not update a lock, or rewrite the file safely): a PR we would not open
            # must not stay open to be merged.
            why = (
                "Closing: Patchwell no longer proposes this change. What it found is still "
                f"there on `{self.base.branch}` (as of {self.base.sha[:12]}), but the change "
                "cannot be made safely by a bot: the `patchwell` check run says why and "
                "what to run instead. Patchwell deleted its branch."
            )
        else:
            why = (
                f"Closing: what this pull request fixes is no longer found on "
                f"`{self.base.branch}` (as of {self.base.sha[:12]}), so it is fixed already "
                "or no longer applies. Patchwell deleted its branch."
            )
        await self.comment_once(pull["number"], "closing", why)
        await self.gh.patch(
            "/repos/{owner}/{repo}/pulls/{number}",
            {**self._vars, "number": pull["number"]},
            data={"state": "closed"},
        )
        await self.delete_branch(branch)

    async def delete_branch(self, branch: str) -> None:
        assert branch.startswith(BRANCH_PREFIX)
        try:
            await self.gh.delete(
                "/repos/{owner}/{repo}/git/refs/{+ref}", {**self._vars, "ref": f"heads/{branch}"}
            )
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) not in (404, 422):  # already gone
                raise

    async def comment(self, number: int, text: str) -> None:
        await self.gh.post(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            {**self._vars, "number": number},
            data={"body": text},
        )

    async def comment_once(self, number: int, marker: str, text: str) -> None:
        await comment_once(
            self.gh,
            self.owner,
            self.repo,
            number,
            bot_login=self.bot_login,
            marker=marker,
            text=text,
        )

    async def _open_patchwell_pulls(self) -> dict[str, dict]:
        pulls: dict[str, dict] = {}
        async for pull in self.gh.getiter(
            "/repos/{owner}/{repo}/pulls{?state,per_page}",
            {**self._vars, "state": "open", "per_page": 100},
        ):
            if is_own_pull(pull, self.full_name, self.bot_login):
                pulls[pull["head"]["ref"]] = pull
        return pulls

    def _record(
        self,
        patch: Patch,
        record: BranchRecord | None,
        *,
        state: str,
        pr_number: int | None = None,
        head_sha: str | None = None,
        tree_sha: str | None = None,
        human_noticed: bool | None = None,
    ) -> BranchRecord:
        return BranchRecord(
            repository=self.full_name,
            branch=patch.branch,
            fixer=patch.fixer,
            patch_key=patch.key,
            title=patch.title,
            severity=patch.severity,
            fingerprints=tuple(patch.fingerprints),
            state=state,
            pr_number=pr_number
            if pr_number is not None
            else (record.pr_number if record else None),
            base_sha=self.base.sha if head_sha else (record.base_sha if record else None),
            head_sha=head_sha or (record.head_sha if record else None),
            tree_sha=tree_sha or (record.tree_sha if record else None),
            human_noticed=human_noticed
            if human_noticed is not None
            else (record.human_noticed if record else False),
        )
