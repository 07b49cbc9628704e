"""``check_run``, ``check_suite``, ``workflow_run``, ``workflow_job``.

"Re-run" on Patchwell's check run (or on the whole suite) queues a fresh full
scan of the repository. Failed checks on Patchwell's own PRs are recorded for
the healing fixers.
"""

from __future__ import annotations

from gidgethub.routing import Router

from bot.scan.checks import CHECK_NAME
from bot.scan.engine import SCAN_JOB, scan_payload, split_full_name

router = Router()


async def _rescan(event, ctx, head_sha: str | None) -> None:
    full_name = event.data["repository"]["full_name"]
    owner, repo = split_full_name(full_name)
    installation_id = event.data["installation"]["id"]
    await ctx.queue.enqueue(
        SCAN_JOB,
        scan_payload(owner, repo, installation_id, "rerequested"),
        repository=full_name,
        installation_id=installation_id,
        dedupe_key=f"scan:{full_name}:rerequested:{head_sha}",
    )


@router.register("check_run")
@router.register("check_suite")
@router.register("workflow_run")
@router.register("workflow_job")
async def check_event(event, gh, ctx) -> None:
    data = event.data
    subject = data.get(event.event) if isinstance(data.get(event.event), dict) else {}
    rerun = data.get("action") == "rerequested" and (
        event.event == "check_suite" or subject.get("name") == CHECK_NAME
    )
    if rerun and isinstance(data.get("installation"), dict) and ctx.queue is not None:
        await _rescan(event, ctx, subject.get("head_sha"))
    await ctx.record(
        event.event,
        f"action {data.get('action')}, status {subject.get('status')}, "
        f"conclusion {subject.get('conclusion')}, head {str(subject.get('head_sha', ''))[:12]}"
        + (", rescan queued" if rerun else ""),
    )
