"""`ci-tests`: tests that no workflow runs get a minimal, pinned, read-only CI."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from ruamel.yaml import YAML

from fixers.contract import Context, MemorySnapshot, Services, Severity
from fixers.production.ci_tests import CiTestsFixer, load_action_pins
from fixers.production.runtime_drift import RuntimeDriftFixer
from fixers.production.workflow_permissions import WorkflowPermissionsFixer

CTX = Context(services=Services(clock=lambda: datetime(2026, 11, 23, tzinfo=UTC)))
APP = {
    "app/main.py": b"from flask import Flask\napp = Flask(__name__)\n",
    "tests/test_main.py": b"def test_ok():\n    assert True\n",
    "requirements-dev.txt": b"pytest==8.3.0\n",
}


@pytest.fixture(scope="module")
def fixer() -> CiTestsFixer:
    return CiTestsFixer()


def run(fixer, files: dict[str, bytes]):
    snap = MemorySnapshot(files)
    findings = fixer.detect(snap, CTX)
    return findings, fixer.fix(snap, findings, CTX)


def workflow(patch) -> dict:
    [edit] = patch.edits
    assert edit.action == "create" and edit.path == ".github/workflows/tests.yml"
    return YAML(typ="safe").load(edit.content.decode())


def wf(run_line: str, on: str = "[push, pull_request]") -> bytes:
    job = f"  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: {run_line}\n"
    return f"on: {on}\njobs:\n{job}".encode()


def test_adds_pinned_read_only_workflow_with_project_python(fixer):
    files = {
        **APP,
        "requirements.txt": b"flask==3.1.0\n",
        "requirements-dev.txt": b"pytest==8.3.0\n",
        "Dockerfile": b"FROM python:3.13-slim\n",
    }
    [finding], [patch] = run(fixer, files)
    assert finding.rule == "tests-not-run" and finding.severity is Severity.HYGIENE
    assert patch.fingerprints == (finding.fingerprint,)
    doc = workflow(patch)
    assert set(doc["on"]) == {"push", "pull_request"}
    assert doc["permissions"] == {"contents": "read"}
    steps = doc["jobs"]["tests"]["steps"]
    assert steps[1]["with"]["python-version"] == "3.13"
    # Nothing unpinned of ours (no `pip install --upgrade pip`, no bare `pip install pytest`).
    assert steps[2]["run"].splitlines() == [
        "python -m pip install -r requirements.txt",
        "python -m pip install -r requirements-dev.txt",
    ]
    assert steps[3]["run"] == "python -m pytest"
    text = patch.edits[0].content.decode()
    pins = load_action_pins()
    for action in ("actions/checkout", "actions/setup-python"):
        pin = pins[action]
        assert re.fullmatch(r"[0-9a-f]{40}", pin.sha)
        assert f"uses: {action}@{pin.sha} # {pin.tag}\n" in text
        assert pin.sha in patch.explanation.markdown()


def test_generated_workflow_passes_our_other_fixers(fixer):
    _, [patch] = run(fixer, {**APP, "runtime.txt": b"python-3.12.4\n"})
    after = MemorySnapshot({**APP, "runtime.txt": b"python-3.12.4\n"}).with_edits(patch.edits)
    assert WorkflowPermissionsFixer().detect(after, CTX) == []
    assert RuntimeDriftFixer().detect(after, CTX) == []
    assert fixer.detect(after, CTX) == []  # and it now counts as running the tests


def test_pyproject_extras_install_the_declared_pytest(fixer):
    files = {
        "pkg/__init__.py": b"",
        "pkg/core_test.py": b"def test_x(): pass\n",
        "pyproject.toml": b'[project]\nname = "pkg"\nrequires-python = ">=3.12"\n'
        b'[project.optional-dependencies]\ndev = ["ruff", "pytest>=8"]\n',
    }
    _, [patch] = run(fixer, files)
    steps = workflow(patch)["jobs"]["tests"]["steps"]
    assert steps[1]["with"]["python-version"] == "3.12"
    assert steps[2]["run"].splitlines() == ['python -m pip install -e ".[dev]"']


def test_tests_with_no_declared_runner_are_reported_not_guessed(fixer):
    files = {"pkg/__init__.py": b"", "pkg/core_test.py": b"def test_x(): pass\n",
             "pyproject.toml": b'[project]\nname = "pkg"\n'}  # fmt: skip
    [finding], patches = run(fixer, files)
    assert patches == [] and "no dependency file declares pytest" in finding.message


def test_uv_and_poetry_projects_use_their_tools(fixer):
    uv = {**APP, "pyproject.toml": b'[project]\nname = "a"\n',
          "uv.lock": b'version = 1\n[[package]]\nname = "pytest"\n'}  # fmt: skip
    _, [patch] = run(fixer, uv)
    steps = workflow(patch)["jobs"]["tests"]["steps"]
    pin = load_action_pins()["astral-sh/setup-uv"]
    assert steps[2]["uses"] == f"astral-sh/setup-uv@{pin.sha}"  # the comment holds the tag
    assert steps[3]["run"] == "uv sync --locked\n" and steps[4]["run"] == "uv run pytest"
    poetry = {**APP, "pyproject.toml": b'[tool.poetry]\nname = "a"\n', "poetry.lock": b"x"}
    _, [patch] = run(fixer, poetry)
    steps = workflow(patch)["jobs"]["tests"]["steps"]
    assert "poetry install" in steps[2]["run"] and steps[3]["run"] == "poetry run pytest"
    [_], patches = run(fixer, {**APP, "pyproject.toml": b'[tool.poetry]\nname = "a"\n'})
    assert patches == []  # no lock file: what to install is not fixed


DJANGO_MANAGE = (
    b"import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n"
    b"from django.core.management import execute_from_command_line\n"
    b"execute_from_command_line(sys.argv)\n"
)


def test_django_without_pytest_uses_its_runner(fixer):
    files = {
        "manage.py": DJANGO_MANAGE,
        "requirements.txt": b"django==5.2\n",
        "shop/tests.py": b"from django.test import TestCase\n",
    }
    _, [patch] = run(fixer, files)
    steps = workflow(patch)["jobs"]["tests"]["steps"]
    assert steps[3]["run"] == "python manage.py test"
    assert "pytest" not in steps[2]["run"]


def test_django_settings_that_need_the_environment_are_reported(fixer):
    files = {
        "manage.py": DJANGO_MANAGE,
        "requirements.txt": b"django==5.2\n",
        "shop/settings.py": b"import os\nSECRET_KEY = os.environ.get('SECRET_KEY')\n"
        b"DEBUG = os.environ.get('DEBUG', '0')\n",
        "shop/tests.py": b"from django.test import TestCase\n",
    }
    [finding], patches = run(fixer, files)
    assert patches == [] and "`SECRET_KEY`" in finding.message and "DEBUG" not in finding.message


def test_a_manage_py_that_is_not_django_is_not_run_as_django(fixer):
    files = {
        "manage.py": b"import click\n@click.group()\ndef cli(): pass\n",
        "requirements.txt": b"flask\n",
        "tests.py": b"import unittest\nclass T(unittest.TestCase): pass\n",
    }
    [finding], patches = run(fixer, files)
    assert patches == [] and "`manage.py` is not Django's" in finding.message


def test_root_tests_py_with_unittest_main_runs_with_unittest(fixer):
    """`python -m pytest` collects nothing from `tests.py` (exit 5)."""
    files = {
        "requirements.txt": b"flask\n",
        "tests.py": b"import unittest\nclass T(unittest.TestCase):\n    pass\n"
        b"if __name__ == '__main__':\n    unittest.main()\n",
    }
    _, [patch] = run(fixer, files)
    assert workflow(patch)["jobs"]["tests"]["steps"][3]["run"] == "python -m unittest -v tests"


def test_windows_only_requirement_is_reported(fixer):
    files = {**APP, "requirements.txt": b"flask\npywin32==306\n"}
    [finding], patches = run(fixer, files)
    assert patches == [] and "requirements.txt:2" in finding.message
    marked = {**APP, "requirements.txt": b'flask\npywin32==306; sys_platform == "win32"\n'}
    assert len(run(fixer, marked)[1]) == 1


def test_hashes_in_requirements_make_the_install_hash_checked(fixer):
    files = {**APP, "requirements.txt": b"flask==3.1.0 \\\n    --hash=sha256:" + b"a" * 64 + b"\n"}
    _, [patch] = run(fixer, files)
    install = workflow(patch)["jobs"]["tests"]["steps"][2]["run"]
    assert "python -m pip install --require-hashes -r requirements.txt" in install


def test_eol_deploy_python_is_reported_not_proposed(fixer):
    [finding], patches = run(fixer, {**APP, "Dockerfile": b"FROM python:3.8-slim\n"})
    assert patches == [] and "end-of-life" in finding.message


def test_a_workflow_that_runs_a_test_script_counts(fixer):
    script = b"#!/bin/sh\ncoverage run -m pytest tests/\n"
    start = b"#!/bin/sh\npython app/pre_start.py\nbash scripts/test.sh\n"
    steps = (
        b"on: [push, pull_request]\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
        b"      - run: uv run bash scripts/tests-start.sh\n        working-directory: backend\n"
    )
    files = {**APP, "backend/scripts/test.sh": script, "backend/scripts/tests-start.sh": start,
             ".github/workflows/test-backend.yml": steps}  # fmt: skip
    assert run(fixer, files) == ([], [])
    named = b"on: push\njobs:\n  t:\n    steps:\n      - name: Run tests\n        run: ci/go\n"
    assert run(fixer, {**APP, ".github/workflows/x.yml": named}) == ([], [])


def test_project_in_a_subfolder_runs_there(fixer):
    files = {
        "frontend/package.json": b"{}",
        "backend/requirements.txt": b"django==5.2\npytest-django\n",
        "backend/Dockerfile": b"FROM python:3.13-slim\n",
        "backend/tests/test_views.py": b"def test_v(): pass\n",
    }
    [_finding], [patch] = run(fixer, files)
    doc = workflow(patch)
    job = doc["jobs"]["tests"]
    assert job["defaults"] == {"run": {"working-directory": "backend"}}
    assert job["steps"][1]["with"]["python-version"] == "3.13"
    assert "python -m pip install -r requirements.txt" in job["steps"][2]["run"]
    assert "runs in `backend/`" in patch.explanation.markdown()


def test_two_candidate_projects_are_reported_not_guessed(fixer):
    files = {
        "api/pyproject.toml": b'[project]\nname = "api"\n',
        "api/tests/test_a.py": b"",
        "worker/requirements.txt": b"celery\n",
        "worker/tests/test_w.py": b"",
    }
    [finding], patches = run(fixer, files)
    assert finding.rule == "tests-not-run" and patches == []


def test_no_pin_uses_a_mature_release_and_says_so(fixer):
    _, [patch] = run(fixer, dict(APP))
    assert workflow(patch)["jobs"]["tests"]["steps"][1]["with"]["python-version"] == "3.14"
    assert "No Python version is pinned" in patch.explanation.markdown()


@pytest.mark.parametrize(
    "files",
    [
        {".github/workflows/ci.yml": wf("python -m pytest -q")},
        {".github/workflows/ci.yml": wf("tox -e py312")},
        {".github/workflows/ci.yml": wf("python manage.py test")},
        {".github/workflows/ci.yml": wf("make check"), "Makefile": b"check:\n\tpytest -x\n"},
        {
            ".github/workflows/ci.yml": b"on: pull_request\njobs:\n"
            b"  t:\n    uses: org/shared/.github/workflows/py.yml@v1\n"
        },
        {".travis.yml": b"script: pytest\n"},
        {".github/workflows/ci.yml": b"on: push\njobs: [broken\n"},
    ],
)
def test_tests_already_run_or_might(fixer, files):
    assert run(fixer, {**APP, **files}) == ([], [])


@pytest.mark.parametrize(
    "files",
    [
        {".github/workflows/ci.yml": wf("pytest", on="workflow_dispatch")},
        {".github/workflows/lint.yml": wf("pip install pytest ruff && ruff check .")},
        {".github/workflows/ci.yml": wf("make build"), "Makefile": b"build:\n\tdocker build .\n"},
        {".github/workflows/ci.yml": wf("make build && ./deploy latest")},
    ],
)
def test_workflows_that_do_not_run_tests(fixer, files):
    [finding], [_patch] = run(fixer, {**APP, **files})
    assert finding.rule == "tests-not-run"


def test_deploy_workflow_without_tests_raises_severity(fixer):
    files = {**APP, ".github/workflows/deploy.yml": wf("flyctl deploy", on="push")}
    [finding], [patch] = run(fixer, files)
    assert finding.severity is Severity.DRIFT and "deploy.yml" in finding.message
    assert patch.severity is Severity.DRIFT


def test_existing_tests_yml_gets_another_name(fixer):
    files = {**APP, ".github/workflows/tests.yml": wf("pytest", on="workflow_dispatch")}
    _, [patch] = run(fixer, files)
    assert patch.edits[0].path == ".github/workflows/patchwell-tests.yml"


def test_no_tests_no_finding(fixer):
    assert run(fixer, {"app.py": b"print(1)\n", "README.md": b"# hi\n"}) == ([], [])


def test_vendored_tests_do_not_count(fixer):
    files = {".venv/lib/site-packages/x/test_x.py": b"", "node_modules/a/test_a.py": b""}
    assert run(fixer, files) == ([], [])


def test_pytest_config_alone_counts(fixer):
    for files in (
        {"pytest.ini": b"[pytest]\n"},
        {"setup.cfg": b"[tool:pytest]\naddopts = -q\n"},
        {"pyproject.toml": b"[tool.pytest.ini_options]\naddopts = '-q'\n"},
    ):
        [finding], _ = run(fixer, files)
        assert finding.rule == "tests-not-run"


def test_unpinned_action_is_pinned_by_tag_and_said_so():
    pins = load_action_pins(
        b'[actions."actions/checkout"]\ntag = "v5.0.0"\nsha = ""\n'
        b'[actions."actions/setup-python"]\ntag = "v6.0.0"\n'
        b'sha = "e797f83bcb11b83ae66e0230d6156d7c80228e7c"\n'
    )
    fixer = CiTestsFixer(pins=pins)
    _, [patch] = run(fixer, dict(APP))
    text = patch.edits[0].content.decode()
    assert "uses: actions/checkout@v5\n" in text
    assert "pinned by tag `v5`" in patch.explanation.markdown()


@pytest.mark.parametrize(
    "files",
    [
        {"pyproject.toml": b"[tool.pytest\n", "tests/test_a.py": b""},
        {"setup.cfg": b"[tool:pytest\nbad", "tox.ini": b"\x00\xff[[[", "tests/test_a.py": b""},
        {"Makefile": b"\xff" * 1000, ".github/workflows/a.yml": wf("make test")},
    ],
)
def test_broken_config_gets_bounded_answers(fixer, files):
    findings, patches = run(fixer, {**APP, **files})
    assert len(findings) <= 1 and len(patches) <= 1
    for patch in patches:
        workflow(patch)


FAST_BUILT_APP = {
    **APP,
    "Procfile": b"web: gunicorn app.main:app\n",
    "requirements.txt": b"flask==3.1.0\ngunicorn==23.0.0\n",
    "runtime.txt": b"python-3.12.4\n",
    ".python-version": b"3.11\n",
    ".github/workflows/deploy.yml": b"""\
