"""Static facts about how a repository runs in production.

Everything here is read, never executed: Python through :mod:`ast`, YAML through
ruamel.yaml, TOML through :mod:`tomllib`, and JavaScript, Procfiles and
Dockerfiles by careful line scanning. Every fact carries the ``path:line`` it
came from so a PR can cite it. A file that cannot be read becomes a
:class:`Note`, never an exception.

Values are never kept: an environment variable is recorded by *name* only, and
commands copied into facts have inline ``NAME=value`` assignments and URL
credentials masked, because a command line is a classic place for a secret.

Entry point: :func:`extract_facts`. The smaller helpers (:func:`parse_python`,
:class:`ImportMap`, :func:`is_production_path`, ...) are public so other
production fixers can reuse them.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fixers.contract import Snapshot, mask, matches_any

__all__ = [
    "FACT_PATTERNS",
    "MAX_FILE_BYTES",
    "EnvRead",
    "Fact",
    "ImportMap",
    "Note",
    "PlatformName",
    "Process",
    "RepoFacts",
    "Requirement",
    "Source",
    "Workflow",
    "all_nodes",
    "conventions",
    "dotted",
    "env_reads_in_javascript",
    "env_reads_in_python",
    "extract_facts",
    "gitignored",
    "is_dev_settings",
    "is_production_path",
    "is_vendored",
    "load_yaml",
    "parse_python",
    "platform_names",
    "read_text",
    "readable_paths",
    "safe_command",
    "valid_env_name",
]

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
    deploys: Source | None = None


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
    deploy_markers: tuple[Fact, ...] = ()
    workflows: tuple[Workflow, ...] = ()
    notes: tuple[Note, ...] = ()

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


@dataclass(frozen=True, slots=True)
class MigrationTool:
    name: str
    files: tuple[str, ...]
    command: str


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
    frameworks: tuple[Framework, ...]
    health_paths: tuple[str, ...]
    databases: tuple[Database, ...]
    migration_tools: tuple[MigrationTool, ...]


def _load_data(name: str) -> dict[str, Any]:
    return tomllib.loads((resources.files("fixers") / "data" / name).read_text("utf-8"))


# Cached because the tables are read-only package data and immutable once loaded.
@lru_cache(maxsize=1)
def conventions() -> Conventions:
    raw = _load_data("production_facts.toml")
    paths, deploy = raw["paths"], raw["deploy"]
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
        frameworks=tuple(
            Framework(f["name"], f["module"], f["app-call"], int(f["default-port"]))
            for f in raw["framework"]
        ),
        health_paths=tuple(raw["health"]["paths"]),
        databases=tuple(
            Database(d["name"], tuple(d["modules"]), tuple(d["django-engines"]), tuple(d["images"]))
            for d in raw["database"]
        ),
        migration_tools=tuple(
            MigrationTool(m["name"], tuple(m["files"]), m["command"]) for m in raw["migration-tool"]
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
_URL_CREDENTIALS = re.compile(r"(\w+://)([^/\s:@]+):([^/\s@]+)@")


def safe_command(command: str, limit: int = 200) -> str:
    """A command fit to quote in a PR: inline assignments and URL passwords masked, bounded."""
    # One line, no backticks: the text is quoted inside Markdown code spans.
    text = " ".join(command.split()).replace("`", "'")
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}:{mask(m.group(3))}@", text)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}={mask(m.group(2))}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- python


def all_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node under ``tree`` (breadth first, like :func:`ast.walk`).

    Built once per module and shared by every pass: ``ast.walk``'s generator chain
    was most of a scan's time when each pass walked the tree again.
    """
    out: list[ast.AST] = [tree]
    i = 0
    while i < len(out):
        node = out[i]
        i += 1
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                out.append(value)
            elif isinstance(value, list):
                out.extend(v for v in value if isinstance(v, ast.AST))
    return out


