"""Facts from deploy and platform files: Procfile, Dockerfile, compose, workflows, fly.toml,
render.yaml and runtime pins. YAML through ruamel.yaml (line numbers kept), TOML through
:mod:`tomllib`, the rest by careful line scanning."""

from __future__ import annotations

import io
import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fixers.contract import Snapshot
from fixers.nesting import json_loads, toml_loads
from fixers.production.facts.artifacts import metadata_images, only_publishes, published_images
from fixers.production.facts.gitignore import gitignored
from fixers.production.facts.model import (
    MAX_FILE_BYTES,
    Collector,
    EnvRead,
    Fact,
    Note,
    Origin,
    Process,
    Requirement,
    Source,
    Workflow,
    conventions,
    is_health,
    read_text,
    safe_command,
    valid_env_name,
)
from fixers.yaml_budget import YamlBudgetError, check_yaml

# --------------------------------------------------------------------------- yaml


def load_yaml(path: str, data: bytes) -> Any | Note:
    """Round-trip load (keeps line numbers); a broken or huge file is a :class:`Note`."""
    if len(data) > MAX_FILE_BYTES:
        return Note(path, f"larger than {MAX_FILE_BYTES} bytes, not read")
    yaml = YAML(typ="rt")
    try:
        check_yaml(data)
        return yaml.load(io.BytesIO(data))
    except YamlBudgetError as exc:
        return Note(path, str(exc))
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


COMPOSE_PATTERNS = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml",
            "docker-compose.*.yml", "docker-compose.*.yaml", "**/docker-compose.yml",
            "**/compose.yaml")  # fmt: skip
WORKFLOW_FILE_PATTERNS = (".github/workflows/*.yml", ".github/workflows/*.yaml")
_INTERPOLATION = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*+)(:?[-?+](?:[^}$]|\$(?!\{)|\$\{[^{}$]*\})*+)?\}"
    r"|\$([A-Za-z_][A-Za-z0-9_]*)"
)
_WORKFLOW_SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_PORT_FLAG = re.compile(r"(?:--bind|-b|--port|-p|--listen)[ =](?:[\w.\[\]]*:)?(\d{2,5})\b")
_PORT_ENV = re.compile(r"\$\{?PORT\b")
_VERSION = re.compile(r"(\d+(?:\.\d+){0,2})")


_ENV_FILE_NAME = re.compile(r"^(?:\./)?(?:[\w.-]+/)*(\.env(?:\.[\w.-]+)?)$")


def migration_segments(command: str) -> list[str]:
    """The parts of a shell line that run a migration tool (``flask db upgrade``)."""
    tools = conventions().migration_tools
    found: list[str] = []
    for part in re.split(r"&&|\|\||;|\|", command):
        words = " ".join(part.split())
        if any(_has_command(words, c) for tool in tools for c in tool.commands):
            found.append(safe_command(words))
    return found


def _migration_facts(command: str, source: Source, out: Collector) -> None:
    for segment in migration_segments(command):
        out.migration_runs.append(Fact(segment, source))


def scan_script(snapshot: Snapshot, path: str, out: Collector) -> None:
    """A shell script (``boot.sh``, ``prestart.sh``): the migrations it runs, line by line."""
    text = read_text(snapshot, path)
    if text is None:
        return
    quoted = False  # inside a string that spans lines (`echo "...` -- text, not commands)
    for number, line in enumerate(_logical_lines(text), start=1):
        opens = len(re.findall(r'(?<!\\)"', line)) % 2 == 1
        if line and not quoted and not opens and not line.lstrip().startswith("#"):
            _migration_facts(line, Source(path, number), out)
        quoted = quoted != opens


def _logical_lines(text: str) -> list[str]:
    """Lines with ``\\``-continuations joined; the joined line keeps its first line's
    number and the lines it swallowed become empty, so numbering stays true."""
    raw = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(raw):
        line, first = raw[i], i
        while line.rstrip().endswith("\\") and i + 1 < len(raw):
            i += 1
            line = line.rstrip()[:-1] + " " + raw[i].strip()
        out.append(line)
        out.extend("" for _ in range(i - first))
        i += 1
    return out


def scan_procfile(snapshot: Snapshot, out: Collector) -> None:
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
        _migration_facts(command, Source("Procfile", number), out)


def _command_facts(command: str, source: Source, origin: Origin, out: Collector) -> None:
    """Port and env-name facts from a shell command (Procfile, Dockerfile CMD, start command)."""
    if _PORT_ENV.search(command):
        out.ports.append(Fact("`$PORT` (set by the platform)", source))
    elif m := _PORT_FLAG.search(command):
        out.ports.append(Fact(m.group(1), source))
    for m in _INTERPOLATION.finditer(command):
        name = m.group(1) or m.group(3)
        requirement: Requirement = "defaulted" if m.group(2) else "required"
        out.env.append(EnvRead(name, source, requirement, origin))


