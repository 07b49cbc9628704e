"""Healing failed checks: one row per failure cause Patchwell acted on (or decided not to).

``heal_cases`` is keyed by ``(repository, case_key)``: the target (the default branch, a
person's PR, Patchwell's own PR) plus the workflow and the cause. A redelivered webhook or
a re-run finds the same row, so it never adds a second PR or comment. ``state``:

* ``open`` -- a heal PR (or a comment) is out and waits for its checks;
* ``verified`` -- the heal PR's own run passed; ``failed-again`` -- it failed the same way
  (Patchwell said so and stops: the row is never acted on again);
* ``resolved`` -- the check passed where it failed (a comment marked so);
* ``cancelled`` -- a re-run passed without the fix (the heal PR was closed);
* ``reported`` -- a failure with nothing to change (pip's ResolutionImpossible), told once.
"""

_CASES = """
CREATE TABLE heal_cases (
    repository TEXT NOT NULL,
    case_key TEXT NOT NULL,
    target TEXT NOT NULL CHECK (target IN ('default', 'pull', 'own')),
    pr_number INTEGER,
    workflow_path TEXT NOT NULL,
    signature TEXT NOT NULL,
    cause TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    run_id BIGINT,
    job_id BIGINT,
    branch TEXT,
    heal_pr INTEGER,
    comment_id BIGINT,
    comment_kind TEXT,
    state TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (repository, case_key)
)"""

_BY_BRANCH = "CREATE INDEX heal_cases_branch ON heal_cases (repository, branch)"

UPGRADE = {
    dialect: [_CASES.format(ts=ts), _BY_BRANCH]
    for dialect, ts in (("sqlite", "REAL"), ("postgresql", "DOUBLE PRECISION"))
}

DOWNGRADE = {
    dialect: ["DROP INDEX heal_cases_branch", "DROP TABLE heal_cases"]
    for dialect in ("sqlite", "postgresql")
}
