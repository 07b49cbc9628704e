"""Repository configuration: ``.github/patchwell.yml``, read, validated and defaulted.

The file is the repository owner's, so it is hostile input like any other: a
syntax error, an unknown key or a bad value never stops a scan. Each problem
becomes a :class:`ConfigProblem` naming the file, line and column (the engine
turns them into a failing check run) and the bad part falls back to its
default while the rest of the file still applies.

Validation is done by the JSON Schema shipped in ``fixers/data`` (the same file
users can point their editor at); this module only maps each schema error back
to the YAML line of the offending node and prunes what was wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from fixers.contract import Context, Services
from fixers.yaml_budget import YamlBudget, YamlBudgetError, check_yaml

__all__ = [
    "CONFIG_PATH",
    "ConfigProblem",
    "FixerMode",
    "FixerSettings",
    "RepoConfig",
    "config_schema",
    "load_repo_config",
    "parse_interval",
]

CONFIG_PATH = ".github/patchwell.yml"
SCHEMA_FILE = Path(__file__).parent / "data" / "patchwell-config.schema.json"

FixerMode = Literal["off", "report", "fix"]

# Bounds for hostile input. A real config is a few hundred bytes; these leave
# ample room while keeping the parse, the alias expansion and the nesting walk
# bounded (billion-laughs aliases expand node by node and hit MAX_NODES).
MAX_BYTES = 64 * 1024
MAX_NODES = 5_000
MAX_DEPTH = 20
CONFIG_BUDGET = YamlBudget(nodes=MAX_NODES, depth=MAX_DEPTH)
MAX_PROBLEMS = 50
MAX_MESSAGE = 200

MIN_INTERVAL = timedelta(minutes=15)
MAX_INTERVAL = timedelta(days=30)
_INTERVAL_RE = re.compile(r"^([0-9]{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the config file, at a 1-based line and column."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True, slots=True)
class FixerSettings:
    """One fixer's section: its mode and its own options (kebab-case keys, ``mode`` removed)."""

    mode: FixerMode = "fix"
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


_DEFAULT_SETTINGS = FixerSettings()


@dataclass(frozen=True)
class RepoConfig:
    """The effective configuration of one repository (defaults where the file said nothing)."""

    ignore_paths: tuple[str, ...] = ()
    rescan_interval: timedelta = timedelta(hours=24)
    open_pull_requests_limit: int = 5
    labels: tuple[str, ...] = ("patchwell",)
    reviewers: tuple[str, ...] = ()
    commit_message_prefix: str = "chore(patchwell):"
    #: Keep a "Patchwell dashboard" issue up to date (``dashboard: false`` opts out).
    dashboard: bool = True
    fixers: Mapping[str, FixerSettings] = field(default_factory=lambda: MappingProxyType({}))

    def settings_for(self, fixer_name: str) -> FixerSettings:
        return self.fixers.get(fixer_name, _DEFAULT_SETTINGS)

    def mode_for(self, fixer_name: str) -> FixerMode:
        return self.settings_for(fixer_name).mode

    def options_for(self, fixer_name: str) -> Mapping[str, Any]:
        return self.settings_for(fixer_name).options

    def context_for(self, fixer_name: str, services: Services) -> Context:
        """The :class:`Context` a fixer is run with. An ``off`` fixer is never run."""
        settings = self.settings_for(fixer_name)
        if settings.mode == "off":
            raise ValueError(f"fixer {fixer_name!r} is off in this repository's config")
        return Context(
            services=services,
            options=settings.options,
            ignore_paths=self.ignore_paths,
            mode=settings.mode,
        )


@cache
def config_schema() -> Mapping[str, Any]:
    """The shipped JSON Schema (read once; it is package data, not mutable state)."""
    return cast(Mapping[str, Any], json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


@cache
def _validator() -> Any:
    """The schema's validator. jsonschema is imported here, for a repository that has a
    config file: a scan of one without (most) does not pay its ~40 ms import."""
    import jsonschema

    return jsonschema.Draft202012Validator(config_schema())


def parse_interval(text: str) -> timedelta | None:
    """``"24h"`` / ``"30m"`` / ``"7d"`` / ``"90s"`` -> timedelta; ``None`` when malformed."""
    match = _INTERVAL_RE.match(text.strip())
    if not match:
        return None
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


# --------------------------------------------------------------------------- loading


class _TooBig(Exception):
    """The document expands past MAX_NODES or MAX_DEPTH."""


@dataclass
class _Budget:
    nodes: int = 0


def _plain(node: Any, depth: int, budget: _Budget) -> Any:
    """ruamel's round-trip objects -> plain JSON-like data, within the node/depth budget.

    Aliases come back from ruamel as shared objects; expanding them here is
    where a billion-laughs document would explode, hence the node budget.
    """
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _TooBig(f"the document expands to more than {MAX_NODES} nodes (aliases?)")
    if depth > MAX_DEPTH:
        raise _TooBig(f"the document nests deeper than {MAX_DEPTH} levels")
    if isinstance(node, Mapping):
        return {_key(k): _plain(v, depth + 1, budget) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v, depth + 1, budget) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    # ruamel's ScalarBoolean subclasses int: keep YAML 1.1 booleans booleans.
    if type(node).__name__ == "ScalarBoolean":
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime | date):
        return node.isoformat()
    return str(node)


