"""Issue 9: size budgets on what fixers parse from a repository (YAML aliases, archives,
nesting depth, include chains) and the operator's package index (names, redirects).

Each test builds the hostile input the issue describes and drives the code that met it;
none asserts a time: a budget shows as a finding or skip naming the file and the budget.
"""

from __future__ import annotations

import pytest

from fixers.contract import MemorySnapshot, Services
from fixers.production.facts.deploy_files import load_yaml
from fixers.production.facts.model import Note
from fixers.repo_config import load_repo_config
from fixers.runner import run_fixers
from fixers.yaml_budget import REPOSITORY_YAML, YamlBudget, YamlBudgetError, check_yaml

WORKFLOW = (
    "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n"
)


def alias_bomb(levels: int, head: str = "") -> str:
    """9 ** levels nodes once expanded, in ~40 bytes a level."""
    out = head + 'x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels + 1):
        out += f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n"
    return out


# --------------------------------------------------------------------------- YAML


def test_budget_counts_aliases_as_expanded_without_expanding() -> None:
    bomb = alias_bomb(9)  # 387 million nodes in ~400 bytes
    assert len(bomb) < 500
    with pytest.raises(YamlBudgetError) as caught:
        check_yaml(bomb)
    assert f"more than {REPOSITORY_YAML.nodes} nodes" in str(caught.value)
    assert "node budget" in str(caught.value)


def test_budget_lets_ordinary_anchors_through() -> None:
    check_yaml(WORKFLOW + "defaults: &d {shell: bash}\nother: *d\n")
    check_yaml(alias_bomb(4))  # 6,561 nodes: a large but plausible document
    with pytest.raises(YamlBudgetError):
        check_yaml(alias_bomb(4), YamlBudget(nodes=6_000, depth=10))


def test_budget_stops_deep_nesting_before_the_composer() -> None:
    with pytest.raises(YamlBudgetError) as caught:
        check_yaml("[" * 5_000 + "]" * 5_000)
    assert "depth budget" in str(caught.value)


def test_syntax_errors_are_left_to_the_loader() -> None:
    check_yaml("a: [")  # the load reports it, with its line


def _scan(files: dict[str, str]) -> object:
    snapshot = MemorySnapshot({path: text.encode() for path, text in files.items()})
    return run_fixers(snapshot, load_repo_config(None)[0], Services())


def test_workflow_alias_bomb_is_a_finding_naming_the_file_and_budget() -> None:
    """83 KB of workflow aliases took 18 s and 887 MiB; now one bounded finding."""
    path = ".github/workflows/ci.yml"
    result = _scan({path: alias_bomb(6, WORKFLOW), "app.py": "import os\n"})
    about = [f for f in result.findings if f.path == path]  # type: ignore[attr-defined]
    assert about and all("node budget" in f.message for f in about)
    assert not [p for p in result.patches if any(e.path == path for e in p.patch.edits)]  # type: ignore[attr-defined]


def test_compose_alias_bomb_is_a_note_naming_the_budget() -> None:
    text = "services:\n  web:\n    image: python:3.12\n" + alias_bomb(7)
    note = load_yaml("docker-compose.yml", text.encode())
    assert isinstance(note, Note)
    assert note.path == "docker-compose.yml" and "node budget" in note.reason


def test_secret_in_an_alias_bomb_is_reported_and_the_file_left_alone() -> None:
    """The secrets fix re-parses a rewritten YAML file to compare it with the original:
    on an alias bomb that comparison expanded it (a 400-byte file grew to 2.3 GB)."""
    path = "config/settings.yml"
    text = "password: hunter2Xk9qLmZ7vRt3\n" + alias_bomb(6)
    result = _scan({path: text})
    assert [f for f in result.findings if f.path == path and f.fixer == "secrets"]  # type: ignore[attr-defined]
    assert not [p for p in result.patches if any(e.path == path for e in p.patch.edits)]  # type: ignore[attr-defined]
