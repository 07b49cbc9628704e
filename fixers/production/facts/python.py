"""Facts from Python source, read with :mod:`ast` (never imported): env reads, frameworks,
database drivers, ports and health routes."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from fixers.contract import Snapshot
from fixers.production.facts.model import (
    MAX_FILE_BYTES,
    Collector,
    EnvRead,
    Fact,
    Note,
    Requirement,
    Source,
    conventions,
    is_health,
    is_production_path,
    platform_names,
    valid_env_name,
)

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

    def add(name: str | None, line: int, requirement: Requirement, sets: bool = False) -> None:
        if name in schemes:
            requirement = "defaulted"
        if name and valid_env_name(name):
            source = Source(path, line)
            found.append(EnvRead(name, source, requirement, "python", production, sets))

    django_envs = _django_env_names(nodes, imports)
    schemes = _django_env_schemes(nodes, imports) if django_envs else frozenset()
    fallbacks = _or_fallbacks(nodes)
    dereferenced = _dereferenced(nodes) | _django_secret_key(path, tree)
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
            _python_call(
                node, imports, django_envs, add, id(node) in fallbacks, id(node) in dereferenced
            )
        elif isinstance(node, ast.ClassDef):
            for name, line, requirement in _settings_fields(node, imports):
                add(name, line, requirement)
    return found


def _or_fallbacks(nodes: Sequence[ast.AST]) -> set[int]:
    """Ids of calls that are the left side of ``or <something>``: ``os.environ.get("X") or
    "dev"`` has a default as surely as ``.get("X", "dev")`` (flasky, microblog)."""
    found: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            for value in node.values[:-1]:
                # `.get("X", "").replace(...) or ...` keeps the call one level down.
                inner = value
                while isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                    if isinstance(inner.func.value, ast.Call):
                        found.add(id(inner))
                        inner = inner.func.value
                    else:
                        break
                found.add(id(inner))
            if all(_is_none(v) for v in node.values[1:]):
                found.difference_update(id(v) for v in node.values)
    return found


_CRASH_ON_NONE = frozenset({"int", "float"})


def _dereferenced(nodes: Sequence[ast.AST]) -> set[int]:
    """Ids of calls whose result is used as if it could not be ``None``: an attribute or
    an item of it, or ``int()``/``float()`` of it. ``os.environ.get("HOSTS").split(" ")``
    (testdrivenio/django-on-docker) crashes when the name is unset: it is required."""
    found: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.value, ast.Call):
            found.add(id(node.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _CRASH_ON_NONE
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Call)
        ):
            found.add(id(node.args[0]))
    return found


_DJANGO_SETTINGS = frozenset({"INSTALLED_APPS", "ROOT_URLCONF", "MIDDLEWARE", "DATABASES"})


def _django_secret_key(path: str, tree: ast.Module) -> set[int]:
    """Ids of the call in a Django settings module's ``SECRET_KEY = os.environ.get(...)``:
    Django refuses an empty ``SECRET_KEY`` (ImproperlyConfigured), so that read is required
    whatever ``.get`` suggests (testdrivenio/django-on-docker). A settings module is one
    under a ``settings`` path that assigns Django's own settings names."""
    if "settings" not in path.lower():
        return set()
    assigned: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = stmt.value
    value = assigned.get("SECRET_KEY")
    if not isinstance(value, ast.Call) or not _DJANGO_SETTINGS & assigned.keys():
        return set()
    return {id(value)}


def _python_call(
    node: ast.Call,
    imports: ImportMap,
    django_envs: frozenset[str],
    add: Callable[..., None],
    or_fallback: bool = False,
    dereferenced: bool = False,
) -> None:
    qualified = imports.resolve(node.func)
    if qualified in _ENV_GETTERS:
        explicit = len(node.args) > 1 and not _is_none(node.args[1])
        explicit = explicit or any(
            kw.arg in ("default", "value") and not _is_none(kw.value) for kw in node.keywords
        )
        # `None.split()` raises before any `or` fallback is reached.
        has_default = explicit or (or_fallback and not dereferenced)
        requirement: Requirement = (
            "defaulted" if has_default else "required" if dereferenced else "optional"
        )
        sets = qualified == "os.environ.setdefault" and has_default
        add(_str_arg(node, 0, "key"), node.lineno, requirement, sets)
        return
    if qualified == "decouple.config":  # python-decouple raises when unset and no default
        requirement = "defaulted" if _has_kw(node, "default") else "required"
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


def scan_python(snapshot: Snapshot, path: str, out: Collector) -> None:
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
    path: str, nodes: Sequence[ast.AST], imports: ImportMap, out: Collector
) -> None:
    conv = conventions()
    calls = {f"{fw.module}.{fw.app_call}": fw for fw in conv.frameworks}
    library_names = {
        module: name for name, spec in platform_names().items() for module in spec.read_by
    }
    _env_file_facts(path, nodes, imports, out)
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
            if route is not None and is_health(route, conv.health_paths):
                out.health.append(Fact("/" + route.strip("/"), Source(path, node.lineno)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for db in conv.databases:
                if node.value in db.django_engines:
                    out.databases.append(Fact(db.name, Source(path, node.lineno)))


# Calls that load an env file: python-dotenv, django-environ, environs.
_DOTENV_CALLS = frozenset(
    {"dotenv.load_dotenv", "dotenv.main.load_dotenv", "dotenv.dotenv_values", "dotenv.find_dotenv",
     "dotenv.read_dotenv", "environ.Env.read_env", "environs.Env.read_env"}
)  # fmt: skip
_ENV_FILE_CONSTANT = re.compile(r"^(?:\./)?(?:[\w.-]+/)*(\.env(?:\.[\w.-]+)?)$")


def _env_file_facts(
    path: str, nodes: Sequence[ast.AST], imports: ImportMap, out: Collector
) -> None:
    """The env files this module loads (``load_dotenv()`` reads ``.env``; a literal
    ``".env.prod"`` in the module names the file; pydantic ``env_file=``)."""
    named = [
        (m.group(1), node.lineno)
        for node in nodes
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (m := _ENV_FILE_CONSTANT.match(node.value))
    ]
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        qualified = imports.resolve(node.func) or ""
        method = (dotted(node.func) or "").rpartition(".")[2]
        loads = qualified in _DOTENV_CALLS or method in ("read_env", "load_dotenv")
        if loads:
            out.env_files.append(Fact(".env", Source(path, node.lineno)))
            for name, line in named:
                out.env_files.append(Fact(name, Source(path, line)))
        for kw in node.keywords:
            if kw.arg == "env_file" and isinstance(kw.value, ast.Constant | ast.Tuple | ast.List):
                values = kw.value.elts if isinstance(kw.value, ast.Tuple | ast.List) else [kw.value]
                for value in values:
                    text = value.value if isinstance(value, ast.Constant) else None
                    if isinstance(text, str) and (m := _ENV_FILE_CONSTANT.match(text)):
                        out.env_files.append(Fact(m.group(1), Source(path, node.lineno)))


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
