"""Failures and passes on Patchwell's own branches.

* A heal PR's run of the workflow it heals: passing marks the PR verified (its body's
  status line); failing *the same way* says so once and stops the case for good
  (``failed-again``: never re-healed, so nothing loops).
* Any other failure on a Patchwell PR (a dependency bump that breaks the tests): one
  comment quoting the failing step, updated in place; for a grouped dependency PR, the
  package the log points at is split out (an ignore rule for that version, then a rescan
  rebuilds the group without it) so the rest can merge. A later pass marks the comment
  resolved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.heal.reader import JobDiagnosis
from bot.heal.store import FINAL, HealCase
from bot.heal.text import Failure, fence
from bot.scan.ignores import IgnoreRule, IgnoreStore
from bot.scan.sticky import upsert_comment

OWN_CAUSE = "own-pr-failure"


async def on_own_pass(engine, owner: str, name: str, target, failure: Failure, report) -> None:
    full = f"{owner}/{name}"
    for case in await engine.store.for_branch(full, target.branch):
        if case.workflow_path != failure.workflow_path or case.state != "open":
            continue
        if case.target == "default" and case.heal_pr is not None:
            await engine.set_status(
                owner,
                name,
                case.heal_pr,
                f"✅ **Verified.** [`{failure.workflow}` run]({failure.run_url}) passed on this "
                f"branch at `{failure.head_sha[:12]}`: the failure is healed.",
            )
            report.verified.append(case.heal_pr)
            await engine.store.save(case.but(state="verified"))
    for case in await engine.store.for_target(full, "own", target.pr_number, failure.workflow_path):
        if case.state == "open" and case.comment_id is not None and target.pr_number:
            await upsert_comment(
                engine.gh,
                owner,
                name,
                target.pr_number,
                case.case_key,
                f"✅ Resolved: [`{failure.workflow}` run]({failure.run_url}) passed at "
                f"`{failure.head_sha[:12]}`.\n\n<details><summary>The failure it had</summary>\n\n"
                f"{case.summary}\n\n</details>",
                comment_id=case.comment_id,
                bot_login=engine.bot_login,
            )
            report.comments.append(case.comment_id)
            await engine.store.save(case.but(state="resolved"))


async def on_own_failure(
    engine,
    owner: str,
    name: str,
    target,
    failure: Failure,
    results: Sequence[JobDiagnosis],
    report,
) -> None:
    full = f"{owner}/{name}"
    causes = {d.cause_key: (r.job, d) for r in results for d in r.diagnoses}
    run_id = results[0].job.run_id if results else None
    stopped = False
    for case in await engine.store.for_branch(full, target.branch):
        if case.target != "default" or case.workflow_path != failure.workflow_path:
            continue
        if case.state in FINAL:
            report.stopped.append(case.cause)
            stopped = True
            continue
        if case.cause in causes and case.heal_pr is not None:
            job, d = causes[case.cause]
            await upsert_comment(
                engine.gh,
                owner,
                name,
                case.heal_pr,
                f"{case.case_key}:stopped",
                f"❌ **This did not heal it.** [`{failure.workflow}` run]({failure.run_url}) on "
                f"this branch fails the same way (`{d.id}`) in job [`{job.name}`]({job.html_url})"
                f":\n\n{fence(d.excerpt or (d.line,))}\n\nPatchwell stops here for this failure: "
                "it will not push another attempt. Please take a look.",
                bot_login=engine.bot_login,
            )
            await engine.set_status(
                owner,
                name,
                case.heal_pr,
                f"❌ **Failed the same way** in [`{failure.workflow}` run]({failure.run_url}); "
                "Patchwell stopped.",
            )
            report.stopped.append(case.cause)
            await engine.store.save(case.but(state="failed-again", run_id=run_id))
            stopped = True
    if stopped or target.pr_number is None:
        return
    if results:
        await _comment_failure(engine, owner, name, target, failure, results[0], report)


async def _comment_failure(
    engine, owner: str, name: str, target, failure: Failure, result: JobDiagnosis, report
) -> None:
    """One comment on the Patchwell PR with the failing step's excerpt."""
    full = f"{owner}/{name}"
    run_id = result.job.run_id
    key = f"pr{target.pr_number}:{failure.workflow_path}:{OWN_CAUSE}"
    case = await engine.store.get(full, key) or HealCase(
        full,
        key,
        "own",
        target.pr_number,
        failure.workflow_path,
        result.diagnoses[0].id if result.diagnoses else "unrecognised",
        OWN_CAUSE,
        failure.head_sha,
    )
    job = result.job
    diag = result.diagnoses[0] if result.diagnoses else None
    culprit_text = await _split_culprit(engine, owner, name, target, result.excerpt, diag)
    lines = [
        f"❌ [`{failure.workflow}` run]({failure.run_url}) · job [`{job.name}`]({job.html_url}) "
        f"failed on this branch at `{failure.head_sha[:12]}`"
        + (f" in step `{result.step}`" if result.step else "")
        + ":",
        "",
        fence(result.excerpt or ("(the job's log is not available)",)),
    ]
    if diag is not None:
        lines += ["", f"Diagnosis: {diag.title} (signature `{diag.id}`)."]
    if culprit_text:
        lines += ["", culprit_text]
    body = "\n".join(lines)
    sticky = await upsert_comment(
        engine.gh,
        owner,
        name,
        target.pr_number,
        key,
        body,
        comment_id=case.comment_id,
        bot_login=engine.bot_login,
    )
    if sticky.changed:
        report.comments.append(sticky.id)
    await engine.store.save(
        case.but(
            comment_id=sticky.id,
            comment_kind="issue",
            state="open",
            head_sha=failure.head_sha,
            run_id=run_id,
            job_id=job.id,
            summary=fence(result.excerpt[-12:]),
        )
    )