def scan_dockerfile(snapshot: Snapshot, path: str, out: Collector) -> None:
    text = read_text(snapshot, path)
    if text is None:
        return
    last_cmd: Process | None = None
    args: dict[str, str] = {}
    for number, raw in enumerate(_logical_lines(text), start=1):
        line = raw.strip()
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG" and (m := re.match(r"([A-Za-z_]\w*)=(\S+)", rest.strip())):
            args[m.group(1)] = m.group(2).strip("\"'")
        elif word == "FROM":
            image = _substitute(rest.split()[0] if rest.split() else "", args)
            if image.startswith(("python:", "node:")):
                out.runtimes.append(Fact(f"`{image}`", Source(path, number)))
        elif word in ("CMD", "ENTRYPOINT"):
            rest = _exec_form(rest)
            last_cmd = Process("web", safe_command(rest), Source(path, number))
            _command_facts(rest, Source(path, number), "procfile", out)
            _migration_facts(rest, Source(path, number), out)
        elif word == "EXPOSE" and (m := re.match(r"(\d{2,5})", rest.strip())):
            out.ports.append(Fact(m.group(1), Source(path, number)))
        elif word == "HEALTHCHECK":
            for m in re.finditer(r"https?://[^/\s]+(/[\w\-/]*)", rest):
                if is_health(m.group(1), conventions().health_paths):
                    out.health.append(Fact("/" + m.group(1).strip("/"), Source(path, number)))
    # Only the last CMD counts, and a Procfile's process types take precedence.
    if last_cmd is not None and not any(p.name == "web" for p in out.processes):
        out.processes.append(last_cmd)


def _substitute(image: str, args: dict[str, str]) -> str:
    """``python:${PYTHON_VERSION}`` with the Dockerfile's ``ARG`` defaults filled in."""

    def value(m: re.Match[str]) -> str:
        return args.get(m.group(1) or m.group(3) or "", m.group(0))

    return _INTERPOLATION.sub(value, image)


def _exec_form(argument: str) -> str:
    """``["gunicorn", "app:app"]`` -> ``gunicorn app:app``; shell form stays as written."""
    try:
        words = json.loads(argument)
    except ValueError:
        return argument
    if isinstance(words, list) and all(isinstance(w, str) for w in words):
        return " ".join(words)
    return argument


def scan_compose(snapshot: Snapshot, path: str, out: Collector) -> None:
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
        _compose_env_files(path, service, out)
        profiles = service.get("profiles")
        if isinstance(profiles, list) and set(map(str, profiles)) & set(conv.production_words):
            line = _line_of(service, "profiles")
            out.own_deploys.append(
                Fact(f"compose production profile in `{path}`", Source(path, line))
            )
        command = service.get("command")
        if isinstance(command, list):
            command = " ".join(str(c) for c in command)
        if isinstance(command, str):
            _migration_facts(command, Source(path, _line_of(service, "command")), out)
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


def _compose_env_files(path: str, service: dict[str, Any], out: Collector) -> None:
    """``env_file: .env.dev`` (a string, a list, or ``- path: ...`` entries)."""
    value = service.get("env_file")
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        name = item.get("path") if isinstance(item, dict) else item
        if isinstance(name, str) and (m := _ENV_FILE_NAME.match(name.strip())):
            line = _item_line(value, index) if isinstance(value, list) else None
            out.env_files.append(
                Fact(m.group(1), Source(path, line or _line_of(service, "env_file")))
            )


def scan_workflow(snapshot: Snapshot, path: str, out: Collector) -> None:
    data = snapshot.read(path)
    if data is None:
        return
    text = data.decode("utf-8", errors="replace")
    by_command = [(p.name, c) for p in conventions().platforms for c in p.commands]
    for number, line in enumerate(text.splitlines(), start=1):
        for m in _WORKFLOW_SECRET.finditer(line):
            if m.group(1) != "GITHUB_TOKEN":
                out.env.append(EnvRead(m.group(1), Source(path, number), "required", "workflow"))
        if not line.lstrip().startswith("#"):
            for platform, command in by_command:
                if command in line:
                    out.platforms.append(Fact(platform, Source(path, number)))
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
    steps = _workflow_steps(path, doc)
    publishes = steps.publishes[0].source if steps.publishes else None
    out.workflows.append(Workflow(path, name, triggers, steps.runs_tests, steps.deploys, publishes))
    out.publishes.extend(steps.publishes)
    if steps.deploys is not None:
        marker = Fact(f"deploy workflow `{path}`", steps.deploys)
        out.deploy_markers.append(marker)
        out.own_deploys.append(marker)
    elif publishes is not None:
        # Publishing counts as deploying something (as it always has), but not as this
        # repository deploying itself: see RepoFacts.published_artifact.
        out.deploy_markers.append(Fact(f"workflow `{path}` publishing an image", publishes))


