"""The dependencies fixer end to end over the fake index and fake OSV:
drift, cooldown, ignore, groups, security, yanked, Python limits, actions,
byte-exact edits, stable keys for supersede, and failing services."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixers.contract import Context, Finding, MemorySnapshot, Patch, Services
from fixers.dependencies import FIXER
from fixers.dependencies.sources import StaticActionsCatalog, sources_from_env
from tests.fakeindex.server import FakeIndex, FakeRelease, FakeVuln

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SHA3 = "a" * 40
SHA4 = "b" * 40


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@dataclass(frozen=True)
class ServicesWithActions(Services):
    """Services plus the actions catalog the fixer reads with getattr (GitHub data)."""

    actions: Any = None


@pytest.fixture
def index(fake_index: FakeIndex) -> FakeIndex:
    fake_index.add_project(
        "requests",
        [
            FakeRelease("2.30.0", ago(400)),
            FakeRelease("2.31.0", ago(300)),
            FakeRelease("2.32.0", ago(100), requires_python=">=3.8"),
            FakeRelease("2.33.0", ago(1)),  # inside the 3-day cooldown
        ],
        project_urls={"Changelog": "https://example.org/changes", "Source": "https://x.test/r"},
    )
    fake_index.add_project(
        "django",
        [
            FakeRelease("4.2.1", ago(500)),
            FakeRelease("4.2.16", ago(60)),
            FakeRelease("4.2.20", ago(50)),
            FakeRelease("5.0.0", ago(45), requires_python=">=3.10"),
            FakeRelease("5.1.0", ago(40), requires_python=">=3.10"),
        ],
    )
    fake_index.add_project(
        "pytest", [FakeRelease("8.0.0", ago(300)), FakeRelease("8.3.0", ago(30))]
    )
    fake_index.add_project("ruff", [FakeRelease("0.5.0", ago(300)), FakeRelease("0.6.0", ago(30))])
    fake_index.add_project(
        "attrs",
        [
            FakeRelease("23.1.0", ago(300)),
            FakeRelease("23.2.0", ago(200), yanked=True, yanked_reason="broken"),
            FakeRelease("24.0.0b1", ago(20)),
        ],
    )
    fake_index.add_project(
        "black", [FakeRelease("24.1.0b1", ago(100)), FakeRelease("24.1.0b2", ago(50))]
    )
    fake_index.add_vuln(
        FakeVuln("GHSA-dj01", "django", [("4.0", "4.2.15")], ["CVE-2026-0001"], "SQLi", "HIGH")
    )
    fake_index.add_vuln(
        FakeVuln("GHSA-dj02", "django", [("4.2", "4.2.18")], ["CVE-2026-0002"], "XSS", "MODERATE")
    )
    return fake_index


def context(index: FakeIndex, options: Mapping[str, Any] | None = None, **kw: Any) -> Context:
    idx, adv = sources_from_env(index.env(), cache_dir=None)
    catalog = StaticActionsCatalog(
        {
            "actions/checkout": [("v3", SHA3), ("v3.6.0", SHA3), ("v4", SHA4), ("v4.2.2", SHA4)],
            "actions/setup-python": [("v5", "c" * 40), ("v5.1.0", "c" * 40)],
        }
    )
    services = ServicesWithActions(index=idx, advisories=adv, clock=lambda: NOW, actions=catalog)
    return Context(services=services, options=dict(options or {}), **kw)


def snap(files: Mapping[str, str | bytes], **kw: Any) -> MemorySnapshot:
    return MemorySnapshot(
        {k: v if isinstance(v, bytes) else v.encode() for k, v in files.items()}, **kw
    )


def run(s: MemorySnapshot, ctx: Context) -> tuple[list[Finding], list[Patch]]:
    findings = FIXER.detect(s, ctx)
    return findings, FIXER.fix(s, findings, ctx)


def rules(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.rule, []).append(f)
    return out


def patch(patches: list[Patch], key: str) -> Patch:
    return next(p for p in patches if p.key == key)


def content(p: Patch, path: str) -> bytes:
    edit = next(e for e in p.edits if e.path == path)
    assert edit.content is not None
    return edit.content


def changed_bytes(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    """Every differing byte run: proves only version bytes changed."""
    sm = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [
        (before[i1:i2], after[j1:j2]) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal"
    ]


def test_outdated_pin_respects_cooldown_and_python(index: FakeIndex) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "app"\nrequires-python = ">=3.9"\n'
        "dependencies = [\n    # pinned for the API\n    'requests==2.30.0',  # keep\n]\n",
    }
    s = snap(files)
    findings, patches = run(s, context(index))
    outdated = rules(findings)["outdated"][0]
    assert outdated.data["latest"] == "2.33.0" and outdated.data["target"] == "2.32.0"
    assert "cooldown" in outdated.message
    p = patch(patches, "pip-requests")
    assert p.title == "Bump requests from 2.30.0 to 2.32.0"
    after = content(p, "pyproject.toml")
    assert changed_bytes(s.read("pyproject.toml") or b"", after) == [(b"0", b"2")]
    assert after.decode().count("'requests==2.32.0',  # keep") == 1
    body = p.explanation.markdown()
    assert "| `requests` | 2.30.0 | 2.32.0 | " in body
    assert "[Changelog](https://example.org/changes)" in body
    assert "requires Python `>=3.8`" in body  # what could break
    assert "requests==2.30.0" in body  # roll back


def test_a_python_requirement_spelt_differently_is_no_change(index: FakeIndex) -> None:
    """Found on miguelgrinberg/microblog against PyPI: "charset-normalizer 3.5.3 requires
    Python `>=3.7` (was `>=3.7.0`)" and six's same clauses reordered were listed under
    "What could break"."""
    index.add_project(
        "six",
        [
            FakeRelease("1.16.0", ago(400), requires_python=">=2.7, !=3.0.*, !=3.1.*"),
            FakeRelease("1.17.0", ago(100), requires_python="!=3.0.*,!=3.1.*,>=2.7"),
        ],
    )
    index.add_project(
        "charset-normalizer",
        [
            FakeRelease("3.3.2", ago(400), requires_python=">=3.7.0"),
            FakeRelease("3.5.3", ago(100), requires_python=">=3.7"),
        ],
    )
    s = snap({"requirements.txt": "six==1.16.0\ncharset-normalizer==3.3.2\n"})
    _f, patches = run(s, context(index))
    for p in patches:
        body = p.explanation.markdown()
        assert "requires Python" not in body, body
        assert "no Python requirement changes reported by the index" in body


def test_cooldown_zero_takes_newest(index: FakeIndex) -> None:
    s = snap({"requirements.txt": "requests==2.30.0\n"})
    _f, patches = run(s, context(index, {"cooldown-days": 0}))
    assert content(patch(patches, "pip-requests"), "requirements.txt") == b"requests==2.33.0\n"


def test_supersede_same_key_for_newer_target(index: FakeIndex) -> None:
    s = snap({"requirements.txt": "requests==2.30.0\n"})
    _f, first = run(s, context(index))
    index.projects["requests"].releases.append(FakeRelease("2.34.0", ago(10)))
    _f, second = run(s, context(index))
    assert [p.key for p in first] == [p.key for p in second] == ["pip-requests"]
    assert first[0].branch == second[0].branch == "patchwell/dependencies/pip-requests"
    assert content(second[0], "requirements.txt") == b"requests==2.34.0\n"
    f1 = rules(FIXER.detect(s, context(index)))["outdated"][0].fingerprint
    assert f1 == rules(run(s, context(index))[0])["outdated"][0].fingerprint


def test_security_smallest_fix_bypasses_cooldown_grouping_and_cap(index: FakeIndex) -> None:
    raw = (
        b"# prod\r\n"
        b"django==4.2.1 \\\r\n"
        b"    --hash=sha256:1111111111111111111111111111111111111111111111111111111111111111 \\\r\n"
        b"    --hash=sha256:2222222222222222222222222222222222222222222222222222222222222222\r\n"
        b"gunicorn\r\n"
    )
    s = snap(
        {"requirements-dev.txt": raw, "pyproject.toml": '[project]\nrequires-python=">=3.9"\n'}
    )
    # a development file: a drift update would be grouped; a security one never is
    findings, patches = run(s, context(index, {"cooldown-days": 365}))
    vuln = rules(findings)["vulnerable"][0]
    # 4.2.16 fixes the first advisory only; 4.2.18 does not exist; 4.2.20 fixes both
    assert vuln.data["target"] == "4.2.20"
    assert [a["id"] for a in vuln.data["advisories"]] == ["CVE-2026-0001", "CVE-2026-0002"]
    p = patch(patches, "pip-django")
    assert p.bypass_limit and p.severity.label == "vulnerability"
    assert "security" in p.labels
    after = content(p, "requirements-dev.txt")
    assert after.count(b"\r\n") == raw.count(b"\r\n")  # line endings kept
    text = after.decode()
    assert "django==4.2.20 \\\r\n    --hash=sha256:" in text
    # the old hashes are gone (a fresh sha256 may contain "1111" by chance: compare whole hashes)
    assert "1" * 64 not in text and "2" * 64 not in text
    assert text.endswith("\r\ngunicorn\r\n")
    body = p.explanation.markdown()
    assert "| `django` | CVE-2026-0001, GHSA-dj01 | HIGH | SQLi | 4.2.15 |" in body
    assert "Hashes were refreshed" in body


def test_hash_pins_without_index_hashes_get_no_pr(index: FakeIndex) -> None:
    """A new version beside its old hashes fails `pip install --require-hashes`: no PR
    (it used to open one asking to re-run pip-compile); the finding says how to do it."""
    index.projects["django"].releases[2].with_digests = False  # 4.2.20
    before = b"django==4.2.1 --hash=sha256:abc  # web framework\n"
    s = snap({"requirements.txt": before})
    findings, patches = run(s, context(index))
    assert not any(p.key == "pip-django" for p in patches)
    vuln = rules(findings)["vulnerable"][0]
    assert "published no sha256 for django 4.2.20" in vuln.message
    assert "`pip download django==4.2.20 --no-deps -d hashes && pip hash hashes/*`" in vuln.message


def test_ignore_rules_and_entire_ignore(index: FakeIndex) -> None:
    s = snap({"requirements.txt": "requests==2.30.0\npytest==8.0.0\n"})
    opts = {
        "cooldown-days": 0,
        "ignore": [{"name": "requests", "versions": [">=2.33"]}, {"name": "pytest"}],
    }
    findings, patches = run(s, context(index, opts))
    assert content(patch(patches, "pip-requests"), "requirements.txt").startswith(
        b"requests==2.32.0\n"
    )
    assert not any(f.data.get("package") == "pytest" for f in rules(findings)["outdated"])
    assert [p.key for p in patches] == ["pip-requests"]
    opts = {"ignore": [{"name": "requests", "update-types": ["minor"]}]}
    findings, patches = run(s, context(index, opts))
    requests = next(f for f in rules(findings)["outdated"] if f.data["package"] == "requests")
    assert "ignored" in requests.message
    assert not any(p.key == "pip-requests" for p in patches)


def test_default_group_dev_patch_minor_and_custom_groups(index: FakeIndex) -> None:
    files = {
        "pyproject.toml": '[project]\nname="a"\nrequires-python=">=3.9"\n'
        'dependencies=["requests==2.31.0"]\n'
        '[dependency-groups]\ndev=["pytest==8.0.0", "ruff==0.5.0"]\n',
    }
    s = snap(files)
    _f, patches = run(s, context(index))
    # three pins audited in one pip-audit run: a single OSV batch request
    assert index.requests["/osv/v1/querybatch"] == 1 and "/osv/v1/query" not in index.requests
    assert sorted(p.key for p in patches) == ["group-dev-dependencies", "pip-requests"]
    group = patch(patches, "group-dev-dependencies")
    assert group.title == "Update the dev-dependencies group (2 packages)"
    before = s.read("pyproject.toml") or b""
    assert changed_bytes(before, content(group, "pyproject.toml")) == [(b"0", b"3"), (b"5", b"6")]
    opts = {"groups": [{"name": "Dev Tools", "patterns": ["pytest*", "ruff"]}]}
    _f, patches = run(s, context(index, opts))
    assert sorted(p.key for p in patches) == ["group-dev-tools", "pip-requests"]
    opts = {"groups": []}
    _f, patches = run(s, context(index, opts))
    assert sorted(p.key for p in patches) == ["pip-pytest", "pip-requests", "pip-ruff"]


def test_yanked_pin_and_prereleases(index: FakeIndex) -> None:
    s = snap(
        {
            "requirements.txt": "attrs==23.2.0\nblack==24.1.0b1\n",
            "constraints.txt": "attrs==23.2.0\n",
        }
    )
    findings, patches = run(s, context(index))
    by = rules(findings)
    assert len(by["yanked-pin"]) == 1  # the same yanked pin in two files: one finding
    assert (by["yanked-pin"][0].path, by["yanked-pin"][0].line) == ("constraints.txt", 1)
    assert by["yanked-pin"][0].data == {"package": "attrs", "version": "23.2.0"}
    assert "broken" in by["yanked-pin"][0].message
    # attrs: only a pre-release is newer, and we are not on one: nothing to propose
    assert all(f.data["package"] != "attrs" for f in by.get("outdated", []))
    # black: already on a pre-release, so the next pre-release is proposed
    assert content(patch(patches, "pip-black"), "requirements.txt").endswith(b"black==24.1.0b2\n")


def test_major_bump_called_out_and_python_limit(index: FakeIndex) -> None:
    s = snap(
        {
            "requirements.txt": "django==4.2.20\n",
            "setup.cfg": "[options]\npython_requires = >=3.10\n",
        }
    )
    findings, patches = run(s, context(index))
    assert rules(findings)["outdated"][0].data["target"] == "5.1.0"
    body = patch(patches, "pip-django").explanation.markdown()
    assert "**Major version bump** of `django` (4.2.20 → 5.1.0)" in body
    s = snap(
        {
            "requirements.txt": "django==4.2.20\n",
            "setup.cfg": "[options]\npython_requires = >=3.9\n",
        }
    )
    findings, _p = run(s, context(index))
    assert "outdated" not in rules(findings)  # 5.x needs Python 3.10; the project supports 3.9


def test_inconsistent_pins_fixed_by_one_patch(index: FakeIndex) -> None:
    files = {"requirements.txt": "requests==2.30.0\n", "constraints.txt": "requests==2.31.0\n"}
    findings, patches = run(snap(files), context(index))
    inc = rules(findings)["inconsistent-pins"][0]
    assert "2.30.0 in requirements.txt:1; 2.31.0 in constraints.txt:1" in inc.message
    p = patch(patches, "pip-requests")
    assert inc.fingerprint in p.fingerprints
    assert {e.path: e.content for e in p.edits} == {
        "constraints.txt": b"requests==2.32.0\n",
        "requirements.txt": b"requests==2.32.0\n",
    }


def test_python_marker_pins_are_left_alone(index: FakeIndex) -> None:
    text = "requests==2.30.0; python_version < '3.8'\nrequests==2.30.0; python_version >= '3.8'\n"
    text2 = "requests==2.30.0; sys_platform == 'linux'\n"
    _f, patches = run(snap({"requirements.txt": text + text2}), context(index))
    p = patch(patches, "pip-requests")
    assert content(p, "requirements.txt").decode().splitlines() == [
        "requests==2.30.0; python_version < '3.8'",
        "requests==2.30.0; python_version >= '3.8'",
        "requests==2.32.0; sys_platform == 'linux'",
    ]
    assert "Left alone: `requirements.txt` line 1" in p.explanation.markdown()


def test_every_format_only_version_bytes_change(index: FakeIndex) -> None:
    files = {
        "pyproject.toml": "[project]\nrequires-python = '>=3.9'\n\n"
        '[tool.poetry.dependencies]\npython = "^3.9"\nrequests   =   "2.30.0"   # http\n'
        '[tool.poetry.group.dev.dependencies]\npytest = { version = "==8.0.0", optional = true }\n',
        "Pipfile": '[packages]\n"requests" = "==2.30.0"\n\n[dev-packages]\n'
        "ruff = {version = '==0.5.0'}\n",
        "setup.cfg": "[options]\ninstall_requires =\n\trequests == 2.30.0  # http client\n\tsix\n",
        "req/base.in": "requests==2.30.0\t# tab comment\n",
    }
    s = snap(files)
    _f, patches = run(s, context(index, {"groups": []}))
    touched = 0
    for p in patches:
        for e in p.edits:
            assert e.content is not None
            diffs = changed_bytes(s.read(e.path) or b"", e.content)
            assert diffs and all(a.isdigit() or b"." in a or a == b"" for a, _b in diffs), diffs
            assert all(len(a) <= 3 and len(b) <= 3 for a, b in diffs), diffs
            touched += 1
    assert touched == 6


def test_advisory_service_down_is_reported_not_clean(index: FakeIndex) -> None:
    index.fail_osv = True
    findings, patches = run(snap({"requirements.txt": "django==4.2.1\n"}), context(index))
    by = rules(findings)
    assert "vulnerable" not in by
    down = by["advisories-unavailable"][0]
    assert "UNKNOWN, not clean" in down.message and "django==4.2.1" in down.message
    assert [p.key for p in patches] == ["pip-django"]  # drift still handled


def test_index_down_is_reported(index: FakeIndex) -> None:
    index.fail_index = True
    findings, patches = run(snap({"requirements.txt": "django==4.2.1\n"}), context(index))
    by = rules(findings)
    assert "index-unavailable" in by and "503" in by["index-unavailable"][0].message
    assert "vulnerable" in by and by["vulnerable"][0].data["target"] is None
    assert patches == []


def test_offline_services_none_reports_only_offline_checks() -> None:
    files = {
        "requirements.txt": "a==1\nbad ((\n",
        "constraints.txt": "a==2\n",
        ".github/workflows/ci.yml": "jobs:\n  t:\n    steps:\n      - uses: actions/checkout@v4\n",
    }
    ctx = Context(options={"actions": {"pin": "sha"}})
    findings, patches = run(snap(files), ctx)
    assert sorted(rules(findings)) == ["action-mutable-tag", "inconsistent-pins", "parse-error"]
    assert "not available" in rules(findings)["action-mutable-tag"][0].message
    assert patches == []


def test_unbounded_runtime_dependencies_in_deployed_app(index: FakeIndex) -> None:
    files = {
        "requirements.txt": "flask>=2\ngunicorn\nrequests==2.32.0\nrich~=13.0\n",
        "requirements-dev.txt": "pytest\n",
    }
    findings, patches = run(snap(files, all_paths=[*files, "Dockerfile"]), context(index))
    unb = rules(findings)["unbounded"]
    assert len(unb) == 1 and unb[0].data["packages"] == ["flask", "gunicorn"]
    assert unb[0].severity.label == "hygiene" and not patches
    findings, _p = run(snap(files), context(index))  # a library: not reported
    assert "unbounded" not in rules(findings)


_LIBRARY_PYPROJECT = (
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    '[project]\nname = "tidy-models"\nversion = "1.0"\ndependencies = ["django>=4.2"]\n'
)
# A test database for the library's own suite: a deployment marker, but nothing deploys.
_TEST_DB_COMPOSE = "services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432']\n"


def test_unbounded_not_reported_for_a_library_with_tooling_requirements(
    index: FakeIndex,
) -> None:
    files = {
        "pyproject.toml": _LIBRARY_PYPROJECT,
        "requirements.txt": "# development of tidy-models\ntox\nsphinx\ntwine\n",
        "docker-compose.yml": _TEST_DB_COMPOSE,
        "tidy_models/__init__.py": "VERSION = '1.0'\n",
    }
    findings, _p = run(snap(files), context(index))
    assert "unbounded" not in rules(findings)


def test_unbounded_not_reported_for_a_project_generator(index: FakeIndex) -> None:
    # cookiecutter-style: the root Dockerfile runs the generator; no app of its own.
    files = {"cookiecutter.json": "{}\n", "requirements.txt": "cookiecutter\nflask\n"}
    findings, _p = run(snap(files, all_paths=[*files, "Dockerfile"]), context(index))
    assert "unbounded" not in rules(findings)


def test_unbounded_still_reported_for_a_deployed_app(index: FakeIndex) -> None:
    files = {
        "pyproject.toml": _LIBRARY_PYPROJECT,  # packaged, yet a Procfile deploys it
        "Procfile": "web: gunicorn tidy_models.wsgi\n",
        "requirements.txt": "django>=4.2\ngunicorn\n",
        "requirements-mypy.txt": "mypy\ndjango-stubs\n",  # tooling: not what a deploy runs
        "docs/requirements.txt": "sphinx\n",
    }
    findings, _p = run(snap(files), context(index))
    unb = rules(findings)["unbounded"]
    # The project's own dependencies are the deploy's too; the tooling files are not.
    assert [(f.path, f.data["packages"]) for f in unb] == [
        ("pyproject.toml", ["django"]),
        ("requirements.txt", ["django", "gunicorn"]),
    ]


def test_actions_major_bump_keeps_style_and_pin_sha(index: FakeIndex) -> None:
    wf = (
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v3   # checkout\n"
        "      - uses: actions/checkout@v3.6.0\n"
        f"      - uses: actions/checkout@{SHA3} # v3.6.0\n"
        "      - uses: actions/setup-python@v5\n"
    )
    s = snap({".github/workflows/ci.yml": wf})
    findings, patches = run(s, context(index))
    assert sorted(rules(findings)) == ["action-outdated-major"]
    p = patch(patches, "action-actions-checkout")
    lines = content(p, ".github/workflows/ci.yml").decode().splitlines()
    assert lines[5:9] == [
        "      - uses: actions/checkout@v4   # checkout",
        "      - uses: actions/checkout@v4.2.2",
        f"      - uses: actions/checkout@{SHA4} # v4.2.2",
        "      - uses: actions/setup-python@v5",
    ]
    findings, patches = run(s, context(index, {"actions": {"pin": "sha"}}))
    by_key = {p.key: p for p in patches}
    lines = content(by_key["action-actions-checkout"], ".github/workflows/ci.yml").decode()
    assert lines.splitlines()[5] == f"      - uses: actions/checkout@{SHA4} # v4.2.2   # checkout"
    setup = content(by_key["action-actions-setup-python"], ".github/workflows/ci.yml").decode()
    assert setup.splitlines()[8] == "      - uses: actions/setup-python@" + "c" * 40 + " # v5.1.0"


def test_report_mode_still_computes_patches(index: FakeIndex) -> None:
    s = snap({"requirements.txt": "requests==2.30.0\n"})
    _f, patches = run(s, context(index, mode="report"))
    assert [p.key for p in patches] == ["pip-requests"]


def test_findings_never_echo_credentials(index: FakeIndex) -> None:
    text = (
        "--extra-index-url https://bot:ghp_SECRETSECRETSECRET1234@pkgs.example/simple\n"
        "-r https://bot:ghp_SECRETSECRETSECRET1234@raw.example/r.txt\n"
        "git+https://ghp_SECRETSECRETSECRET1234@github.com/o/r.git#egg=r\n"
        "requests==2.30.0\n"
    )
    findings, patches = run(snap({"requirements.txt": text}), context(index))
    blob = repr([f.as_json() for f in findings]) + repr([dict(f.data) for f in findings])
    blob += "".join(p.explanation.markdown() + p.title for p in patches)
    assert "ghp_SECRET" not in blob
    assert rules(findings)["remote-include"][0].message.count("****@") == 1


def test_registry_lists_the_fixer() -> None:
    from fixers.registry import fixer_names

    assert "dependencies" in fixer_names()


def test_pep691_only_private_index_with_credentials(index: FakeIndex) -> None:
    index.json_api = False
    index.credentials = ("ci", "s3cret-pw")
    env = {
        "PATCHWELL_INDEX_URL": index.simple_url,
        "PATCHWELL_INDEX_USERNAME": "ci",
        "PATCHWELL_INDEX_PASSWORD": "s3cret-pw",
        "PATCHWELL_OSV_URL": index.osv_url,
    }
    idx, adv = sources_from_env(env, cache_dir=None)
    ctx = Context(services=Services(index=idx, advisories=adv, clock=lambda: NOW))
    s = snap({"requirements.txt": "requests==2.30.0 --hash=sha256:00\n"})
    findings, patches = run(s, ctx)
    outdated = rules(findings)["outdated"][0]
    assert outdated.data["target"] == "2.32.0"  # upload times from PEP 691: 2.33.0 in cooldown
    edited = content(patch(patches, "pip-requests"), "requirements.txt").decode()
    assert edited.startswith("requests==2.32.0 --hash=sha256:")
    assert edited.count("--hash=") == 2  # both files' digests from the PEP 691 listing
    assert "s3cret" not in repr([f.as_json() for f in findings]) + patches[0].explanation.markdown()


def test_hash_count_change_shifts_lines_and_still_verifies(index: FakeIndex) -> None:
    before = (
        "pytest==8.0.0 --hash=sha256:01\nruff==0.5.0 \\\n    --hash=sha256:02\n# tail comment\n"
    )
    s = snap({"requirements-dev.txt": before})
    _f, patches = run(s, context(index))
    group = patch(patches, "group-dev-dependencies")
    after = content(group, "requirements-dev.txt").decode()
    lines = after.splitlines()
    assert lines[0].startswith("pytest==8.3.0 --hash=sha256:") and lines[0].count("--hash") == 2
    assert lines[1:3] == ["ruff==0.6.0 \\", lines[2]] and lines[2].startswith("    --hash=sha256:")
    assert lines[3].startswith("    --hash=sha256:") and lines[4] == "# tail comment"
    assert "Left alone" not in group.explanation.markdown()
