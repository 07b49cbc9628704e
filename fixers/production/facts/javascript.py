"""Facts from JavaScript and TypeScript, by line scanning: env reads, Express apps, routes."""

from __future__ import annotations

import re

from fixers.contract import Snapshot
from fixers.production.facts.model import (
    Collector,
    EnvRead,
    Fact,
    Requirement,
    Source,
    conventions,
    is_health,
    is_production_path,
    platform_names,
    read_text,
    valid_env_name,
)

# --------------------------------------------------------------------------- javascript

_JS_ENV = re.compile(
    r"process\.env(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(['\"])([A-Za-z_][A-Za-z0-9_]*)\2\s*\])"
    r"(\s*(?:\|\||\?\?))?"
)
_JS_DESTRUCTURE = re.compile(r"\{([^{}]*+)\}\s*+=\s*+process\.env\b")
JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx")


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


def scan_javascript(snapshot: Snapshot, path: str, out: Collector) -> None:
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
            if is_health(m.group(1), health):
                out.health.append(Fact("/" + m.group(1).strip("/"), Source(path, number)))
        m = re.search(r"\.listen\(\s*(\d{2,5})\b", line)
        if m:
            out.ports.append(Fact(m.group(1), Source(path, number)))


_JS_IMPORT = re.compile(r"""(?:require\(\s*|\bfrom\s+|^\s*import\s+)(['"])([@\w./-]+)\1""")


def _js_import(line: str) -> str | None:
    """The module a ``require("x")`` / ``import ... from "x"`` line loads."""
    m = _JS_IMPORT.search(line)
    return m.group(2) if m else None
