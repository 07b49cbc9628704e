"""`runtime-drift`: pins, deploy-wins alignment, EOL Python and retired runners."""

from __future__ import annotations

import difflib
from datetime import UTC, date, datetime

import pytest

from fixers.contract import Context, MemorySnapshot, Services, Severity
from fixers.production.runtime_drift import (
    RuntimeDriftFixer,
    collect_facts,
    load_runtime_tables,
    minor_of,
    project_python,
)
from fixers.production.workflows import load_workflow

TODAY = datetime(2026, 11, 23, tzinfo=UTC)
CTX = Context(services=Services(clock=lambda: TODAY))
WF = ".github/workflows/ci.yml"


@pytest.fixture(scope="module")
def fixer() -> RuntimeDriftFixer:
    return RuntimeDriftFixer()


def run(fixer, files: dict[str, bytes], ctx: Context = CTX):
    snap = MemorySnapshot(files)
    findings = fixer.detect(snap, ctx)
    return findings, fixer.fix(snap, findings, ctx)


def rules(findings) -> list[str]:
    return sorted(f.rule for f in findings)


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, str]]:
    a, b = before.decode().splitlines(True), after.decode().splitlines(True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b).get_opcodes():
        if tag != "equal":
            assert tag == "replace" and i2 - i1 == j2 - j1, "only in-place line edits"
            out += list(zip(a[i1:i2], b[j1:j2], strict=True))
    return out


CI = b"""\
name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest   # moving alias: never flagged
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: '3.11'  # keep me
      - run: pytest
"""


def test_minor_of():
    assert minor_of("3.11.4") == "3.11"
    assert minor_of("3.12-slim-bookworm") == "3.12"
    assert minor_of("3.13t") == "3.13"
    assert minor_of("pypy3.10") is None
    assert minor_of("latest") is None
    assert minor_of("3") is None


def test_dockerfile_deploy_wins_and_ci_and_dev_pins_follow(fixer):
    files = {
        "Dockerfile": b"FROM python:3.12.7-slim AS app\nCMD gunicorn app:app\n",
        ".python-version": b"3.11.9\n",
        WF: CI,
    }
    findings, patches = run(fixer, files)
    assert rules(findings) == ["drift", "drift"]
    assert all(f.severity is Severity.DRIFT for f in findings)
    [patch] = patches
    assert patch.key == "align-python" and set(patch.fingerprints) == {
        f.fingerprint for f in findings
    }
    edits = {e.path: e.content for e in patch.edits}
    assert edits[".python-version"] == b"3.12.7\n"  # precision kept: had a patch version
    assert changed_lines(CI, edits[WF]) == [
        (
            "          python-version: '3.11'  # keep me\n",
            "          python-version: '3.12'  # keep me\n",
        )
    ]
    load_workflow(WF, edits[WF])  # still a valid workflow
    # Applying the patch resolves the findings.
    after = MemorySnapshot(files).with_edits(patch.edits)
    assert fixer.detect(after, CTX) == []


def test_runtime_txt_is_deploy_and_is_never_edited(fixer):
    files = {"runtime.txt": b"python-3.12.3\n", ".tool-versions": b"nodejs 20.1.0\npython 3.10.4\n"}
    findings, [patch] = run(fixer, files)
    assert {f.path for f in findings} == {".tool-versions"}
    [edit] = patch.edits
    assert edit.content == b"nodejs 20.1.0\npython 3.12.3\n"


def test_deploy_disagreeing_with_itself_is_reported_not_fixed(fixer):
    files = {
        "Dockerfile": b"FROM python:3.12-slim\n",
        "runtime.txt": b"python-3.11.2\n",
        WF: CI,
    }
    findings, patches = run(fixer, files)
    assert rules(findings) == ["deploy-disagree"]
    assert "Dockerfile" in findings[0].message and "runtime.txt" in findings[0].message
    assert patches == []


