"""Failed jobs as ``workflow_job.completed`` delivered them, before their run completed.

The cheapest signal there is: the payload names the job, its conclusion and the failing
step, so recording it costs no API call, and when ``workflow_run.completed`` arrives the
heal engine reads these rows instead of listing the run's jobs. ``heal_runs`` marks a run
(attempt) the engine has read: a job delivered after that is diagnosed on its own. ``state``
of a job row: ``new`` (recorded), ``taken`` (read with its run), ``late`` (arrived after
its run and diagnosed alone). Rows older than a week are deleted as new ones come.
"""

_JOBS = """
CREATE TABLE heal_jobs (
    repository TEXT NOT NULL,
    run_id BIGINT NOT NULL,
    run_attempt INTEGER NOT NULL,
    job_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    html_url TEXT NOT NULL,
    conclusion TEXT NOT NULL,
    steps TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (repository, job_id, run_attempt)
)"""

_RUNS = """
CREATE TABLE heal_runs (
    repository TEXT NOT NULL,
    run_id BIGINT NOT NULL,
    run_attempt INTEGER NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (repository, run_id, run_attempt)
)"""

_BY_RUN = "CREATE INDEX heal_jobs_run ON heal_jobs (repository, run_id, run_attempt)"
_JOBS_AGE = "CREATE INDEX heal_jobs_created ON heal_jobs (created_at)"
_RUNS_AGE = "CREATE INDEX heal_runs_created ON heal_runs (created_at)"

UPGRADE = {
    dialect: [_JOBS.format(ts=ts), _RUNS.format(ts=ts), _BY_RUN, _JOBS_AGE, _RUNS_AGE]
    for dialect, ts in (("sqlite", "REAL"), ("postgresql", "DOUBLE PRECISION"))
}

DOWNGRADE = {
    dialect: [
        "DROP INDEX heal_runs_created",
        "DROP INDEX heal_jobs_created",
        "DROP INDEX heal_jobs_run",
        "DROP TABLE heal_runs",
        "DROP TABLE heal_jobs",
    ]
    for dialect in ("sqlite", "postgresql")
}
