"""The facts' data model, the convention tables and the path predicates every reader shares."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from fixers.contract import Snapshot, mask, matches_any

# Bigger files are skipped with a note: generated bundles and data dumps say nothing
# about production and would make a scan slow on hostile input.
MAX_FILE_BYTES = 512_000
# Bound on YAML nodes walked per file: aliases can make a small file a huge tree.
_MAX_YAML_NODES = 20_000

Requirement = Literal["required", "defaulted", "optional"]
Origin = Literal["python", "javascript", "library", "compose", "procfile", "workflow"]
_CODE_ORIGINS: frozenset[str] = frozenset({"python", "javascript", "library"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Source:
    """Where a fact was found; ``str()`` gives ``path:line`` (or just ``path``)."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        # Paths are quoted in Markdown and in .env.example comments: a hostile file name
        # (git allows newlines and backticks) must not start a new line or end a code span.
        path = "".join(c if c.isprintable() and c != "`" else "?" for c in self.path)
        return f"{path}:{self.line}" if self.line else path


@dataclass(frozen=True, slots=True)
class EnvRead:
    """One place an environment variable *name* is read or needed."""

    name: str
    source: Source
    requirement: Requirement
    origin: Origin
    production: bool = True
    #: The code gives the variable its value itself (``os.environ.setdefault``), as
    #: Django's ``manage.py`` does for ``DJANGO_SETTINGS_MODULE``: no deploy sets it.
    set_by_code: bool = False

    @property
    def from_code(self) -> bool:
        """Read by the application's own code (or a library it imports)."""
        return self.origin in _CODE_ORIGINS


@dataclass(frozen=True, slots=True)
class Fact:
    value: str
    source: Source


@dataclass(frozen=True, slots=True)
class Process:
    """A process type (``web``, ``worker``, ``release``) and its (masked) command."""

    name: str
    command: str
    source: Source


