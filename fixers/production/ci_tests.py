"""`ci-tests`: a project with tests gets a workflow that runs them.

Detection: tests exist (a ``tests/`` package, ``test_*.py`` files, pytest /
tox / nox configuration) and no workflow triggered by ``push`` or
``pull_request`` runs a test command. A workflow we cannot see into (a
reusable workflow, a local composite action) or another CI system counts as
"maybe runs tests": Patchwell does not add a second CI on a guess.

Fix: ``.github/workflows/tests.yml`` -- checkout, setup-python with the
project's Python (from the runtime facts), install from the project's own
dependency declarations, run the tests; ``permissions: contents: read``;
actions pinned by commit SHA from ``fixers/data/action_pins.toml``.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from importlib import resources
from typing import Any, Literal

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from fixers.contract import (
    Context,
    Explanation,
    FileEdit,
    Finding,
    MemorySnapshot,
    Patch,
    Severity,
    Snapshot,
    fingerprint,
    matches_any,
)
from fixers.nesting import json_loads, toml_loads
from fixers.production.runtime_drift import RuntimeTables, load_runtime_tables, project_python
from fixers.production.test_runner import Unsure, declared_text, find_runner, windows_only
from fixers.production.workflows import (
    WORKFLOW_PATTERNS,
    Workflow,
    WorkflowCache,
    load_workflows,
    parse_yaml,
)

__all__ = [
    "ActionPin",
    "CiPlan",
    "CiTestsFixer",
    "find_test_evidence",
    "load_action_pins",
    "plan_tests",
    "project_dir",
    "render_workflow",
    "runs_tests",
]

NAME = "ci-tests"
MAX_CONFIG_BYTES = 256 * 1024

_VENDORED = ("**/.venv/**", "**/venv/**", "**/node_modules/**", "**/site-packages/**")
_VENDORED_ROOT = (".venv/*", "venv/*", "node_modules/*")
_TEST_FILES = ("tests/**/*.py", "test/**/*.py", "**/test_*.py", "**/*_test.py", "**/tests.py")
# Other CI systems: tests may well run there, and a second CI is not ours to add.
_OTHER_CI = (
    ".travis.yml",
    ".circleci/config.yml",
    ".gitlab-ci.yml",
    "azure-pipelines.yml",
    "Jenkinsfile",
    "bitbucket-pipelines.yml",
    ".drone.yml",
    ".woodpecker.yml",
    "appveyor.yml",
)
# What "runs the tests" looks like in a `run:` script (shell, not Python source).
_TEST_COMMAND = re.compile(
    r"(?:^|[\s;&|(/])(?:"
    r"pytest|py\.test|tox|nox|unittest|coverage\s+run|manage\.py\s+test|runtests(?:\.py)?"
    r"|hatch\s+(?:test|run\s+\S*test)|(?:make|just|poe|invoke|task)\s+(?:[\w:-]+\s+)*?[\w:-]*test"
    r")\b",
    re.M,
)
# Installing pytest is not running it. Two searches, not `installer.*verb`: that one
# rescans the rest of the line from every installer word (`-pip-pip-pip…` is quadratic).
_INSTALLER = re.compile(r"\b(?:pip|pipx|uv|poetry|pdm|conda|apt-get|brew)\b")
_INSTALL_VERB = re.compile(r"\b(?:install|add)\b")
_MAKE_CALL = re.compile(r"(?:^|[\s;&|(])make\s+((?:[\w.-]+\s*)+)", re.M)
_TRIGGERS = frozenset({"push", "pull_request", "merge_group"})
_TEST_EXTRAS = ("test", "tests", "testing", "dev")
_TEST_REQUIREMENTS = (
    "requirements-dev.txt",
    "requirements-test.txt",
    "requirements_dev.txt",
    "requirements_test.txt",
    "dev-requirements.txt",
    "test-requirements.txt",
    "requirements/dev.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
)


@dataclass(frozen=True, slots=True)
class ActionPin:
    action: str
    tag: str
    sha: str

    @property
    def major(self) -> str:
        return self.tag.split(".", 1)[0]

    def uses(self) -> str:
        """``owner/repo@<sha> # vX.Y.Z``, or ``@vX`` when no verified SHA is recorded."""
        if re.fullmatch(r"[0-9a-f]{40}", self.sha):
            return f"{self.action}@{self.sha} # {self.tag}"
        return f"{self.action}@{self.major}"

    @property
    def pinned(self) -> bool:
        return bool(re.fullmatch(r"[0-9a-f]{40}", self.sha))


