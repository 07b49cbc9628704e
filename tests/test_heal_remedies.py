"""From a real-shaped failing log to the patch, on a snapshot, with the fake package index."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from fixers.contract import MemorySnapshot, Services, unified_diff
from fixers.dependencies.sources import StaticActionsCatalog, sources_from_env
from fixers.heal.joblog import parse_log
from fixers.heal.remedies import HealInput, remedy
from fixers.heal.signatures import diagnose
from fixers.isolation import ScanBudget, remedy_budgeted
from fixers.production.workflows import load_workflow
from fixers.repo_config import RepoConfig, load_repo_config
from tests import joblogs
from tests.diffcheck import apply_diff
from tests.fakeindex.server import FakeRelease, FakeVuln

TODAY = date(2026, 12, 2)
SHA = {"v3": "3" * 40, "v4": "4" * 40, "v4.6.2": "4" * 40}

CI = """\
name: CI
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
      - name: Install dependencies
        run: pip install -r requirements.txt
      - name: Read version
        id: version
        run: echo "::set-output name=version::$(cat VERSION)"
      - run: python -m pytest -q
      - uses: actions/upload-artifact@v3
        with:
          name: coverage
          path: coverage.xml
  report:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v3
        with:
          name: coverage
"""


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


@pytest.fixture
def services(fake_index) -> Services:
    fake_index.add_project(
        "PyYAML", [FakeRelease("6.0.1", ago(900)), FakeRelease("6.0.2", ago(400))]
    )
    fake_index.add_project(
        "requests",
        [
            FakeRelease(v, ago(d))
            for v, d in (("2.19.1", 2000), ("2.20.0", 1900), ("2.31.0", 500), ("2.32.3", 200))
        ],
    )
    fake_index.add_project("setuptools", [FakeRelease("75.6.0", ago(100))])
    fake_index.add_vuln(
        FakeVuln("PYSEC-2018-28", "requests", [("0", "2.20.0")], ["CVE-2018-18074"])
    )
    index, advisories = sources_from_env(
        {**fake_index.env(), "PATCHWELL_HTTP_CACHE_TTL": "0"}, cache_dir=None
    )
    tags = {
        "actions/upload-artifact": [("v3", SHA["v3"]), ("v4", SHA["v4"]), ("v4.6.2", SHA["v4"])],
        "actions/download-artifact": [("v3", SHA["v3"]), ("v4", SHA["v4"]), ("v4.6.2", SHA["v4"])],
        "actions/cache": [("v2", "2" * 40), ("v4", "5" * 40)],
        "acme/deploy-action": [("v1", "6" * 40), ("v2", "7" * 40)],
        "actions/checkout": [("v3", "8" * 40), ("v4", "9" * 40), ("v5", "a" * 40)],
    }
    return Services(index=index, advisories=advisories, actions=StaticActionsCatalog(tags))


def heal(log: str, files: dict[str, str], services: Services, config: RepoConfig | None = None):
    snapshot = MemorySnapshot({k: v.encode() for k, v in files.items()}, commit="a" * 40)
    (d,) = diagnose(parse_log(log))
    inp = HealInput(
        snapshot, config or RepoConfig(), services, ".github/workflows/ci.yml", "test (3.11)", TODAY
    )
    return remedy(d, inp), snapshot


def assert_applies(snapshot: MemorySnapshot, patch) -> None:
    """The patch's diff applies with git and gives exactly the patch's contents."""
    before = {e.path: snapshot.read(e.path) for e in patch.edits}
    diff = "".join(unified_diff(e.path, before[e.path], e.content) for e in patch.edits)
    assert apply_diff(before, diff) == {e.path: e.content for e in patch.edits}


def text_of(patch, path: str) -> str:
    (edit,) = [e for e in patch.edits if e.path == path]
    return edit.content.decode()


def files(**extra: str) -> dict[str, str]:
    return {
        ".github/workflows/ci.yml": CI,
        "requirements.txt": "flask==3.0.3\nrequests==2.31.0\n",
        "app/main.py": "import yaml\n",
        **extra,
    }


def test_artifact_v3_moves_upload_and_download_to_v4_with_unique_matrix_names(services) -> None:
    result, snap = heal(joblogs.artifact_v3_log(), files(), services)
    (patch,) = result.patches
    assert patch.fixer == "dependencies"  # the dependency fixer's own patch and branch
    text = text_of(patch, ".github/workflows/ci.yml")
    assert "actions/upload-artifact@v4" in text and "actions/download-artifact@v4" in text
    assert "@v3" not in text
    # v4 refuses two uploads of one name: each matrix job names its own, the download collects
    assert "name: coverage-${{ matrix.python-version }}" in text
    assert "pattern: coverage-*" in text and "merge-multiple: true" in text
    load_workflow(".github/workflows/ci.yml", text.encode())
    assert_applies(snap, patch)


def test_a_deprecated_cache_action_is_bumped(services) -> None:
    wf = CI.replace(
        "- uses: actions/checkout@v4", "- uses: actions/checkout@v4\n      - uses: actions/cache@v2"
    )
    result, _ = heal(joblogs.cache_v2_log(), files(**{".github/workflows/ci.yml": wf}), services)
    (patch,) = result.patches
    assert "actions/cache@v4" in text_of(patch, ".github/workflows/ci.yml")


def test_module_not_found_declares_the_distribution_pinned_like_the_file(services) -> None:
    result, snap = heal(joblogs.module_not_found_log("yaml"), files(), services)
    (patch,) = result.patches
    assert patch.branch == "patchwell/heal/add-pyyaml"
    assert text_of(patch, "requirements.txt") == "flask==3.0.3\nPyYAML==6.0.2\nrequests==2.31.0\n"
    assert_applies(snap, patch)


def test_module_not_found_in_pyproject_uses_its_style(services) -> None:
    pyproject = '[project]\nname = "app"\ndependencies = [\n    "flask>=3.0",\n]\n'
    result, _ = heal(
        joblogs.module_not_found_log("yaml"),
        {
            ".github/workflows/ci.yml": CI.replace("-r requirements.txt", "."),
            "pyproject.toml": pyproject,
        },
        services,
    )
    (patch,) = result.patches
    assert '    "PyYAML>=6.0.2",\n]' in text_of(patch, "pyproject.toml")


@pytest.mark.parametrize(
    ("module", "extra", "why"),
    [
        ("jwt", {}, "ambiguous"),
        ("json", {}, "standard library"),
        ("app", {}, "own module"),
        ("frobnicate", {}, "not in the module table"),
        ("yaml", {"requirements.txt": "flask==3.0.3\nPyYAML==6.0.2\n"}, "declared already"),
    ],
)
def test_module_not_found_is_left_alone_when_the_answer_is_a_guess(
    services, module, extra, why
) -> None:
    result, _ = heal(joblogs.module_not_found_log(module), files(**extra), services)
    assert not result.patches and why in result.reason


def test_distutils_adds_setuptools(services) -> None:
    result, _ = heal(joblogs.distutils_log(), files(), services)
    (patch,) = result.patches
    assert "setuptools==75.6.0" in text_of(patch, "requirements.txt")


def test_no_matching_distribution_pins_the_nearest_release(services) -> None:
    reqs = "flask==3.0.3\nrequests==2.99.0\n"
    result, _ = heal(
        joblogs.no_matching_log("requests", "2.99.0"), files(**{"requirements.txt": reqs}), services
    )
    (patch,) = result.patches
    assert text_of(patch, "requirements.txt") == "flask==3.0.3\nrequests==2.32.3\n"


def test_pip_audit_failure_gets_the_dependency_fixers_security_patch(services) -> None:
    reqs = "flask==3.0.3\nrequests==2.19.1\n"
    result, _ = heal(joblogs.pip_audit_log(), files(**{"requirements.txt": reqs}), services)
    (patch,) = result.patches
    assert patch.branch == "patchwell/dependencies/pip-requests"  # the security PR, not a second
    assert "requests==2.20.0" in text_of(patch, "requirements.txt")


def test_pip_audit_without_a_known_advisory_uses_the_fix_version(services) -> None:
    reqs = "flask==3.0.3\nrequests==2.19.1\n"
    svc = replace(services, advisories=None)
    result, _ = heal(joblogs.pip_audit_log(), files(**{"requirements.txt": reqs}), svc)
    (patch,) = result.patches
    assert "requests==2.20.0" in text_of(patch, "requirements.txt")


def test_resolution_impossible_is_reported_never_guessed(services) -> None:
    result, _ = heal(joblogs.resolution_impossible_log(), files(), services)
    assert not result.patches
    assert "flask 3.0.3 depends on Werkzeug>=3.0.0" in result.report


def test_set_output_is_rewritten_to_the_output_file(services) -> None:
    result, snap = heal(joblogs.set_output_log(), files(), services)
    (patch,) = result.patches
    text = text_of(patch, ".github/workflows/ci.yml")
    assert 'run: echo "version=$(cat VERSION)" >> "$GITHUB_OUTPUT"' in text
    assert (
        text.replace(
            'echo "version=$(cat VERSION)" >> "$GITHUB_OUTPUT"',
            'echo "::set-output name=version::$(cat VERSION)"',
        )
        == CI
    )
    assert_applies(snap, patch)


def test_a_python_missing_from_the_image_is_replaced_by_the_deploy_python(services) -> None:
    wf = CI.replace('["3.11", "3.12"]', '["3.7", "3.12"]')
    result, _ = heal(
        joblogs.python_missing_log("3.7"),
        files(**{".github/workflows/ci.yml": wf, "Dockerfile": "FROM python:3.11-slim\n"}),
        services,
    )
    (patch,) = result.patches
    assert '["3.11", "3.12"]' in text_of(patch, ".github/workflows/ci.yml")


def test_pep668_gets_a_setup_python_step_before_pip(services) -> None:
    wf = CI.replace(
        "      - uses: actions/setup-python@v5\n        with:\n"
        "          python-version: ${{ matrix.python-version }}\n",
        "",
    ).replace("pip install -r requirements.txt", "python3 -m pip install -r requirements.txt")
    result, snap = heal(joblogs.pep668_log(), files(**{".github/workflows/ci.yml": wf}), services)
    (patch,) = result.patches
    text = text_of(patch, ".github/workflows/ci.yml")
    assert "      - name: Set up Python\n        uses: actions/setup-python@" in text
    assert text.index("Set up Python") < text.index("Install dependencies")
    assert_applies(snap, patch)


def test_the_v4_name_conflict_gets_unique_names(services) -> None:
    wf = CI.replace("@v3", "@v4")
    result, _ = heal(
        joblogs.artifact_conflict_log(), files(**{".github/workflows/ci.yml": wf}), services
    )
    (patch,) = result.patches
    assert "name: coverage-${{ matrix.python-version }}" in text_of(
        patch, ".github/workflows/ci.yml"
    )


def test_a_fixer_set_to_report_gets_no_heal_pr(services) -> None:
    config, _problems = load_repo_config(
        "fixers:\n  dependencies: report\n", known_fixers=["dependencies"]
    )
    result, _ = heal(joblogs.module_not_found_log("yaml"), files(), services, config)
    assert not result.patches and "not set to fix" in result.reason


@pytest.mark.parametrize(
    ("label", "replacement"), [("ubuntu-20.04", "ubuntu-24.04"), ("windows-2019", "windows-2025")]
)
def test_a_retired_runner_moves_to_the_next_image(services, label, replacement) -> None:
    wf = CI.replace("runs-on: ubuntu-latest\n    strategy", f"runs-on: {label}\n    strategy")
    result, snap = heal(
        joblogs.brownout_log(label), files(**{".github/workflows/ci.yml": wf}), services
    )
    (patch,) = result.patches
    assert patch.fixer == "runtime-drift"  # the runtime-drift fixer's own patch and branch
    text = text_of(patch, ".github/workflows/ci.yml")
    assert f"runs-on: {replacement}\n    strategy" in text and label not in text
    assert_applies(snap, patch)


def test_a_brownout_for_another_label_changes_nothing(services) -> None:
    wf = CI.replace("runs-on: ubuntu-latest\n    strategy", "runs-on: windows-2019\n    strategy")
    result, _ = heal(
        joblogs.brownout_log("ubuntu-20.04"), files(**{".github/workflows/ci.yml": wf}), services
    )
    assert not result.patches


def test_the_failing_action_on_a_retired_node_runtime_is_bumped_alone(services) -> None:
    wf = CI.replace(
        "      - run: python -m pytest -q\n",
        "      - run: python -m pytest -q\n      - uses: acme/deploy-action@v1\n",
    ).replace("actions/checkout@v4", "actions/checkout@v3")
    result, _ = heal(
        joblogs.node_deprecated_log(), files(**{".github/workflows/ci.yml": wf}), services
    )
    (patch,) = result.patches
    text = text_of(patch, ".github/workflows/ci.yml")
    assert "acme/deploy-action@v2" in text
    assert "actions/checkout@v3" in text  # listed in the warning, but it did not fail


def test_a_disabled_set_output_is_rewritten_like_the_warning(services) -> None:
    result, _ = heal(joblogs.set_output_disabled_log(), files(), services)
    (patch,) = result.patches
    assert '>> "$GITHUB_OUTPUT"' in text_of(patch, ".github/workflows/ci.yml")


@pytest.mark.parametrize(
    ("module", "distribution"),
    [
        ("yaml", "PyYAML"),
        ("dotenv", "python-dotenv"),
        ("PIL", "Pillow"),
        ("cv2", "opencv-python"),
        ("bs4", "beautifulsoup4"),
        ("sklearn", "scikit-learn"),
    ],
)
def test_the_module_table_names_the_distribution(module, distribution) -> None:
    from fixers.heal.modules import default_modules, load_modules

    assert default_modules().distribution(module) == distribution
    assert load_modules().reviewed  # a review date, like every world-knowledge table


def test_the_missing_distribution_is_pinned_at_the_deploy_pythons_release(
    services, fake_index
) -> None:
    # python-dotenv 9.0 needs Python 3.13; the app deploys on 3.11: the newest that installs.
    fake_index.add_project(
        "python-dotenv",
        [
            FakeRelease("1.0.1", ago(300), requires_python=">=3.8"),
            FakeRelease("9.0.0", ago(10), requires_python=">=3.13"),
        ],
    )
    result, _ = heal(
        joblogs.module_not_found_log("dotenv"),
        files(**{"Dockerfile": "FROM python:3.11-slim\n", "app/main.py": "import dotenv\n"}),
        services,
    )
    (patch,) = result.patches
    assert "python-dotenv==1.0.1\n" in text_of(patch, "requirements.txt")


def test_the_nearest_release_is_one_the_deploy_python_installs(services, fake_index) -> None:
    fake_index.add_project(
        "numpy",
        [
            FakeRelease("1.26.4", ago(600), requires_python=">=3.9"),
            FakeRelease("2.3.0", ago(100), requires_python=">=3.11"),
            FakeRelease("2.4.0", ago(50), requires_python=">=3.12"),
        ],
    )
    reqs = "flask==3.0.3\nnumpy==2.4.9\n"
    result, _ = heal(
        joblogs.no_matching_log("numpy", "2.4.9"),
        files(**{"requirements.txt": reqs, "Dockerfile": "FROM python:3.11-slim\n"}),
        services,
    )
    (patch,) = result.patches
    assert text_of(patch, "requirements.txt") == "flask==3.0.3\nnumpy==2.3.0\n"


class _Stalling:
    """Stands in for a service that answers only after ``seconds`` (every public method)."""

    def __init__(self, service: object, seconds: float) -> None:
        self._service = service
        self._seconds = seconds

    def __dir__(self) -> list[str]:
        return [n for n in dir(self._service) if not n.startswith("_")]

    def __getattr__(self, name: str):
        method = getattr(self._service, name)

        def slow(*args, **kwargs):
            time.sleep(self._seconds)
            return method(*args, **kwargs)

        return slow


def _heal_input(files_: dict[str, str], services: Services) -> HealInput:
    snapshot = MemorySnapshot({k: v.encode() for k, v in files_.items()}, commit="a" * 40)
    return HealInput(
        snapshot, RepoConfig(), services, ".github/workflows/ci.yml", "test (3.11)", TODAY
    )


def test_a_remedy_is_made_in_a_budgeted_process_with_the_same_result(services) -> None:
    (d,) = diagnose(parse_log(joblogs.no_matching_log("requests", "2.99.0")))
    inp = _heal_input(files(**{"requirements.txt": "flask==3.0.3\nrequests==2.99.0\n"}), services)
    here, there = remedy(d, inp), remedy_budgeted(d, inp)
    assert there.patches == here.patches and there.patches
    assert (there.report, there.reason, there.owner) == (here.report, here.reason, here.owner)


def test_a_remedy_over_its_budget_is_a_reason_not_a_stuck_worker(services) -> None:
    """The fix is worked out by the fixers' code over a stranger's commit: like a scan it
    runs in a child process the clock can stop (it used to run on a worker thread)."""
    (d,) = diagnose(parse_log(joblogs.no_matching_log("requests", "2.99.0")))
    stalled = replace(services, index=_Stalling(services.index, 3))
    inp = _heal_input(files(**{"requirements.txt": "flask==3.0.3\nrequests==2.99.0\n"}), stalled)
    result = remedy_budgeted(d, inp, budget=ScanBudget(wall_seconds=1))
    assert not result.patches
    assert result.reason is not None and "ran out of time (1 s" in result.reason
