"""Every PR installs: proposals resolved by the real uv against the fake index for the
deploy Python; conflicting packages moved together, else the newest release that
resolves, else the conflict reported (issue 13, point 2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fixers.contract import Context, Finding, MemorySnapshot, Patch, Services
from fixers.dependencies import FIXER
from fixers.dependencies.sources import simple_index_from_env, sources_from_env
from fixers.dependencies.uvrunner import find_uv, resolver_from_env
from tests.fakeindex.server import FakeIndex, FakeRelease

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
OLD = NOW - timedelta(days=300)
NEW = NOW - timedelta(days=30)

pytestmark = pytest.mark.skipif(find_uv({}) is None, reason="uv is not installed")


def ctx(index: FakeIndex, tmp: Path, options: Mapping[str, Any] | None = None) -> Context:
    env = index.env()
    idx, adv = sources_from_env(env, cache_dir=None)
    url, creds = simple_index_from_env(env)
    assert url is not None
    resolver = resolver_from_env(env, index_url=url, credentials=creds, cache_dir=tmp)
    services = Services(index=idx, advisories=adv, clock=lambda: NOW, resolver=resolver)
    return Context(services=services, options=dict(options or {}))


def run(files: Mapping[str, str], c: Context) -> tuple[dict[str, Finding], list[Patch]]:
    s = MemorySnapshot({k: v.encode() for k, v in files.items()})
    findings = FIXER.detect(s, c)
    outdated = {str(f.data["package"]): f for f in findings if f.rule == "outdated"}
    return outdated, FIXER.fix(s, findings, c)


def test_flask_moves_with_werkzeug_in_one_pr(fake_index: FakeIndex, tmp_path: Path) -> None:
    fake_index.add_project(
        "flask",
        [
            FakeRelease("2.3.0", OLD, requires_dist=("werkzeug>=2.3,<3",)),
            FakeRelease("3.0.0", NEW, requires_dist=("werkzeug>=3.0",)),
        ],
    )
    fake_index.add_project("werkzeug", [FakeRelease("2.3.0", OLD), FakeRelease("3.0.0", NEW)])
    files = {
        "requirements.txt": "flask==2.3.0\nwerkzeug==2.3.0\n",
        "Dockerfile": "FROM python:3.9\n",
    }
    outdated, patches = run(files, ctx(fake_index, tmp_path))
    assert outdated["flask"].data["install"]["status"] == "co-move"
    assert outdated["flask"].data["install"]["with"] == {"werkzeug": "3.0.0"}
    assert outdated["flask"].data["install"]["python"] == ["3.9"]
    # Before this change: two PRs, each leaving pip with ResolutionImpossible.
    assert [p.key for p in patches] == ["pip-flask"]
    assert patches[0].edits[0].content == b"flask==3.0.0\nwerkzeug==3.0.0\n"
    assert "(with werkzeug)" in patches[0].title
    assert len(patches[0].fingerprints) == 2


def test_newest_release_that_resolves_else_the_conflict(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    fake_index.add_project(
        "app-lib",
        [
            FakeRelease("1.0.0", OLD),
            FakeRelease("1.1.0", NEW, requires_dist=("helper>=1",)),
            FakeRelease("1.2.0", NEW, requires_dist=("helper>=2",)),  # helper 2 needs 3.11
        ],
    )
    fake_index.add_project(
        "helper",
        [FakeRelease("1.0.0", OLD), FakeRelease("2.0.0", NEW, requires_python=">=3.11")],
    )
    fake_index.add_project(
        "stuck", [FakeRelease("1.0.0", OLD), FakeRelease("2.0.0", NEW, requires_dist=("nope>=9",))]
    )
    fake_index.add_project("nope", [FakeRelease("1.0", OLD)])
    files = {
        "requirements.txt": "app-lib==1.0.0\nstuck==1.0.0\n",
        "runtime.txt": "python-3.10.12\n",
    }
    outdated, patches = run(files, ctx(fake_index, tmp_path, {"groups": []}))
    lib = outdated["app-lib"]
    assert lib.data["install"]["status"] == "lowered" and lib.data["target"] == "1.1.0"
    assert "Proposing 1.1.0" in lib.message
    stuck = outdated["stuck"]
    assert stuck.data["install"]["status"] == "conflict" and stuck.data["target"] is None
    assert "nope" in stuck.message
    assert [p.key for p in patches] == ["pip-app-lib"]
    assert patches[0].edits[0].content == b"app-lib==1.1.0\nstuck==1.0.0\n"
    # On Python 3.11 everything resolves: the deploy Python decided it.
    files["runtime.txt"] = "python-3.11.9\n"
    outdated, _p = run(files, ctx(fake_index, tmp_path, {"groups": []}))
    assert outdated["app-lib"].data["target"] == "1.2.0"


def test_a_whole_freeze_is_one_resolution(fake_index: FakeIndex, tmp_path: Path) -> None:
    names = [f"p{i}" for i in range(30)]
    for n in names:
        fake_index.add_project(n, [FakeRelease("1.0", OLD), FakeRelease("1.1", NEW)])
    c = ctx(fake_index, tmp_path)
    resolver = c.services.resolver
    calls: list[Any] = []

    class Counting:
        def compile(self, request: Any) -> Any:
            calls.append(request)
            return resolver.compile(request)  # type: ignore[union-attr]

        def lock(self, request: Any) -> Any:
            return resolver.lock(request)  # type: ignore[union-attr]

    c = Context(services=Services(**{**c.services.__dict__, "resolver": Counting()}))
    outdated, patches = run({"requirements.txt": "".join(f"{n}==1.0\n" for n in names)}, c)
    assert len(calls) == 1 and all(f.data["install"]["status"] == "ok" for f in outdated.values())
    assert [p.key for p in patches] == ["group-python-dependencies"]


def test_without_a_resolver_proposals_stand(fake_index: FakeIndex) -> None:
    fake_index.add_project("six", [FakeRelease("1.0", OLD), FakeRelease("1.1", NEW)])
    idx, adv = sources_from_env(fake_index.env(), cache_dir=None)
    c = Context(services=Services(index=idx, advisories=adv, clock=lambda: NOW))
    outdated, patches = run({"requirements.txt": "six==1.0\n"}, c)
    assert "install" not in outdated["six"].data and [p.key for p in patches] == ["pip-six"]


def test_co_movers_install_on_the_deploy_python_too(fake_index: FakeIndex, tmp_path: Path) -> None:
    """Seen on the bundled example with real PyPI: deploy on 3.8, CI on 3.11, and the
    co-movers were taken from CI's resolution (requests 2.34.2 on a 3.8 deploy)."""
    fake_index.add_project(
        "flask",
        [
            FakeRelease("2.3.0", OLD, requires_dist=("werkzeug>=2.3,<3",)),
            FakeRelease("3.0.0", NEW, requires_dist=("werkzeug>=3.0",)),
        ],
    )
    fake_index.add_project(
        "werkzeug",
        [
            FakeRelease("2.3.0", OLD),
            FakeRelease("3.0.0", NEW),
            FakeRelease("3.1.0", NEW, requires_python=">=3.10"),
        ],
    )
    files = {
        "requirements.txt": "flask==2.3.0\nwerkzeug==2.3.0\n",
        "runtime.txt": "python-3.9.18\n",
        ".github/workflows/ci.yml": (
            "on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n"
            "      - uses: actions/setup-python@v5\n        with:\n"
            "          python-version: '3.12'\n"
        ),
    }
    outdated, patches = run(files, ctx(fake_index, tmp_path, {"groups": []}))
    install = outdated["flask"].data["install"]
    assert install["python"] == ["3.9", "3.12"]
    assert install["status"] == "co-move"
    # 3.1.0 needs Python 3.10: the deploy Python decides, CI's must accept the same pins.
    assert install["with"] == {"werkzeug": "3.0.0"}
    flask_pr = next(p for p in patches if p.key == "pip-flask")
    assert b"werkzeug==3.0.0\n" in flask_pr.edits[0].content