def test_gitignored_python_version_is_a_local_choice(fixer):
    files = {
        "Dockerfile": b"FROM python:3.12\n",
        ".python-version": b"3.9\n",
        ".gitignore": b"__pycache__/\n.python-version\n",
    }
    assert run(fixer, files) == ([], [])
    facts = collect_facts(MemorySnapshot(files), CTX)
    assert any("gitignored" in n for n in facts.notes)


def test_gitignore_negation_keeps_the_pin(fixer):
    files = {
        "Dockerfile": b"FROM python:3.12\n",
        ".python-version": b"3.11\n",
        ".gitignore": b".python-version\n!.python-version\n",
    }
    findings, _ = run(fixer, files)
    assert rules(findings) == ["drift"]


def test_library_matrix_is_not_drift(fixer):
    """A library deploys nothing: a matrix over several versions is intentional."""
    files = {
        "pyproject.toml": b'[project]\nname = "lib"\nrequires-python = ">=3.11"\n',
        WF: b"""on: push
jobs:
  t:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.11", "3.12", "3.13"]
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
""",
    }
    assert run(fixer, files) == ([], [])


def test_example_dockerfile_in_a_library_does_not_decide_production(fixer):
    files = {
        "examples/web/Dockerfile": b"FROM python:3.13-slim\n",
        ".python-version": b"3.12\n",
        "docker/Dockerfile.dev": b"FROM python:3.11\n",
    }
    facts = collect_facts(MemorySnapshot(files), CTX)
    assert not any(p.deploy for p in facts.pins)
    assert run(fixer, files) == ([], [])  # no deploy side: nothing to align to
    files = {"docker/Dockerfile": b"FROM python:3.13-slim\n", ".python-version": b"3.12\n"}
    _, [patch] = run(fixer, files)
    assert patch.edits[0].content == b"3.13\n"


def test_matrix_missing_deploy_version_is_reported_only(fixer):
    files = {
        "Dockerfile": b"FROM python:3.12\n",
        WF: b"""on: push
jobs:
  t:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        py: ["3.11", "3.13"]
    steps:
      - uses: actions/setup-python@v5
        with: {python-version: "${{ matrix.py }}"}
""",
    }
    [finding], patches = run(fixer, files)
    assert finding.rule == "drift" and "matrix" in finding.message
    assert patches == []


def test_single_entry_matrix_is_aligned(fixer):
    wf = b"""on: push
jobs:
  t:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.11"]
    steps:
      - uses: actions/setup-python@v5
        with: {python-version: "${{ matrix.python }}"}
"""
    _, [patch] = run(fixer, {"Dockerfile": b"FROM python:3.13-slim\n", WF: wf})
    assert changed_lines(wf, patch.edits[0].content) == [
        ('        python: ["3.11"]\n', '        python: ["3.13"]\n')
    ]


def test_dockerfile_build_arg_is_resolved(fixer):
    files = {
        "Dockerfile": b"ARG PYTHON_VERSION=3.13\nFROM python:${PYTHON_VERSION}-slim\n",
        ".python-version": b"3.12\n",
    }
    _, [patch] = run(fixer, files)
    assert patch.edits[0].content == b"3.13\n"


def test_eol_python_in_production_is_reported_never_edited(fixer):
    files = {"Dockerfile": b"FROM python:3.9-slim\n", ".python-version": b"3.12\n"}
    findings, patches = run(fixer, files)
    eol = [f for f in findings if f.rule == "eol-python"]
    assert [f.path for f in eol] == ["Dockerfile"]
    assert "2025-10-31" in eol[0].message and "production" in eol[0].message
    drift = [f for f in findings if f.rule == "drift"]
    assert drift and "end-of-life" in drift[0].message
    assert patches == []  # never moves a pin backwards onto an EOL release


def test_month_precision_eol_is_not_early(fixer):
    files = {"Dockerfile": b"FROM python:3.10\n"}
    before = Context(services=Services(clock=lambda: datetime(2026, 10, 31, tzinfo=UTC)))
    assert run(fixer, files, before) == ([], [])
    [finding], _ = run(fixer, files)
    assert finding.rule == "eol-python"


