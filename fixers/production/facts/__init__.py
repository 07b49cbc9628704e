"""Static facts about how a repository runs in production.

Everything here is read, never executed: Python through :mod:`ast`, YAML through
ruamel.yaml, TOML through :mod:`tomllib`, and JavaScript, Procfiles and
Dockerfiles by careful line scanning. Every fact carries the ``path:line`` it
came from so a PR can cite it. A file that cannot be read becomes a
:class:`Note`, never an exception.

Values are never kept: an environment variable is recorded by *name* only, and
commands copied into facts have inline ``NAME=value`` assignments and URL
credentials masked, because a command line is a classic place for a secret.

Split by concern: :mod:`.model` (the data, the convention tables, path
predicates), :mod:`.python`, :mod:`.javascript`, :mod:`.deploy_files` (Procfile,
Dockerfile, compose, workflows, platform manifests, runtime pins) and
:mod:`.gitignore`. Entry point: :func:`extract_facts`. The smaller helpers (:func:`parse_python`,
:class:`ImportMap`, :func:`is_production_path`, ...) are public so other
production fixers can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable

from fixers.contract import Snapshot, matches_any
from fixers.production.facts.artifacts import image_product, infrastructure
from fixers.production.facts.deploy_files import (
    COMPOSE_PATTERNS,
    WORKFLOW_FILE_PATTERNS,
    load_yaml,
    migration_segments,
    scan_app_json,
    scan_compose,
    scan_dockerfile,
    scan_fly,
    scan_procfile,
    scan_render,
    scan_runtimes,
    scan_script,
    scan_workflow,
)
from fixers.production.facts.gitignore import gitignored
from fixers.production.facts.javascript import JS_SUFFIXES, env_reads_in_javascript, scan_javascript
from fixers.production.facts.model import (
    MAX_FILE_BYTES,
    Collector,
    EnvRead,
    Fact,
    Note,
    PlatformName,
    Process,
    RepoFacts,
    Requirement,
    Source,
    Workflow,
    conventions,
    is_dev_settings,
    is_production_path,
    is_vendored,
    platform_names,
    read_text,
    readable_paths,
    safe_command,
    template_marker,
    valid_env_name,
)
from fixers.production.facts.python import (
    ImportMap,
    all_nodes,
    dotted,
    env_reads_in_python,
    parse_python,
    scan_python,
)

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
    "migration_segments",
    "parse_python",
    "platform_names",
    "read_text",
    "readable_paths",
    "safe_command",
    "valid_env_name",
]

#: Patterns of every path :func:`extract_facts` reads (fixers reuse them as ``patterns``).
FACT_PATTERNS: tuple[str, ...] = (
    "**/*.py", *(f"**/*{s}" for s in JS_SUFFIXES), "Procfile", "Dockerfile", "**/Dockerfile",
    "fly.toml", "render.yaml", "app.json", "railway.json", "railway.toml", "app.yaml",
    "vercel.json", "heroku.yml", *COMPOSE_PATTERNS, *WORKFLOW_FILE_PATTERNS, ".python-version",
    "runtime.txt", *conventions().readmes,
    ".gitignore", "pyproject.toml", "package.json", "alembic.ini", "**/alembic.ini", "**/*.sh",
)  # fmt: skip


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
    out = Collector()
    conv = conventions()
    for path in paths:
        if path.endswith(".py"):
            scan_python(snapshot, path, out)
        elif path.endswith(JS_SUFFIXES):
            scan_javascript(snapshot, path, out)
    # Existence is enough for a manifest: it counts even when its content was not loaded.
    present = set(snapshot.all_paths) | set(snapshot.paths())
    for manifest in conv.manifests:
        if manifest in present and not (ignored and ignored(manifest)):
            out.deploy_markers.append(Fact(f"`{manifest}`", Source(manifest)))
    for platform in conv.platforms:
        shown = next(
            (f for f in platform.files if f in present and not (ignored and ignored(f))), None
        )
        if shown is not None:
            out.platforms.append(Fact(platform.name, Source(shown)))
    scan_procfile(snapshot, out)
    scan_app_json(snapshot, out)
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        if name == "Dockerfile":
            scan_dockerfile(snapshot, path, out)
        elif matches_any(path, COMPOSE_PATTERNS):
            scan_compose(snapshot, path, out)
        elif matches_any(path, WORKFLOW_FILE_PATTERNS):
            scan_workflow(snapshot, path, out)
        elif path.endswith(".sh") and is_production_path(path):
            scan_script(snapshot, path, out)
    scan_fly(snapshot, out)
    scan_render(snapshot, out)
    scan_runtimes(snapshot, out)
    all_paths = [p for p in snapshot.all_paths if not is_vendored(p)]
    out.template_generator = template_marker(all_paths)
    out.own_deploys.extend(out.platforms)
    if out.publishes and not out.own_deploys:
        # Only a repository that publishes an image and shows no deploy of its own can be
        # an image project; the path-wide checks run for those alone.
        if (infra := infrastructure(all_paths, conv)) is not None:
            out.own_deploys.append(infra)
        else:
            out.image_product = image_product(snapshot, all_paths, out.publishes, conv)
    for tool in conv.migration_tools:
        marker = next(
            (
                p
                for p in all_paths
                if matches_any(p, tool.files)
                and (not tool.contains or tool.contains in (read_text(snapshot, p) or "").lower())
            ),
            None,
        )
        if marker is not None:
            out.migration_tools.append(Fact(tool.name, Source(marker)))
    return out.freeze()