name: deploy
on:
  push:
    branches: [main]
jobs:
  deploy:
    runs-on: ubuntu-20.04
    steps:
      - uses: actions/checkout@v4
      - uses: superfly/flyctl-actions/setup-flyctl@master
      - run: flyctl deploy --remote-only
        env:
          FLY_API_TOKEN: ${{ secrets.FLY_API_TOKEN }}
""",
}


def test_fast_built_app_through_the_runner():
    """The three fixers together, through the real runner and repository config."""
    from fixers.repo_config import load_repo_config
    from fixers.runner import run_fixers

    names = ("workflow-permissions", "ci-tests", "runtime-drift")
    config, problems = load_repo_config("fixers:\n  runtime-drift: report\n", known_fixers=names)
    assert problems == []
    fixers = [WorkflowPermissionsFixer(), CiTestsFixer(), RuntimeDriftFixer()]
    result = run_fixers(MemorySnapshot(FAST_BUILT_APP), config, CTX.services, fixers=fixers)
    assert result.errors == ()
    planned = {p.patch.branch: p for p in result.patches}
    assert set(planned) == {
        "patchwell/workflow-permissions/least-privilege",
        "patchwell/ci-tests/workflow",
        "patchwell/runtime-drift/align-python",
        "patchwell/runtime-drift/runners",
    }
    assert not planned["patchwell/runtime-drift/runners"].should_open  # report mode
    assert planned["patchwell/ci-tests/workflow"].should_open
    tests_yml = workflow(planned["patchwell/ci-tests/workflow"].patch)
    assert tests_yml["jobs"]["tests"]["steps"][1]["with"]["python-version"] == "3.12"
    assert all(result.has_patch(f) for f in result.findings if f.rule != "eol-python")
    # Each patch, applied alone (each is its own branch), resolves what it claims.
    by_name = {f.name: f for f in fixers}
    for p in result.patches:
        assert p.patch.fingerprints
        after = MemorySnapshot(FAST_BUILT_APP).with_edits(p.patch.edits)
        left = {f.fingerprint for f in by_name[p.patch.fixer].detect(after, CTX)}
        assert not left & set(p.patch.fingerprints), p.patch.branch
    # No secret value travels: the workflow only names the secret.
    for p in result.patches:
        assert "FLY_API_TOKEN }}" not in p.patch.explanation.markdown()


# --- how the project really runs its tests, or why Patchwell cannot tell (issue 14) ---


def test_pytest_django_settings_that_crash_on_import_are_reported(fixer):
    # testdrivenio/django-celery: `os.environ.get("DJANGO_ALLOWED_HOSTS").split(" ")` and
    # `SECRET_KEY = os.environ.get("SECRET_KEY")` -- the proposed `pytest` failed on import.
    files = {
        "pytest.ini": b"[pytest]\nDJANGO_SETTINGS_MODULE = core.settings\n",
        "requirements.txt": b"Django==4.1.4\npytest==7.2.0\npytest-django==4.5.2\n",
        "core/settings.py": b"import os\nSECRET_KEY = os.environ.get('SECRET_KEY')\n"
        b"DEBUG = int(os.environ.get('DEBUG', default=0))\n"
        b"ALLOWED_HOSTS = os.environ.get('DJANGO_ALLOWED_HOSTS').split(' ')\n",
        "tests/test_tasks.py": b"def test_t(): pass\n",
    }
    [finding], patches = run(fixer, files)
    assert patches == []
    assert "`DJANGO_ALLOWED_HOSTS` (`core/settings.py`), `SECRET_KEY`" in finding.message
    assert "DEBUG" not in finding.message


def test_optional_reads_that_cannot_crash_do_not_block_the_workflow(fixer):
    # heroku/python-getting-started's settings: `"DYNO" in os.environ`, `.get("ENVIRONMENT") ==`.
    settings = (
        b"import os\nDEBUG = os.environ.get('ENVIRONMENT') == 'development'\n"
        b"IS_HEROKU = 'DYNO' in os.environ and 'CI' not in os.environ\n"
        b"SECRET_KEY = os.environ.get('DJANGO_SECRET_KEY', default='x')\n"
    )
    files = {
        "manage.py": DJANGO_MANAGE,
        "requirements.txt": b"django==5.2\n",
        "shop/settings.py": settings,
        "shop/tests.py": b"from django.test import TestCase\n",
    }
    _, [patch] = run(fixer, files)
    assert workflow(patch)["jobs"]["tests"]["steps"][3]["run"] == "python manage.py test"
    # ...and with Heroku CI configured in app.json, the tests already run there.
    heroku = {**files, "app.json": b'{"environments": {"test": {"scripts": {"test": "x"}}}}'}
    assert run(fixer, heroku) == ([], [])


def test_flask_app_that_needs_a_variable_at_import_is_reported_unless_the_tests_set_it(fixer):
    app = b"import os\nfrom flask import Flask\napp = Flask(__name__)\n"
    files = {
        **APP,
        "app/main.py": app + b"API_KEY = os.environ['API_KEY']\n"
        b"def later():\n    return os.environ['ONLY_IN_A_FUNCTION']\n",
    }
    [finding], patches = run(fixer, files)
    assert patches == [] and "`API_KEY` (`app/main.py`)" in finding.message
    assert "ONLY_IN_A_FUNCTION" not in finding.message
    conftest = {**files, "tests/conftest.py": b"import os\nos.environ['API_KEY'] = 'test'\n"}
    _, [patch] = run(fixer, conftest)
    assert workflow(patch)["jobs"]["tests"]["steps"][3]["run"] == "python -m pytest"


def test_the_projects_own_make_target_or_script_is_its_test_command(fixer):
    make = {
        **APP,
        "Makefile": b"lint:\n\truff check .\n\ntest:\n\t@echo testing\n\tpytest -x tests/\n",
    }
    _, [patch] = run(fixer, make)
    assert workflow(patch)["jobs"]["tests"]["steps"][3]["run"] == "pytest -x tests/"
    assert "`Makefile:4` (target `test`)" in patch.explanation.markdown()
    just = {**APP, "justfile": b"test:\n    uv run pytest --cov=app\n"}
    _, [patch] = run(fixer, just)
    assert workflow(patch)["jobs"]["tests"]["steps"][3]["run"] == "pytest --cov=app"
    script = {**APP, "scripts/test.sh": b"#!/bin/sh\nset -e\npython -m pytest tests\n"}
    _, [patch] = run(fixer, script)
    assert workflow(patch)["jobs"]["tests"]["steps"][3]["run"] == "python -m pytest tests"


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"Makefile": b"test: venv\n\t$(VENV)/bin/pytest\n"}, None),
        ({"Makefile": b"test:\n\t$(VENV)/bin/pytest\n"}, "`Makefile:1` runs the tests"),
        ({"scripts/test.sh": b"docker compose run web pytest\n"}, "`scripts/test.sh` runs"),
        ({"tox.ini": b"[tox]\nenvlist = py312\n"}, "with tox (`tox.ini`)"),
        ({"noxfile.py": b"import nox\n"}, "with nox (`noxfile.py`)"),
    ],
)
def test_own_commands_we_cannot_reproduce_are_reported(fixer, extra, said):
    findings, patches = run(fixer, {**APP, **extra})
    if said is None:  # a target with prerequisites: not the command; the usual rules apply
        assert [p.key for p in patches] == ["workflow"]
        return
    [finding] = findings
    assert patches == [] and said in finding.message
