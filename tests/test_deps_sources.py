"""Index and advisory clients against the local fake index / fake OSV."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixers.dependencies.sources import (
    AdvisoriesUnavailable,
    CachedAnswer,
    HttpCache,
    IndexUnavailable,
    sources_from_env,
)
from tests.fakeindex.server import FakeIndex, FakeRelease, FakeVuln


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def index(fake_index: FakeIndex) -> FakeIndex:
    fake_index.add_project(
        "Requests",
        [
            FakeRelease("2.30.0", day(2025, 1, 1)),
            FakeRelease("2.31.0", day(2025, 5, 1), yanked=True, yanked_reason="broken wheel"),
            FakeRelease("2.32.0", day(2026, 1, 1), requires_python=">=3.9"),
        ],
        project_urls={"Changelog": "https://example.org/changes"},
    )
    fake_index.add_vuln(
        FakeVuln("GHSA-xxxx-yyyy", "requests", [("0", "2.32.0")], ["CVE-2025-0001"], "leak", "HIGH")
    )
    fake_index.add_vuln(FakeVuln("PYSEC-2025-7", "requests", [("0", "2.32.0")], ["CVE-2025-0001"]))
    return fake_index


def test_project_from_json_api(index: FakeIndex) -> None:
    client, _ = sources_from_env(index.env(), cache_dir=None)
    project = client.project("REQUESTS")
    assert project is not None
    assert sorted(project.releases) == ["2.30.0", "2.31.0", "2.32.0"]
    yanked = project.releases["2.31.0"]
    assert yanked.yanked and yanked.yanked_reason == "broken wheel"
    assert project.releases["2.32.0"].requires_python == ">=3.9"
    assert project.releases["2.30.0"].upload_time == day(2025, 1, 1)
    assert len(project.releases["2.30.0"].hashes) == 2
    assert project.project_urls == {"Changelog": "https://example.org/changes"}
    assert client.project("does-not-exist") is None


def test_pep691_only_index(index: FakeIndex) -> None:
    index.json_api = False
    env = {**index.env(), "PATCHWELL_INDEX_URL": index.simple_url + "/"}
    client, _ = sources_from_env(env, cache_dir=None)
    project = client.project("requests")
    assert project is not None
    assert project.releases["2.31.0"].yanked_reason == "broken wheel"
    assert project.releases["2.32.0"].upload_time == day(2026, 1, 1)
    assert index.requests == {"/simple/requests/": 1}


def test_etag_and_ttl_cache(index: FakeIndex, tmp_path: Path) -> None:
    clock = Clock()
    env = {**index.env(), "PATCHWELL_HTTP_CACHE_TTL": "600"}
    client, _ = sources_from_env(env, cache_dir=tmp_path, clock=clock)
    client.project("requests")
    client.project("requests")
    assert index.total_requests() == 1  # fresh within the TTL
    clock.now += 601
    assert client.project("requests") is not None
    assert index.total_requests() == 2 and client.http.stats.revalidated == 1
    # a new process with the same cache dir: nothing fetched within the TTL
    again, _ = sources_from_env(env, cache_dir=tmp_path, clock=clock)
    assert again.project("requests") is not None
    assert index.total_requests() == 2


def test_private_index_credentials_never_cached_or_leaked(index: FakeIndex, tmp_path: Path) -> None:
    index.credentials = ("ci", "hunter2-secret")
    bad, _ = sources_from_env(index.env(), cache_dir=None)
    with pytest.raises(IndexUnavailable) as err:
        bad.project("requests")
    assert "401" in str(err.value)
    env = {
        **index.env(),
        "PATCHWELL_INDEX_USERNAME": "ci",
        "PATCHWELL_INDEX_PASSWORD": "hunter2-secret",
    }
    client, advisories = sources_from_env(env, cache_dir=tmp_path)
    assert client.project("requests") is not None
    assert advisories.advisories("requests", "2.30.0")  # OSV got no credentials and needs none
    for path in tmp_path.iterdir():
        assert "hunter2" not in path.read_text()
    # credentials embedded in the URL are split off, not sent in the URL
    url = index.json_url.replace("http://", "http://ci:hunter2-secret@")
    client2, _ = sources_from_env({**index.env(), "PATCHWELL_INDEX_URL": url}, cache_dir=None)
    assert client2.project("requests") is not None


def test_advisories_through_pip_audit_merge_aliases(index: FakeIndex) -> None:
    _, advisories = sources_from_env(index.env(), cache_dir=None)
    found = advisories.advisories("requests", "2.30.0")
    assert len(found) == 1  # GHSA and PYSEC share a CVE: one advisory
    adv = found[0]
    assert adv.id == "PYSEC-2025-7"
    assert adv.aliases == ("CVE-2025-0001", "GHSA-xxxx-yyyy")
    assert adv.severity == "HIGH" and adv.summary == "leak"
    assert adv.fixed_versions == ("2.32.0",)
    assert adv.affects("2.31.0") and not adv.affects("2.32.0")
    assert advisories.advisories("requests", "2.32.0") == []
    assert index.osv_queries[0] == {
        "package": {"name": "requests", "ecosystem": "PyPI"},
        "version": "2.30.0",
    }


def test_unreachable_services_raise_clear_errors(index: FakeIndex) -> None:
    index.fail_osv = True
    index.fail_index = True
    client, advisories = sources_from_env(index.env(), cache_dir=None)
    with pytest.raises(AdvisoriesUnavailable, match="503"):
        advisories.advisories("requests", "2.30.0")
    with pytest.raises(IndexUnavailable, match="503"):
        client.project("requests")
    closed = {
        "PATCHWELL_INDEX_URL": "http://127.0.0.1:9/pypi",
        "PATCHWELL_OSV_URL": "http://127.0.0.1:9/q",
    }
    client, advisories = sources_from_env(closed, cache_dir=None)
    with pytest.raises(IndexUnavailable, match="unreachable"):
        client.project("x")
    with pytest.raises(AdvisoriesUnavailable, match="unreachable"):
        advisories.advisories("x", "1.0")


def test_defaults() -> None:
    client, advisories = sources_from_env({}, cache_dir=None)
    assert client.json_url == "https://pypi.org/pypi"
    assert client.simple_url == "https://pypi.org/simple"
    assert advisories.service.url == "https://api.osv.dev/v1/query"


def test_batched_audit_one_request_for_many_pins(index: FakeIndex) -> None:
    index.add_vuln(FakeVuln("GHSA-other", "flask", [("0", "3.0.3")], [], "x", "LOW"))
    _, advisories = sources_from_env(index.env(), cache_dir=None)
    pins = [("requests", "2.30.0"), ("requests", "2.32.0"), ("flask", "3.0.0"), ("six", "1.0")]
    advisories.prefetch(pins)
    batch = index.requests["/osv/v1/querybatch"]
    details = {p: n for p, n in index.requests.items() if p.startswith("/osv/v1/vulns/")}
    assert batch == 1
    assert details == {
        "/osv/v1/vulns/GHSA-xxxx-yyyy": 1,
        "/osv/v1/vulns/PYSEC-2025-7": 1,
        "/osv/v1/vulns/GHSA-other": 1,
    }
    index.reset_counts()
    found = {p: advisories.advisories(*p) for p in pins}
    assert index.total_requests() == 0  # all answered from the prefetch
    assert [a.id for a in found[("requests", "2.30.0")]] == ["PYSEC-2025-7"]
    assert found[("requests", "2.30.0")][0].severity == "HIGH"
    assert found[("requests", "2.32.0")] == [] and found[("six", "1.0")] == []
    assert [a.id for a in found[("flask", "3.0.0")]] == ["GHSA-other"]


def test_batched_audit_failure_is_one_error(index: FakeIndex) -> None:
    index.fail_osv = True
    _, advisories = sources_from_env(index.env(), cache_dir=None)
    with pytest.raises(AdvisoriesUnavailable, match="503"):
        advisories.prefetch([("requests", "2.30.0"), ("flask", "1.0")])
    assert index.total_requests() == 1


def test_no_batching_when_url_is_not_a_query_endpoint(index: FakeIndex) -> None:
    env = {**index.env(), "PATCHWELL_OSV_URL": index.osv_url + "?x=1"}
    _, advisories = sources_from_env(env, cache_dir=None)
    assert advisories.service.batch_url is None


def test_memory_cache_is_bounded(tmp_path: Path) -> None:
    cache = HttpCache(tmp_path, max_memory_entries=2)
    for i in range(3):
        cache.put(f"k{i}", CachedAnswer(b"{}", None, 0.0))
    assert len(cache._memory) == 2 and "k0" not in cache._memory
    assert cache.get("k0") is not None  # still on disk
