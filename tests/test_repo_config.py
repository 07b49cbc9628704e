"""`.github/patchwell.yml`: the documented shape loads; bad parts are reported at their line."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from fixers.contract import Services
from fixers.repo_config import (
    MAX_NODES,
    ConfigProblem,
    RepoConfig,
    config_schema,
    load_repo_config,
    parse_interval,
)

KNOWN = ["dependencies", "secrets", "migrations", "workflow-permissions"]

FULL = """\
ignore-paths: ["docs/**"]          # repo-wide globs no fixer reads
schedule: {interval: 24h}          # rescan interval
open-pull-requests-limit: 3
labels: [patchwell, deps]
reviewers: [octocat, my-org/platform]
commit-message: {prefix: "chore(patchwell):"}
fixers:
  dependencies:
    mode: fix
    cooldown-days: 3
    groups: [{name: dev-tools, patterns: ["pytest*", "ruff"], update-types: [patch, minor],
              dependency-type: development}]
    ignore: [{name: django, versions: [">=5"], update-types: [major]}]
    actions: {pin: sha}
  secrets:  {mode: report, accepted: ["0123456789abcdef"], paths-ignore: ["tests/fixtures/**"]}
  migrations: off
"""


def lines_of(problems: list[ConfigProblem]) -> list[int]:
    return [p.line for p in problems]


def test_no_file_means_defaults() -> None:
    config, problems = load_repo_config(None, known_fixers=KNOWN)
    assert problems == []
    assert config == RepoConfig()
    assert config.rescan_interval == timedelta(hours=24)
    assert config.open_pull_requests_limit == 5
    assert config.mode_for("secrets") == "fix"


def test_documented_example_loads_without_problems() -> None:
    config, problems = load_repo_config(FULL, known_fixers=KNOWN)
    assert problems == []
    assert config.ignore_paths == ("docs/**",)
    assert config.rescan_interval == timedelta(hours=24)
    assert config.open_pull_requests_limit == 3
    assert config.labels == ("patchwell", "deps")
    assert config.reviewers == ("octocat", "my-org/platform")
    assert config.commit_message_prefix == "chore(patchwell):"
    assert config.mode_for("dependencies") == "fix"
    assert config.options_for("dependencies")["cooldown-days"] == 3
    assert config.options_for("dependencies")["actions"] == {"pin": "sha"}
    assert "mode" not in config.options_for("dependencies")
    assert config.mode_for("secrets") == "report"
    assert config.options_for("secrets")["paths-ignore"] == ["tests/fixtures/**"]
    assert config.mode_for("migrations") == "off"
    assert config.mode_for("workflow-permissions") == "fix"  # not mentioned: default


def test_context_for_hands_options_mode_and_ignores() -> None:
    config, _ = load_repo_config(FULL, known_fixers=KNOWN)
    services = Services()
    ctx = config.context_for("secrets", services)
    assert ctx.mode == "report"
    assert ctx.services is services
    assert ctx.options["accepted"] == ["0123456789abcdef"]
    assert ctx.ignored("docs/index.md")
    assert not ctx.ignored("app.py")
    with pytest.raises(ValueError, match="off"):
        config.context_for("migrations", services)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24h", timedelta(hours=24)), ("30m", timedelta(minutes=30)), ("7d", timedelta(days=7))],
)
def test_parse_interval(text: str, expected: timedelta) -> None:
    assert parse_interval(text) == expected
    config, problems = load_repo_config(f"schedule:\n  interval: {text}\n")
    assert problems == []
    assert config.rescan_interval == expected


@pytest.mark.parametrize("text", ["24", "1w", "h", "-3h", "3.5h", ""])
def test_parse_interval_rejects(text: str) -> None:
    assert parse_interval(text) is None


def test_unknown_keys_and_bad_values_name_their_lines_and_keep_the_rest() -> None:
    text = """\
labels: [patchwell, 3]
colour: blue
open-pull-requests-limit: 2
schedule:
  interval: 5m
fixers:
  secrets:
    mode: report
    acepted: []
  bogus: fix
  dependencies: banana
  migrations: {mode: off, extra: 1}
