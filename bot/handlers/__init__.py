"""Webhook handlers, one module per concern, each with its own gidgethub Router.

A handler is ``async def handler(event, gh, ctx)``: the gidgethub ``Event``, an
installation-authenticated client (``None`` when the delivery names no
installation) and the :class:`bot.handlers.context.JobContext` of the job.
Handlers run inside the worker, never in the webhook request.
"""

from __future__ import annotations

from gidgethub.routing import Router

from bot.handlers import checks, comments, installations, issues, pulls, pushes, scans

#: The events Patchwell subscribes to (see app.yml) and routes.
ROUTED_EVENTS = frozenset(
    {
        "installation",
        "installation_repositories",
        "push",
        "check_run",
        "check_suite",
        "workflow_run",
        "workflow_job",
        "issue_comment",
        "issues",
        "pull_request",
    }
)

router = Router(
    installations.router,
    pushes.router,
    checks.router,
    comments.router,
    issues.router,
    pulls.router,
    scans.router,
)