def parse_python(path: str, data: bytes) -> ast.Module | Note:
    """Parse without importing; anything that goes wrong is a :class:`Note`."""
    if len(data) > MAX_FILE_BYTES:
        return Note(path, f"larger than {MAX_FILE_BYTES} bytes, not read")
    try:
        return ast.parse(data, filename=path)
    except SyntaxError as exc:
        return Note(path, f"does not parse as Python (line {exc.lineno}): {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return Note(path, f"could not be parsed: {type(exc).__name__}")


@dataclass(frozen=True, slots=True)
class ImportMap:
    """Local name -> fully qualified name, from every import in a module.

    ``import requests as r`` maps ``r`` to ``requests``; ``from os import environ``
    maps ``environ`` to ``os.environ``. Imports inside functions count too: a
    fact is about what the module *can* call, not about control flow.
    """

    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, tree: ast.Module, nodes: Sequence[ast.AST] | None = None) -> ImportMap:
        names: dict[str, str] = {}
        for node in all_nodes(tree) if nodes is None else nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        names[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        return cls(names)

    def resolve(self, node: ast.expr) -> str | None:
        """The qualified dotted name of ``node`` (``os.environ.get``), or ``None``."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self.names.get(node.id)
        if base is None:
            return None
        return ".".join([base, *reversed(parts)])

    def imports_module(self, module: str) -> bool:
        return any(q == module or q.startswith(module + ".") for q in self.names.values())


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, ``None`` otherwise (calls, subscripts...)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _str_arg(call: ast.Call, index: int | None = 0, keyword: str | None = None) -> str | None:
    """A string literal given as ``keyword=`` or as positional argument ``index``."""
    if keyword is not None:
        for kw in call.keywords:
            if kw.arg == keyword and isinstance(kw.value, ast.Constant):
                return kw.value.value if isinstance(kw.value.value, str) else None
    if index is not None and len(call.args) > index:
        arg = call.args[index]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def _has_kw(call: ast.Call, name: str) -> bool:
    return any(kw.arg == name for kw in call.keywords)


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


_ENV_GETTERS = frozenset({"os.environ.get", "os.getenv", "os.environ.setdefault"})
_ENV_MAPPING = "os.environ"
# django-environ Env methods whose first argument is the variable name; the second
# positional argument (``default``) of the typed getters is the default.
_DJANGO_ENV_TYPED = frozenset(
    {"str", "bool", "int", "float", "json", "list", "tuple", "dict", "url", "path", "bytes"}
)
_DJANGO_ENV_URLS = {"db": "DATABASE_URL", "db_url": "DATABASE_URL", "cache": "CACHE_URL",
                    "cache_url": "CACHE_URL", "email": "EMAIL_URL", "email_url": "EMAIL_URL",
                    "search_url": "SEARCH_URL"}  # fmt: skip
_SETTINGS_BASES = frozenset(
    {"pydantic_settings.BaseSettings", "pydantic.BaseSettings", "pydantic.v1.BaseSettings"}
)


def env_reads_in_python(
    path: str,
    tree: ast.Module,
    imports: ImportMap | None = None,
    nodes: Sequence[ast.AST] | None = None,
) -> list[EnvRead]:
    """Every literal env-var name the module reads, with required/defaulted/optional."""
    nodes = all_nodes(tree) if nodes is None else nodes
    imports = imports or ImportMap.of(tree, nodes)
    production = is_production_path(path)
    found: list[EnvRead] = []

    def add(name: str | None, line: int, requirement: Requirement) -> None:
        if name in schemes:
            requirement = "defaulted"
        if name and valid_env_name(name):
            found.append(EnvRead(name, Source(path, line), requirement, "python", production))

    django_envs = _django_env_names(nodes, imports)
    schemes = _django_env_schemes(nodes, imports) if django_envs else frozenset()
    for node in nodes:
        if isinstance(node, ast.Subscript) and imports.resolve(node.value) == _ENV_MAPPING:
            if isinstance(node.ctx, ast.Load):
                key = node.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    add(key.value, node.lineno, "required")
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            if isinstance(node.ops[0], ast.In | ast.NotIn):
                target = node.comparators[0]
                left = node.left
                if imports.resolve(target) == _ENV_MAPPING and isinstance(left, ast.Constant):
                    add(
                        left.value if isinstance(left.value, str) else None, node.lineno, "optional"
                    )
        elif isinstance(node, ast.Call):
            _python_call(node, imports, django_envs, add)
        elif isinstance(node, ast.ClassDef):
            for name, line, requirement in _settings_fields(node, imports):
                add(name, line, requirement)
    return found


def _python_call(
    node: ast.Call,
    imports: ImportMap,
    django_envs: frozenset[str],
    add: Callable[[str | None, int, Requirement], None],
) -> None:
    qualified = imports.resolve(node.func)
    if qualified in _ENV_GETTERS:
        has_default = len(node.args) > 1 and not _is_none(node.args[1])
        has_default = has_default or any(
            kw.arg in ("default", "value") and not _is_none(kw.value) for kw in node.keywords
        )
        add(_str_arg(node, 0, "key"), node.lineno, "defaulted" if has_default else "optional")
        return
    if qualified == "decouple.config":  # python-decouple raises when unset and no default
        requirement: Requirement = "defaulted" if _has_kw(node, "default") else "required"
        add(_str_arg(node), node.lineno, requirement)
        return
    func_path = dotted(node.func)
    if func_path is None:
        return
    head, _, method = func_path.rpartition(".")
    if func_path in django_envs:  # env("NAME", cast=..., default=...)
        has_default = _has_kw(node, "default") or len(node.args) > 2
        add(_str_arg(node), node.lineno, "defaulted" if has_default else "required")
    elif head in django_envs and method in _DJANGO_ENV_TYPED:
        has_default = _has_kw(node, "default") or len(node.args) > 1
        add(_str_arg(node), node.lineno, "defaulted" if has_default else "required")
    elif head in django_envs and method in _DJANGO_ENV_URLS:
        name = _str_arg(node, 0, "var") or _DJANGO_ENV_URLS[method]
        add(name, node.lineno, "defaulted" if _has_kw(node, "default") else "required")


def _django_env_schemes(nodes: Sequence[ast.AST], imports: ImportMap) -> frozenset[str]:
    """Names given a default in an ``environ.Env(NAME=(cast, default))`` scheme."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Call) and imports.resolve(node.func) == "environ.Env":
            for kw in node.keywords:
                if kw.arg and isinstance(kw.value, ast.Tuple) and len(kw.value.elts) == 2:
                    names.add(kw.arg)
    return frozenset(names)


def _django_env_names(nodes: Sequence[ast.AST], imports: ImportMap) -> frozenset[str]:
    """Names bound to ``environ.Env(...)`` (django-environ), e.g. ``env``."""
    names: set[str] = set()
    for node in nodes:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and imports.resolve(node.value.func) == "environ.Env"
        ):
            for target in node.targets:
                if (name := dotted(target)) is not None:
                    names.add(name)
    return frozenset(names)