def load_action_pins(data: bytes | None = None) -> Mapping[str, ActionPin]:
    if data is None:
        data = resources.files("fixers").joinpath("data/action_pins.toml").read_bytes()
    raw = tomllib.loads(data.decode("utf-8"))
    return {
        name: ActionPin(name, str(entry.get("tag", "")), str(entry.get("sha", "")))
        for name, entry in raw.get("actions", {}).items()
    }


# --- detection ----------------------------------------------------------------------


def _heroku_ci(snapshot: Snapshot) -> bool:
    """``app.json`` with an ``environments.test`` block: Heroku CI runs the tests.

    Source: https://devcenter.heroku.com/articles/heroku-ci#configuring-your-test-environment
    """
    text = _read(snapshot, "app.json")
    if text is None:
        return False
    try:
        doc = json_loads(text)
    except (ValueError, RecursionError):
        return False
    environments = doc.get("environments") if isinstance(doc, dict) else None
    return isinstance(environments, dict) and isinstance(environments.get("test"), dict)


def _read(snapshot: Snapshot, path: str) -> str | None:
    data = snapshot.read(path)
    if data is None or len(data) > MAX_CONFIG_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


def _pyproject(snapshot: Snapshot) -> Mapping[str, Any]:
    text = _read(snapshot, "pyproject.toml")
    if text is None:
        return {}
    try:
        return toml_loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def _ini_sections(snapshot: Snapshot, path: str) -> set[str]:
    text = _read(snapshot, path)
    if text is None:
        return set()
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return set()
    return set(parser.sections())


def find_test_evidence(snapshot: Snapshot, ctx: Context) -> list[str]:
    """Why we believe the project has tests (paths), empty when it has none."""
    evidence: list[str] = []
    tool = _pyproject(snapshot).get("tool", {})
    if isinstance(tool, Mapping) and "pytest" in tool:
        evidence.append("pyproject.toml [tool.pytest]")
    if snapshot.read("pytest.ini") is not None:
        evidence.append("pytest.ini")
    if "tool:pytest" in _ini_sections(snapshot, "setup.cfg"):
        evidence.append("setup.cfg [tool:pytest]")
    tox = _ini_sections(snapshot, "tox.ini")
    if tox & {"pytest", "tox", "testenv"}:
        evidence.append("tox.ini")
    if snapshot.read("noxfile.py") is not None:
        evidence.append("noxfile.py")
    files = [
        p
        for p in snapshot.paths()
        if matches_any(p, _TEST_FILES)
        and not matches_any(p, _VENDORED + _VENDORED_ROOT)
        and not ctx.ignored(p)
    ]
    evidence += files[:3]
    return evidence


_PROJECT_FILES = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "tox.ini",
    "pytest.ini",
    "manage.py",
    "uv.lock",
    "Pipfile",
)
_SAFE_DIR = re.compile(r"[A-Za-z0-9][\w.-]*")


def project_dir(snapshot: Snapshot, ctx: Context) -> str | None:
    """Where the Python project lives: ``""`` for the root, one top-level folder
    (``backend``) when only that folder holds both the tests and a manifest, or
    ``None`` when the layout is ambiguous (Patchwell then reports, never guesses)."""
    if any(snapshot.read(name) is not None for name in _PROJECT_FILES):
        return ""
    tops = {
        p.split("/", 1)[0]
        for p in snapshot.paths()
        if "/" in p and matches_any(p, _TEST_FILES) and not ctx.ignored(p)
    }
    found = [
        top
        for top in sorted(tops)
        if _SAFE_DIR.fullmatch(top)
        and any(snapshot.read(f"{top}/{name}") is not None for name in _PROJECT_FILES)
    ]
    if not found:
        return ""  # no manifest anywhere: pytest from the root is the best guess
    return found[0] if len(found) == 1 else None