def test_a_baseline_that_does_not_resolve_is_not_blamed_on_the_candidates(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """Found on miguelgrinberg/microblog against PyPI: flask-mail 0.9.1 and langdetect
    publish only sdists, so with nothing built the *current* requirements did not resolve;
    every candidate then "failed" and 45 findings said "No newer release installs with the
    other requirements: because flask-mail==0.9.1 has no usable wheels", withdrawing real
    updates. Now sdist-only pins are left out of the check (and named), and a set that
    still does not resolve unchanged makes the proposals "not checked", not conflicts."""
    fake_index.add_project("six", [FakeRelease("1.16.0", OLD), FakeRelease("1.17.0", NEW)])
    fake_index.add_project(
        "click",
        [
            FakeRelease("8.1.0", OLD),
            FakeRelease("8.2.0", NEW, requires_dist=("six>=1.17",)),
        ],
    )
    fake_index.add_project(
        "flask-mail", [FakeRelease("0.9.1", OLD, filenames=("flask_mail-0.9.1.tar.gz",))]
    )
    fake_index.add_project(  # mealie's python-ldap: sdist only, required by a range
        "ldapish", [FakeRelease("3.4", OLD, filenames=("ldapish-3.4.tar.gz",))]
    )
    files = {"requirements.txt": "six==1.16.0\nclick==8.1.0\nflask-mail==0.9.1\nldapish>=3\n"}
    outdated, patches = run(files, ctx(fake_index, tmp_path, {"groups": []}))
    assert "flask-mail, ldapish left out" in outdated["six"].data["install"]["message"]
    # click 8.2 needs six 1.17: found although flask-mail cannot be resolved here.
    click = outdated["click"].data["install"]
    assert click["status"] == "co-move" and click["with"] == {"six": "1.17.0"}, click
    six = outdated["six"].data["install"]
    assert six["status"] == "ok" and "flask-mail, ldapish left out" in six["message"], six
    assert [p.key for p in patches] == ["pip-click"]
    body = patches[0].explanation.markdown()
    assert "Resolved with uv" in body and "ldapish left out: they publish no wheel" in body
    # A bump of the sdist-only package itself cannot be resolved here: it stays out of
    # the group's PR (report-only, saying why) and the checked packages go ahead.
    fake_index.projects["flask-mail"].releases.append(
        FakeRelease("0.9.2", NEW, filenames=("flask_mail-0.9.2.tar.gz",))
    )
    everything = {"groups": [{"name": "all", "patterns": ["*"]}]}
    grouped, patches = run(files, ctx(fake_index, tmp_path, everything))
    (group,) = patches
    body = group.explanation.markdown()
    assert "Resolved with uv before this PR was opened" in body
    assert "flask-mail" not in body.split("### What could break")[0]
    assert grouped["flask-mail"].fingerprint not in group.fingerprints
    assert "Patchwell opens no PR for this" in grouped["flask-mail"].message
    assert "it publishes no wheel" in grouped["flask-mail"].message
    # A set that does not resolve even unchanged: not checked, with the reason.
    fake_index.add_project(
        "app-lib",
        [
            FakeRelease("1.0", OLD, requires_dist=("six>=9",)),
            FakeRelease("1.1", NEW, requires_dist=("six>=9",)),
        ],
    )
    files = {"requirements.txt": "six==1.16.0\napp-lib==1.0\n"}
    outdated, patches = run(files, ctx(fake_index, tmp_path, {"groups": []}))
    for name in ("six", "app-lib"):
        install = outdated[name].data["install"]
        assert install["status"] == "unchecked", install
        assert "the current requirements do not resolve either" in install["message"]
        assert outdated[name].data["target"] is not None
        assert "No newer release installs" not in outdated[name].message
    # ... and since nothing shows the changes install, no PR: each finding says why and
    # what to run.
    assert patches == []
    assert "Patchwell opens no PR for this" in outdated["six"].message
    assert "`uv pip compile requirements.txt`" in outdated["six"].message