def _settings_fields(
    cls: ast.ClassDef, imports: ImportMap
) -> Iterator[tuple[str, int, Requirement]]:
    """Fields of a pydantic ``BaseSettings`` subclass, as env names with their prefix."""
    if not any(imports.resolve(base) in _SETTINGS_BASES for base in cls.bases):
        return
    prefix = _settings_prefix(cls)
    for stmt in cls.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        field_name = stmt.target.id
        if field_name.startswith("_") or field_name == "model_config":
            continue
        if "ClassVar" in ast.unparse(stmt.annotation):
            continue
        alias, requirement = _field_default(stmt.value)
        yield (alias or (prefix + field_name)).upper(), stmt.lineno, requirement


def _field_default(value: ast.expr | None) -> tuple[str | None, Requirement]:
    if value is None:
        return None, "required"
    if isinstance(value, ast.Call) and dotted(value.func) in ("Field", "pydantic.Field"):
        alias = next(
            (
                kw.value.value
                for kw in value.keywords
                if kw.arg in ("alias", "validation_alias", "env")
                and isinstance(kw.value, ast.Constant)
                and isinstance(kw.value.value, str)
            ),
            None,
        )
        explicit = _has_kw(value, "default") or _has_kw(value, "default_factory")
        positional = bool(value.args) and not (
            isinstance(value.args[0], ast.Constant) and value.args[0].value is Ellipsis
        )
        return alias, "defaulted" if explicit or positional else "required"
    return None, "defaulted"


def _settings_prefix(cls: ast.ClassDef) -> str:
    for stmt in cls.body:
        # pydantic v2: model_config = SettingsConfigDict(env_prefix="APP_")
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and isinstance(stmt.value, ast.Call):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == "model_config" for t in targets):
                prefix = _str_arg(stmt.value, None, "env_prefix")
                if prefix is not None:
                    return prefix
        # pydantic v1: class Config: env_prefix = "APP_"
        if isinstance(stmt, ast.ClassDef) and stmt.name == "Config":
            for inner in stmt.body:
                if (
                    isinstance(inner, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "env_prefix" for t in inner.targets)
                    and isinstance(inner.value, ast.Constant)
                    and isinstance(inner.value.value, str)
                ):
                    return inner.value.value
    return ""


# --------------------------------------------------------------------------- javascript

_JS_ENV = re.compile(
    r"process\.env(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(['\"])([A-Za-z_][A-Za-z0-9_]*)\2\s*\])"
    r"(\s*(?:\|\||\?\?))?"
)
_JS_DESTRUCTURE = re.compile(r"\{([^}]*)\}\s*=\s*process\.env\b")
_JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx")