def _subtree(snapshot: Snapshot, directory: str) -> Snapshot:
    """The files under ``directory`` as if it were the root (reads only loaded files)."""
    prefix = directory + "/"
    files = {p[len(prefix) :]: snapshot.read(p) for p in snapshot.paths() if p.startswith(prefix)}
    return MemorySnapshot({p: data for p, data in files.items() if data is not None})


def _make_targets_run_tests(snapshot: Snapshot, targets: Sequence[str]) -> bool:
    text = _read(snapshot, "Makefile")
    if text is None:
        return False
    current: str | None = None
    for line in text.split("\n"):
        header = re.match(r"^([\w.-]+)\s*:(?!=)", line)
        if header:
            current = header.group(1)
        elif line.startswith("\t") and current in targets and _script_runs_tests(line):
            return True
    return False


def _script_runs_tests(script: str) -> bool:
    return any(
        _TEST_COMMAND.search(line) and not _installs(line)
        for line in script.replace("\\\n", " ").split("\n")
    )


def _installs(line: str) -> bool:
    installer = _INSTALLER.search(line)
    return installer is not None and _INSTALL_VERB.search(line, installer.end()) is not None


# A repository script a `run:` line calls: `scripts/test`, `./run-tests.sh`, `bash x.sh`.
_SCRIPT_CALL = re.compile(
    r"(?:^|[\s;&|(\"'])(?:(?:bash|sh)\s+)?((?:\./)?(?:[\w.-]+/)*[\w.-]+\.sh|(?:\./)?"
    r"(?:[\w.-]+/)*scripts?/[\w.-]+)(?=$|[\s;&|)\"'])",
    re.M,
)
_TEST_WORD = re.compile(r"(?:^|[^a-z])tests?(?:[^a-z]|$)", re.I)


def _scripts_run_tests(snapshot: Snapshot, script: str, base: str, depth: int = 0) -> str | None:
    """The repository script (followed up to 3 deep) that runs a test command, if any."""
    if depth >= 3:
        return None
    for m in _SCRIPT_CALL.finditer(script):
        rel = m.group(1).removeprefix("./")
        path = f"{base.strip('/')}/{rel}" if base and base not in (".", "./") else rel
        text = _read(snapshot, path)
        if text is None:
            continue
        if _script_runs_tests(text):
            return path
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        # Scripts call siblings relative to where the step runs or to their own folder.
        found = _scripts_run_tests(snapshot, text, base, depth + 1)
        if found is None and folder:
            found = _scripts_run_tests(snapshot, text, folder.rsplit("/", 1)[0], depth + 1)
        if found is not None:
            return found
    return None


def runs_tests(workflow: Workflow, snapshot: Snapshot) -> str | None:
    """Why this workflow (maybe) runs tests on push/pull_request, or ``None``."""
    if not workflow.triggers & _TRIGGERS:
        return None
    for job in workflow.jobs:
        if job.uses:
            return f"job `{job.id}` calls `{job.uses}`, which may run the tests"
        for step in job.steps:
            if step.uses and step.uses.startswith("./"):
                return f"job `{job.id}` uses the local action `{step.uses}`"
            if not step.run:
                continue
            if _script_runs_tests(step.run):
                return f"job `{job.id}` runs the tests"
            for call in _MAKE_CALL.finditer(step.run):
                if _make_targets_run_tests(snapshot, call.group(1).split()):
                    return f"job `{job.id}` runs `make {call.group(1).strip()}`"
            base = step.working_directory or job.working_directory or ""
            script = _scripts_run_tests(snapshot, step.run, base)
            if script is not None:
                return f"job `{job.id}` runs `{script}`, which runs the tests"
            if step.name and _TEST_WORD.search(step.name):
                # A step its author named for the tests: we may not see into the command.
                return f"job `{job.id}` has a step named `{step.name[:60]}`"
    return None