def _key(key: Any) -> str:
    # JSON object keys are strings; a YAML key like `1:` or `true:` is then an
    # unknown key with a readable name rather than a crash.
    return str(key)


def _parse(text: str, path: str) -> tuple[Any, Any, list[ConfigProblem]]:
    """Parse ``text``: (round-trip tree, plain data, problems)."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        msg = f"the file is {size} bytes; the limit is {MAX_BYTES} bytes, so it was not read"
        return None, None, [ConfigProblem(path, 1, 1, msg)]
    try:
        # the shared event-stream budget: the (recursive) composer never sees a document
        # nested or aliased past it; _plain below stays a second guard on the tree
        check_yaml(text, CONFIG_BUDGET)
        tree = YAML(typ="rt").load(text)
    except YamlBudgetError as exc:
        return None, None, [ConfigProblem(path, 1, 1, str(exc))]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = _clip(str(exc.problem or exc.context or "invalid YAML"))
        return None, None, [ConfigProblem(path, line, col, f"YAML syntax error: {what}")]
    except _TooBig as exc:
        return None, None, [ConfigProblem(path, 1, 1, str(exc))]
    except RecursionError:
        return None, None, [ConfigProblem(path, 1, 1, "the document nests too deeply")]
    except (YAMLError, ValueError) as exc:
        return None, None, [ConfigProblem(path, 1, 1, f"YAML error: {type(exc).__name__}")]
    try:
        data = _plain(tree, 0, _Budget())
    except _TooBig as exc:
        return None, None, [ConfigProblem(path, 1, 1, str(exc))]
    return tree, data, []


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _position(tree: Any, where: Path_, *, key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the node at ``where`` (of its key when ``key``).

    Walks as far down the round-trip tree as it can; a scalar has no line info
    of its own, so its parent's record for it is used.
    """
    line, col = 0, 0
    node = tree
    if isinstance(node, CommentedMap | CommentedSeq):
        line, col = node.lc.line, node.lc.col
    for i, step in enumerate(where):
        last = i == len(where) - 1
        try:
            if isinstance(node, CommentedMap) and step in node:
                line, col = node.lc.key(step) if (key and last) else node.lc.value(step)
                node = node[step]
            elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
                line, col = node.lc.item(step)
                node = node[step]
            else:
                break
        except (KeyError, TypeError, AttributeError):
            break
    return (line or 0) + 1, (col or 0) + 1


def _dotted(where: Sequence[str | int]) -> str:
    out = ""
    for step in where:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(top level)"


def _schema_problems(tree: Any, data: Any, path: str) -> tuple[list[ConfigProblem], list[Path_]]:
    """Schema errors as problems, plus the data paths to prune."""
    problems: list[ConfigProblem] = []
    prune: list[Path_] = []
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.path])
    for error in errors:
        where: Path_ = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            for extra in sorted(set(error.instance) - known):
                line, col = _position(tree, (*where, extra), key=True)
                allowed = ", ".join(sorted(known)) or "none"
                msg = f"{_dotted((*where, extra))}: unknown key (allowed here: {allowed})"
                problems.append(ConfigProblem(path, line, col, _clip(msg)))
                prune.append((*where, extra))
            continue
        line, col = _position(tree, where)
        problems.append(ConfigProblem(path, line, col, _clip(f"{_dotted(where)}: {error.message}")))
        prune.append(where)
    return problems, prune


def _prune_point(where: Path_) -> Path_:
    """How much to throw away for an error at ``where``: the "bad part".

    Top-level settings are replaced whole by their default (a half-valid
    label list is not what anyone meant); inside ``fixers`` only the bad
    option (or the bad ``mode``) goes, so one typo does not silently turn a
    fixer the owner set to ``report`` back into ``fix``.
    """
    if not where:
        return ()
    if where[0] == "fixers" and len(where) >= 3:
        return where[:3]
    if where[0] == "fixers":
        return where[:2]
    return where[:1]


