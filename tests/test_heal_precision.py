"""No false positives: failing jobs of every common kind that no signature explains diagnose
nothing (so Patchwell writes nothing), and near-misses of each signature stay unrecognised.

The logs are written in the runner's shape (tests/joblogs.py) after real failures of these
kinds: a TypeScript/pnpm monorepo typecheck, vitest, go test, cargo, mypy, a Docker build,
an OOM kill, a job timeout, a container step, warnings GitHub prints on passing steps.
"""

from __future__ import annotations

import pytest

from fixers.heal.joblog import parse_log
from fixers.heal.signatures import Annotation, diagnose
from tests import joblogs
from tests.joblogs import Step, checkout, job_log, setup_python


def failing(run: str, *output: str, exit_code: int = 1, before: tuple[Step, ...] = ()) -> str:
    return job_log([checkout(), *before, Step("Run", run=run, output=output, exit_code=exit_code)])


UNRELATED = {
    "tsc": failing(
        "pnpm run typecheck",
        "##[group]@internal/replication:build",
        "> pnpm run clean && tsc -p tsconfig.build.json",
        "##[endgroup]",
        "##[error]app/setup/email.server.ts(284,3): error TS2322: Type 'unknown' is not "
        "assignable to type 'boolean'.",
        " ELIFECYCLE  Command failed with exit code 2.",
        exit_code=2,
    ),
    "vitest": failing(
        "npm run test:integration",
        " FAIL  packages/core/test/integration/motion.test.ts > blocks a cross motion",
        "##[error]AssertionError: expected 'error' to be 'blocked' // Object.is equality",
        'Expected: "blocked"',
        'Received: "error"',
    ),
    "go test": failing(
        "go test ./...",
        "--- FAIL: TestParse (0.00s)",
        "    parse_test.go:14: got 3, want 4",
        "FAIL\tgithub.com/acme/api/internal/parse\t0.012s",
    ),
    "cargo": failing(
        "cargo build --locked",
        "error[E0425]: cannot find value `cfg` in this scope",
        " --> src/main.rs:12:5",
        'error: could not compile `api` (bin "api") due to 1 previous error',
        exit_code=101,
    ),
    "mypy": failing(
        "mypy src",
        "src/foo.py:10: error: Missing return statement  [return]",
        "Found 1 error in 1 file (checked 12 source files)",
    ),
    "docker": failing(
        "docker build -t api .",
        '#8 ERROR: process "/bin/sh -c apt-get install -y libpq-dev" did not complete '
        "successfully: exit code: 100",
        "ERROR: failed to solve: process did not complete successfully: exit code: 100",
    ),
    "oom": failing("python -m pytest -q", "Killed", exit_code=137),
    "timeout": job_log(
        [
            checkout(),
            Step(
                "Run",
                run="python -m pytest -q",
                output=(
                    "##[error]The job running on runner GitHub Actions 12 has exceeded the "
                    "maximum execution time of 360 minutes.",
                    "##[error]The operation was canceled.",
                ),
            ),
        ]
    ),
    "container step": failing(
        "python -m unittest",
        "##[error]Error: failed to run script step: Error: command terminated with non-zero "
        "exit code: command terminated with exit code 1",
        "##[error]Executing the custom container implementation failed. Please contact your "
        "self hosted runner administrator.",
    ),
    # a pip install that passed (with the resolver's notice, printed as "ERROR:"), then tests
    "pip notice then tests": failing(
        "python -m pytest -q",
        "E       assert 3 == 4",
        "FAILED tests/test_total.py::test_total - assert 3 == 4",
        before=(
            setup_python(),
            Step(
                "Install",
                run="pip install -r requirements.txt",
                output=(
                    "ERROR: pip's dependency resolver does not currently take into account all "
                    "the packages that are installed. This behaviour is the source of the "
                    "following dependency conflicts.",
                    "flask 3.0.3 requires Werkzeug>=3.0.0, but you have werkzeug 2.3.8 which is "
                    "incompatible.",
                    "Successfully installed werkzeug-2.3.8",
                ),
            ),
        ),
    ),
    "warnings on passing steps": job_log(
        [
            checkout(),
            Step(
                "Upload",
                uses="actions/upload-artifact@v4",
                output=("##[warning]No files were found with the provided path: coverage.xml.",),
            ),
            Step(
                "Run",
                run="make test",
                output=(
                    "##[warning]The process '/usr/bin/git' failed with exit code 128",
                    "make: *** [Makefile:12: test] Error 2",
                ),
                exit_code=2,
            ),
        ]
    ),
    "node warning at the end": joblogs.node_warning_on_unrelated_failure_log(),
}

NEAR_MISSES = {
    # no version: nothing to move to
    "no matching, no pin": failing(
        "pip install -r requirements.txt",
        "ERROR: Could not find a version that satisfies the requirement "
        "google-cloud-sql-python-connector (from versions: none)",
        "ERROR: No matching distribution found for google-cloud-sql-python-connector",
    ),
    # an ImportError of a name, not a missing module
    "import name": failing(
        "python -m pytest -q",
        "E   ImportError: cannot import name 'escape' from 'markupsafe'",
        exit_code=2,
    ),
    # the audit passed
    "audit clean": failing(
        "pip-audit -r requirements.txt && false", "No known vulnerabilities found"
    ),
    # the artifact v4 upload warning, not the v3 shutdown
    "artifact warning": failing(
        "true",
        "##[warning]This request has been automatically failed because it uses a deprecated "
        "version of the cache service",
    ),
    # a job on a current image warned about a future retirement
    "image deprecation notice": failing(
        "make test",
        "##[warning]The windows-2019 runner image is being deprecated, consider switching to "
        "windows-2022(windows-latest) or windows-2025 instead.",
        "make: *** [Makefile:12: test] Error 2",
        exit_code=2,
    ),
}


@pytest.mark.parametrize("name", sorted(UNRELATED))
def test_an_unrelated_failure_diagnoses_nothing(name: str) -> None:
    assert diagnose(parse_log(UNRELATED[name])) == []


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_a_near_miss_diagnoses_nothing(name: str) -> None:
    assert diagnose(parse_log(NEAR_MISSES[name])) == []


def test_annotations_of_unrelated_failures_diagnose_nothing() -> None:
    notes = [
        Annotation("failure", "Process completed with exit code 1."),
        Annotation("warning", "The process '/usr/bin/git' failed with exit code 128"),
        Annotation(
            "warning",
            "The windows-2019 runner image is being deprecated, consider switching to "
            "windows-2022(windows-latest) or windows-2025 instead.",
        ),
    ]
    assert diagnose(None, notes) == []
