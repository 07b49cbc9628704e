"""``check_run``, ``check_suite``, ``workflow_run``, ``workflow_job``.

"Re-run" on Patchwell's check run (or on the whole suite) queues a fresh full
scan of the repository. A completed workflow run goes to the heal engine
(:mod:`bot.heal`): a failure on the default branch, on a person's PR or on a
Patchwell PR is read and, when recognised, healed; a pass resolves what an
earlier failure started. A failed ``workflow_job`` is recorded for its run (the cheapest
signal: no API call). Other deliveries are recorded in the event log.
"""

from __future__ import annotations

from gidgethub.routing import Router

from bot.heal.engine import HealEngine
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
    if (
        event.event in ("workflow_run", "workflow_job", "check_run")
        and data.get("action") == "completed"
        and gh is not None
        and ctx.clients is not None
    ):
        engine = HealEngine(
            gh,
            ctx.clients,
            ctx.db,
            services=ctx.services,
            bot_login=await ctx.bot_login(),
            bot_name=await ctx.app_slug(),
            queue=ctx.queue,
            budget=ctx.settings.scan_budget,
        )
        handle = {
            "workflow_run": engine.on_workflow_run,
            "workflow_job": engine.on_workflow_job,
            "check_run": engine.on_check_run,
        }[event.event]
        outcome = await handle(data)
        repo = data.get("repository")
        full_name = repo.get("full_name") if isinstance(repo, dict) else None
        await ctx.record("heal", f"{full_name}: {outcome.summary()}")
    await ctx.record(
        event.event,
        f"action {data.get('action')}, status {subject.get('status')}, "
        f"conclusion {subject.get('conclusion')}, head {str(subject.get('head_sha', ''))[:12]}"
        + (", rescan queued" if rerun else ""),
    )
