"""The outside world for the dependency fixer: package index and advisory database.

Both clients are synchronous (fixers run in a worker thread) and share one
HTTP layer with an ETag + TTL cache, in memory and optionally on disk, so a daily
rescan of many repositories costs few requests.

Configuration (all optional, read by :func:`sources_from_env`):

* ``PATCHWELL_INDEX_URL`` -- the index's JSON API base, default
  ``https://pypi.org/pypi`` (``{base}/{name}/json``). A URL ending in ``/simple``
  means the index only speaks PEP 691 (common for private indexes).
* ``PATCHWELL_INDEX_SIMPLE_URL`` -- the PEP 691 base; default derived from the
  JSON base by replacing a trailing ``/pypi`` with ``/simple``. Used when a
  project is missing from the JSON API.
* ``PATCHWELL_INDEX_USERNAME`` / ``PATCHWELL_INDEX_PASSWORD`` -- HTTP basic
  credentials for a private index; sent to the index host only, never logged,
  never part of a cache key or a cached file.
* ``PATCHWELL_OSV_URL`` -- the full OSV query endpoint, default
  ``https://api.osv.dev/v1/query``.
* ``PATCHWELL_HTTP_CACHE_TTL`` -- seconds a cached answer is used without asking
  (default 3600); after that it is revalidated with ``If-None-Match``.

Vulnerabilities go through pip-audit's auditing API: :class:`OsvService` below
is a pip-audit ``VulnerabilityService`` (pip-audit's own ``OsvService`` drops
OSV's severity and affected ranges, which we need for "the smallest upgrade that
fixes every advisory"), handed to pip-audit's ``Auditor``, which merges aliased
advisories and prefers PYSEC identifiers exactly as the ``pip-audit`` CLI does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, cast

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version
from pip_audit._audit import Auditor
from pip_audit._dependency_source import DependencySource
from pip_audit._fix import ResolvedFixVersion
from pip_audit._service import (
    Dependency as AuditDependency,
)
from pip_audit._service import (
    ResolvedDependency,
    ServiceError,
    VulnerabilityResult,
    VulnerabilityService,
)

from fixers.dependencies.model import normalize, valid_project_name

log = logging.getLogger(__name__)

DEFAULT_INDEX_URL = "https://pypi.org/pypi"
DEFAULT_OSV_URL = "https://api.osv.dev/v1/query"
DEFAULT_TTL = 3600.0
PEP691 = "application/vnd.pypi.simple.v1+json"
MAX_BODY = 20 * 1024 * 1024  # a project JSON larger than this is refused, not parsed


class SourceUnavailable(Exception):
    """An outside service could not answer; the message never holds credentials."""


class IndexUnavailable(SourceUnavailable):
    pass


class AdvisoriesUnavailable(SourceUnavailable):
    pass


# --------------------------------------------------------------------------- HTTP + cache


@dataclass(slots=True)
class CachedAnswer:
    body: bytes
    etag: str | None
    fetched_at: float


@dataclass(slots=True)
class HttpStats:
    network: int = 0  # requests that reached the network
    revalidated: int = 0  # of which answered 304
    fresh_hits: int = 0  # answered from cache without a request


class HttpCache:
    """URL -> last answer, in memory and (optionally) one JSON file per URL on disk."""

    def __init__(self, cache_dir: Path | None = None, max_memory_entries: int = 1024) -> None:
        # LRU in memory (a long-lived worker scans many repositories; big projects'
        # JSON runs to megabytes), everything on disk.
        self._memory: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._max = max_memory_entries
        self._dir = cache_dir
        self._lock = threading.Lock()
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)

    def _file(self, key: str) -> Path | None:
        if self._dir is None:
            return None
        return self._dir / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
        if hit is not None:
            return hit
        path = self._file(key)
        if path is None or not path.exists():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            hit = CachedAnswer(base64.b64decode(raw["body"]), raw.get("etag"), float(raw["at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged cache file is a miss, not a failure
        self._remember(key, hit)
        return hit

    def _remember(self, key: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._memory[key] = answer
            self._memory.move_to_end(key)
            while len(self._memory) > self._max:
                self._memory.popitem(last=False)

    def put(self, key: str, answer: CachedAnswer) -> None:
        self._remember(key, answer)
        path = self._file(key)
        if path is None:
            return
        doc = {
            "etag": answer.etag,
            "at": answer.fetched_at,
            "body": base64.b64encode(answer.body).decode(),
        }
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(doc), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.warning("dependency cache not written: %s", type(exc).__name__)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


class _SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    """Redirects followed without the operator's credentials once they leave the origin.

    urllib copies every header of the request to the redirected one, ``Authorization``
    included: an index (or a project name crafted to reach a redirecting path) could send
    the operator's index password to any host. (This client never reads ``~/.netrc``; the
    only credentials are the ones :class:`HttpClient` adds, and they are stripped here.)"""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for name in ("Authorization", "Cookie", "Proxy-Authorization"):
                new.headers.pop(name, None)
                new.unredirected_hdrs.pop(name, None)
        return new


_OPENER = urllib.request.build_opener(_SameOriginCredentials())


@dataclass
class HttpClient:
    """GET/POST JSON with an ETag + TTL cache. Credentials go to ``auth_host`` only, and
    never follow a redirect to another origin."""

    cache: HttpCache = field(default_factory=HttpCache)
    ttl: float = DEFAULT_TTL
    timeout: float = 15.0
    clock: Callable[[], float] = time.time
    auth: tuple[str, str] | None = None
    auth_host: str | None = None
    stats: HttpStats = field(default_factory=HttpStats)

    def _headers(self, url: str, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "patchwell-dependencies/0.1"}
        host = urllib.parse.urlsplit(url).netloc
        if self.auth is not None and host == self.auth_host:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def get_json(self, url: str, accept: str = "application/json") -> Any | None:
        """The JSON document at ``url``, or ``None`` for a 404."""
        key = f"GET {accept} {url}"
        cached = self.cache.get(key)
        now = self.clock()
        if cached is not None and now - cached.fetched_at < self.ttl:
            self.stats.fresh_hits += 1
            return _decode(cached.body)
        headers = self._headers(url, accept)
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        request = urllib.request.Request(url, headers=headers)
        self.stats.network += 1
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_BODY + 1)
                etag = response.headers.get("ETag")
        except urllib.error.HTTPError as exc:
            if exc.code == 304 and cached is not None:
                self.stats.revalidated += 1
                self.cache.put(key, CachedAnswer(cached.body, cached.etag, now))
                return _decode(cached.body)
            if exc.code in (404, 410):
                return None
            raise SourceUnavailable(f"{_where(url)} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise SourceUnavailable(f"{_where(url)} unreachable ({type(exc).__name__})") from None
        if len(body) > MAX_BODY:
            raise SourceUnavailable(f"{_where(url)} answer too large")
        self.cache.put(key, CachedAnswer(body, etag, now))
        return _decode(body)

    def post_json(self, url: str, payload: Mapping[str, Any]) -> Any:
        """POST a JSON query; cached by (url, body) for the TTL (OSV sends no ETags)."""
        data = json.dumps(payload, sort_keys=True).encode()
        key = f"POST {url} {hashlib.sha256(data).hexdigest()}"
        cached = self.cache.get(key)
        now = self.clock()
        if cached is not None and now - cached.fetched_at < self.ttl:
            self.stats.fresh_hits += 1
            return _decode(cached.body)
        headers = self._headers(url, "application/json")
        headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        self.stats.network += 1
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            raise SourceUnavailable(f"{_where(url)} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise SourceUnavailable(f"{_where(url)} unreachable ({type(exc).__name__})") from None
        self.cache.put(key, CachedAnswer(body, None, now))
        return _decode(body)


def _decode(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError:
        raise SourceUnavailable("answer is not JSON") from None


def _where(url: str) -> str:
    """Scheme and host only: paths can carry tokens on some private indexes."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