def env_reads_in_javascript(path: str, text: str) -> list[EnvRead]:
    """``process.env.X``, ``process.env["X"]`` and ``const {X} = process.env``, line by line.

    A read followed by ``||`` or ``??`` is defaulted. Whole-line ``//`` comments are
    skipped; block comments are not understood (a rare, harmless over-report).
    """
    production = is_production_path(path)
    reads: list[EnvRead] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(("//", "*", "/*")):
            continue
        for m in _JS_ENV.finditer(line):
            name = m.group(1) or m.group(3)
            requirement: Requirement = "defaulted" if m.group(4) else "optional"
            reads.append(EnvRead(name, Source(path, number), requirement, "javascript", production))
        for m in _JS_DESTRUCTURE.finditer(line):
            for part in m.group(1).split(","):
                name = part.split(":")[0].split("=")[0].strip()
                if valid_env_name(name):
                    requirement = "defaulted" if "=" in part else "optional"
                    reads.append(
                        EnvRead(name, Source(path, number), requirement, "javascript", production)
                    )
    return reads


# --------------------------------------------------------------------------- yaml


def load_yaml(path: str, data: bytes) -> Any | Note:
    """Round-trip load (keeps line numbers); a broken or huge file is a :class:`Note`."""
    if len(data) > MAX_FILE_BYTES:
        return Note(path, f"larger than {MAX_FILE_BYTES} bytes, not read")
    yaml = YAML(typ="rt")
    try:
        return yaml.load(io.BytesIO(data))
    except (YAMLError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        return Note(path, f"does not parse as YAML: {reason}")


def _line_of(mapping: Any, key: Any) -> int | None:
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


def _item_line(seq: Any, index: int) -> int | None:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


# --------------------------------------------------------------------------- the scan


_COMPOSE = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml",
            "docker-compose.*.yml", "docker-compose.*.yaml", "**/docker-compose.yml",
            "**/compose.yaml")  # fmt: skip
_WORKFLOWS = (".github/workflows/*.yml", ".github/workflows/*.yaml")
_INTERPOLATION = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)
_WORKFLOW_SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_PORT_FLAG = re.compile(r"(?:--bind|-b|--port|-p|--listen)[ =](?:[\w.\[\]]*:)?(\d{2,5})\b")
_PORT_ENV = re.compile(r"\$\{?PORT\b")
_VERSION = re.compile(r"(\d+(?:\.\d+){0,2})")

#: Patterns of every path :func:`extract_facts` reads (fixers reuse them as ``patterns``).
FACT_PATTERNS: tuple[str, ...] = (
    "**/*.py", *(f"**/*{s}" for s in _JS_SUFFIXES), "Procfile", "Dockerfile", "**/Dockerfile",
    "fly.toml", "render.yaml", "app.json", "railway.json", "railway.toml", "app.yaml",
    "vercel.json", "heroku.yml", *_COMPOSE, *_WORKFLOWS, ".python-version", "runtime.txt",
    ".gitignore", "pyproject.toml", "package.json", "alembic.ini", "**/alembic.ini",
)  # fmt: skip


@dataclass
class _Collector:
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
    deploy_markers: list[Fact] = field(default_factory=list)
    workflows: list[Workflow] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

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
            deploy_markers=tuple(self.deploy_markers),
            workflows=tuple(self.workflows),
            notes=tuple(self.notes),
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


def extract_facts(snapshot: Snapshot, ignored: Callable[[str], bool] | None = None) -> RepoFacts:
    """Read every production fact the snapshot offers (see the module docstring).

    Three fixers need these facts in one scan; a snapshot that can memoise
    (``MemorySnapshot.memo``) computes them once for the same readable files.
    """
    paths = readable_paths(snapshot, FACT_PATTERNS, ignored)
    hidden = tuple(m for m in conventions().manifests if ignored and ignored(m))
    memo = getattr(snapshot, "memo", None)
    if memo is None:
        return _extract_facts(snapshot, ignored, paths)
    return memo(
        ("production-facts", tuple(paths), hidden), lambda: _extract_facts(snapshot, ignored, paths)
    )


def _extract_facts(
    snapshot: Snapshot, ignored: Callable[[str], bool] | None, paths: list[str]
) -> RepoFacts:
    out = _Collector()
    conv = conventions()
    for path in paths:
        if path.endswith(".py"):
            _scan_python(snapshot, path, out)
        elif path.endswith(_JS_SUFFIXES):
            _scan_javascript(snapshot, path, out)
    # Existence is enough for a manifest: it counts even when its content was not loaded.
    present = set(snapshot.all_paths) | set(snapshot.paths())
    for manifest in conv.manifests:
        if manifest in present and not (ignored and ignored(manifest)):
            out.deploy_markers.append(Fact(f"`{manifest}`", Source(manifest)))
    _scan_procfile(snapshot, out)
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        if name == "Dockerfile":
            _scan_dockerfile(snapshot, path, out)
        elif matches_any(path, _COMPOSE):
            _scan_compose(snapshot, path, out)
        elif matches_any(path, _WORKFLOWS):
            _scan_workflow(snapshot, path, out)
    _scan_fly(snapshot, out)
    _scan_render(snapshot, out)
    _scan_runtimes(snapshot, out)
    all_paths = [p for p in snapshot.all_paths if not is_vendored(p)]
    for tool in conv.migration_tools:
        marker = next((p for p in all_paths if matches_any(p, tool.files)), None)
        if marker is not None:
            out.migration_tools.append(Fact(f"{tool.name} (`{tool.command}`)", Source(marker)))
    return out.freeze()


