"""Job logs shaped like the ones GitHub Actions serves (``GET .../actions/jobs/{id}/logs``).

Written by hand from the runner's format: a UTF-8 BOM, every line prefixed with an
ISO-8601 timestamp with seven fractional digits (``2024-01-01T00:00:00.0000000Z ``),
the "Set up job" preamble without a header, each step opened by ``##[group]Run ...``
with its command echoed in ANSI cyan and closed by ``##[endgroup]``, errors as
``##[error]``, then post steps and "Cleaning up orphan processes".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

CYAN, RESET = "\x1b[36;1m", "\x1b[0m"

PREAMBLE = (
    "Current runner version: '2.321.0'",
    "##[group]Operating System",
    "Ubuntu",
    "24.04.1",
    "LTS",
    "##[endgroup]",
    "##[group]Runner Image",
    "Image: ubuntu-24.04",
    "Version: 20241201.1.0",
    "Included Software: https://github.com/actions/runner-images/blob/ubuntu24/20241201.1/images/ubuntu/Ubuntu2404-Readme.md",
    "Image Release: https://github.com/actions/runner-images/releases/tag/ubuntu24%2F20241201.1",
    "##[endgroup]",
    "##[group]Runner Image Provisioner",
    "2.0.384.1",
    "##[endgroup]",
    "##[group]GITHUB_TOKEN Permissions",
    "Contents: read",
    "Metadata: read",
    "##[endgroup]",
    "Secret source: Actions",
    "Prepare workflow directory",
    "Prepare all required actions",
    "Getting action download info",
)


@dataclass
class Step:
    """One step: ``run`` (a script) or ``uses`` (an action), and what it printed."""

    name: str
    run: str | None = None
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)
    output: Sequence[str] = ()
    exit_code: int | None = None  # a failing run step ends with "Process completed ..."

    @property
    def header(self) -> str:
        if self.uses:
            return f"Run {self.uses}"
        assert self.run is not None
        return f"Run {self.run.splitlines()[0]}"

    def lines(self) -> list[str]:
        out = [f"##[group]{self.header}"]
        if self.uses:
            if self.with_:
                out.append("with:")
                out += [f"  {k}: {v}" for k, v in self.with_.items()]
        else:
            assert self.run is not None
            out += [f"{CYAN}{line}{RESET}" for line in self.run.splitlines()]
            out += ["shell: /usr/bin/bash -e {0}"]
        out.append("##[endgroup]")
        out += list(self.output)
        if self.exit_code is not None:
            out.append(f"##[error]Process completed with exit code {self.exit_code}.")
        return out


def checkout() -> Step:
    return Step(
        "Run actions/checkout@v4",
        uses="actions/checkout@v4",
        with_={"repository": "acme/api", "token": "***", "fetch-depth": "1"},
        output=(
            "Syncing repository: acme/api",
            "##[group]Getting Git version info",
            "Working directory is '/home/runner/work/api/api'",
            "[command]/usr/bin/git version",
            "git version 2.47.1",
            "##[endgroup]",
            "[command]/usr/bin/git checkout --progress --force -B main refs/remotes/origin/main",
            "Switched to a new branch 'main'",
        ),
    )


def setup_python(version: str = "3.12", output: Sequence[str] | None = None) -> Step:
    return Step(
        "Set up Python",
        uses="actions/setup-python@v5",
        with_={"python-version": version, "check-latest": "false", "token": "***"},
        output=output
        if output is not None
        else (
            "##[group]Installed versions",
            f"Successfully set up CPython ({version}.8)",
            "##[endgroup]",
        ),
    )


def job_log(
    steps: Sequence[Step],
    *,
    setup_error: str | None = None,
    post: Sequence[str] = ("actions/checkout@v4",),
    start: datetime | None = None,
    bom: bool = True,
) -> str:
    """A whole job log. ``setup_error`` fails the job in "Set up job" (no step runs)."""
    when = start or datetime(2024, 1, 1, tzinfo=UTC)
    lines = list(PREAMBLE)
    if setup_error is not None:
        lines.append(f"##[error]{setup_error}")
    else:
        lines += [
            "Download action repository 'actions/checkout@v4' "
            "(SHA:11bd71901bbe5b1630ceea73d27597364c9af683)",
            "Download action repository 'actions/setup-python@v5' "
            "(SHA:a26af69be951a213d495a4c3e4e4022e16d87065)",
            "Complete job name: test",
        ]
        for step in steps:
            lines += step.lines()
        for action in post:
            lines += [
                "Post job cleanup.",
                "[command]/usr/bin/git version",
                "git version 2.47.1",
                f"Cleaning up {action} credentials",
            ]
        lines += ["Cleaning up orphan processes"]
    out = []
    for i, line in enumerate(lines):
        stamp = (when + timedelta(milliseconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f")
        out.append(f"{stamp}0Z {line}")
    text = "\n".join(out) + "\n"
    return ("\ufeff" if bom else "") + text


# --------------------------------------------------------------------------- per signature


def artifact_v3_log() -> str:
    return job_log(
        [],
        setup_error=(
            "This request has been automatically failed because it uses a deprecated version of "
            "`actions/upload-artifact: v3`. Learn more: "
            "https://github.blog/changelog/2024-04-16-deprecation-notice-v3-of-the-artifact-actions/"
        ),
    )


def cache_v2_log() -> str:
    return job_log(
        [],
        setup_error=(
            "This request has been automatically failed because it uses a deprecated version of "
            "`actions/cache: v2`. Please update your workflow to use v3/v4 of actions/cache to "
            "avoid interruptions. Learn more: https://github.blog/changelog/2024-12-05-notice-of-"
            "upcoming-releases-and-breaking-changes-for-github-actions/#actions-cache-v1-v2-and-"
            "actions-toolkit-cache-package-closing-down"
        ),
    )


def artifact_conflict_log() -> str:
    upload = Step(
        "Upload coverage",
        uses="actions/upload-artifact@v4",
        with_={"name": "coverage", "path": "coverage.xml"},
        output=(
            "With the provided path, there will be 1 file uploaded",
            "Artifact name is valid!",
            "Root directory input is valid!",
            "##[error]Failed to CreateArtifact: Received non-retryable error: Failed request: "
            "(409) Conflict: an artifact with this name already exists on the workflow run",
        ),
    )
    return job_log([checkout(), upload])


def python_missing_log(version: str = "3.7", image: str = "Ubuntu 24.04") -> str:
    step = setup_python(
        version,
        output=(
            "##[group]Installed versions",
            f"Version {version} was not found in the local cache",
            f"##[error]The version '{version}' with architecture 'x64' was not found for {image}.",
            "The list of all available versions can be found here: "
            "https://raw.githubusercontent.com/actions/python-versions/main/versions-manifest.json",
            "##[endgroup]",
        ),
    )
    return job_log([checkout(), step])


def pep668_log() -> str:
    install = Step(
        "Install dependencies",
        run="python3 -m pip install -r requirements.txt",
        output=(
            "error: externally-managed-environment",
            "",
            "× This environment is externally managed",
            "╰─> To install Python packages system-wide, try apt install",
            "    python3-xyz, where xyz is the package you are trying to",
            "    install.",
            "    ",
            "    See /usr/share/doc/python3.12/README.venv for more information.",
            "",
            "note: If you believe this is a mistake, please contact your Python installation or "
            "OS distribution provider. You can override this, at the risk of breaking your "
            "Python installation or OS, by passing --break-system-packages.",
            "hint: See PEP 668 for the detailed specification.",
        ),
        exit_code=1,
    )
    return job_log([checkout(), install])


def _pytest_failure(module: str, extra: Sequence[str] = ()) -> Step:
    return Step(
        "Run tests",
        run="python -m pytest -q",
        output=(
            "==================================== ERRORS ====================================",
            "_______________________ ERROR collecting tests/test_app.py _______________________",
            "ImportError while importing test module "
            "'/home/runner/work/api/api/tests/test_app.py'.",
            "Hint: make sure your test modules/packages have valid Python names.",
            "Traceback:",
            "/opt/hostedtoolcache/Python/3.12.8/x64/lib/python3.12/importlib/__init__.py:90: "
            "in import_module",
            "    return _bootstrap._gcd_import(name[level:], package, level)",
            "tests/test_app.py:3: in <module>",
            "    from app import main",
            "app/main.py:2: in <module>",
            f"    import {module}",
            f"E   ModuleNotFoundError: No module named '{module}'",
            *extra,
            "=========================== short test summary info ============================",
            "ERROR tests/test_app.py",
            "!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!",
            "1 error in 0.41s",
        ),
        exit_code=2,
    )


def module_not_found_log(module: str = "yaml") -> str:
    install = Step(
        "Install dependencies",
        run="pip install -r requirements.txt",
        output=("Collecting flask==3.0.3", "Successfully installed flask-3.0.3"),
    )
    return job_log([checkout(), setup_python(), install, _pytest_failure(module)])


def distutils_log() -> str:
    run = Step(
        "Run tests",
        run="python setup.py test",
        output=(
            "Traceback (most recent call last):",
            '  File "/home/runner/work/api/api/setup.py", line 1, in <module>',
            "    from distutils.core import setup",
            "ModuleNotFoundError: No module named 'distutils'",
        ),
        exit_code=1,
    )
    return job_log([checkout(), setup_python("3.12"), run])


def no_matching_log(name: str = "requests", version: str = "2.99.0") -> str:
    install = Step(
        "Install dependencies",
        run="pip install -r requirements.txt",
        output=(
            "Collecting flask==3.0.3 (from -r requirements.txt (line 1))",
            "  Downloading flask-3.0.3-py3-none-any.whl.metadata (3.2 kB)",
            f"ERROR: Could not find a version that satisfies the requirement {name}=={version} "
            "(from versions: 2.30.0, 2.31.0, 2.32.0, 2.32.3)",
            f"ERROR: No matching distribution found for {name}=={version}",
        ),
        exit_code=1,
    )
    return job_log([checkout(), setup_python(), install])


def resolution_impossible_log() -> str:
    install = Step(
        "Install dependencies",
        run="pip install -r requirements.txt",
        output=(
            "Collecting flask==3.0.3 (from -r requirements.txt (line 1))",
            "INFO: pip is looking at multiple versions of flask to determine which version is "
            "compatible with other requirements. This could take a while.",
            "ERROR: Cannot install -r requirements.txt (line 1) and werkzeug==2.0.0 because these "
            "package versions have conflicting dependencies.",
            "",
            "The conflict is caused by:",
            "    The user requested werkzeug==2.0.0",
            "    flask 3.0.3 depends on Werkzeug>=3.0.0",
            "",
            "To fix this you could try to:",
            "1. loosen the range of package versions you've specified",
            "2. remove package versions to allow pip to attempt to solve the dependency conflict",
            "",
            "ERROR: ResolutionImpossible: for help visit "
            "https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts",
        ),
        exit_code=1,
    )
    return job_log([checkout(), setup_python(), install])


def pip_audit_log(name: str = "requests", version: str = "2.19.1", fix: str = "2.20.0") -> str:
    audit = Step(
        "Audit dependencies",
        run="pip-audit -r requirements.txt",
        output=(
            "Found 1 known vulnerability in 1 package",
            "Name     Version ID             Fix Versions",
            "-------- ------- -------------- ------------",
            f"{name:<8} {version:<7} PYSEC-2018-28  {fix}",
        ),
        exit_code=1,
    )
    return job_log([checkout(), setup_python(), audit])


BROWNOUTS = {
    # the runner's words, per image family (actions/runner-images announcements 11101, 12045,
    # 13046 and the jobs they failed)
    "ubuntu-20.04": "This is a scheduled Ubuntu 20.04 brownout. Ubuntu 20.04 LTS runner will be "
    "removed on 2025-04-15. For more details, see https://github.com/actions/runner-images/issues/11101",
    "windows-2019": "This is a scheduled Windows Server 2019 brownout. The Windows Server 2019 "
    "image will be removed on 2025-06-30. For more details, see "
    "https://github.com/actions/runner-images/issues/12045",
    "macos-13": "This is a scheduled macos-13 brownout. The macOS-13 based runner images are "
    "being deprecated. For more details, see https://github.com/actions/runner-images/issues/13046.",
    "ubuntu-18.04": "This is a scheduled Ubuntu-18.04 brownout. The Ubuntu-18.04 environment is "
    "deprecated and will be removed on December 1st, 2022.",
}
RETIRED = {
    # after the removal date: the job is cancelled with these annotations
    "macos-13": "The macOS-13 based runner images are now retired. For more details, see "
    "https://github.com/actions/runner-images/issues/13046.",
    "windows-2019": "Windows Server 2019 has been retired. The Windows Server 2019 image has been "
    "removed as of 2025-06-30. For more details, see https://github.com/actions/runner-images/issues/12045",
}


def brownout_log(label: str = "ubuntu-20.04") -> str:
    return job_log([], setup_error=BROWNOUTS[label])


def set_output_log() -> str:
    """The runner warns about ``::set-output`` in the step that used it, and that step failed."""
    version = Step(
        "Read version",
        run='echo "::set-output name=version::$(cat VERSION)"',
        output=(
            "##[warning]The `set-output` command is deprecated and will be disabled soon. Please "
            "upgrade to using Environment Files. For more information see: "
            "https://github.blog/changelog/2022-10-11-github-actions-deprecating-save-state-and-"
            "set-output-commands/",
        ),
        exit_code=1,
    )
    return job_log([checkout(), version])


def set_output_disabled_log() -> str:
    """A runner that turned ``::set-output`` off fails the step (as it did for ``set-env``)."""
    version = Step(
        "Read version",
        run='echo "::set-output name=version::$(cat VERSION)"',
        output=(
            "##[error]Unable to process command '::set-output name=version::1.4.2' successfully.",
            "##[error]The `set-output` command is disabled. Please upgrade to using Environment "
            "Files. For more information see: https://github.blog/changelog/2022-10-11-github-"
            "actions-deprecating-save-state-and-set-output-commands/",
        ),
    )
    return job_log([checkout(), version])


NODE20_WARNING = (
    "##[warning]Node.js 20 actions are deprecated. The following actions are running on Node.js "
    "20 and may not work as expected: actions/checkout@v4, {action}. Actions will be forced to "
    "run with Node.js 24 by default starting June 2nd, 2026. Node.js 20 will be removed from the "
    "runner on September 16th, 2026. Please check if updated versions of these actions are "
    "available that support Node.js 24. To opt into Node.js 24 now, set the "
    "FORCE_JAVASCRIPT_ACTIONS_TO_NODE24=true environment variable on the runner or in your "
    "workflow file. Once Node.js 24 becomes the default, you can temporarily opt out by setting "
    "ACTIONS_ALLOW_USE_UNSECURE_NODE_VERSION=true. For more information see: "
    "https://github.blog/changelog/2025-09-19-deprecation-of-node-20-on-github-actions-runners/"
)


def _with_node_warning(text: str, action: str) -> str:
    """The runner's Node.js deprecation, written at the very end of the job."""
    stamp = "2024-01-01T00:00:09.0000000Z "
    return text + stamp + NODE20_WARNING.format(action=action) + "\n"


def node_deprecated_log() -> str:
    """The action on the retired runtime is the step that failed."""
    deploy = Step(
        "Deploy",
        uses="acme/deploy-action@v1",
        with_={"environment": "staging"},
        output=("##[error]Cannot read properties of undefined (reading 'startsWith')",),
    )
    return _with_node_warning(job_log([checkout(), deploy]), "acme/deploy-action@v1")


def node_warning_on_unrelated_failure_log() -> str:
    """A test failure in a job whose actions are on Node.js 20: the warning is not the cause."""
    return _with_node_warning(unknown_failure_log(), "actions/setup-python@v5")


def unknown_failure_log() -> str:
    tests = Step(
        "Run tests",
        run="python -m pytest -q",
        output=(
            "F.....",
            "=================================== FAILURES ===================================",
            "_________________________________ test_total __________________________________",
            "    def test_total():",
            ">       assert total([1, 2]) == 4",
            "E       assert 3 == 4",
            "tests/test_total.py:5: AssertionError",
            "FAILED tests/test_total.py::test_total - assert 3 == 4",
            "1 failed, 5 passed in 0.12s",
        ),
        exit_code=1,
    )
    return job_log([checkout(), setup_python(), tests])