# --- the workflow we add ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CiPlan:
    python: str
    python_source: str  # where the version came from
    install: tuple[str, ...]
    test: str
    notes: tuple[str, ...] = ()
    directory: str = ""  # the project's folder when it is not the repository root
    uv: bool = False  # install uv with astral-sh/setup-uv (pinned) before the install step
    evidence: str = ""  # why this is the project's own test command


def _requirement_files(snapshot: Snapshot) -> list[str]:
    return [f for f in ("requirements.txt", *_TEST_REQUIREMENTS) if snapshot.read(f) is not None]


def _has_hashes(snapshot: Snapshot, path: str) -> bool:
    return "--hash=" in (_read(snapshot, path) or "")


def _pip_install(snapshot: Snapshot, pyproject: Mapping[str, Any]) -> list[str]:
    """pip commands for the project's own declarations; nothing unpinned of ours."""
    cmds = []
    for f in _requirement_files(snapshot):
        # Hashes in the file: make pip refuse anything that does not match them.
        flag = "--require-hashes " if _has_hashes(snapshot, f) else ""
        cmds.append(f"python -m pip install {flag}-r {f}")
    project = pyproject.get("project")
    if isinstance(project, Mapping) or snapshot.read("setup.py") or snapshot.read("setup.cfg"):
        extras = project.get("optional-dependencies", {}) if isinstance(project, Mapping) else {}
        extra = next((e for e in _TEST_EXTRAS if isinstance(extras, Mapping) and e in extras), None)
        cmds.append(
            f'python -m pip install -e ".[{extra}]"' if extra else "python -m pip install -e ."
        )
    groups = pyproject.get("dependency-groups", {})
    group = next((g for g in _TEST_EXTRAS if isinstance(groups, Mapping) and g in groups), None)
    if group:
        cmds.append(f"python -m pip install --group {group}")  # PEP 735, pip >= 25.1
    return cmds


def plan_tests(snapshot: Snapshot, ctx: Context, tables: RuntimeTables) -> CiPlan | Unsure:
    """How this project installs and runs its tests, from its own files -- or why not."""
    today = ctx.services.clock().date()
    notes: list[str] = []
    python = project_python(snapshot, ctx, tables)
    source = "the project's runtime pins"
    if python is None:
        python = _default_python(tables, today)
        source = "no pin found; the newest release that has been out for a year"
        notes.append(f"No Python version is pinned anywhere, so CI uses {python}.")
    elif tables.is_eol(python, today):
        return Unsure(
            f"the project runs Python {python}, which is end-of-life (`actions/setup-python` "
            "may not provide it): upgrade first, see the `runtime-drift` finding"
        )
    pyproject = _pyproject(snapshot)
    tool = pyproject.get("tool", {}) if isinstance(pyproject.get("tool"), Mapping) else {}
    requirements = _requirement_files(snapshot)
    declared = declared_text(snapshot, pyproject, requirements)
    configured = next((e for e in find_test_evidence(snapshot, ctx)[:5] if "pytest" in e), None)
    runner = find_runner(snapshot, pyproject, configured, declared)
    if isinstance(runner, Unsure):
        return runner
    windows = windows_only(snapshot, requirements)
    if windows is not None:
        return Unsure(
            f"`{windows}` requires a Windows-only package without a platform marker, so the "
            'install fails on Linux runners (add `; sys_platform == "win32"`)'
        )
    command = runner.command if runner.kind != "pytest" else "python -m pytest"
    if snapshot.read("uv.lock") is not None:
        install: tuple[str, ...] = ("uv sync --locked",)
        test = f"uv run {runner.command}" if runner.kind != "pytest" else "uv run pytest"
        return CiPlan(python, source, install, test, tuple(notes), uv=True,
                      evidence=runner.evidence)  # fmt: skip
    if "poetry" in tool and "project" not in pyproject:
        if snapshot.read("poetry.lock") is None:
            return Unsure("a Poetry project without `poetry.lock`: what to install is not fixed")
        install = ("pipx install poetry", "poetry install --no-interaction")
        test = f"poetry run {runner.command}" if runner.kind != "pytest" else "poetry run pytest"
        notes.append("Poetry itself is installed unpinned by `pipx`; pin its version if you can.")
        return CiPlan(python, source, install, test, tuple(notes), evidence=runner.evidence)
    install = tuple(_pip_install(snapshot, pyproject))
    if not install:
        return Unsure("no requirements file or package metadata says what the tests need")
    return CiPlan(python, source, install, command, tuple(notes), evidence=runner.evidence)


