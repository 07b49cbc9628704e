"""An index in the order ``claim`` takes queued jobs: never-run ones first, then by ``run_at``.

A deferred job (``deferrals > 0``) only waited for GitHub's limits; a fresh one may owe a check
run, so it goes first (see ``bot.queue.JobQueue.claim`` and ``bot.budget``).
"""

_INDEX = (
    "CREATE INDEX jobs_queued_claim ON jobs ((deferrals > 0), run_at, id) WHERE state = 'queued'"
)

UPGRADE = {"sqlite": [_INDEX], "postgresql": [_INDEX]}
DOWNGRADE = {
    "sqlite": ["DROP INDEX jobs_queued_claim"],
    "postgresql": ["DROP INDEX jobs_queued_claim"],
}
