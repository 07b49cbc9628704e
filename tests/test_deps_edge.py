"""Edge cases: the PEP 508 fast path agrees with packaging, escaped TOML strings
are never edited blindly, hostile manifests through the whole fixer, options."""

from __future__ import annotations

import pytest
from packaging.requirements import InvalidRequirement, Requirement

from fixers.contract import Context, MemorySnapshot
from fixers.dependencies import FIXER
from fixers.dependencies.conventions import load_conventions
from fixers.dependencies.explain import release_links
from fixers.dependencies.inventory import extract
from fixers.dependencies.manifests import poetry_to_pep440
from fixers.dependencies.pep508 import parse_requirement
from fixers.dependencies.policy import policy_from_options
from fixers.dependencies.toml_locate import string_literals


@pytest.mark.parametrize(
    "text",
    [
        "requests",
        "requests==2.31.0",
        "Requests[security, socks]  >= 2.0",
        "zope.interface===6.0",
        "a_b-c.d~=1.4",
        "x==1.0.*",
        "x!=2",
        "x<3",
        "x>1",
        "x[]==1",
        "name ; python_version < '3.9'",
        "name==1.0 ; sys_platform == 'win32'",
        "pkg @ https://example.com/pkg.tar.gz",
        "name>=1,<2",
    ],
)
def test_fast_path_matches_packaging(text: str) -> None:
    ours, theirs = parse_requirement(text), Requirement(text)
    assert ours.name == theirs.name
    assert ours.extras == frozenset(theirs.extras)
    assert str(ours.specifier) == str(theirs.specifier)
    assert ours.marker == (str(theirs.marker) if theirs.marker else None)
    assert ours.url == theirs.url


@pytest.mark.parametrize("text", ["x==", "x=1", "x==1 2", "-x", "x[a", "x==1;", "x>=1,,"])
def test_fast_path_rejects_what_packaging_rejects(text: str) -> None:
    with pytest.raises(InvalidRequirement):
        Requirement(text)
    with pytest.raises(InvalidRequirement):
        parse_requirement(text)


def test_escaped_toml_strings_are_not_edited_in_place() -> None:
    text = '[project]\ndependencies = ["requests\\u003d\\u003d2.0.0", "six==1.16.0"]\n'
    lits = string_literals(text)
    assert [(lit.value, lit.exact) for lit in lits][-2:] == [
        ("requests\\u003d\\u003d2.0.0", False),
        ("six==1.16.0", True),
    ]
    deps = {d.name: d for d in extract(MemorySnapshot({"pyproject.toml": text.encode()}))}
    assert deps["requests"].pinned == "2.0.0" and deps["requests"].span is None
    assert deps["six"].span is not None


def test_poetry_constraints() -> None:
    assert poetry_to_pep440("^1.2.3") == ">=1.2.3,<2"
    assert poetry_to_pep440("^0.2.3") == ">=0.2.3,<0.3"
    assert poetry_to_pep440("~1.2") == ">=1.2,<1.3"
    assert poetry_to_pep440("1.2.3") == "==1.2.3"
    assert poetry_to_pep440(">=1,<2") == ">=1,<2"
    assert poetry_to_pep440("*") == ""


def test_options_are_read_leniently() -> None:
    policy = policy_from_options(
        {
            "cooldown-days": -1,
            "groups": [{"patterns": ["x"]}, {"name": "ok", "update-types": ["patch", "huge"]}],
            "ignore": [{"name": "django", "versions": ["not a spec", ">=5"]}, "bad"],
            "actions": {"pin": "branch"},
        }
    )
    assert policy.cooldown_days == 3.0
    assert [g.name for g in policy.groups] == ["ok"]
    assert policy.groups[0].update_types == frozenset({"patch"})
    assert len(policy.ignore) == 1 and len(policy.ignore[0].versions) == 1
    assert policy.actions_pin == "tag"
    assert len(policy.problems) == 5


@pytest.mark.parametrize(
    "files",
    [
        {"pyproject.toml": b"\xff\xfe[project]\x00"},
        {"pyproject.toml": b"[project]\ndependencies = 5\noptional-dependencies = []\n"},
        {"pyproject.toml": b"[tool.poetry]\ndependencies = 1\n[tool.poetry.group]\ndev = 2\n"},
        {"pyproject.toml": b"[tool.poetry.dependencies]\nx = 5\ny = {version = 3}\n"},
        {"Pipfile": b"[packages]\nx = 5\n[requires]\npython_version = 3\n"},
        {"setup.cfg": b"[options]\ninstall_requires = \n  ===\n  [x\n"},
        {".github/workflows/a.yml": b"jobs: {a: {steps: [{uses: 5}, {uses: 'a/b@'}, 7]}}\n"},
        {"requirements.txt": b"-r requirements.txt\n" * 3 + b"\\"},
        {"requirements.txt": ("x==1\n" * 2000).encode()},
    ],
)
def test_hostile_manifests_through_the_fixer(files: dict[str, bytes]) -> None:
    snapshot = MemorySnapshot(files)
    ctx = Context()
    findings = FIXER.detect(snapshot, ctx)
    patches = FIXER.fix(snapshot, findings, ctx)
    assert all(len(f.message) < 2000 for f in findings)
    assert patches == []


def test_ignore_paths_are_respected() -> None:
    snapshot = MemorySnapshot({"docs/requirements.txt": b"bad ((\n", "requirements.txt": b"a==1\n"})
    findings = FIXER.detect(snapshot, Context(ignore_paths=("docs/**",)))
    assert findings == []


def test_release_links_prefer_changelog_then_github_releases() -> None:
    conv = load_conventions()
    urls = {"Homepage": "https://example.org", "Changelog": "https://example.org/changes"}
    assert release_links(urls, conv) == ["[Changelog](https://example.org/changes)"]
    urls = {"Source": "https://github.com/psf/requests", "Docs": "https://docs.example"}
    assert release_links(urls, conv) == [
        "[Releases](https://github.com/psf/requests/releases)",
        "[Source](https://github.com/psf/requests)",
    ]
    assert release_links({"Changelog": "javascript:alert(1)"}, conv) == []


# Inputs shaped to trigger quadratic scans (whitespace runs between optional
# tokens, many keys in one table). No timing assertion: a quadratic parser makes
# this test visibly slow, a linear one takes milliseconds.
@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("requirements.txt", " " * 20000 + "x\n"),
        ("requirements.txt", "x" + " " * 20000 + "y\n"),
        ("requirements.txt", "x " + "\t" * 20000 + "-\n"),
        ("requirements.txt", "a" * 20000 + "://x\n"),
        ("setup.cfg", "[options]\ninstall_requires =\n" + " " * 20000 + "x  " + " " * 9000 + "#\n"),
        (
            "pyproject.toml",
            "[tool.poetry.dependencies]\n" + "".join(f'p{i} = "1.{i}"\n' for i in range(3000)),
        ),
        ("Pipfile", "[packages]\n" + "".join(f'p{i} = "=={i}.0"\n' for i in range(3000))),
        ("pyproject.toml", "[project]\ndependencies = [" + "'a'," * 3000 + "]\n"),
    ],
)
def test_hostile_shapes_parse_in_linear_time(path: str, text: str) -> None:
    deps = extract(MemorySnapshot({path: text.encode()}))
    assert len(deps) <= 3000
