"""A local fake package index (PyPI JSON API, PEP 503 HTML and PEP 691 JSON simple
pages, real distribution files) and fake OSV, on 127.0.0.1.

It stands in for the outside world only: pypi.org and api.osv.dev. Tests and the
benchmark drive Patchwell's real HTTP clients -- and the real ``uv`` -- against it.
Every file it lists exists: wheels and sdists are built in memory from the release's
metadata alone (``Requires-Dist``, ``Requires-Python``), so a resolver can really
resolve against it; wheels' core metadata is served on its own (PEP 658/714). It
counts requests, answers conditional requests with ETags like the real services,
and can be told to fail or to require credentials.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import io
import json
import re
import tarfile
import threading
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from packaging.version import InvalidVersion, Version

PEP691 = "application/vnd.pypi.simple.v1+json"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class FakeRelease:
    version: str
    uploaded: datetime
    yanked: bool = False
    yanked_reason: str | None = None
    requires_python: str | None = None
    filenames: tuple[str, ...] = ()
    with_digests: bool = True  # False: an index that publishes no hashes
    requires_dist: tuple[str, ...] = ()
    #: Extra files put in the sdist (``setup.py`` that would write a marker if built).
    sdist_files: tuple[tuple[str, str], ...] = ()
    #: False: the JSON API says ``requires_dist: null`` (PyPI does for many sdist-only
    #: uploads), so a client must read the files to learn the dependencies.
    json_requires_dist: bool = True
    #: False: an sdist without ``PKG-INFO`` (its metadata is only known by building it).
    sdist_pkg_info: bool = True

    def names(self, project: str) -> tuple[str, ...]:
        stem = project.replace("-", "_")
        return self.filenames or (
            f"{stem}-{self.version}-py3-none-any.whl",
            f"{stem}-{self.version}.tar.gz",
        )

    def metadata(self, project: str) -> bytes:
        lines = ["Metadata-Version: 2.1", f"Name: {project}", f"Version: {self.version}"]
        if self.requires_python:
            lines.append(f"Requires-Python: {self.requires_python}")
        lines += [f"Requires-Dist: {r}" for r in self.requires_dist]
        return ("\n".join(lines) + "\n").encode()

    def artifact(self, project: str, filename: str) -> bytes:
        """The bytes of one distribution file (deterministic: fixed timestamps)."""
        if filename.endswith(".whl"):
            return _wheel(project, self.version, self.metadata(project))
        metadata = self.metadata(project) if self.sdist_pkg_info else None
        return _sdist(project, self.version, metadata, self.sdist_files)

    def files(self, project: str) -> list[tuple[str, str]]:
        """(filename, sha256 of the real file)."""
        return [
            (n, hashlib.sha256(self.artifact(project, n)).hexdigest()) for n in self.names(project)
        ]


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(project: str, version: str, metadata: bytes) -> bytes:
    stem = project.replace("-", "_")
    info = f"{stem}-{version}.dist-info"
    members = {
        f"{stem}/__init__.py": b"",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: fakeindex\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{p},{_record_hash(c)},{len(c)}\n" for p, c in members.items())
    members[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, content in members.items():
            zf.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), content)
    return buf.getvalue()


def _sdist(
    project: str, version: str, metadata: bytes | None, extra: tuple[tuple[str, str], ...]
) -> bytes:
    root = f"{project.replace('-', '_')}-{version}"
    members = [("PKG-INFO", metadata)] if metadata is not None else []
    members += [(p, c.encode()) for p, c in extra]
    buf = io.BytesIO()
    # gzip's own header has a timestamp too: fixed, so two indexes serve the same bytes
    # (a lock made on one checks against another).
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf,
    ):
        for path, content in members:
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size, info.mtime = len(content), 1577836800
            tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@dataclass
class FakeProject:
    name: str
    releases: list[FakeRelease]
    project_urls: dict[str, str] = field(default_factory=dict)
    summary: str = ""


@dataclass
class FakeVuln:
    """An OSV record; ``ranges`` are (introduced, fixed-or-None) pairs."""

    id: str
    package: str
    ranges: list[tuple[str, str | None]]
    aliases: list[str] = field(default_factory=list)
    summary: str = ""
    severity: str | None = None

    def affects(self, version: str) -> bool:
        try:
            v = Version(version)
        except InvalidVersion:
            return False
        for introduced, fixed in self.ranges:
            low = Version("0") if introduced == "0" else Version(introduced)
            if v >= low and (fixed is None or v < Version(fixed)):
                return True
        return False

    def as_osv(self) -> dict[str, Any]:
        events: list[dict[str, str]] = []
        for introduced, fixed in self.ranges:
            events.append({"introduced": introduced})
            if fixed is not None:
                events.append({"fixed": fixed})
        record: dict[str, Any] = {
            "id": self.id,
            "aliases": self.aliases,
            "summary": self.summary,
            "modified": "2026-01-01T00:00:00Z",
            "published": "2025-06-01T00:00:00Z",
            "affected": [
                {
                    "package": {"name": self.package, "ecosystem": "PyPI"},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                }
            ],
        }
        if self.severity:
            record["database_specific"] = {"severity": self.severity}
        return record


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeIndex:
    """State plus a ThreadingHTTPServer. Use as a context manager or via the pytest plugin."""

    def __init__(self) -> None:
        self.projects: dict[str, FakeProject] = {}
        self.vulns: list[FakeVuln] = []
        self.requests: Counter[str] = Counter()
        self.osv_queries: list[dict[str, Any]] = []
        self.fail_osv = False
        self.fail_index = False
        self.json_api = True  # False: only PEP 691 (like many private indexes)
        self.credentials: tuple[str, str] | None = None
        #: Authorization headers seen on /simple and /files (for "no credential leaks").
        self.auth_seen: list[str | None] = []
        #: Cache-Control max-age of simple pages (PyPI sends 600); None sends none.
        self.simple_max_age: int | None = 600
        self._artifacts: dict[tuple[str, str, str], bytes] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- state -------------------------------------------------------------
    def add_project(
        self,
        name: str,
        releases: Iterable[FakeRelease],
        *,
        project_urls: Mapping[str, str] | None = None,
        summary: str = "",
    ) -> FakeProject:
        project = FakeProject(name, list(releases), dict(project_urls or {}), summary)
        self.projects[_norm(name)] = project
        return project

    def add_vuln(self, vuln: FakeVuln) -> None:
        self.vulns.append(vuln)

    def artifact(self, project: FakeProject, rel: FakeRelease, filename: str) -> bytes:
        """A release file's bytes, built once per index."""
        key = (_norm(project.name), rel.version, filename)
        with self._lock:
            hit = self._artifacts.get(key)
        if hit is None:
            hit = rel.artifact(_norm(project.name), filename)
            with self._lock:
                self._artifacts[key] = hit
        return hit

    def digests(self, project: FakeProject, rel: FakeRelease) -> list[tuple[str, str]]:
        return [
            (n, hashlib.sha256(self.artifact(project, rel, n)).hexdigest())
            for n in rel.names(_norm(project.name))
        ]

    def find_file(self, filename: str) -> tuple[FakeProject, FakeRelease] | None:
        for project in self.projects.values():
            for rel in project.releases:
                if filename in rel.names(_norm(project.name)):
                    return project, rel
        return None

    def resolver_requests(self) -> int:
        """Requests for simple pages and files: what a resolver (uv) asks."""
        with self._lock:
            return sum(n for p, n in self.requests.items() if p.startswith(("/simple", "/files")))

    def total_requests(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- server ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeIndex not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def json_url(self) -> str:
        return f"{self.base_url}/pypi"

    @property
    def simple_url(self) -> str:
        return f"{self.base_url}/simple"

    @property
    def osv_url(self) -> str:
        return f"{self.base_url}/osv/v1/query"

    def env(self) -> dict[str, str]:
        return {"PATCHWELL_INDEX_URL": self.json_url, "PATCHWELL_OSV_URL": self.osv_url}

    def start(self) -> FakeIndex:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval keeps shutdown (once per test) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeIndex:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- documents ---------------------------------------------------------
    def project_json(self, project: FakeProject) -> dict[str, Any]:
        releases: dict[str, list[dict[str, Any]]] = {}
        for rel in project.releases:
            releases[rel.version] = [
                {
                    "filename": fname,
                    "digests": {"sha256": digest} if rel.with_digests else {},
                    "upload_time_iso_8601": _iso(rel.uploaded),
                    "yanked": rel.yanked,
                    "yanked_reason": rel.yanked_reason,
                    "requires_python": rel.requires_python,
                    "packagetype": "bdist_wheel" if fname.endswith(".whl") else "sdist",
                    "url": f"{self.base_url}/files/{fname}",
                }
                for fname, digest in self.digests(project, rel)
            ]
        latest = max(
            (r for r in project.releases if not r.yanked and not Version(r.version).is_prerelease),
            key=lambda r: Version(r.version),
            default=project.releases[-1] if project.releases else None,
        )
        return {
            "info": {
                "name": project.name,
                "version": latest.version if latest else None,
                "summary": project.summary,
                "requires_python": latest.requires_python if latest else None,
                "project_urls": project.project_urls or None,
                "yanked": False,
            },
            "releases": releases,
            "urls": releases.get(latest.version, []) if latest else [],
        }

    def release_json(self, project: FakeProject, rel: FakeRelease) -> dict[str, Any]:
        """``/pypi/<name>/<version>/json`` (what Poetry reads for each candidate)."""
        doc = self.project_json(project)
        urls = doc["releases"][rel.version]
        info = {
            **doc["info"],
            "version": rel.version,
            "requires_python": rel.requires_python,
            "requires_dist": list(rel.requires_dist) if rel.json_requires_dist else None,
            "yanked": rel.yanked,
            "yanked_reason": rel.yanked_reason,
        }
        return {"info": info, "urls": urls}

    def project_simple(self, project: FakeProject) -> dict[str, Any]:
        files = []
        for rel in project.releases:
            meta = hashlib.sha256(rel.metadata(_norm(project.name))).hexdigest()
            for fname, digest in self.digests(project, rel):
                entry: dict[str, Any] = {
                    "filename": fname,
                    "url": f"{self.base_url}/files/{fname}",
                    "hashes": {"sha256": digest} if rel.with_digests else {},
                    "upload-time": _iso(rel.uploaded),
                    "yanked": (rel.yanked_reason or True) if rel.yanked else False,
                }
                if rel.requires_python:
                    entry["requires-python"] = rel.requires_python
                if fname.endswith(".whl"):
                    entry["core-metadata"] = {"sha256": meta}
                files.append(entry)
        return {
            "meta": {"api-version": "1.1"},
            "name": _norm(project.name),
            "files": files,
            "versions": [r.version for r in project.releases],
        }

    def project_html(self, project: FakeProject) -> str:
        """The PEP 503 page (what pip reads), with PEP 592/658/714 attributes."""
        links = []
        for rel in project.releases:
            meta = hashlib.sha256(rel.metadata(_norm(project.name))).hexdigest()
            for fname, digest in self.digests(project, rel):
                href = f"{self.base_url}/files/{fname}"
                if rel.with_digests:
                    href += f"#sha256={digest}"
                attrs = f'href="{html.escape(href)}"'
                if rel.requires_python:
                    attrs += f' data-requires-python="{html.escape(rel.requires_python)}"'
                if rel.yanked:
                    attrs += f' data-yanked="{html.escape(rel.yanked_reason or "")}"'
                if fname.endswith(".whl"):
                    attrs += f' data-core-metadata="sha256={meta}"'
                    attrs += f' data-dist-info-metadata="sha256={meta}"'
                links.append(f"<a {attrs}>{html.escape(fname)}</a><br/>")
        body = "\n".join(links)
        return f"<!DOCTYPE html>\n<html><body>\n<h1>{project.name}</h1>\n{body}\n</body></html>\n"

    def osv_batch_answer(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``/v1/querybatch``: per query only ids and modified times, like OSV."""
        results = []
        for query in body.get("queries") or []:
            vulns = self.osv_answer(query).get("vulns", [])
            results.append({"vulns": [{"id": v["id"], "modified": v["modified"]} for v in vulns]})
        return {"results": results}

    def osv_record(self, vuln_id: str) -> dict[str, Any] | None:
        return next((v.as_osv() for v in self.vulns if v.id == vuln_id), None)

    def osv_answer(self, query: Mapping[str, Any]) -> dict[str, Any]:
        pkg = query.get("package", {})
        name = _norm(str(pkg.get("name", "")))
        version = str(query.get("version", ""))
        vulns = [v.as_osv() for v in self.vulns if _norm(v.package) == name and v.affects(version)]
        return {"vulns": vulns} if vulns else {}


def _make_handler(index: FakeIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _count(self) -> None:
            with index._lock:
                index.requests[self.path.split("?")[0]] += 1

        def _send(
            self,
            status: int,
            body: bytes = b"",
            ctype: str = "application/json",
            etag: str | None = None,
            max_age: int | None = None,
        ) -> None:
            self.send_response(status)
            if body or status == 200:
                self.send_header("Content-Type", ctype)
            if etag:
                self.send_header("ETag", etag)
            if max_age is not None:  # PyPI: simple pages 600 s, files a year (immutable)
                self.send_header("Cache-Control", f"max-age={max_age}, public")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _authorised(self) -> bool:
            if index.credentials is None:
                return True
            user, pw = index.credentials
            expected = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
            return self.headers.get("Authorization") == expected

        def _json_document(
            self, doc: Any, ctype: str = "application/json", max_age: int | None = None
        ) -> None:
            body = json.dumps(doc, sort_keys=True).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, etag=etag, max_age=max_age)
            else:
                self._send(200, body, ctype, etag, max_age)

        def do_GET(self) -> None:
            self._count()
            m = re.fullmatch(r"/osv/v1/vulns/([^/]+)", self.path)
            if m:
                if index.fail_osv:
                    self._send(503, b'{"message": "unavailable"}')
                    return
                record = index.osv_record(m.group(1))
                if record is None:
                    self._send(404, b'{"message": "Bug not found."}')
                else:
                    self._json_document(record)
                return
            if index.fail_index:
                self._send(503, b'{"message": "unavailable"}')
                return
            if not self._authorised():
                self._send(401, b'{"message": "unauthorised"}')
                return
            m = re.fullmatch(r"/pypi/([^/]+)/json/?", self.path)
            if m and index.json_api:
                project = index.projects.get(_norm(m.group(1)))
                if project is None:
                    self._send(404, b'{"message": "Not Found"}')
                else:
                    self._json_document(index.project_json(project))
                return
            m = re.fullmatch(r"/pypi/([^/]+)/([^/]+)/json/?", self.path)
            if m and index.json_api:
                project = index.projects.get(_norm(m.group(1)))
                rel = next(
                    (r for r in project.releases if r.version == m.group(2)) if project else (),
                    None,
                )
                if project is None or rel is None:
                    self._send(404, b'{"message": "Not Found"}')
                else:
                    self._json_document(index.release_json(project, rel))
                return
            m = re.fullmatch(r"/simple/([^/]+)/?", self.path)
            if m:
                with index._lock:
                    index.auth_seen.append(self.headers.get("Authorization"))
                project = index.projects.get(_norm(m.group(1)))
                if project is None:
                    self._send(404, b'{"message": "Not Found"}')
                elif PEP691 not in self.headers.get("Accept", ""):
                    page = index.project_html(project).encode()
                    self._send(200, page, "text/html; charset=utf-8", max_age=index.simple_max_age)
                else:
                    self._json_document(
                        index.project_simple(project), PEP691, max_age=index.simple_max_age
                    )
                return
            m = re.fullmatch(r"/files/([^/]+?)(\.metadata)?", self.path)
            if m:
                found = index.find_file(m.group(1))
                if found is None:
                    self._send(404, b"")
                    return
                project, rel = found
                if m.group(2):
                    body = rel.metadata(_norm(project.name))
                else:
                    body = index.artifact(project, rel, m.group(1))
                self._send(200, body, "application/octet-stream", max_age=31_536_000)
                return
            self._send(404, b'{"message": "Not Found"}')

        def do_POST(self) -> None:
            self._count()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path not in ("/osv/v1/query", "/osv/v1/querybatch"):
                self._send(404, b"{}")
                return
            if index.fail_osv:
                self._send(503, b'{"message": "unavailable"}')
                return
            try:
                query = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, b'{"message": "bad json"}')
                return
            if self.path.endswith("/querybatch"):
                with index._lock:
                    index.osv_queries.extend(query.get("queries") or [])
                self._send(200, json.dumps(index.osv_batch_answer(query)).encode())
                return
            with index._lock:
                index.osv_queries.append(query)
            self._send(200, json.dumps(index.osv_answer(query)).encode())

    return Handler