def _mentions(lines: Sequence[str], package: str) -> bool:
    names = {package.lower(), package.lower().replace("-", "_")}
    text = "\n".join(lines).lower()
    return any(
        re.search(
            rf"(site-packages/|from '|import |no module named '|\b){re.escape(n)}[/.'\s:]", text
        )
        for n in names
    )


async def _split_culprit(engine, owner, name, target, excerpt, diag) -> str | None:
    """For a grouped dependency PR: the one package the failure points at, ignored at its
    new version so the group is rebuilt without it."""
    full = f"{owner}/{name}"
    record = (await engine.scans.branches(full)).get(target.branch)
    if (
        record is None
        or record.fixer != "dependencies"
        or not record.patch_key.startswith("group-")
    ):
        return None
    ignores = IgnoreStore(engine.db)
    subjects = await ignores.subjects(full, target.branch)
    lines = list(excerpt) + ([diag.line] if diag is not None else [])
    hits = [s for s in subjects if _mentions(lines, s.package)]
    if len(hits) != 1 or len(subjects) < 2:
        named = ", ".join(f"`{s.package}`" for s in subjects)
        return (
            f"The failure does not point at one package of this group ({named}), so the "
            "group stays as it is."
            if subjects
            else None
        )
    culprit = hits[0]
    added = await ignores.add(
        IgnoreRule(
            full,
            "versions",
            culprit.package,
            f"=={culprit.new}",
            reason=f"broke {target.branch} (PR #{target.pr_number})",
        )
    )
    if added and engine.queue is not None:
        from bot.scan.engine import SCAN_JOB, scan_payload

        installation = await engine.scans.repository(full)
        if installation is not None and installation.installation_id is not None:
            await engine.queue.enqueue(
                SCAN_JOB,
                scan_payload(owner, name, installation.installation_id, "rescan"),
                repository=full,
                installation_id=installation.installation_id,
                dedupe_key=f"scan:{full}:heal-split:{culprit.package}:{culprit.new}",
            )
    return (
        f"The failure points at **`{culprit.package}` {culprit.old} → {culprit.new}**: Patchwell "
        f"split it out of this group, which is rebuilt with the other "
        f"{len(subjects) - 1} update(s) so they can merge. `{culprit.package}` {culprit.new} will "
        f"not be proposed again (`@{engine.bot_name} unignore {culprit.package}` brings it back)."
    )