def _scan_python(snapshot: Snapshot, path: str, out: _Collector) -> None:
    data = snapshot.read(path)
    if data is None:
        return
    parsed = parse_python(path, data)
    if isinstance(parsed, Note):
        out.notes.append(parsed)
        return
    try:
        nodes = all_nodes(parsed)
        imports = ImportMap.of(parsed, nodes)
        out.env.extend(env_reads_in_python(path, parsed, imports, nodes))
        if is_production_path(path):
            _python_runtime_facts(path, nodes, imports, out)
    except RecursionError:
        out.notes.append(Note(path, "nested too deeply to analyse"))


def _python_runtime_facts(
    path: str, nodes: Sequence[ast.AST], imports: ImportMap, out: _Collector
) -> None:
    conv = conventions()
    calls = {f"{fw.module}.{fw.app_call}": fw for fw in conv.frameworks}
    library_names = {
        module: name for name, spec in platform_names().items() for module in spec.read_by
    }
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                top = module.split(".")[0]
                if (name := library_names.get(module) or library_names.get(top)) is not None:
                    out.env.append(EnvRead(name, Source(path, node.lineno), "optional", "library"))
                for db in conv.databases:
                    if module in db.modules or top in db.modules:
                        out.databases.append(Fact(db.name, Source(path, node.lineno)))
        elif isinstance(node, ast.Call):
            qualified = imports.resolve(node.func)
            if qualified in calls:
                out.frameworks.append(Fact(calls[qualified].name, Source(path, node.lineno)))
            runner = (dotted(node.func) or "").rpartition(".")[2]
            for kw in node.keywords if runner in _RUNNERS else ():
                if kw.arg == "port" and (port := _port_value(kw.value)) is not None:
                    out.ports.append(Fact(port, Source(path, node.lineno)))
            route = _str_arg(node)
            if route is not None and _is_health(route, conv.health_paths):
                out.health.append(Fact("/" + route.strip("/"), Source(path, node.lineno)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for db in conv.databases:
                if node.value in db.django_engines:
                    out.databases.append(Fact(db.name, Source(path, node.lineno)))


# Calls whose ``port=`` is the web port (app.run, uvicorn.run, web.run_app); a
# ``port=`` elsewhere is usually a database or cache.
_RUNNERS = frozenset({"run", "run_app", "serve"})


def _port_value(value: ast.expr) -> str | None:
    """``8000`` for a literal port, ``$PORT`` when the expression reads ``"PORT"``."""
    if isinstance(value, ast.Constant) and isinstance(value.value, int):
        return str(value.value)
    if any(isinstance(n, ast.Constant) and n.value == "PORT" for n in all_nodes(value)):
        return "`$PORT` (from the environment)"
    return None


def _is_health(route: str, health_paths: Sequence[str]) -> bool:
    return len(route) < 40 and ("/" + route.strip("/")) in health_paths


def _scan_javascript(snapshot: Snapshot, path: str, out: _Collector) -> None:
    text = read_text(snapshot, path)
    if text is None:
        return
    out.env.extend(env_reads_in_javascript(path, text))
    if not is_production_path(path):
        return
    health = conventions().health_paths
    libraries = {m: spec.name for spec in platform_names().values() for m in spec.read_by}
    requires_express = False
    for number, line in enumerate(text.splitlines(), start=1):
        module = _js_import(line)
        if module == "express":
            requires_express = True
        elif module in libraries:  # e.g. @sentry/node reads SENTRY_DSN itself
            out.env.append(EnvRead(libraries[module], Source(path, number), "optional", "library"))
        if requires_express and re.search(r"\bexpress\(\s*\)", line):
            out.frameworks.append(Fact("Express", Source(path, number)))
        for m in re.finditer(r"\.(?:get|all|use)\(\s*['\"](/[\w\-/]*)['\"]", line):
            if _is_health(m.group(1), health):
                out.health.append(Fact("/" + m.group(1).strip("/"), Source(path, number)))
        m = re.search(r"\.listen\(\s*(\d{2,5})\b", line)
        if m:
            out.ports.append(Fact(m.group(1), Source(path, number)))


_JS_IMPORT = re.compile(r"""(?:require\(\s*|\bfrom\s+|^\s*import\s+)(['"])([@\w./-]+)\1""")


def _js_import(line: str) -> str | None:
    """The module a ``require("x")`` / ``import ... from "x"`` line loads."""
    m = _JS_IMPORT.search(line)
    return m.group(2) if m else None


def _scan_procfile(snapshot: Snapshot, out: _Collector) -> None:
    text = read_text(snapshot, "Procfile")
    if text is None:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        kind, sep, command = line.partition(":")
        kind = kind.strip()
        if not sep or not kind or kind.startswith("#") or not valid_env_name(kind):
            continue
        process = Process(kind, safe_command(command), Source("Procfile", number))
        (out.release if kind == "release" else out.processes).append(process)
        _command_facts(command, Source("Procfile", number), "procfile", out)


def _command_facts(command: str, source: Source, origin: Origin, out: _Collector) -> None:
    """Port and env-name facts from a shell command (Procfile, Dockerfile CMD, start command)."""
    if _PORT_ENV.search(command):
        out.ports.append(Fact("`$PORT` (set by the platform)", source))
    elif m := _PORT_FLAG.search(command):
        out.ports.append(Fact(m.group(1), source))
    for m in _INTERPOLATION.finditer(command):
        name = m.group(1) or m.group(3)
        requirement: Requirement = "defaulted" if m.group(2) else "required"
        out.env.append(EnvRead(name, source, requirement, origin))


def _scan_dockerfile(snapshot: Snapshot, path: str, out: _Collector) -> None:
    text = read_text(snapshot, path)
    if text is None:
        return
    last_cmd: Process | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            image = rest.split()[0] if rest.split() else ""
            if image.startswith(("python:", "node:")):
                out.runtimes.append(Fact(f"`{image}`", Source(path, number)))
        elif word in ("CMD", "ENTRYPOINT"):
            rest = _exec_form(rest)
            last_cmd = Process("web", safe_command(rest), Source(path, number))
            _command_facts(rest, Source(path, number), "procfile", out)
        elif word == "EXPOSE" and (m := re.match(r"(\d{2,5})", rest.strip())):
            out.ports.append(Fact(m.group(1), Source(path, number)))
        elif word == "HEALTHCHECK":
            for m in re.finditer(r"https?://[^/\s]+(/[\w\-/]*)", rest):
                if _is_health(m.group(1), conventions().health_paths):
                    out.health.append(Fact("/" + m.group(1).strip("/"), Source(path, number)))
    # Only the last CMD counts, and a Procfile's process types take precedence.
    if last_cmd is not None and not any(p.name == "web" for p in out.processes):
        out.processes.append(last_cmd)


def _exec_form(argument: str) -> str:
    """``["gunicorn", "app:app"]`` -> ``gunicorn app:app``; shell form stays as written."""
    try:
        words = json.loads(argument)
    except ValueError:
        return argument
    if isinstance(words, list) and all(isinstance(w, str) for w in words):
        return " ".join(words)
    return argument


def _scan_compose(snapshot: Snapshot, path: str, out: _Collector) -> None:
    data = snapshot.read(path)
    if data is None:
        return
    text = data.decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        for m in _INTERPOLATION.finditer(line):
            if m.group(3) is not None and "$$" in line:
                continue  # "$$" is compose's escape for a literal "$"
            name = m.group(1) or m.group(3)
            requirement: Requirement = "defaulted" if m.group(2) else "required"
            out.env.append(EnvRead(name, Source(path, number), requirement, "compose"))
    doc = load_yaml(path, data)
    if isinstance(doc, Note):
        out.notes.append(doc)
        return
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        return
    conv = conventions()
    for service in services.values():
        if not isinstance(service, dict):
            continue
        image = service.get("image")
        if isinstance(image, str):
            repo = image.split(":")[0].split("@")[0]
            for db in conv.databases:
                if repo in db.images or repo.rsplit("/", 1)[-1] in db.images:
                    out.databases.append(Fact(db.name, Source(path, _line_of(service, "image"))))
        env = service.get("environment")
        if isinstance(env, dict):
            for key, value in env.items():
                if isinstance(key, str) and valid_env_name(key):
                    requirement = "required" if value is None else "defaulted"
                    out.env.append(
                        EnvRead(key, Source(path, _line_of(env, key)), requirement, "compose")
                    )
        elif isinstance(env, list):
            for index, item in enumerate(env):
                if isinstance(item, str):
                    key, sep, _ = item.partition("=")
                    if valid_env_name(key.strip()):
                        requirement = "defaulted" if sep else "required"
                        source = Source(path, _item_line(env, index))
                        out.env.append(EnvRead(key.strip(), source, requirement, "compose"))


def _scan_workflow(snapshot: Snapshot, path: str, out: _Collector) -> None:
    data = snapshot.read(path)
    if data is None:
        return
    text = data.decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        for m in _WORKFLOW_SECRET.finditer(line):
            if m.group(1) != "GITHUB_TOKEN":
                out.env.append(EnvRead(m.group(1), Source(path, number), "required", "workflow"))
    doc = load_yaml(path, data)
    if isinstance(doc, Note):
        out.notes.append(doc)
        return
    if not isinstance(doc, dict):
        return
    on = doc.get("on", doc.get(True))
    if isinstance(on, str):
        triggers: tuple[str, ...] = (safe_command(on, 40),)
    elif isinstance(on, dict | list):
        triggers = tuple(safe_command(str(k), 40) for k in list(on)[:10])
    else:
        triggers = ()
    name = safe_command(str(doc.get("name") or path.rsplit("/", 1)[-1]), 80)
    workflow = Workflow(path, name, triggers)
    runs_tests, deploys = _workflow_steps(path, doc)
    workflow = Workflow(workflow.path, workflow.name, triggers, runs_tests, deploys)
    out.workflows.append(workflow)
    if deploys is not None:
        out.deploy_markers.append(Fact(f"deploy workflow `{path}`", deploys))


def _workflow_steps(path: str, doc: dict[str, Any]) -> tuple[Source | None, Source | None]:
    conv = conventions()
    runs_tests: Source | None = None
    deploys: Source | None = None
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict):
        return None, None
    for job_id, job in jobs.items():
        steps = job.get("steps") if isinstance(job, dict) else None
        if not isinstance(steps, list):
            continue
        if _deploy_job(str(job_id), job, steps):
            deploys = deploys or Source(path, _line_of(jobs, job_id))
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            line = _item_line(steps, index)
            uses, run = step.get("uses"), step.get("run")
            if isinstance(uses, str) and uses.startswith(conv.deploy_actions):
                deploys = deploys or Source(path, line)
            if isinstance(run, str):
                if any(_has_command(run, c) for c in conv.deploy_commands):
                    deploys = deploys or Source(path, line)
                if any(_has_command(run, c) for c in conv.test_commands):
                    runs_tests = runs_tests or Source(path, line)
    return runs_tests, deploys


def _deploy_job(job_id: str, job: dict[str, Any], steps: list[Any]) -> bool:
    """A job *named* for deploying (``deploy``, ``deploy-prod``) that does not publish docs.

    Catches deploys with no known action or command, e.g. ``curl "$DEPLOY_HOOK"``.
    """
    conv = conventions()
    words = set(re.split(r"[^a-z0-9]+", f"{job_id} {job.get('name', '')}".lower()))
    if not words & set(conv.deploy_job_words):
        return False
    text = " ".join(
        str(step.get("uses", "")) + " " + str(step.get("run", ""))
        for step in steps
        if isinstance(step, dict)
    ).lower()
    return not any(word in words or word in text for word in conv.deploy_not_app)


def _has_command(script: str, command: str) -> bool:
    return re.search(rf"(?:^|[\s;&|(]){re.escape(command)}(?:$|[\s;&|)])", script, re.M) is not None


def _scan_fly(snapshot: Snapshot, out: _Collector) -> None:
    text = read_text(snapshot, "fly.toml")
    if text is None:
        return
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        out.notes.append(Note("fly.toml", f"does not parse as TOML: {exc}"))
        return
    lines = text.splitlines()

    def line_of(needle: str) -> int | None:
        return next((i for i, ln in enumerate(lines, start=1) if needle in ln), None)

    processes = doc.get("processes")
    if isinstance(processes, dict):
        for name, command in processes.items():
            if isinstance(command, str):
                source = Source("fly.toml", line_of(f"{name} =") or line_of(name))
                out.processes.append(
                    Process(safe_command(str(name), 40), safe_command(command), source)
                )
    deploy = doc.get("deploy")
    if isinstance(deploy, dict) and isinstance(deploy.get("release_command"), str):
        source = Source("fly.toml", line_of("release_command"))
        out.release.append(Process("release", safe_command(deploy["release_command"]), source))
    service = doc.get("http_service")
    if isinstance(service, dict):
        if isinstance(service.get("internal_port"), int):
            source = Source("fly.toml", line_of("internal_port"))
            out.ports.append(Fact(str(service["internal_port"]), source))
        checks = service.get("checks")
        for check in checks if isinstance(checks, list) else []:
            route = check.get("path") if isinstance(check, dict) else None
            if isinstance(route, str) and _is_health(route, conventions().health_paths):
                source = Source("fly.toml", line_of(route))
                out.health.append(Fact("/" + route.strip("/"), source))


def _scan_render(snapshot: Snapshot, out: _Collector) -> None:
    data = snapshot.read("render.yaml")
    if data is None:
        return
    doc = load_yaml("render.yaml", data)
    if isinstance(doc, Note):
        out.notes.append(doc)
        return
    services = doc.get("services") if isinstance(doc, dict) else None
    for service in services if isinstance(services, list) else []:
        if not isinstance(service, dict):
            continue
        kind = safe_command(str(service.get("type") or "web"), 40)
        for key, bucket, name in (
            ("startCommand", out.processes, kind),
            ("preDeployCommand", out.release, "release"),
        ):
            if isinstance(service.get(key), str):
                source = Source("render.yaml", _line_of(service, key))
                bucket.append(Process(name, safe_command(service[key]), source))
        if isinstance(service.get("healthCheckPath"), str):
            source = Source("render.yaml", _line_of(service, "healthCheckPath"))
            out.health.append(Fact(safe_command(service["healthCheckPath"], 40), source))
        env_vars = service.get("envVars")
        for index, item in enumerate(env_vars if isinstance(env_vars, list) else []):
            key = item.get("key") if isinstance(item, dict) else None
            if isinstance(key, str) and valid_env_name(key):
                source = Source("render.yaml", _item_line(env_vars, index))
                requirement: Requirement = "defaulted" if "value" in item else "required"
                out.env.append(EnvRead(key, source, requirement, "compose"))


def _scan_runtimes(snapshot: Snapshot, out: _Collector) -> None:
    # A gitignored version file is one developer's local pin, not what deploys.
    gitignore = read_text(snapshot, ".gitignore") or ""
    for path in (".python-version", "runtime.txt"):
        text = read_text(snapshot, path)
        if text is None or gitignored(gitignore, path):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                if m := _VERSION.search(line):
                    out.runtimes.append(Fact(f"Python {m.group(1)}", Source(path, number)))
                break
    text = read_text(snapshot, "pyproject.toml")
    if text is not None:
        try:
            requires = tomllib.loads(text).get("project", {}).get("requires-python")
        except tomllib.TOMLDecodeError as exc:
            out.notes.append(Note("pyproject.toml", f"does not parse as TOML: {exc}"))
            requires = None
        if isinstance(requires, str):
            number = next(
                (i for i, ln in enumerate(text.splitlines(), 1) if "requires-python" in ln), None
            )
            out.runtimes.append(
                Fact(
                    f"Python `{requires[:40]}` (requires-python)", Source("pyproject.toml", number)
                )
            )


# --------------------------------------------------------------------------- gitignore


def _gitignore_regex(pattern: str) -> re.Pattern[str]:
    """A gitignore glob as a regex over a whole ``/``-separated path."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    out: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        elif body[i] == "[" and (end := body.find("]", i + 1)) > i:
            out.append("[" + body[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + "".join(out))


def gitignored(gitignore: str, path: str, *, is_dir: bool = False) -> bool:
    """Whether a root ``.gitignore`` text ignores ``path`` (last matching rule wins).

    Enough of gitignore(5) for the questions fixers ask ("is ``.env`` ignored?"):
    negation, anchoring, ``*``/``**``/``?``/classes, directory-only rules and
    rules that ignore a parent directory. Nested ignore files are not consulted.
    """
    parts = path.split("/")
    candidates = [("/".join(parts[:i]), True) for i in range(1, len(parts))]
    candidates.append((path, is_dir))
    ignored = False
    for raw in gitignore.splitlines()[:5000]:
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        line = line.rstrip(" ") if not line.endswith("\\ ") else line
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        if pattern.startswith("\\"):
            pattern = pattern[1:]
        dir_only = pattern.endswith("/")
        try:
            regex = _gitignore_regex(pattern)
        except re.error:
            continue
        for candidate, candidate_is_dir in candidates:
            if dir_only and not candidate_is_dir:
                continue
            if regex.fullmatch(candidate):
                # A rule that ignores a parent directory ignores the path; a negation
                # only re-includes the path itself (git cannot re-include inside an
                # excluded directory).
                if negate and candidate != path:
                    continue
                ignored = not negate
                break
    return ignored
