"""`runtime-drift`: one Python version from laptop to CI to production.

Pins are read from everywhere a Python version is written -- the deploy side
(Dockerfile ``FROM python:``, ``runtime.txt``, ``render.yaml``'s
``PYTHON_VERSION``) and the rest (``.python-version``, ``.tool-versions``,
``requires-python``, ``actions/setup-python`` inputs and CI matrices) -- plus
the ``runs-on`` labels of every job.

Deploy wins: when the deploy side names one version, a dev or CI pin that
says otherwise is edited to match (a minimal byte edit of that one value).
When the deploy side disagrees with itself, when the CI matrix deliberately
spans versions, or when deploy itself is end-of-life, nothing is edited and
the finding says why. End-of-life dates and runner retirements are data
(``fixers/data/python_eol.toml``, ``fixers/data/runner_images.toml``).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from typing import Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from fixers.contract import (
    Context,
    Explanation,
    FileEdit,
    Finding,
    Patch,
    Severity,
    Snapshot,
    fingerprint,
)
from fixers.production.facts import FACT_PATTERNS, extract_facts
from fixers.production.workflows import (
    WORKFLOW_PATTERNS,
    EditError,
    ScalarRef,
    Workflow,
    WorkflowCache,
    WorkflowError,
    load_workflow,
    load_workflows,
    parse_yaml,
    replace_scalar,
)

__all__ = [
    "PythonPin",
    "RunnerRef",
    "RuntimeDriftFixer",
    "RuntimeFacts",
    "RuntimeTables",
    "collect_facts",
    "load_runtime_tables",
    "minor_of",
    "project_python",
]

NAME = "runtime-drift"
MAX_TEXT_BYTES = 256 * 1024  # pins live in small files; bigger ones are not read

Source = Literal[
    "dockerfile",
    "runtime.txt",
    "render.yaml",
    ".python-version",
    ".tool-versions",
    "requires-python",
    "setup-python",
    "ci-matrix",
]

_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9][\w.-]*")
_VERSION = re.compile(r"(?<![\w.])(\d+\.\d+)(\.\d+)?")
_DOCKER_NAMES = ("Dockerfile", "Containerfile")
_DEPLOY_DIRS = frozenset({"docker", ".docker", "deploy", "deployment", "ops", "infra"})


def minor_of(text: str) -> str | None:
    """``"3.11.4"``, ``"3.11-slim"``, ``"python-3.11"``, ``"3.13t"`` -> ``"3.11"``/``"3.13"``."""
    if "pypy" in text.lower() or "graalpy" in text.lower():
        return None  # another interpreter's release line
    match = _VERSION.search(text)
    if match is None or not match.group(1).startswith(("2.", "3.")):
        return None
    return match.group(1)


def _minor_key(minor: str) -> tuple[int, int]:
    major, _, rest = minor.partition(".")
    return int(major), int(rest)


# --- data ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    label: str
    status: str  # "deprecated" | "retired"
    retired: date | None
    replacement: str
    source: str


@dataclass(frozen=True, slots=True)
class RuntimeTables:
    eol: Mapping[str, date]  # minor -> end of life (end of month for "YYYY-MM")
    released: Mapping[str, date]
    eol_sources: Mapping[str, str]
    runners: Mapping[str, RunnerStatus]
    reviewed: str

    def is_eol(self, minor: str, today: date) -> bool:
        if minor in self.eol:
            return self.eol[minor] <= today
        known = sorted(self.eol, key=_minor_key)
        return bool(known) and _minor_key(minor) < _minor_key(known[0])

    def supported(self, today: date) -> list[str]:
        """Released, not end-of-life minors, oldest first."""
        return sorted(
            (m for m, d in self.released.items() if d <= today and not self.is_eol(m, today)),
            key=_minor_key,
        )


def _parse_date(text: str) -> date:
    if re.fullmatch(r"\d{4}-\d{2}", text):
        year, month = (int(x) for x in text.split("-"))
        # Month precision: the line is called end-of-life from the first day of
        # the following month (the check is "eol <= today"), never early.
        return date(year + month // 12, month % 12 + 1, 1)
    return date.fromisoformat(text)


def load_runtime_tables(eol: bytes | None = None, runners: bytes | None = None) -> RuntimeTables:
    data = resources.files("fixers").joinpath("data")
    eol_raw = tomllib.loads((eol or data.joinpath("python_eol.toml").read_bytes()).decode())
    run_raw = tomllib.loads((runners or data.joinpath("runner_images.toml").read_bytes()).decode())
    versions = eol_raw.get("versions", {})
    runner_map = {
        label: RunnerStatus(
            label=label,
            status=str(entry.get("status", "retired")),
            retired=date.fromisoformat(entry["retired"]) if "retired" in entry else None,
            replacement=str(entry["replacement"]),
            source=str(entry.get("source", "")),
        )
        for label, entry in run_raw.get("labels", {}).items()
    }
    return RuntimeTables(
        eol={m: _parse_date(str(v["end-of-life"])) for m, v in versions.items()},
        released={m: date.fromisoformat(str(v["released"])) for m, v in versions.items()},
        eol_sources={m: str(v.get("source", "")) for m, v in versions.items()},
        runners=runner_map,
        reviewed=str(eol_raw.get("meta", {}).get("reviewed", "")),
    )


# --- facts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PythonPin:
    """One place a Python version is written."""

    source: Source
    path: str
    line: int  # 1-based
    text: str  # the version as written ("3.11.4", "3.12-slim", ">=3.10")
    deploy: bool
    ref: ScalarRef | None = None  # where to edit it; None = never edited
    group: tuple[str, ...] = ()  # for matrix entries: (workflow path, job, key)

    @property
    def minor(self) -> str | None:
        return None if self.source == "requires-python" else minor_of(self.text)


@dataclass(frozen=True, slots=True)
class RunnerRef:
    path: str
    job: str
    ref: ScalarRef


@dataclass(frozen=True, slots=True)
class RuntimeFacts:
    pins: tuple[PythonPin, ...]
    runners: tuple[RunnerRef, ...]
    notes: tuple[str, ...] = ()  # what was skipped and why (e.g. gitignored pin)
    workflows: Mapping[str, Workflow] = field(default_factory=dict)

    @property
    def deploy_minors(self) -> set[str]:
        return {m for p in self.pins if p.deploy and (m := p.minor)}

    def deploy_minor(self) -> str | None:
        minors = self.deploy_minors
        return next(iter(minors)) if len(minors) == 1 else None


def _read_text(snapshot: Snapshot, path: str) -> str | None:
    data = snapshot.read(path)
    if data is None or len(data) > MAX_TEXT_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


def _gitignored(snapshot: Snapshot, path: str) -> bool:
    """Whether the root ``.gitignore`` ignores ``path`` (last matching rule wins)."""
    text = _read_text(snapshot, ".gitignore")
    if text is None:
        return False
    ignored = False
    name = path.rsplit("/", 1)[-1]
    for raw in text.splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#") or rule.endswith("/"):
            continue  # comments, and directory-only rules (our pins are files)
        negate = rule.startswith("!")
        rule = rule.removeprefix("!")
        # A rule with a slash is relative to the repository root; one without
        # matches the name at any depth.
        anchored = "/" in rule
        rule = rule.removeprefix("/")
        if fnmatch.fnmatchcase(path if anchored else name, rule):
            ignored = not negate
    return ignored


def _dockerfiles(snapshot: Snapshot, ctx: Context) -> tuple[list[str], list[str]]:
    """(deploy Dockerfiles, other Dockerfiles)."""
    candidates = [
        p
        for p in snapshot.paths()
        if not ctx.ignored(p)
        and not p.startswith(".devcontainer/")
        and any(
            (n := p.rsplit("/", 1)[-1]) == base
            or n.startswith(base + ".")
            or n.endswith("." + base)
            for base in (*_DOCKER_NAMES, "dockerfile")
        )
    ]
    referenced = set()
    fly = _read_text(snapshot, "fly.toml")
    if fly:
        try:
            build = tomllib.loads(fly).get("build", {})
            if isinstance(build, dict) and isinstance(build.get("dockerfile"), str):
                referenced.add(build["dockerfile"].lstrip("./"))
        except tomllib.TOMLDecodeError:
            pass
    render = _render_services(snapshot)
    for service in render:
        path = service.get("dockerfilePath")
        if isinstance(path, str):
            referenced.add(path.lstrip("./"))
    deploy = [p for p in candidates if p in referenced or p in _DOCKER_NAMES]
    if not deploy:
        # No root Dockerfile and none named by a platform manifest: a single
        # production-looking one (root `Dockerfile.prod`, `docker/Dockerfile`) still
        # counts; examples, docs and dev/test images never decide production.
        plain = [
            p
            for p in candidates
            if (p.count("/") == 0 or p.split("/", 1)[0] in _DEPLOY_DIRS)
            and not re.search(r"(dev|test|ci)", p.lower())
        ]
        deploy = plain if len(plain) == 1 else []
    return deploy, [p for p in candidates if p not in deploy]


_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_]\w*)=(\"?)([^\s\"]+)")
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)", re.I)
_PYTHON_IMAGE = re.compile(r"^(?:(?:docker\.io/)?(?:library/)?)python:(.+)$")
_SUBST = re.compile(r"\$\{?([A-Za-z_]\w*)\}?")


def _dockerfile_pins(path: str, text: str, deploy: bool) -> list[PythonPin]:
    args: dict[str, tuple[str, ScalarRef]] = {}
    pins: list[PythonPin] = []
    for index, line in enumerate(text.split("\n")):
        arg = _ARG.match(line)
        if arg:
            col = arg.start(3)
            args[arg.group(1)] = (arg.group(3), ScalarRef(arg.group(3), index, col))
            continue
        match = _FROM.match(line)
        if not match:
            continue
        image = _PYTHON_IMAGE.match(match.group(1))
        if not image:
            continue
        tag = image.group(1).split("@", 1)[0]
        tag_col = match.start(1) + match.group(1).index("python:") + len("python:")
        # Only the deploy Dockerfile's pin is a source of truth; other Dockerfiles
        # (tests of other versions, tooling images) are reported, never edited.
        ref: ScalarRef | None = ScalarRef(tag, index, tag_col) if deploy else None
        subst = _SUBST.search(tag)
        if subst and subst.group(1) in args:
            value, arg_ref = args[subst.group(1)]
            ref = arg_ref if deploy else None
            tag = tag.replace(subst.group(0), value)
        elif subst:
            continue  # a build argument without a default: decided at build time
        if minor_of(tag) is None:
            continue  # "latest", "3", "slim": not pinned to a release line
        pins.append(PythonPin("dockerfile", path, index + 1, tag, deploy, ref))
    return pins


def _render_services(snapshot: Snapshot) -> list[Mapping[str, Any]]:
    text = _read_text(snapshot, "render.yaml")
    if not text:
        return []
    try:
        doc = parse_yaml(text)
    except (YAMLError, RecursionError):
        return []
    services = doc.get("services") if isinstance(doc, Mapping) else None
    return [s for s in services if isinstance(s, Mapping)] if isinstance(services, list) else []


def _render_pins(snapshot: Snapshot) -> list[PythonPin]:
    pins = []
    for service in _render_services(snapshot):
        for var in service.get("envVars") or []:
            if isinstance(var, CommentedMap) and var.get("key") == "PYTHON_VERSION":
                value = var.get("value")
                if isinstance(value, str) and minor_of(value):
                    line = var.lc.value("value")[0] + 1 if "value" in var else 1
                    pins.append(PythonPin("render.yaml", "render.yaml", line, value, True))
    return pins


def _file_pin(snapshot: Snapshot, path: str, source: Source) -> PythonPin | None:
    text = _read_text(snapshot, path)
    if text is None:
        return None
    for index, line in enumerate(text.split("\n")):
        body = line.split("#", 1)[0]
        if source == ".tool-versions":
            parts = body.split()
            if len(parts) < 2 or parts[0] != "python":
                continue
            token = parts[1]
        elif source == "runtime.txt":
            token = body.strip()
            if not token.lower().startswith("python-"):
                continue
            token = token[len("python-") :]
        else:
            token = body.split()[0] if body.split() else ""
        if not token:
            continue
        if minor_of(token) is None:
            return None
        col = line.index(token)
        deploy = source == "runtime.txt"
        return PythonPin(source, path, index + 1, token, deploy, ScalarRef(token, index, col))
    return None


def _requires_python(snapshot: Snapshot) -> PythonPin | None:
    text = _read_text(snapshot, "pyproject.toml")
    if text is None:
        return None
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError:
        return None
    spec = project.get("requires-python") if isinstance(project, dict) else None
    if not isinstance(spec, str):
        return None
    line = next(
        (i + 1 for i, row in enumerate(text.split("\n")) if row.strip().startswith("requires-")),
        1,
    )
    return PythonPin("requires-python", "pyproject.toml", line, spec, False)


_MATRIX_EXPR = re.compile(r"^\$\{\{\s*matrix\.([\w-]+)\s*\}\}$")


def _workflow_pins(workflow: Workflow) -> tuple[list[PythonPin], list[RunnerRef]]:
    pins: list[PythonPin] = []
    runners: list[RunnerRef] = []
    for job in workflow.jobs:
        runners += [RunnerRef(workflow.path, job.id, ref) for ref in job.runs_on]
        if job.runs_on_expr and (m := _MATRIX_EXPR.match(job.runs_on_expr.strip())):
            runners += [RunnerRef(workflow.path, job.id, r) for r in job.matrix.get(m[1], ())]
        for step in job.steps:
            if not (step.uses or "").lower().startswith("actions/setup-python@"):
                continue
            ref = step.with_refs.get("python-version")
            if ref is None:
                continue
            matrix_key = _MATRIX_EXPR.match(ref.value.strip())
            if matrix_key:
                entries = job.matrix.get(matrix_key[1], ())
                group = (workflow.path, job.id, matrix_key[1])
                pins += [
                    PythonPin("ci-matrix", workflow.path, e.lineno, e.value, False, e, group)
                    for e in entries
                    if minor_of(e.value)
                ]
            elif "${{" not in ref.value and "\n" not in ref.value and minor_of(ref.value):
                pins.append(
                    PythonPin("setup-python", workflow.path, ref.lineno, ref.value, False, ref)
                )
    return pins, runners


def collect_facts(
    snapshot: Snapshot,
    ctx: Context,
    cache: WorkflowCache | None = None,
    *,
    workflows: bool = True,
) -> RuntimeFacts:
    """Every Python pin and runner label in the snapshot (``workflows=False``: not CI's)."""
    pins: list[PythonPin] = []
    notes: list[str] = []
    deploy_docker, other_docker = _dockerfiles(snapshot, ctx)
    for path in deploy_docker + other_docker:
        text = _read_text(snapshot, path)
        if text is not None:
            pins += _dockerfile_pins(path, text, path in deploy_docker)
    pins += _render_pins(snapshot)
    for pin in (
        _file_pin(snapshot, "runtime.txt", "runtime.txt"),
        _file_pin(snapshot, ".tool-versions", ".tool-versions"),
    ):
        if pin is not None and not ctx.ignored(pin.path):
            pins.append(pin)
    version_file = _file_pin(snapshot, ".python-version", ".python-version")
    if version_file is not None:
        if _gitignored(snapshot, ".python-version"):
            # A known trap: the file is a personal pyenv choice, ignored on purpose.
            notes.append("`.python-version` is gitignored: a local choice, not a project pin")
        else:
            # Heroku and Render read `.python-version` to pick the deploy runtime when
            # nothing more specific (runtime.txt, a Dockerfile) is there.
            platform = any(snapshot.read(p) is not None for p in ("Procfile", "app.json"))
            platform = platform or bool(_render_services(snapshot))
            if platform and not any(p.deploy for p in pins):
                version_file = replace(version_file, deploy=True)
            pins.append(version_file)
    requires = _requires_python(snapshot)
    if requires is not None:
        pins.append(requires)
    runners: list[RunnerRef] = []
    loaded = load_workflows(snapshot, ctx, cache)[0] if workflows else []
    for workflow in loaded:
        wf_pins, wf_runners = _workflow_pins(workflow)
        pins += wf_pins
        runners += wf_runners
    return RuntimeFacts(tuple(pins), tuple(runners), tuple(notes), {w.path: w for w in loaded})


def project_python(
    snapshot: Snapshot, ctx: Context, tables: RuntimeTables | None = None
) -> str | None:
    """The Python release line the project runs on (``"3.12"``), or ``None`` if unknowable.

    Deploy first, then ``.python-version``, then the oldest supported release
    ``requires-python`` allows (what a CI job should prove the code works on).
    """
    facts = collect_facts(snapshot, ctx, workflows=False)  # CI follows the project
    if (deploy := facts.deploy_minor()) is not None:
        return deploy
    for pin in facts.pins:
        if pin.source in (".python-version", ".tool-versions") and pin.minor:
            return pin.minor
    tables = tables or load_runtime_tables()
    requires = next((p for p in facts.pins if p.source == "requires-python"), None)
    if requires is not None:
        today = ctx.services.clock().date()
        allowed = _allowed(requires.text, tables.supported(today))
        if allowed:
            return allowed[0]
    return None


def _allowed(spec: str, minors: Sequence[str]) -> list[str] | None:
    try:
        specifier = SpecifierSet(spec)
    except InvalidSpecifier:
        return None
    out = []
    for minor in minors:
        try:
            # A line is allowed when its newest patch could be: probe a high patch.
            if specifier.contains(Version(f"{minor}.99"), prereleases=True) or specifier.contains(
                Version(f"{minor}.0"), prereleases=True
            ):
                out.append(minor)
        except InvalidVersion:  # pragma: no cover - minors come from our table
            continue
    return out


# --- findings -----------------------------------------------------------------------


def _finding(rule: str, severity: Severity, title: str, message: str, *parts: str, **kw: Any):
    return Finding(
        fixer=NAME,
        rule=rule,
        severity=severity,
        title=title,
        message=message,
        fingerprint=fingerprint(NAME, rule, *parts),
        **kw,
    )


def _describe(pin: PythonPin) -> str:
    # Pins are user text; keep what a message quotes short.
    text = pin.text if len(pin.text) <= 40 else pin.text[:39] + "…"
    return f"`{pin.path}:{pin.line}` ({pin.source}: `{text}`)"


def _eol_findings(facts: RuntimeFacts, tables: RuntimeTables, today: date) -> list[Finding]:
    out = []
    for pin in facts.pins:
        if pin.source == "requires-python":
            allowed = _allowed(pin.text, tables.supported(today))
            if allowed == []:
                out.append(
                    _finding(
                        "eol-python",
                        Severity.DRIFT,
                        "requires-python allows only end-of-life Python",
                        f'`requires-python = "{pin.text}"` excludes every supported Python '
                        f"release ({', '.join(tables.supported(today))}).",
                        pin.path,
                        "requires-python",
                        path=pin.path,
                        line=pin.line,
                    )
                )
            continue
        minor = pin.minor
        if minor is None or not tables.is_eol(minor, today):
            continue
        eol = tables.eol.get(minor)
        when = f" on {eol.isoformat()}" if eol else ""
        where = "production" if pin.deploy else "development/CI"
        out.append(
            _finding(
                "eol-python",
                Severity.DRIFT,
                f"Python {minor} is end-of-life",
                f"{_describe(pin)} pins Python {minor} for {where}; it stopped receiving "
                f"security fixes{when}. Moving to a supported release "
                f"({', '.join(tables.supported(today))}) is a deliberate upgrade, so "
                "Patchwell reports it rather than editing it.",
                pin.path,
                pin.source,
                minor,
                path=pin.path,
                line=pin.line,
                data={"minor": minor, "source": pin.source, "deploy": pin.deploy},
            )
        )
    return out


def _misread_fingerprint(pin: PythonPin) -> str:
    assert pin.ref is not None
    return fingerprint(NAME, "unquoted-version", pin.path, pin.ref.value, str(pin.ref.line))


def _misread_findings(facts: RuntimeFacts) -> list[tuple[PythonPin, Finding]]:
    """CI versions written as bare numbers that YAML reads differently (3.10 -> 3.1)."""
    out = []
    for pin in facts.pins:
        if pin.ref is None or not pin.ref.misread:
            continue
        value = pin.ref.value
        finding = Finding(
            fixer=NAME,
            rule="unquoted-version",
            severity=Severity.BROKEN_BUILD,
            title=f"`{value}` is read as the number {float(value)}",
            message=f"`{pin.path}:{pin.line}` writes Python `{value}` unquoted; YAML and "
            f"GitHub read it as {float(value)}, a Python that does not exist. "
            f'Quote it: `"{value}"`.',
            fingerprint=_misread_fingerprint(pin),
            path=pin.path,
            line=pin.line,
        )
        out.append((pin, finding))
    return out


def _runner_findings(facts: RuntimeFacts, tables: RuntimeTables, today: date) -> list[Finding]:
    out = []
    for runner in facts.runners:
        status = tables.runners.get(runner.ref.value.strip())
        if status is None:
            continue
        retired = status.status == "retired" or (status.retired and status.retired <= today)
        when = status.retired.isoformat() if status.retired else "a date to be announced"
        out.append(
            _finding(
                "retired-runner",
                Severity.BROKEN_BUILD if retired else Severity.DRIFT,
                f"Runner `{status.label}` is {'retired' if retired else 'being retired'}",
                f"Job `{runner.job}` runs on `{status.label}`, "
                + (
                    f"which GitHub retired on {when}: the job cannot start."
                    if retired
                    else f"which GitHub retires on {when} (brownouts before that)."
                )
                + f" Replacement: `{status.replacement}` (source: {status.source}).",
                runner.path,
                runner.job,
                status.label,
                str(runner.ref.line),
                path=runner.path,
                line=runner.ref.lineno,
                data={
                    "label": status.label,
                    "replacement": status.replacement,
                    "line": runner.ref.line,
                    "col": runner.ref.col,
                },
            )
        )
    return out


def _alignment(
    facts: RuntimeFacts, tables: RuntimeTables, today: date
) -> tuple[list[Finding], list[PythonPin]]:
    """Drift findings, and the pins that can be edited to the deploy version."""
    deploy = [p for p in facts.pins if p.deploy and p.minor]
    minors = {p.minor for p in deploy}
    # Dockerfiles that do not deploy (examples, dev and test images) may use other
    # versions on purpose; they are checked for end-of-life only.
    others = [p for p in facts.pins if not p.deploy and p.source != "dockerfile"]
    findings: list[Finding] = []
    editable: list[PythonPin] = []
    if len(minors) > 1:
        findings.append(
            _finding(
                "deploy-disagree",
                Severity.DRIFT,
                "Deploy configuration names several Python versions",
                "The deploy side does not agree with itself: "
                + "; ".join(_describe(p) for p in deploy)
                + ". Patchwell cannot tell which one production runs, so it edits nothing.",
                *sorted(p.path for p in deploy),
                path=deploy[0].path,
                line=deploy[0].line,
            )
        )
        return findings, editable
    if not minors:
        single = {p.minor for p in others if p.source != "ci-matrix" and p.minor}
        if len(single) > 1:
            pins = [p for p in others if p.minor and p.source != "ci-matrix"]
            findings.append(
                _finding(
                    "pins-disagree",
                    Severity.DRIFT,
                    "Python version pins disagree",
                    "Nothing deploys this project, and its pins disagree: "
                    + "; ".join(_describe(p) for p in pins)
                    + ". Which one is right is a project decision.",
                    *sorted({p.path for p in pins}),
                    path=pins[0].path,
                    line=pins[0].line,
                )
            )
        return findings, editable
    target = next(iter(minors))
    assert target is not None
    target_eol = tables.is_eol(target, today)
    groups: dict[tuple[str, ...], list[PythonPin]] = defaultdict(list)
    for pin in others:
        if pin.source == "ci-matrix":
            groups[pin.group].append(pin)
    for pin in others:
        if pin.source == "requires-python":
            allowed = _allowed(pin.text, [target])
            if allowed == []:
                findings.append(
                    _finding(
                        "drift",
                        Severity.DRIFT,
                        "requires-python excludes the deployed Python",
                        f"Production runs Python {target} but `requires-python = "
                        f'"{pin.text}"` excludes it. Widening or narrowing the supported '
                        "range is a project decision, so this is reported only.",
                        pin.path,
                        "requires-python",
                        path=pin.path,
                        line=pin.line,
                    )
                )
            continue
        if pin.source == "ci-matrix" and len(groups[pin.group]) > 1:
            continue  # handled per matrix below
        if pin.minor is None or pin.minor == target:
            continue
        fixable = pin.ref is not None and not target_eol
        why = (
            " Deploy is itself end-of-life, so Patchwell will not move this pin backwards."
            if target_eol
            else ""
        )
        findings.append(
            _finding(
                "drift",
                Severity.DRIFT,
                f"Python {pin.minor} here, {target} in production",
                f"{_describe(pin)} says Python {pin.minor}, but deploy uses {target} "
                f"({', '.join(_describe(p) for p in deploy)}).{why}",
                pin.path,
                pin.source,
                pin.minor,
                target,
                path=pin.path,
                line=pin.line,
                data={"target": target, "fixable": fixable},
            )
        )
        if fixable:
            editable.append(pin)
    for group, pins in groups.items():
        if len(pins) > 1 and target not in {p.minor for p in pins}:
            findings.append(
                _finding(
                    "drift",
                    Severity.DRIFT,
                    f"CI matrix never tests the deployed Python {target}",
                    f"Job `{group[1]}` in `{group[0]}` tests "
                    f"{', '.join(p.text for p in pins)} but production runs {target}. The "
                    "matrix spans versions on purpose, so Patchwell does not choose which "
                    "entry to change.",
                    *group,
                    target,
                    path=group[0],
                    line=pins[0].line,
                )
            )
    return findings, editable


def _aligned_text(old: str, deploy_pins: Sequence[PythonPin], target: str) -> str:
    """The new version text: as precise as the old one, never more precise than deploy."""
    precise = None
    for pin in deploy_pins:
        found = _VERSION.search(pin.text)
        if found and found.group(2) and found.group(1) == target:
            precise = found.group(0)
    match = _VERSION.search(old)
    if match is None:
        raise EditError(f"no version in {old!r}")
    new = precise if match.group(2) and precise else target
    return old[: match.start()] + new + old[match.end() :]


def _apply(text: str, edits: Sequence[tuple[ScalarRef, str]]) -> str:
    for ref, value in sorted(edits, key=lambda e: (e[0].line, e[0].col), reverse=True):
        text = replace_scalar(text, ref, value)
    return text


@dataclass(frozen=True)
class RuntimeDriftFixer:
    tables: RuntimeTables = field(default_factory=load_runtime_tables)
    cache: WorkflowCache = field(default_factory=WorkflowCache, compare=False, repr=False)
    name: str = NAME
    patterns: tuple[str, ...] = (
        "**/Dockerfile",
        "**/Dockerfile.*",
        "**/*.Dockerfile",
        "**/*.dockerfile",
        "**/Containerfile",
        "runtime.txt",
        ".python-version",
        ".tool-versions",
        ".gitignore",
        "pyproject.toml",
        "render.yaml",
        "fly.toml",
        "Procfile",
        "app.json",
        *WORKFLOW_PATTERNS,
        *FACT_PATTERNS,  # whether the repository deploys or is a library
    )
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        today = ctx.services.clock().date()
        facts = collect_facts(snapshot, ctx, self.cache)
        findings = _eol_findings(facts, self.tables, today)
        repo = extract_facts(snapshot, ctx.ignored)
        if repo.library:
            # A library tests the Pythons its users run, end-of-life ones included, on
            # purpose; it has no production runtime of its own to keep current.
            findings = [f for f in findings if f.data.get("deploy") or f.data.get("source") is None]
        findings += _runner_findings(facts, self.tables, today)
        findings += [f for _, f in _misread_findings(facts)]
        if repo.template_generator is not None:
            # A project generator (cookiecutter-flask): its root Dockerfile runs the
            # generator, not an app, so no Python is "production" to align CI with.
            return findings
        drift, _ = _alignment(facts, self.tables, today)
        return findings + drift

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        today = ctx.services.clock().date()
        facts = collect_facts(snapshot, ctx, self.cache)
        wanted = {f.fingerprint for f in findings}
        patches = []
        align = self._align_patch(snapshot, facts, today, wanted)
        if align is not None:
            patches.append(align)
        taken = set(align.fingerprints) if align is not None else set()
        quote = self._quote_patch(snapshot, facts, wanted, taken)
        if quote is not None:
            patches.append(quote)
        runners = self._runner_patch(snapshot, facts, today, wanted)
        if runners is not None:
            patches.append(runners)
        return patches

    def _align_patch(
        self, snapshot: Snapshot, facts: RuntimeFacts, today: date, wanted: set[str]
    ) -> Patch | None:
        drift, editable = _alignment(facts, self.tables, today)
        by_pin = {(f.path, f.line): f for f in drift if f.rule == "drift"}
        chosen = [
            p for p in editable if (f := by_pin.get((p.path, p.line))) and f.fingerprint in wanted
        ]
        target = facts.deploy_minor()
        if not chosen or target is None:
            return None
        deploy = [p for p in facts.pins if p.deploy]
        per_file: dict[str, list[tuple[ScalarRef, str]]] = defaultdict(list)
        lines = []
        for pin in chosen:
            assert pin.ref is not None
            new = _aligned_text(pin.ref.value, deploy, target)
            if pin.ref.number:
                new = f'"{new}"'  # an unquoted 3.10 would be read as 3.1
            per_file[pin.path].append((pin.ref, new))
            lines.append(f"- `{pin.path}:{pin.line}` ({pin.source}): `{pin.ref.value}` → `{new}`")
        edits = self._edits(snapshot, per_file)
        if not edits:
            return None
        return Patch(
            fixer=NAME,
            key="align-python",
            title=f"Align Python to {target}, the version production runs",
            edits=edits,
            explanation=Explanation(
                found=f"Production runs Python {target} ("
                + ", ".join(_describe(p) for p in deploy)
                + "), but other pins say otherwise:\n\n"
                + "\n".join(lines),
                why="Tests and local runs on a different Python than production let "
                "version-specific bugs (syntax, stdlib changes, wheels that do not exist for "
                "one version) reach production unseen.",
                changes="Edits only the version values listed above, keeping their quoting "
                "and precision; every other byte is unchanged.",
                verify="CI on this branch now runs the deployed Python; a local "
                f"`python --version` in the project should report {target}.",
                rollback="Revert this pull request.",
            ),
            severity=Severity.DRIFT,
            fingerprints=tuple(by_pin[(p.path, p.line)].fingerprint for p in chosen)
            + tuple(_misread_fingerprint(p) for p in chosen if p.ref and p.ref.misread),
        )

    def _quote_patch(
        self, snapshot: Snapshot, facts: RuntimeFacts, wanted: set[str], taken: set[str]
    ) -> Patch | None:
        found = [
            (pin, f)
            for pin, f in _misread_findings(facts)
            if f.fingerprint in wanted and f.fingerprint not in taken
        ]
        if not found:
            return None
        per_file: dict[str, list[tuple[ScalarRef, str]]] = defaultdict(list)
        for pin, _ in found:
            assert pin.ref is not None
            per_file[pin.path].append((pin.ref, f'"{pin.ref.value}"'))
        edits = self._edits(snapshot, per_file)
        if not edits:
            return None
        listed = "\n".join(f"- `{p.path}:{p.line}`: `{p.ref.value}`" for p, _ in found if p.ref)
        return Patch(
            fixer=NAME,
            key="quote-versions",
            title="Quote Python versions that YAML reads as numbers",
            edits=edits,
            explanation=Explanation(
                found="These versions are unquoted, so YAML -- and GitHub -- read them as "
                "floating-point numbers (`3.10` becomes `3.1`):\n\n" + listed,
                why="`actions/setup-python` then asks for a Python that does not exist and "
                "the job fails, or silently tests another version.",
                changes="Wraps each listed value in double quotes; nothing else changes.",
                verify="The jobs now set up exactly the versions written.",
                rollback="Revert this pull request.",
            ),
            severity=Severity.BROKEN_BUILD,
            fingerprints=tuple(f.fingerprint for _, f in found),
        )

    def _runner_patch(
        self, snapshot: Snapshot, facts: RuntimeFacts, today: date, wanted: set[str]
    ) -> Patch | None:
        found = [f for f in _runner_findings(facts, self.tables, today) if f.fingerprint in wanted]
        if not found:
            return None
        per_file: dict[str, list[tuple[ScalarRef, str]]] = defaultdict(list)
        lines = []
        for f in found:
            assert f.path is not None
            ref = ScalarRef(f.data["label"], f.data["line"], f.data["col"])
            per_file[f.path].append((ref, f.data["replacement"]))
            lines.append(f"- `{f.path}:{f.line}`: {f.message}")
        edits = self._edits(snapshot, per_file)
        if not edits:
            return None
        return Patch(
            fixer=NAME,
            key="runners",
            title="Move jobs off retired GitHub-hosted runner images",
            edits=edits,
            explanation=Explanation(
                found="\n".join(lines),
                why="A job on a retired image never starts; during deprecation GitHub fails "
                "it on purpose in scheduled brownouts.",
                changes="Replaces each retired label with the next image of the same OS "
                "family (from `fixers/data/runner_images.toml`, reviewed "
                f"{self.tables.reviewed}); nothing else changes.",
                verify="The affected jobs start and pass on this branch. Tools preinstalled "
                "on the old image may differ: check the image's readme if a step fails.",
                rollback="Revert this pull request (the old label will not run again).",
            ),
            severity=max(f.severity for f in found),
            fingerprints=tuple(f.fingerprint for f in found),
        )

    def _edits(
        self, snapshot: Snapshot, per_file: Mapping[str, list[tuple[ScalarRef, str]]]
    ) -> tuple[FileEdit, ...]:
        edits = []
        for path, changes in sorted(per_file.items()):
            data = snapshot.read(path)
            if data is None:
                continue
            try:
                text = _apply(data.decode("utf-8"), changes)
                # A scalar swapped for another plain token cannot change the YAML
                # structure (replace_scalar proved the old token's extent); anything
                # else is re-parsed before it may leave.
                plain = all(_PLAIN_TOKEN.fullmatch(new) for _, new in changes)
                if path.startswith(".github/workflows/") and not plain:
                    load_workflow(path, text.encode("utf-8"))
            except (EditError, WorkflowError, UnicodeDecodeError):
                continue  # refused: the finding stays report-only
            edits.append(FileEdit(path, "modify", text.encode("utf-8")))
        return tuple(edits)
