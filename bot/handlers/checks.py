"""``check_run``, ``check_suite``, ``workflow_run``, ``workflow_job``: failed checks to heal."""

from __future__ import annotations

from gidgethub.routing import Router

router = Router()


@router.register("check_run")
@router.register("check_suite")
@router.register("workflow_run")
@router.register("workflow_job")
async def check_event(event, gh, ctx) -> None:
    data = event.data
    subject = data.get(event.event) if isinstance(data.get(event.event), dict) else {}
    await ctx.record(
        event.event,
        f"action {data.get('action')}, status {subject.get('status')}, "
        f"conclusion {subject.get('conclusion')}, head {str(subject.get('head_sha', ''))[:12]}",
    )