def _drop(data: Any, where: Path_) -> Any:
    if not where:
        return {}
    node = data
    for step in where[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return data
    if isinstance(node, dict):
        node.pop(where[-1], None)
    return data


def _check_fixer_names(
    tree: Any, data: dict[str, Any], path: str, known: frozenset[str] | None
) -> list[ConfigProblem]:
    fixers = data.get("fixers")
    if known is None or not isinstance(fixers, dict):
        return []
    problems = []
    for name in sorted(set(fixers) - known):
        line, col = _position(tree, ("fixers", name), key=True)
        allowed = ", ".join(sorted(known)) or "none registered"
        msg = f"fixers.{name}: unknown fixer (known: {allowed})"
        problems.append(ConfigProblem(path, line, col, _clip(msg)))
        fixers.pop(name)
    return problems


def _build(tree: Any, data: Mapping[str, Any], path: str) -> tuple[RepoConfig, list[ConfigProblem]]:
    """Plain validated data -> RepoConfig (plus the range checks a schema cannot say well)."""
    problems: list[ConfigProblem] = []
    kwargs: dict[str, Any] = {}
    if "ignore-paths" in data:
        kwargs["ignore_paths"] = tuple(data["ignore-paths"])
    interval = data.get("schedule", {}).get("interval")
    if interval is not None:
        parsed = parse_interval(interval)
        if parsed is not None and MIN_INTERVAL <= parsed <= MAX_INTERVAL:
            kwargs["rescan_interval"] = parsed
        else:
            line, col = _position(tree, ("schedule", "interval"))
            msg = f"schedule.interval: {interval!r} must be between 15m and 30d; using 24h"
            problems.append(ConfigProblem(path, line, col, _clip(msg)))
    if "open-pull-requests-limit" in data:
        kwargs["open_pull_requests_limit"] = data["open-pull-requests-limit"]
    if "labels" in data:
        kwargs["labels"] = tuple(data["labels"])
    if "reviewers" in data:
        kwargs["reviewers"] = tuple(data["reviewers"])
    prefix = data.get("commit-message", {}).get("prefix")
    if prefix is not None:
        kwargs["commit_message_prefix"] = prefix.strip()
    if "dashboard" in data:
        kwargs["dashboard"] = data["dashboard"]
    kwargs["fixers"] = MappingProxyType(
        {name: _settings(value) for name, value in data.get("fixers", {}).items()}
    )
    return RepoConfig(**kwargs), problems


def _settings(value: Any) -> FixerSettings:
    if isinstance(value, str):
        return FixerSettings(mode=cast(FixerMode, value))
    options = {k: v for k, v in value.items() if k != "mode"}
    return FixerSettings(
        mode=cast(FixerMode, value.get("mode", "fix")), options=MappingProxyType(options)
    )


def load_repo_config(
    text: str | None,
    *,
    path: str = CONFIG_PATH,
    known_fixers: Iterable[str] | None = None,
) -> tuple[RepoConfig, list[ConfigProblem]]:
    """Read ``.github/patchwell.yml`` text into a :class:`RepoConfig` and its problems.

    ``text`` is ``None`` when the repository has no config (all defaults, no
    problems). ``known_fixers`` are the registered fixer names; a section for
    any other name is a problem (``None`` skips that check). Never raises for
    bad input: every problem is reported and the bad part takes its default.
    """
    if text is None or not text.strip():
        return RepoConfig(), []
    tree, data, problems = _parse(text, path)
    if problems:
        return RepoConfig(), problems
    if data is None:
        return RepoConfig(), []
    if not isinstance(data, dict):
        line, col = _position(tree, ())
        msg = f"the top level must be a mapping of settings, not a {_kind(data)}"
        return RepoConfig(), [ConfigProblem(path, line, col, msg)]

    schema_problems, prune = _schema_problems(tree, data, path)
    for where in sorted({_prune_point(w) for w in prune}, key=len, reverse=True):
        data = _drop(data, where)
    if _validator().is_valid(data) is False:
        # Pruning is meant to leave a valid document; if it did not, be safe.
        return RepoConfig(), _limit(schema_problems)
    name_problems = _check_fixer_names(
        tree, data, path, frozenset(known_fixers) if known_fixers is not None else None
    )
    config, range_problems = _build(tree, data, path)
    all_problems = sorted(
        schema_problems + name_problems + range_problems, key=lambda p: (p.line, p.column)
    )
    return config, _limit(all_problems)


def _limit(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    last = problems[MAX_PROBLEMS - 1]
    note = ConfigProblem(last.path, last.line, last.column, f"... and {rest} more problems")
    return [*problems[: MAX_PROBLEMS - 1], note]


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
