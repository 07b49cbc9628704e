"""Job logs and failure signatures: real-shaped logs for every signature in the table."""

from __future__ import annotations

import pytest

from fixers.heal.joblog import SETUP_STEP, StepInfo, clean_line, failing_section, parse_log
from fixers.heal.signatures import Annotation, diagnose, load_signatures
from tests import joblogs

CASES = [
    (
        joblogs.artifact_v3_log,
        "artifact-actions-deprecated",
        {"action": "actions/upload-artifact", "ref": "v3"},
        SETUP_STEP,
    ),
    (
        joblogs.cache_v2_log,
        "action-deprecated",
        {"action": "actions/cache", "ref": "v2"},
        SETUP_STEP,
    ),
    (joblogs.artifact_conflict_log, "artifact-name-conflict", {}, "Run actions/upload-artifact@v4"),
    (
        joblogs.python_missing_log,
        "python-version-missing",
        {"version": "3.7", "os": "Ubuntu 24.04"},
        "Run actions/setup-python@v5",
    ),
    (
        joblogs.pep668_log,
        "externally-managed-environment",
        {},
        "Run python3 -m pip install -r requirements.txt",
    ),
    (
        joblogs.module_not_found_log,
        "module-not-found",
        {"module": "yaml"},
        "Run python -m pytest -q",
    ),
    (
        joblogs.distutils_log,
        "distutils-removed",
        {"module": "distutils"},
        "Run python setup.py test",
    ),
    (
        joblogs.no_matching_log,
        "no-matching-distribution",
        {"name": "requests", "version": "2.99.0"},
        "Run pip install -r requirements.txt",
    ),
    (
        joblogs.resolution_impossible_log,
        "resolution-impossible",
        {},
        "Run pip install -r requirements.txt",
    ),
    (
        joblogs.pip_audit_log,
        "pip-audit-vulnerability",
        {"count": "1"},
        "Run pip-audit -r requirements.txt",
    ),
    (joblogs.brownout_log, "retired-runner", {"image": "Ubuntu 20.04"}, SETUP_STEP),
    (
        joblogs.set_output_disabled_log,
        "set-output-disabled",
        {"command": "set-output"},
        'Run echo "::set-output name=version::$(cat VERSION)"',
    ),
    (
        joblogs.set_output_log,
        "set-output-deprecated",
        {"command": "set-output"},
        'Run echo "::set-output name=version::$(cat VERSION)"',
    ),
    (
        joblogs.node_deprecated_log,
        "node-runtime-deprecated",
        # only the action that failed, not every action the warning lists
        {"actions": "acme/deploy-action@v1"},
        "Run acme/deploy-action@v1",
    ),
]


@pytest.mark.parametrize(("make", "sig", "groups", "step"), CASES, ids=[c[1] for c in CASES])
def test_every_signature_is_recognised_in_a_real_shaped_log(make, sig, groups, step) -> None:
    (found,) = diagnose(parse_log(make()))
    assert found.id == sig
    assert {k: found.groups[k] for k in groups} == groups
    if step is not None:
        assert found.step == step
    assert found.excerpt  # something to quote
    assert not any(line[:4].isdigit() and "T" in line[:12] for line in found.excerpt)  # no stamps


def test_every_table_signature_has_a_log_here() -> None:
    table = load_signatures()
    assert {s.id for s in table.signatures} == {c[1] for c in CASES}
    for s in table.signatures:
        assert s.source.startswith("https://") and s.reviewed


def test_an_unrecognised_failure_diagnoses_nothing() -> None:
    assert diagnose(parse_log(joblogs.unknown_failure_log())) == []


def test_timestamps_bom_and_colours_are_stripped() -> None:
    assert (
        clean_line("\ufeff2024-01-01T00:00:00.0000000Z \x1b[36;1mpip install\x1b[0m\r")
        == "pip install"
    )
    assert clean_line("2024-01-01T00:00:00Z plain") == "plain"
    assert clean_line("no stamp here") == "no stamp here"


def test_sections_follow_the_steps_and_the_failing_one_is_found() -> None:
    log = parse_log(joblogs.module_not_found_log())
    assert [s.title for s in log.sections] == [
        SETUP_STEP,
        "Run actions/checkout@v4",
        "Run actions/setup-python@v5",
        "Run pip install -r requirements.txt",
        "Run python -m pytest -q",
        "Post job cleanup",
        "Complete job",
    ]
    steps = [
        StepInfo(1, SETUP_STEP, "success"),
        StepInfo(2, "Run actions/checkout@v4", "success"),
        StepInfo(3, "Set up Python", "success"),
        StepInfo(4, "Install dependencies", "success"),
        StepInfo(5, "Run tests", "failure"),  # named: found by position
        StepInfo(6, "Post Run actions/checkout@v4", "success"),
        StepInfo(7, "Complete job", "success"),
    ]
    assert failing_section(log, steps).title == "Run python -m pytest -q"
    # The failing step's excerpt is its own output, not the install step's.
    (d,) = diagnose(log, steps=steps)
    assert "Successfully installed flask-3.0.3" not in d.excerpt
    assert d.excerpt[-1] == "##[error]Process completed with exit code 2."