@dataclass(frozen=True, slots=True)
class Workflow:
    path: str
    name: str
    triggers: tuple[str, ...]
    runs_tests: Source | None = None
    #: A step (or a job named ``deploy``) that deploys: never one that only publishes.
    deploys: Source | None = None
    #: A step that pushes an image to a registry (``docker/build-push-action`` with ``push``).
    publishes: Source | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A file that was not read, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class RepoFacts:
    env_reads: tuple[EnvRead, ...] = ()
    processes: tuple[Process, ...] = ()
    release: tuple[Process, ...] = ()
    runtimes: tuple[Fact, ...] = ()
    frameworks: tuple[Fact, ...] = ()
    ports: tuple[Fact, ...] = ()
    health_paths: tuple[Fact, ...] = ()
    databases: tuple[Fact, ...] = ()
    migration_tools: tuple[Fact, ...] = ()
    #: A command that runs migrations, where a deploy file or start script runs it
    #: (``flask db upgrade`` -- ``boot.sh:5``): the value is the command itself.
    migration_runs: tuple[Fact, ...] = ()
    deploy_markers: tuple[Fact, ...] = ()
    #: Hosting platforms the repository shows (value: the platform's name, source: its
    #: manifest or the deploy step): the evidence for a name the platform sets.
    platforms: tuple[Fact, ...] = ()
    #: Env files the project loads (``.env`` by python-dotenv, ``.env.prod`` by a
    #: compose ``env_file:``): value is the file name, source where it is loaded.
    env_files: tuple[Fact, ...] = ()
    workflows: tuple[Workflow, ...] = ()
    notes: tuple[Note, ...] = ()
    #: ``cookiecutter.json``/``copier.yml`` or a ``{{...}}`` folder: this repository
    #: *generates* projects; its files are templates, not a running app.
    template_generator: Source | None = None
    #: A package build (``[build-system]`` + ``[project]``, ``setup.py``): with nothing
    #: that deploys, a library, whose users pick the Python and the configuration.
    packaged: Source | None = None
    #: Steps that push an image (value: the image repository, ``""`` when not literal).
    publishes: tuple[Fact, ...] = ()
    #: Evidence the repository deploys itself: a platform, a deploy step, infrastructure
    #: files, a production compose file. An image it publishes is then its own app's.
    own_deploys: tuple[Fact, ...] = ()
    #: Where the repository shows its product is the image it publishes (a README
    #: ``FROM`` of a pushed image, Dockerfiles per versioned variant).
    image_product: Source | None = None

    @property
    def published_artifact(self) -> Source | None:
        """Where a repository that only *publishes* an image shows that image is its product.

        Its consumers deploy the image; it runs no production of its own to write a
        contract for (tiangolo/uwsgi-nginx-flask-docker: the Flask app is the demo).
        """
        if not self.publishes or self.own_deploys:
            return None
        return self.image_product

    def platform_setting(self, name: str) -> Fact | None:
        """The platform fact that says production sets ``name`` itself, or ``None``.

        A platform sets ``PORT`` or ``DATABASE_URL`` only where the app runs on it: the
        repository must show that platform (its manifest), not merely read the name.
        """
        spec = platform_names().get(name)
        if spec is None or not spec.set_by_platform:
            return None
        return next((p for p in self.platforms if p.value in spec.platforms), None)

    @property
    def library(self) -> bool:
        return self.packaged is not None and not self.deploys

    @property
    def deploys(self) -> bool:
        """A platform manifest, a deploy workflow or a web app that is created in code."""
        return bool(self.deploy_markers or self.frameworks)

    def code_env(self, *, production_only: bool = True) -> dict[str, EnvRead]:
        """First read of each name by the code itself, in a stable order.

        A required read wins over a defaulted one so the first citation shown is
        the one that makes the name necessary.
        """
        chosen: dict[str, EnvRead] = {}
        rank = {"required": 0, "optional": 1, "defaulted": 2}
        for read in self.env_reads:
            if not read.from_code or (production_only and not read.production):
                continue
            best = chosen.get(read.name)
            if best is None or rank[read.requirement] < rank[best.requirement]:
                chosen[read.name] = read
        return dict(sorted(chosen.items()))


@dataclass(frozen=True, slots=True)
class PlatformName:
    name: str
    set_by_platform: bool
    #: The platforms (``deploy.platforms`` names) that set it; evidence of one is needed.
    platforms: tuple[str, ...]
    #: Set by CI systems (``CI``, ``GITHUB_TOKEN``): never production configuration.
    set_by_ci: bool
    read_by: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Framework:
    name: str
    module: str
    app_call: str
    default_port: int


@dataclass(frozen=True, slots=True)
class Database:
    name: str
    modules: tuple[str, ...]
    django_engines: tuple[str, ...]
    images: tuple[str, ...]
    kind: str = "database"  # or "cache" (Redis: a cache or a queue, not the app's data)


@dataclass(frozen=True, slots=True)
class MigrationTool:
    name: str
    files: tuple[str, ...]
    #: What running the tool looks like in a command line (``flask db upgrade``).
    commands: tuple[str, ...]
    #: Text the marker file must hold (lower-cased), ``""`` for none.
    contains: str = ""


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    files: tuple[str, ...]
    commands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Conventions:
    """The contents of ``fixers/data/production_facts.toml``."""

    vendored: tuple[str, ...]
    non_production: tuple[str, ...]
    dev_settings: tuple[str, ...]
    manifests: tuple[str, ...]
    deploy_actions: tuple[str, ...]
    deploy_commands: tuple[str, ...]
    test_commands: tuple[str, ...]
    deploy_job_words: tuple[str, ...]
    deploy_not_app: tuple[str, ...]
    publish_actions: tuple[str, ...]
    publish_commands: tuple[str, ...]
    publish_build_commands: tuple[str, ...]
    publish_helper_actions: tuple[str, ...]
    publish_helper_commands: tuple[str, ...]
    infrastructure: tuple[str, ...]
    production_words: tuple[str, ...]
    readmes: tuple[str, ...]
    variant_runtimes: tuple[str, ...]
    frameworks: tuple[Framework, ...]
    health_paths: tuple[str, ...]
    databases: tuple[Database, ...]
    migration_tools: tuple[MigrationTool, ...]
    platforms: tuple[Platform, ...]