# --------------------------------------------------------------------------- index


@dataclass(frozen=True, slots=True)
class ReleaseFile:
    filename: str
    sha256: str | None
    upload_time: datetime | None
    yanked: bool
    requires_python: str | None


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    upload_time: datetime | None
    yanked: bool
    yanked_reason: str | None
    requires_python: str | None
    files: tuple[ReleaseFile, ...]

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(sorted({f.sha256 for f in self.files if f.sha256}))


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    releases: Mapping[str, Release]
    project_urls: Mapping[str, str] = field(default_factory=dict)
    # Releases with a valid version, oldest first: parsed once, compared often.
    ordered: tuple[tuple[Version, Release], ...] = ()


def _ordered(releases: Mapping[str, Release]) -> tuple[tuple[Version, Release], ...]:
    pairs = []
    for text, release in releases.items():
        try:
            pairs.append((Version(text), release))
        except InvalidVersion:
            continue  # legacy versions cannot be compared; never proposed
    return tuple(sorted(pairs, key=lambda p: p[0]))


@dataclass
class Memo:
    """Decoded answers kept for the cache TTL, so a warm scan does no parsing at all."""

    ttl: float
    clock: Callable[[], float]
    max_entries: int = 4096
    _items: OrderedDict[str, tuple[float, Any]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> tuple[bool, Any]:
        with self._lock:
            hit = self._items.get(key)
        if hit is None or self.clock() - hit[0] >= self.ttl:
            return False, None
        return True, hit[1]

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = (self.clock(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)


class PackageIndex(Protocol):
    def project(self, name: str) -> Project | None: ...


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _release(version: str, files: list[ReleaseFile], yanked_reason: str | None) -> Release:
    times = [f.upload_time for f in files if f.upload_time is not None]
    rp = next((f.requires_python for f in files if f.requires_python), None)
    return Release(
        version=version,
        upload_time=min(times) if times else None,
        # PyPI yanks per release but reports it per file: all files yanked == yanked.
        yanked=bool(files) and all(f.yanked for f in files),
        yanked_reason=yanked_reason,
        requires_python=rp,
        files=tuple(files),
    )


def project_from_json_api(doc: Mapping[str, Any]) -> Project:
    info = doc.get("info") or {}
    releases: dict[str, Release] = {}
    for version, files in (doc.get("releases") or {}).items():
        if not isinstance(files, list) or not files:
            continue  # a release without files cannot be installed
        parsed = [
            ReleaseFile(
                filename=str(f.get("filename", "")),
                sha256=(f.get("digests") or {}).get("sha256"),
                upload_time=_time(f.get("upload_time_iso_8601") or f.get("upload_time")),
                yanked=bool(f.get("yanked")),
                requires_python=f.get("requires_python") or None,
            )
            for f in files
            if isinstance(f, Mapping)
        ]
        reason = next((f.get("yanked_reason") for f in files if f.get("yanked_reason")), None)
        releases[str(version)] = _release(str(version), parsed, reason)
    urls = info.get("project_urls") or {}
    if info.get("home_page") and "Homepage" not in urls:
        urls = {**urls, "Homepage": info["home_page"]}
    return Project(
        name=normalize(str(info.get("name", ""))),
        releases=releases,
        project_urls={str(k): str(v) for k, v in urls.items()},
        ordered=_ordered(releases),
    )


def _version_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def project_from_pep691(doc: Mapping[str, Any]) -> Project:
    grouped: dict[str, list[ReleaseFile]] = {}
    reasons: dict[str, str] = {}
    for f in doc.get("files") or []:
        if not isinstance(f, Mapping):
            continue
        filename = str(f.get("filename", ""))
        version = _version_of(filename)
        if version is None:
            continue
        yanked = f.get("yanked", False)
        if isinstance(yanked, str):
            reasons[version] = yanked
        grouped.setdefault(version, []).append(
            ReleaseFile(
                filename=filename,
                sha256=(f.get("hashes") or {}).get("sha256"),
                upload_time=_time(f.get("upload-time")),
                yanked=bool(yanked),
                requires_python=f.get("requires-python") or None,
            )
        )
    releases = {v: _release(v, files, reasons.get(v)) for v, files in grouped.items()}
    return Project(
        name=normalize(str(doc.get("name", ""))),
        releases=releases,
        ordered=_ordered(releases),
    )


@dataclass
class PackageIndexClient:
    """``project(name)`` from the JSON API, falling back to PEP 691 JSON."""

    http: HttpClient
    json_url: str | None = DEFAULT_INDEX_URL
    simple_url: str | None = None
    memo: Memo | None = None

    def __post_init__(self) -> None:
        if self.memo is None:
            self.memo = Memo(self.http.ttl, self.http.clock)

    def peek(self, name: str) -> tuple[bool, Project | None]:
        """``(True, project)`` when a fresh answer is in memory (no I/O needed)."""
        assert self.memo is not None
        return self.memo.get(normalize(name))

    def project(self, name: str) -> Project | None:
        """The project, or ``None`` when the index does not know it -- or ``name`` is not a
        PEP 508 name: a repository's Pipfile/Poetry key (``%2e%2e/admin``, ``a b``) never
        becomes a path on the operator's index."""
        assert self.memo is not None
        if not valid_project_name(name):
            return None
        norm = normalize(name)
        fresh, hit = self.memo.get(norm)
        if fresh:
            self.http.stats.fresh_hits += 1
            return hit
        result = self._fetch(norm)
        self.memo.put(norm, result)
        return result

    def _fetch(self, norm: str) -> Project | None:
        try:
            if self.json_url:
                part = urllib.parse.quote(norm, safe="")  # already safe; quoted regardless
                doc = self.http.get_json(f"{self.json_url.rstrip('/')}/{part}/json")
                if doc is not None:
                    return project_from_json_api(doc)
            if self.simple_url:
                part = urllib.parse.quote(norm, safe="")
                doc = self.http.get_json(f"{self.simple_url.rstrip('/')}/{part}/", PEP691)
                if doc is not None:
                    return project_from_pep691(doc)
        except SourceUnavailable as exc:
            raise IndexUnavailable(f"package index: {exc}") from None
        except (AttributeError, TypeError) as exc:
            raise IndexUnavailable(
                f"package index: malformed answer ({type(exc).__name__})"
            ) from None
        return None


# --------------------------------------------------------------------------- advisories


@dataclass(frozen=True, slots=True)
class AffectedRange:
    introduced: str | None
    fixed: str | None
    last_affected: str | None

    def contains(self, version: Version) -> bool:
        low = self.introduced
        if low not in (None, "0") and version < _v(low):
            return False
        if self.fixed is not None and version >= _v(self.fixed):
            return False
        return not (self.last_affected is not None and version > _v(self.last_affected))


def _v(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


@dataclass(frozen=True)
class OsvResult(VulnerabilityResult):
    """pip-audit's result plus what OSV knows and pip-audit drops."""

    summary: str = ""
    severity: str | None = None
    ranges: tuple[AffectedRange, ...] = ()
    versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    fixed_versions: tuple[str, ...]
    severity: str | None
    ranges: tuple[AffectedRange, ...] = ()
    versions: tuple[str, ...] = ()

    def affects(self, version: str) -> bool:
        if self.ranges:
            v = _v(version)
            return version in self.versions or any(r.contains(v) for r in self.ranges)
        if self.versions:
            return version in self.versions
        return True  # nothing says where it ends: no known fix, so treat as affected


class AdvisoryService(Protocol):
    def advisories(self, name: str, version: str) -> Sequence[Advisory]: ...


OSV_BATCH_SIZE = 1000  # OSV's documented maximum queries per querybatch call


class OsvService(VulnerabilityService):
    """pip-audit service speaking OSV's API at a configurable URL.

    ``query`` uses ``/v1/query``. ``query_all`` (pip-audit's hook for bulk
    services) uses ``/v1/querybatch`` -- one request for a whole repository --
    then ``/v1/vulns/{id}`` for the details of each distinct advisory, which are
    cached with ETags like index answers. Batching is used when the configured
    URL ends in ``/query`` (so the sibling endpoints can be derived).
    """

    def __init__(self, http: HttpClient, url: str = DEFAULT_OSV_URL) -> None:
        self.http = http
        self.url = url
        base = url[: -len("/query")] if url.rstrip("/").endswith("/query") else None
        self.batch_url = f"{base}/querybatch" if base else None
        self.vulns_url = f"{base}/vulns/" if base else None

    def query_all(
        self, specs: Iterator[AuditDependency]
    ) -> Iterator[tuple[AuditDependency, list[VulnerabilityResult]]]:
        todo = list(specs)
        if self.batch_url is None or len(todo) < 2:
            yield from (self.query(spec) for spec in todo)
            return
        for start in range(0, len(todo), OSV_BATCH_SIZE):
            yield from self._batch(todo[start : start + OSV_BATCH_SIZE])

    def _batch(
        self, chunk: list[AuditDependency]
    ) -> Iterator[tuple[AuditDependency, list[VulnerabilityResult]]]:
        resolved = [cast(ResolvedDependency, s) for s in chunk if not s.is_skipped()]
        queries = [
            {"package": {"name": d.canonical_name, "ecosystem": "PyPI"}, "version": str(d.version)}
            for d in resolved
        ]
        assert self.batch_url is not None
        try:
            doc = self.http.post_json(self.batch_url, {"queries": queries})
        except SourceUnavailable as exc:
            raise ServiceError(str(exc)) from None
        results = doc.get("results") if isinstance(doc, Mapping) else None
        if not isinstance(results, list) or len(results) != len(resolved):
            raise ServiceError("advisory service: malformed batch answer")
        for dep, result in zip(resolved, results, strict=True):
            if not isinstance(result, Mapping) or result.get("next_page_token"):
                yield self.query(dep)  # a paged answer: ask for this one alone
                continue
            ids = [str(v["id"]) for v in result.get("vulns") or [] if isinstance(v, Mapping)]
            records = [self._vuln(i) for i in dict.fromkeys(ids)]
            found: list[VulnerabilityResult] = [
                _osv_result(r, dep.canonical_name)
                for r in records
                if r is not None and not r.get("withdrawn")
            ]
            yield dep, _share_between_aliases(found)
        for spec in chunk:
            if spec.is_skipped():
                yield spec, []

    def _vuln(self, vuln_id: str) -> Mapping[str, Any] | None:
        """One advisory record; ``None`` when it vanished between the two calls."""
        assert self.vulns_url is not None
        url = self.vulns_url + urllib.parse.quote(vuln_id, safe="")
        try:
            doc = self.http.get_json(url)
        except SourceUnavailable as exc:
            raise ServiceError(str(exc)) from None
        if doc is None:
            return None
        if not isinstance(doc, Mapping) or not doc.get("id"):
            raise ServiceError("advisory service: malformed advisory record")
        return doc

    def query(self, spec: AuditDependency) -> tuple[AuditDependency, list[VulnerabilityResult]]:
        if spec.is_skipped():
            return spec, []
        resolved = cast(ResolvedDependency, spec)
        payload = {
            "package": {"name": resolved.canonical_name, "ecosystem": "PyPI"},
            "version": str(resolved.version),
        }
        try:
            doc = self.http.post_json(self.url, payload)
        except SourceUnavailable as exc:
            raise ServiceError(str(exc)) from None
        results: list[VulnerabilityResult] = []
        vulns = doc.get("vulns", []) if isinstance(doc, Mapping) else None
        if not isinstance(vulns, list):
            raise ServiceError("advisory service: malformed answer")
        for vuln in vulns:
            if isinstance(vuln, Mapping) and not vuln.get("withdrawn") and vuln.get("id"):
                results.append(_osv_result(vuln, resolved.canonical_name))
        return spec, _share_between_aliases(results)


_SEVERITY_RANK = {"LOW": 1, "MODERATE": 2, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def _share_between_aliases(results: list[VulnerabilityResult]) -> list[VulnerabilityResult]:
    """Give aliased records the best severity and summary any of them has.

    pip-audit's Auditor keeps one record per alias set (PYSEC first), and PYSEC
    records usually lack the severity the GHSA record carries.
    """
    out: list[VulnerabilityResult] = []
    for result in results:
        if not isinstance(result, OsvResult):
            out.append(result)
            continue
        peers = [r for r in results if isinstance(r, OsvResult) and r.alias_of(result)]
        severity = max(
            (p.severity for p in peers if p.severity),
            key=lambda s: _SEVERITY_RANK.get(s, 0),
            default=None,
        )
        summary = result.summary or next((p.summary for p in peers if p.summary), "")
        out.append(replace(result, severity=severity, summary=summary))
    return out


def _osv_result(vuln: Mapping[str, Any], name: str) -> OsvResult:
    ranges: list[AffectedRange] = []
    versions: list[str] = []
    for affected in vuln.get("affected") or []:
        pkg = affected.get("package") or {}
        if pkg.get("ecosystem") != "PyPI" or normalize(str(pkg.get("name", ""))) != name:
            continue
        versions.extend(str(v) for v in affected.get("versions") or [])
        for rng in affected.get("ranges") or []:
            if rng.get("type") != "ECOSYSTEM":
                continue
            ranges.extend(_ranges(rng.get("events") or []))
    summary = str(vuln.get("summary") or vuln.get("details") or "").replace("\n", " ")[:300]
    severity = (vuln.get("database_specific") or {}).get("severity")
    ids = [str(vuln["id"]), *(str(a) for a in vuln.get("aliases") or [])]
    base = VulnerabilityResult.create(
        ids=ids,
        description=summary or "N/A",
        fix_versions=sorted(_v(r.fixed) for r in ranges if r.fixed),
        published=None,
    )
    return OsvResult(
        id=base.id,
        description=base.description,
        fix_versions=base.fix_versions,
        aliases=base.aliases,
        summary=summary,
        severity=str(severity).upper() if severity else None,
        ranges=tuple(ranges),
        versions=tuple(versions),
    )


def _ranges(events: list[Mapping[str, Any]]) -> Iterator[AffectedRange]:
    introduced: str | None = None
    open_range = False
    for event in events:
        if "introduced" in event:
            if open_range:
                yield AffectedRange(introduced, None, None)
            introduced, open_range = str(event["introduced"]), True
        elif "fixed" in event:
            yield AffectedRange(introduced, str(event["fixed"]), None)
            open_range = False
        elif "last_affected" in event:
            yield AffectedRange(introduced, None, str(event["last_affected"]))
            open_range = False
    if open_range:
        yield AffectedRange(introduced, None, None)


class _Pins(DependencySource):
    """A pip-audit dependency source of exact pins read from manifests (never installed)."""

    def __init__(self, pins: Sequence[tuple[str, str]]) -> None:
        self._deps = [ResolvedDependency(name=n, version=Version(v)) for n, v in pins]

    def collect(self) -> Iterator[AuditDependency]:
        yield from self._deps

    def fix(self, fix_version: ResolvedFixVersion) -> None:  # pragma: no cover - never fixes
        raise NotImplementedError("Patchwell edits manifests itself")


@dataclass
class AdvisoryClient:
    """``advisories(name, version)`` through pip-audit's :class:`Auditor`."""

    service: OsvService
    memo: Memo | None = None

    def __post_init__(self) -> None:
        if self.memo is None:
            self.memo = Memo(self.service.http.ttl, self.service.http.clock)

    def peek(self, name: str, version: str) -> tuple[bool, list[Advisory] | None]:
        assert self.memo is not None
        return self.memo.get(f"{normalize(name)}=={version}")

    def advisories(self, name: str, version: str) -> list[Advisory]:
        assert self.memo is not None
        key = f"{normalize(name)}=={version}"
        fresh, hit = self.memo.get(key)
        if fresh:
            return list(hit)
        result = self._audit(name, version)
        self.memo.put(key, tuple(result))
        return result

    def _audit(self, name: str, version: str) -> list[Advisory]:
        try:
            source = _Pins([(name, version)])
        except InvalidVersion:
            return []
        auditor = Auditor(self.service)
        try:
            found = [v for _dep, vulns in auditor.audit(source) for v in vulns]
        except ServiceError as exc:
            raise AdvisoriesUnavailable(f"advisory service: {exc}") from None
        return [_advisory(v) for v in found]

    def prefetch(self, pins: Sequence[tuple[str, str]]) -> None:
        """Audit many pins in one pip-audit run (one OSV batch request) and keep the answers.

        Raises :class:`AdvisoriesUnavailable` when the service fails; callers then
        fall back to per-pin queries, which report per pin.
        """
        assert self.memo is not None
        wanted = []
        for name, version in pins:
            fresh, _hit = self.memo.get(f"{normalize(name)}=={version}")
            if not fresh:
                try:
                    Version(version)
                except InvalidVersion:
                    continue
                wanted.append((name, version))
        if len(wanted) < 2:
            return
        try:
            audited = list(Auditor(self.service).audit(_Pins(wanted)))
        except ServiceError as exc:
            raise AdvisoriesUnavailable(f"advisory service: {exc}") from None
        for dep, vulns in audited:
            version = str(cast(ResolvedDependency, dep).version)
            self.memo.put(f"{dep.canonical_name}=={version}", tuple(_advisory(v) for v in vulns))


def _advisory(result: VulnerabilityResult) -> Advisory:
    extra = result if isinstance(result, OsvResult) else None
    return Advisory(
        id=str(result.id),
        aliases=tuple(sorted(str(a) for a in result.aliases)),
        summary=extra.summary if extra else result.description,
        fixed_versions=tuple(str(v) for v in result.fix_versions),
        severity=extra.severity if extra else None,
        ranges=extra.ranges if extra else (),
        versions=extra.versions if extra else (),
    )


# --------------------------------------------------------------------------- actions


class ActionsCatalog(Protocol):
    """Tags of an action repository: GitHub data, so injected (fixers never call GitHub)."""

    def tags(self, owner: str, repo: str) -> Sequence[tuple[str, str]]:
        """(tag name, commit SHA) pairs; empty when the repository is unknown."""
        ...


@dataclass(frozen=True)
class StaticActionsCatalog:
    """A catalog from a mapping ``"owner/repo" -> [(tag, sha), ...]`` (CLI runs, tests)."""

    data: Mapping[str, Sequence[tuple[str, str]]]

    def tags(self, owner: str, repo: str) -> Sequence[tuple[str, str]]:
        return self.data.get(f"{owner}/{repo}".lower(), ())


# --------------------------------------------------------------------------- wiring


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    creds = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    return clean, creds


def simple_index_from_env(env: Mapping[str, str]) -> tuple[str | None, tuple[str, str] | None]:
    """The operator's PEP 503/691 index URL (credentials split off) and its credentials:
    what the sandboxed resolver (uv) may talk to, and nothing else."""
    index_url, url_creds = _split_credentials(env.get("PATCHWELL_INDEX_URL") or DEFAULT_INDEX_URL)
    user, password = env.get("PATCHWELL_INDEX_USERNAME"), env.get("PATCHWELL_INDEX_PASSWORD")
    creds = (user, password or "") if user else url_creds
    stripped = index_url.rstrip("/")
    if stripped.endswith("/simple"):
        return stripped, creds
    explicit = env.get("PATCHWELL_INDEX_SIMPLE_URL")
    if explicit:
        clean, explicit_creds = _split_credentials(explicit)
        return clean.rstrip("/"), creds or explicit_creds
    if stripped.endswith("/pypi"):
        return stripped[: -len("/pypi")] + "/simple", creds
    return None, creds


def sources_from_env(
    env: Mapping[str, str], *, cache_dir: Path | None, clock: Callable[[], float] = time.time
) -> tuple[PackageIndexClient, AdvisoryClient]:
    """Index and advisory clients configured from the environment (see module doc)."""
    index_url, url_creds = _split_credentials(env.get("PATCHWELL_INDEX_URL") or DEFAULT_INDEX_URL)
    user, password = env.get("PATCHWELL_INDEX_USERNAME"), env.get("PATCHWELL_INDEX_PASSWORD")
    creds = (user, password or "") if user else url_creds
    try:
        ttl = float(env.get("PATCHWELL_HTTP_CACHE_TTL") or DEFAULT_TTL)
    except ValueError:
        ttl = DEFAULT_TTL
    cache = HttpCache(cache_dir)
    stripped = index_url.rstrip("/")
    if stripped.endswith("/simple"):
        json_url, simple_url = None, stripped
    else:
        json_url = stripped
        simple_url = env.get("PATCHWELL_INDEX_SIMPLE_URL") or (
            stripped[: -len("/pypi")] + "/simple" if stripped.endswith("/pypi") else None
        )
    index_http = HttpClient(
        cache=cache,
        ttl=ttl,
        clock=clock,
        auth=creds,
        auth_host=urllib.parse.urlsplit(index_url).netloc if creds else None,
    )
    osv_http = HttpClient(cache=cache, ttl=ttl, clock=clock)
    osv = OsvService(osv_http, env.get("PATCHWELL_OSV_URL") or DEFAULT_OSV_URL)
    return PackageIndexClient(index_http, json_url, simple_url), AdvisoryClient(osv)