def test_an_error_elsewhere_does_not_hide_the_failing_step() -> None:
    # An earlier, passing step printed a module error (an optional import); the failing
    # step is an assertion failure: that is not a missing-module failure.
    text = joblogs.unknown_failure_log().replace(
        "Successfully set up CPython (3.12.8)",
        "Successfully set up CPython (3.12.8)\n2024-01-01T00:00:01.0000000Z "
        "ModuleNotFoundError: No module named 'yaml'",
    )
    log = parse_log(text)
    assert any("No module named 'yaml'" in line for line in log.all_lines())
    steps = [StepInfo(1, SETUP_STEP, "success"), StepInfo(4, "Run python -m pytest -q", "failure")]
    assert diagnose(log, steps=steps) == []


def test_annotations_alone_are_enough_for_set_up_failures() -> None:
    note = Annotation(
        "failure",
        "This request has been automatically failed because it uses a deprecated version of "
        "`actions/download-artifact: v2`. Learn more: https://github.blog/changelog/2024-02-13",
        ".github",
    )
    (d,) = diagnose(None, [note])
    assert (
        d.id == "artifact-actions-deprecated" and d.groups["action"] == "actions/download-artifact"
    )
    assert d.from_annotation


def test_warnings_count_only_without_an_error_cause() -> None:
    text = joblogs.node_deprecated_log().replace(
        "##[error]Cannot read properties", "##[error]ModuleNotFoundError: No module named 'yaml'"
    )
    ids = [d.id for d in diagnose(parse_log(text))]
    assert ids == ["module-not-found"]


def test_a_deprecation_warning_elsewhere_is_not_the_cause() -> None:
    # Every job on an old action ends with the Node.js warning; this one failed on an
    # assertion. As an annotation (its other form) it does not count either.
    log = parse_log(joblogs.node_warning_on_unrelated_failure_log())
    assert any("Node.js 20 actions are deprecated" in w for s in log.sections for w in s.warnings)
    assert diagnose(log) == []
    note = Annotation("warning", joblogs.NODE20_WARNING.format(action="actions/cache@v4")[11:])
    assert diagnose(log, [note]) == []
    # A set-output warning from a step that passed, before an unrelated failure: nothing.
    text = joblogs.unknown_failure_log().replace(
        "Successfully set up CPython (3.12.8)",
        "Successfully set up CPython (3.12.8)\n2024-01-01T00:00:01.0000000Z ##[warning]The "
        "`set-output` command is deprecated and will be disabled soon.",
    )
    assert diagnose(parse_log(text)) == []


@pytest.mark.parametrize(
    ("label", "image"),
    [
        ("ubuntu-20.04", "Ubuntu 20.04"),
        ("windows-2019", "Windows Server 2019"),
        ("macos-13", "macos-13"),
        ("ubuntu-18.04", "Ubuntu-18.04"),
    ],
)
def test_every_brownout_wording_is_recognised(label: str, image: str) -> None:
    (d,) = diagnose(parse_log(joblogs.brownout_log(label)))
    assert d.id == "retired-runner" and d.groups["image"] == image


@pytest.mark.parametrize("label", sorted(joblogs.RETIRED))
def test_a_job_cancelled_on_a_retired_image_is_read_from_its_annotation(label: str) -> None:
    note = Annotation("failure", joblogs.RETIRED[label])
    (d,) = diagnose(None, [note], cancelled=True)
    assert d.id == "retired-runner"
    # only signatures that can cancel a job are looked for on a cancelled one
    other = Annotation("failure", "ModuleNotFoundError: No module named 'yaml'")
    assert diagnose(None, [other], cancelled=True) == []


def test_quoted_lines_are_masked() -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    text = joblogs.no_matching_log().replace(
        "Collecting flask==3.0.3 (from -r requirements.txt (line 1))",
        f"Looking in indexes: https://deploy:{token}@pypi.example.com/simple",
    )
    (d,) = diagnose(parse_log(text))
    joined = "\n".join(d.excerpt + d.context)
    assert token not in joined
    assert "ghp_****" in joined or "deploy:****@" in joined


def test_a_truncated_log_still_parses() -> None:
    text = joblogs.module_not_found_log()
    log = parse_log(text[: len(text) // 2] + "\n" + text[-400:], truncated=True)
    assert log.truncated
    assert log.sections[0].title == SETUP_STEP


def _entry(**changes) -> bytes:
    entry = {"id": "x", "remedy": "report", "patterns": ["a"], "title": "t", "why": "w"}
    entry |= {"source": "https://example.org", "reviewed": "2026-12-02"}
    entry = {k: v for k, v in (entry | changes).items() if v is not None}
    lines = ["[[signature]]"] + [f"{k} = {v!r}".replace("'", '"') for k, v in entry.items()]
    return "\n".join(lines).encode() + b"\n"


@pytest.mark.parametrize(
    "bad",
    [
        _entry(remedy="guess"),  # unknown remedy
        _entry(source=None),  # no source
    ],
)
def test_a_bad_table_entry_is_refused(bad: bytes) -> None:
    with pytest.raises((ValueError, KeyError)):
        load_signatures(bad)


def test_a_good_entry_loads() -> None:
    (sig,) = load_signatures(_entry()).signatures
    assert sig.remedy == "report" and sig.match("xay") == {}