def _default_python(tables: RuntimeTables, today: date) -> str:
    # A release less than a year old often lacks wheels for common dependencies.
    mature = [m for m in tables.supported(today) if tables.released[m] <= today - timedelta(365)]
    return (mature or tables.supported(today) or ["3.12"])[-1]


def render_workflow(plan: CiPlan, pins: Mapping[str, ActionPin]) -> str:
    checkout = pins["actions/checkout"].uses()
    setup = pins["actions/setup-python"].uses()
    uv = f"      - uses: {pins['astral-sh/setup-uv'].uses()}\n" if plan.uv else ""
    install = "\n".join(f"          {cmd}" for cmd in plan.install)
    defaults = (
        f"    defaults:\n      run:\n        working-directory: {plan.directory}\n"
        if plan.directory
        else ""
    )
    return f"""\
# Runs the test suite on every push and pull request (added by Patchwell).
name: tests

on:
  push:
  pull_request:

# The tests only read the repository.
permissions:
  contents: read

jobs:
  tests:
    runs-on: ubuntu-latest
    timeout-minutes: 20
{defaults}    steps:
      - uses: {checkout}
        with:
          persist-credentials: false
      - uses: {setup}
        with:
          python-version: "{plan.python}"
{uv}      - name: Install
        run: |
{install}
      - name: Test
        run: {plan.test}
"""


def _verify(text: str, plan: CiPlan) -> bool:
    try:
        doc = parse_yaml(text)
    except YAMLError:
        return False
    if not isinstance(doc, CommentedMap):
        return False
    steps = doc["jobs"]["tests"]["steps"]
    return (
        doc["permissions"] == {"contents": "read"}
        and steps[1]["with"]["python-version"] == plan.python
        and all("@" in str(st.get("uses", "@")) for st in steps)
        and steps[-1]["run"] == plan.test
    )


def _deploys(workflows: Sequence[Workflow]) -> list[str]:
    return [
        w.path
        for w in workflows
        if re.search(r"deploy|release|publish", w.path.rsplit("/", 1)[-1], re.I)
    ]