def test_requires_python_excluding_deploy_is_reported(fixer):
    files = {
        "Dockerfile": b"FROM python:3.13\n",
        "pyproject.toml": b'[project]\nname = "a"\nrequires-python = ">=3.10,<3.13"\n',
    }
    [finding], patches = run(fixer, files)
    assert finding.rule == "drift" and finding.line == 3 and patches == []


def test_retired_runner_labels_are_replaced_in_place(fixer):
    wf = b"""on: push
jobs:
  a:
    runs-on: ubuntu-20.04
    steps: [{run: make}]
  b:
    strategy:
      matrix:
        os: [ubuntu-22.04, "macos-13", windows-latest]
    runs-on: ${{ matrix.os }}
    steps: [{run: make}]
  c:
    runs-on: [self-hosted, ubuntu-18.04-custom]
    steps: [{run: make}]
"""
    findings, [patch] = run(fixer, {WF: wf})
    by_label = {f.data["label"]: f for f in findings}
    assert set(by_label) == {"ubuntu-20.04", "ubuntu-22.04", "macos-13"}
    assert by_label["ubuntu-20.04"].severity is Severity.BROKEN_BUILD
    assert by_label["ubuntu-22.04"].severity is Severity.DRIFT  # deprecated, still runs
    assert patch.key == "runners" and patch.severity is Severity.BROKEN_BUILD
    assert changed_lines(wf, patch.edits[0].content) == [
        ("    runs-on: ubuntu-20.04\n", "    runs-on: ubuntu-24.04\n"),
        (
            '        os: [ubuntu-22.04, "macos-13", windows-latest]\n',
            '        os: [ubuntu-24.04, "macos-15-intel", windows-latest]\n',
        ),
    ]


def test_project_python_fallbacks():
    tables = load_runtime_tables()
    snap = MemorySnapshot({"pyproject.toml": b'[project]\nrequires-python = ">=3.9"\n'})
    assert project_python(snap, CTX, tables) == "3.11"  # oldest supported it allows
    assert project_python(MemorySnapshot({}), CTX, tables) is None
    assert tables.is_eol("2.6", date(2026, 1, 1)) and not tables.is_eol("3.99", date(2026, 1, 1))


@pytest.mark.parametrize(
    "files",
    [
        {"Dockerfile": b"\xff\xfeFROM python:\x00\n" * 10},
        {"pyproject.toml": b"[project\nrequires-python = "},
        {"pyproject.toml": b'[project]\nrequires-python = "not a spec"\n'},
        {"runtime.txt": b"python-banana\n", ".python-version": b"system\n"},
        {"render.yaml": b"services: [unclosed", "fly.toml": b"[build\n"},
        {WF: b"on: push\njobs:\n  a: [broken\n", "Dockerfile": b"FROM python:3.12\n"},
        {"Dockerfile": b"FROM python:${UNSET}\nFROM python:latest\n" + b"x" * 300_000},
    ],
)
def test_bad_input_gets_bounded_answers(fixer, files):
    findings, patches = run(fixer, files)
    assert all(len(f.message) < 1000 for f in findings)
    assert patches == []


def test_python_version_is_the_deploy_pin_on_heroku_style_platforms(fixer):
    wf = (
        b"on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
        b"      - uses: actions/setup-python@v5\n        with:\n"
        b"          python-version: 3.12\n"
    )
    files = {"Procfile": b"web: gunicorn app:app\n", ".python-version": b"3.13\n", WF: wf}
    facts = collect_facts(MemorySnapshot(files), CTX)
    assert [p.source for p in facts.pins if p.deploy] == [".python-version"]
    [finding], [patch] = run(fixer, files)
    assert finding.path == WF
    # Unquoted in the original: written quoted, or YAML would read 3.10 as 3.1.
    assert patch.edits[0].content == wf.replace(b"3.12", b'"3.13"')