def _load_data(name: str) -> dict[str, Any]:
    return tomllib.loads((resources.files("fixers") / "data" / name).read_text("utf-8"))


# Cached because the tables are read-only package data and immutable once loaded.
@lru_cache(maxsize=1)
def conventions() -> Conventions:
    raw = _load_data("production_facts.toml")
    paths, deploy, artifact = raw["paths"], raw["deploy"], raw["artifact"]
    return Conventions(
        vendored=tuple(paths["vendored"]),
        non_production=tuple(paths["non-production"]),
        dev_settings=tuple(paths["dev-settings"]),
        manifests=tuple(deploy["manifests"]),
        deploy_actions=tuple(deploy["actions"]),
        deploy_commands=tuple(deploy["commands"]),
        test_commands=tuple(deploy["test-commands"]),
        deploy_job_words=tuple(deploy["job-words"]),
        deploy_not_app=tuple(deploy["not-app"]),
        publish_actions=tuple(deploy["publish-actions"]),
        publish_commands=tuple(deploy["publish-commands"]),
        publish_build_commands=tuple(deploy["publish-build-commands"]),
        publish_helper_actions=tuple(deploy["publish-helper-actions"]),
        publish_helper_commands=tuple(deploy["publish-helper-commands"]),
        infrastructure=tuple(deploy["infrastructure"]),
        production_words=tuple(deploy["production-words"]),
        readmes=tuple(artifact["readmes"]),
        variant_runtimes=tuple(artifact["variant-runtimes"]),
        frameworks=tuple(
            Framework(f["name"], f["module"], f["app-call"], int(f["default-port"]))
            for f in raw["framework"]
        ),
        health_paths=tuple(raw["health"]["paths"]),
        databases=tuple(
            Database(
                d["name"],
                tuple(d["modules"]),
                tuple(d["django-engines"]),
                tuple(d["images"]),
                d.get("kind", "database"),
            )
            for d in raw["database"]
        ),
        migration_tools=tuple(
            MigrationTool(m["name"], tuple(m["files"]), tuple(m["commands"]), m.get("contains", ""))
            for m in raw["migration-tool"]
        ),
        platforms=tuple(
            Platform(p["name"], tuple(p["files"]), tuple(p.get("commands", ())))
            for p in deploy["platforms"]
        ),
    )


@lru_cache(maxsize=1)
def platform_names() -> dict[str, PlatformName]:
    """``fixers/data/platform_env.toml``: names set by platforms or read by libraries."""
    raw = _load_data("platform_env.toml")
    return {
        n["name"]: PlatformName(
            name=n["name"],
            set_by_platform=bool(n.get("set-by-platform", False)),
            platforms=tuple(n.get("platforms", ())),
            set_by_ci=bool(n.get("set-by-ci", False)),
            read_by=tuple(n.get("read-by", ())),
            sources=tuple(n.get("sources", ())),
        )
        for n in raw["name"]
    }


# --------------------------------------------------------------------------- paths


def is_vendored(path: str) -> bool:
    return matches_any(path, conventions().vendored)


def is_production_path(path: str) -> bool:
    """False for tests, docs, examples and benchmarks: code that never runs in production."""
    return not matches_any(path, conventions().non_production)


def is_dev_settings(path: str) -> bool:
    """A settings module that only runs on a developer's machine (``settings/dev.py``...)."""
    return matches_any(path, conventions().dev_settings)


def valid_env_name(name: str) -> bool:
    """Only plain identifiers become env names: hostile strings never reach a file we write."""
    return _ENV_NAME.fullmatch(name) is not None