"""
    config, problems = load_repo_config(text, known_fixers=KNOWN)
    by_line = {p.line: p for p in problems}
    assert sorted(by_line) == [1, 2, 5, 9, 10, 11, 12]
    assert "labels[1]" in by_line[1].message and "string" in by_line[1].message
    assert by_line[1].column == 21
    assert "colour" in by_line[2].message and "unknown key" in by_line[2].message
    assert "schedule.interval" in by_line[5].message
    assert "fixers.secrets.acepted" in by_line[9].message
    assert "unknown fixer" in by_line[10].message and "bogus" in by_line[10].message
    assert "banana" in by_line[11].message
    assert "fixers.migrations.extra" in by_line[12].message
    assert all(p.path == ".github/patchwell.yml" for p in problems)
    # Bad parts take their defaults; good parts still apply.
    assert config.labels == ("patchwell",)
    assert config.rescan_interval == timedelta(hours=24)
    assert config.open_pull_requests_limit == 2
    assert config.mode_for("secrets") == "report"  # one typo does not undo "report"
    assert config.options_for("secrets") == {}
    assert config.mode_for("dependencies") == "fix"
    assert config.mode_for("migrations") == "off"
    assert "bogus" not in config.fixers


def test_fixer_option_schemas_follow_what_fixers_read() -> None:
    text = (
        "fixers:\n"
        "  runtime-defaults: {mode: fix, timeout-seconds: 2.5}\n"
        "  dependencies: {cooldown-days: 0.5}\n"
    )
    config, problems = load_repo_config(text, known_fixers=["runtime-defaults", "dependencies"])
    assert problems == []
    assert config.options_for("runtime-defaults") == {"timeout-seconds": 2.5}
    _, problems = load_repo_config("fixers:\n  runtime-defaults: {timeout-seconds: 0}\n")
    assert lines_of(problems) == [2] and "timeout-seconds" in problems[0].message


def test_problem_renders_as_file_line_column() -> None:
    _, problems = load_repo_config("labels: nope\n", path=".github/patchwell.yml")
    assert str(problems[0]).startswith(".github/patchwell.yml:1:9: labels:")


def test_yaml_syntax_error_gives_line_and_defaults() -> None:
    config, problems = load_repo_config("labels: [a, b\nreviewers: [x]\n")
    assert len(problems) == 1
    assert problems[0].message.startswith("YAML syntax error")
    assert problems[0].line >= 1
    assert config == RepoConfig()


def test_duplicate_key_is_a_problem_at_its_line() -> None:
    _, problems = load_repo_config("labels: [a]\nlabels: [b]\n")
    assert lines_of(problems) == [2]
    assert "duplicate" in problems[0].message


def test_top_level_must_be_a_mapping() -> None:
    config, problems = load_repo_config("- a\n- b\n")
    assert config == RepoConfig()
    assert "mapping" in problems[0].message


def test_yaml_11_booleans_are_not_modes() -> None:
    # Under YAML 1.1 `off` is a boolean; the schema must say so rather than guess.
    _, problems = load_repo_config("%YAML 1.1\n---\nfixers:\n  secrets: off\n")
    assert problems and "fixers.secrets" in problems[0].message


def test_comment_only_file_is_defaults() -> None:
    assert load_repo_config("# nothing here\n") == (RepoConfig(), [])


def test_unknown_fixer_check_can_be_disabled() -> None:
    config, problems = load_repo_config("fixers:\n  whatever: report\n", known_fixers=None)
    assert problems == []
    assert config.mode_for("whatever") == "report"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: " + "x" * 70_000, "limit"),
        (
            "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
            str(MAX_NODES),
        ),
        ("a: " + "[" * 40 + "]" * 40, "deeper"),
        ("[" * 5000 + "]" * 5000, "deeper"),
        ("\x00\x01binary", "YAML"),
    ],
)
def test_hostile_input_is_bounded_and_clear(text: str, needle: str) -> None:
    config, problems = load_repo_config(text)
    assert problems, "hostile input must be reported"
    assert needle in problems[0].message
    assert config.labels == ("patchwell",)


def test_python_tags_are_plain_data_never_constructed() -> None:
    config, problems = load_repo_config("labels: !!python/object/apply:os.system [echo, hi]\n")
    assert problems == []
    assert config.labels == ("echo", "hi")


def test_many_problems_are_capped() -> None:
    text = "\n".join(f"key{i}: 1" for i in range(200))
    _, problems = load_repo_config(text)
    assert len(problems) == 50
    assert "more problems" in problems[-1].message


def test_problem_messages_are_clipped() -> None:
    _, problems = load_repo_config("labels: " + "y" * 5000 + "\n")
    assert problems and len(problems[0].message) <= 200


def test_schema_file_is_a_valid_2020_12_schema_and_matches_readme_keys() -> None:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Repository configuration (.github/patchwell.yml)", 1)
    assert len(section) == 2, "README documents the config"
    documented = set(re.findall(r"`([a-z-]+)`", section[1].split("\n## ", 1)[0]))
    assert set(schema["properties"]) <= documented
    assert json.loads(json.dumps(schema)) == schema


def test_dashboard_opt_out_and_its_bad_value() -> None:
    assert load_repo_config("dashboard: false\n", known_fixers=KNOWN) == (
        RepoConfig(dashboard=False),
        [],
    )
    assert RepoConfig().dashboard is True
    config, problems = load_repo_config("dashboard: sometimes\nlabels: [x]\n", known_fixers=KNOWN)
    assert config.dashboard is True and config.labels == ("x",)
    assert [p.line for p in problems] == [1] and "dashboard" in problems[0].message