def test_render_python_version_counts_as_deploy(fixer):
    files = {
        "render.yaml": b"services:\n  - type: web\n    envVars:\n"
        b"      - key: PYTHON_VERSION\n        value: 3.12.8\n",
        ".python-version": b"3.11\n",
    }
    [finding], [patch] = run(fixer, files)
    assert "render.yaml:5" in finding.message
    assert patch.edits[0].content == b"3.12\n"  # minor-only pin stays minor-only


UNQUOTED = b"""on: push
jobs:
  t:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: [3.9, 3.10, "3.11"]
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python }}
  one:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: 3.10   # the classic
"""


def test_unquoted_versions_yaml_reads_as_floats_are_quoted(fixer):
    findings, patches = run(fixer, {WF: UNQUOTED})
    misread = sorted(f.line for f in findings if f.rule == "unquoted-version")
    assert misread == [7, 17]
    assert all(
        f.severity is Severity.BROKEN_BUILD for f in findings if f.rule == "unquoted-version"
    )
    [patch] = [p for p in patches if p.key == "quote-versions"]
    assert changed_lines(UNQUOTED, patch.edits[0].content) == [
        ('        python: [3.9, 3.10, "3.11"]\n', '        python: [3.9, "3.10", "3.11"]\n'),
        (
            "          python-version: 3.10   # the classic\n",
            '          python-version: "3.10"   # the classic\n',
        ),
    ]
    after = MemorySnapshot({WF: UNQUOTED}).with_edits(patch.edits)
    assert not [f for f in fixer.detect(after, CTX) if f.rule == "unquoted-version"]


def test_alignment_of_an_unquoted_version_writes_it_quoted(fixer):
    wf = (
        b"on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    strategy:\n"
        b"      matrix:\n        python: [3.11]\n    steps:\n"
        b"      - uses: actions/setup-python@v5\n"
        b"        with: {python-version: '${{ matrix.python }}'}\n"
    )
    _, [patch] = run(fixer, {"Dockerfile": b"FROM python:3.13-slim\n", WF: wf})
    assert changed_lines(wf, patch.edits[0].content) == [
        ("        python: [3.11]\n", '        python: ["3.13"]\n')
    ]


LIBRARY_CI = b"""\
on: [push, pull_request]
jobs:
  tests:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.9", "3.10", "3.11", "3.12", "3.13"]
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
      - run: pytest
"""
LIBRARY_PYPROJECT = b"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "lib"
requires-python = ">=3.9"
"""


def test_a_library_testing_end_of_life_pythons_is_not_told_to_upgrade(fixer):
    """Issue 14: a library has no production runtime; its CI matrix tests its users' Pythons."""
    files = {"pyproject.toml": LIBRARY_PYPROJECT, ".github/workflows/ci.yml": LIBRARY_CI}
    findings, _ = run(fixer, files)
    assert "eol-python" not in rules(findings)
    # The same pins in an app that deploys are worth a finding.
    findings, _ = run(fixer, {**files, "Procfile": b"web: gunicorn app:app\n"})
    assert rules(findings).count("eol-python") == 2  # 3.9 and 3.10


def test_a_project_generator_has_no_production_python_to_align_with(fixer):
    # cookiecutter-flask: the root Dockerfile runs cookiecutter; CI was "aligned" to it.
    setup = (
        "      - uses: actions/setup-python@v5\n        with:\n          python-version: '3.12'\n"
    )
    ci = f"on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n{setup}".encode()
    files = {"Dockerfile": b"FROM python:3.13-slim\n", WF: ci, "requirements.txt": b"x\n"}
    findings, patches = run(fixer, files)
    assert "drift" in rules(findings) and patches  # an app: CI follows the deploy Python
    generator = {**files, "cookiecutter.json": b"{}", "{{cookiecutter.app}}/app.py": b""}
    findings, patches = run(fixer, generator)
    assert "drift" not in rules(findings) and patches == []