# Only a whole shell word ``NAME=value`` is an assignment; ``--bind=...`` is a flag.
_ASSIGNMENT = re.compile(r"(?:(?<=\s)|^)([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S+)")
_URL_CREDENTIALS = re.compile(r"(?<!\w)(\w+://)([^/\s:@]++):([^/\s@]++)@")


def safe_command(command: str, limit: int = 200) -> str:
    """A command fit to quote in a PR: inline assignments and URL passwords masked, bounded."""
    # One line, no backticks: the text is quoted inside Markdown code spans.
    text = " ".join(command.split()).replace("`", "'")
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}:{mask(m.group(3))}@", text)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}={mask(m.group(2))}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Collector:
    """Mutable accumulator used only inside one :func:`extract_facts` call."""

    env: list[EnvRead] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    release: list[Process] = field(default_factory=list)
    runtimes: list[Fact] = field(default_factory=list)
    frameworks: list[Fact] = field(default_factory=list)
    ports: list[Fact] = field(default_factory=list)
    health: list[Fact] = field(default_factory=list)
    databases: list[Fact] = field(default_factory=list)
    migration_tools: list[Fact] = field(default_factory=list)
    migration_runs: list[Fact] = field(default_factory=list)
    deploy_markers: list[Fact] = field(default_factory=list)
    platforms: list[Fact] = field(default_factory=list)
    env_files: list[Fact] = field(default_factory=list)
    workflows: list[Workflow] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    template_generator: Source | None = None
    packaged: Source | None = None
    publishes: list[Fact] = field(default_factory=list)
    own_deploys: list[Fact] = field(default_factory=list)
    image_product: Source | None = None

    def freeze(self) -> RepoFacts:
        return RepoFacts(
            env_reads=tuple(dict.fromkeys(self.env)),  # a name seen twice on one line: once
            processes=tuple(self.processes),
            release=tuple(self.release),
            runtimes=tuple(self.runtimes),
            frameworks=_unique_facts(self.frameworks),
            ports=_unique_facts(self.ports),
            health_paths=_unique_facts(self.health),
            databases=_unique_facts(self.databases),
            migration_tools=_unique_facts(self.migration_tools),
            migration_runs=_unique_facts(self.migration_runs),
            deploy_markers=tuple(self.deploy_markers),
            platforms=_unique_facts(self.platforms),
            env_files=_unique_facts(self.env_files),
            workflows=tuple(self.workflows),
            notes=tuple(self.notes),
            template_generator=self.template_generator,
            packaged=self.packaged,
            publishes=tuple(self.publishes),
            own_deploys=tuple(self.own_deploys),
            image_product=self.image_product,
        )


def _unique_facts(facts: Iterable[Fact]) -> tuple[Fact, ...]:
    seen: dict[str, Fact] = {}
    for fact in facts:
        seen.setdefault(fact.value, fact)
    return tuple(seen.values())


def readable_paths(
    snapshot: Snapshot, patterns: Sequence[str], ignored: Callable[[str], bool] | None = None
) -> list[str]:
    """Loaded paths matching ``patterns``, minus vendored trees and repo-wide ignores."""
    return [
        p
        for p in snapshot.paths()
        if matches_any(p, patterns) and not is_vendored(p) and not (ignored and ignored(p))
    ]


def read_text(snapshot: Snapshot, path: str) -> str | None:
    data = snapshot.read(path)
    if data is None or len(data) > MAX_FILE_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


_TEMPLATE_FILES = ("cookiecutter.json", "copier.yml", "copier.yaml")


def template_marker(paths: Iterable[str]) -> Source | None:
    """Where a repository shows it is a project generator (cookiecutter, copier)."""
    for path in paths:
        top = path.split("/", 1)[0]
        if path in _TEMPLATE_FILES or ("{{" in top and "}}" in top and "/" in path):
            return Source(path if path in _TEMPLATE_FILES else top)
    return None


def is_health(route: str, health_paths: Sequence[str]) -> bool:
    return len(route) < 40 and ("/" + route.strip("/")) in health_paths