@dataclass(frozen=True)
class CiTestsFixer:
    tables: RuntimeTables = field(default_factory=load_runtime_tables)
    pins: Mapping[str, ActionPin] = field(default_factory=load_action_pins)
    cache: WorkflowCache = field(default_factory=WorkflowCache, compare=False, repr=False)
    name: str = NAME
    patterns: tuple[str, ...] = (
        "**/*.py",
        "pyproject.toml",
        "pytest.ini",
        "setup.cfg",
        "tox.ini",
        "Makefile",
        "justfile",
        "Justfile",
        "scripts/*.sh",
        "script/*.sh",
        "uv.lock",
        "requirements*.txt",
        "requirements/*.txt",
        "*requirements.txt",
        "runtime.txt",
        ".python-version",
        ".tool-versions",
        ".gitignore",
        "**/Dockerfile",
        "Procfile",
        "app.json",
        "render.yaml",
        "fly.toml",
        *_OTHER_CI,
        *WORKFLOW_PATTERNS,
    )
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        evidence = find_test_evidence(snapshot, ctx)
        if not evidence:
            return []
        if any(p in snapshot.all_paths for p in _OTHER_CI) or _heroku_ci(snapshot):
            return []
        workflows, errors = load_workflows(snapshot, ctx, self.cache)
        if errors:
            return []  # an unreadable workflow may be the one running tests
        if any(runs_tests(w, snapshot) for w in workflows):
            return []
        deploys = _deploys(workflows)
        message = (
            f"Tests exist ({', '.join(evidence)}) but no workflow runs them on push or pull "
            "request, so a change can merge -- and deploy -- without them."
        )
        if deploys:
            message += f" Deploy workflows: {', '.join(f'`{d}`' for d in deploys)}."
        plan = self._plan(snapshot, ctx)
        if isinstance(plan, Unsure):
            message += f" Patchwell proposes no workflow: {plan.reason}."
        else:
            message += f" They run with `{plan.test}` ({plan.evidence})."
        return [
            Finding(
                fixer=NAME,
                rule="tests-not-run",
                # A deploy workflow with no test gate ships untested code: above hygiene.
                severity=Severity.DRIFT if deploys else Severity.HYGIENE,
                title="Tests never run in CI",
                message=message,
                fingerprint=fingerprint(NAME, "tests-not-run"),
                path=evidence[0].split(" ", 1)[0],
                data={"evidence": evidence, "deploy_workflows": deploys},
            )
        ]

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        finding = next((f for f in findings if f.rule == "tests-not-run"), None)
        if finding is None:
            return []
        path = next(
            (
                p
                for p in (".github/workflows/tests.yml", ".github/workflows/patchwell-tests.yml")
                if p not in snapshot.all_paths
            ),
            None,
        )
        if path is None:
            return []
        plan = self._plan(snapshot, ctx)
        if isinstance(plan, Unsure):
            return []  # the finding says why; a guessed command is a PR nobody merges
        text = render_workflow(plan, self.pins)
        if not _verify(text, plan):  # pragma: no cover - the template is ours
            return []
        return [
            Patch(
                fixer=NAME,
                key="workflow",
                title="Run the tests on every push and pull request",
                edits=(FileEdit(path, "create", text.encode("utf-8")),),
                explanation=self._explanation(finding, plan, path),
                severity=finding.severity,
                fingerprints=(finding.fingerprint,),
            )
        ]

    def _plan(self, snapshot: Snapshot, ctx: Context) -> CiPlan | Unsure:
        directory = project_dir(snapshot, ctx)
        if directory is None:
            return Unsure("several folders hold a Python project with tests")
        if not directory:
            return plan_tests(snapshot, ctx, self.tables)
        sub = _subtree(snapshot, directory)
        plan = plan_tests(sub, Context(services=ctx.services), self.tables)
        return plan if isinstance(plan, Unsure) else replace(plan, directory=directory)

    def _explanation(self, finding: Finding, plan: CiPlan, path: str) -> Explanation:
        pins = [self.pins["actions/checkout"], self.pins["actions/setup-python"]]
        if plan.uv:
            pins.append(self.pins["astral-sh/setup-uv"])
        pin_lines = [
            f"`{p.action}` pinned to commit `{p.sha}` ({p.tag}; recorded with its source in "
            "`fixers/data/action_pins.toml`)"
            if p.pinned
            else f"`{p.action}` pinned by tag `{p.major}`: no verified commit SHA is recorded "
            "in `fixers/data/action_pins.toml`, pin it yourself"
            for p in pins
        ]
        notes = "".join(f"\n- {n}" for n in plan.notes)
        return Explanation(
            found=finding.message,
            why="Tests that only run on a laptop stop being run. A required check on every "
            "pull request is what keeps a broken change from reaching production.",
            changes=f"Adds `{path}`:\n\n"
            + (
                f"- runs in `{plan.directory}/`, where the project lives\n"
                if plan.directory
                else ""
            )
            + f"- Python `{plan.python}` ({plan.python_source})\n"
            f"- install: `{'`; `'.join(plan.install)}`\n"
            f"- test: `{plan.test}` ({plan.evidence})\n"
            "- token: `permissions: contents: read`; checkout does not keep credentials\n"
            + "".join(f"- {line}\n" for line in pin_lines)
            + notes,
            verify="The `tests` check runs on this pull request. If it fails, the tests were "
            "already failing (or need a service such as a database): fix them or adjust the "
            "install step here before merging. Then make `tests` a required status check.",
            rollback="Delete the workflow file (or revert this pull request).",
        )