@dataclass
class _Steps:
    runs_tests: Source | None = None
    deploys: Source | None = None
    publishes: list[Fact] = field(default_factory=list)


def _workflow_steps(path: str, doc: dict[str, Any]) -> _Steps:
    conv = conventions()
    found = _Steps()
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict):
        return found
    for job_id, job in jobs.items():
        steps = job.get("steps") if isinstance(job, dict) else None
        if not isinstance(steps, list):
            continue
        # A job named `deploy` that only pushes an image publishes it (a base image's
        # release job); one that does anything after the push deploys.
        if _deploy_job(str(job_id), job, steps) and not only_publishes(steps, conv):
            found.deploys = found.deploys or Source(path, _line_of(jobs, job_id))
        named = metadata_images(steps)
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            line = _item_line(steps, index)
            uses, run = step.get("uses"), step.get("run")
            if isinstance(uses, str) and uses.lower().startswith(conv.deploy_actions):
                found.deploys = found.deploys or Source(path, line)
            if (images := published_images(step, conv)) is not None:
                for image in images or named or [""]:
                    found.publishes.append(Fact(image, Source(path, line)))
            if isinstance(run, str):
                if any(_has_command(run, c) for c in conv.deploy_commands):
                    found.deploys = found.deploys or Source(path, line)
                if any(_has_command(run, c) for c in conv.test_commands):
                    found.runs_tests = found.runs_tests or Source(path, line)
    return found


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


def scan_fly(snapshot: Snapshot, out: Collector) -> None:
    text = read_text(snapshot, "fly.toml")
    if text is None:
        return
    try:
        doc = toml_loads(text)
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
        _migration_facts(deploy["release_command"], source, out)
    service = doc.get("http_service")
    if isinstance(service, dict):
        if isinstance(service.get("internal_port"), int):
            source = Source("fly.toml", line_of("internal_port"))
            out.ports.append(Fact(str(service["internal_port"]), source))
        checks = service.get("checks")
        for check in checks if isinstance(checks, list) else []:
            route = check.get("path") if isinstance(check, dict) else None
            if isinstance(route, str) and is_health(route, conventions().health_paths):
                source = Source("fly.toml", line_of(route))
                out.health.append(Fact("/" + route.strip("/"), source))


def scan_render(snapshot: Snapshot, out: Collector) -> None:
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
                _migration_facts(service[key], source, out)
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


def scan_app_json(snapshot: Snapshot, out: Collector) -> None:
    """Heroku's ``app.json``: the config vars it declares (``env``) and its release scripts."""
    text = read_text(snapshot, "app.json")
    if text is None:
        return
    try:
        doc = json_loads(text)
    except (ValueError, RecursionError):
        out.notes.append(Note("app.json", "does not parse as JSON"))
        return
    env = doc.get("env") if isinstance(doc, dict) else None
    lines = text.splitlines()
    for key, spec in env.items() if isinstance(env, dict) else ():
        if not valid_env_name(str(key)):
            continue
        line = next((i for i, ln in enumerate(lines, 1) if f'"{key}"' in ln), None)
        has_value = isinstance(spec, str) or (
            isinstance(spec, dict) and ("value" in spec or "generator" in spec)
        )
        requirement: Requirement = "defaulted" if has_value else "required"
        out.env.append(EnvRead(str(key), Source("app.json", line), requirement, "compose"))


def scan_runtimes(snapshot: Snapshot, out: Collector) -> None:
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
    if "setup.py" in snapshot.all_paths or snapshot.read("setup.py") is not None:
        out.packaged = Source("setup.py")
    text = read_text(snapshot, "pyproject.toml")
    if text is not None:
        try:
            doc = toml_loads(text)
        except tomllib.TOMLDecodeError as exc:
            out.notes.append(Note("pyproject.toml", f"does not parse as TOML: {exc}"))
            doc = {}
        project = doc.get("project")
        requires = project.get("requires-python") if isinstance(project, dict) else None
        if isinstance(project, dict) and project.get("name") and "build-system" in doc:
            out.packaged = Source("pyproject.toml")
        if isinstance(requires, str):
            number = next(
                (i for i, ln in enumerate(text.splitlines(), 1) if "requires-python" in ln), None
            )
            out.runtimes.append(
                Fact(
                    f"Python `{requires[:40]}` (requires-python)", Source("pyproject.toml", number)
                )
            )
