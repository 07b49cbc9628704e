"""Secret rules, placeholder stop-lists and revocation pages, loaded from ``fixers/data``.

Everything that changes with the world (token formats, documentation stand-ins,
where to revoke a key) is data; this module only parses and compiles it, once.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
RULES_FILE = DATA_DIR / "secret_rules.toml"
PLACEHOLDERS_FILE = DATA_DIR / "placeholders.toml"
REVOCATION_FILE = DATA_DIR / "revocation.toml"


# Keyword-anchored rules (`anchor` + `value` in the data): the provider's name somewhere in
# the assigned identifier, an assignment operator of any common language, the value.
_ANCHOR_NAME = r"[A-Za-z0-9_.-]{0,40}"
_ANCHOR_OP = r"""["'\]]?[ \t]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,|\.=)[\s'"`=]{0,5}"""
_ANCHOR_END = r"""(?:[^A-Za-z0-9_+/=-]|$)"""


def anchored_regex(anchors: list[str], value: str) -> tuple[str, str]:
    """(regex, hs_regex) for a keyword-anchored rule: value in group 1."""
    names = "|".join(anchors)
    lead = f"(?i:(?:{names}){_ANCHOR_NAME})"
    regex = f"{lead}{_ANCHOR_OP}({value}){_ANCHOR_END}"
    return regex, f"{lead}{_ANCHOR_OP}(?:{value})"


_TEMPLATE_MARKERS = ("${", "{{", "%(", "$(", "<%", "#{")


class RuleDataError(ValueError):
    """The rule data files are malformed (a bug in our data, caught by the tests)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One credential format. ``regex`` is the authority; ``hs_regex`` only prefilters."""

    id: str
    provider: str
    title: str
    kind: str
    regex: str
    hs_regex: str
    keywords: tuple[bytes, ...]
    secret_groups: tuple[int, ...]
    span_group: int | None
    name_group: int | None
    user_group: int | None
    min_entropy: float
    min_length: int
    require_digit: bool
    generic: bool
    multiline: bool
    case_insensitive: bool
    env: str
    pairs_with: str | None
    priority: int
    source: str
    compiled: re.Pattern[bytes] | None = field(default=None, compare=False, repr=False)
    # The cheap candidate finder the pure-Python engine runs first (``hs_regex``, when it is
    # simpler than ``regex``): the full regex then only runs on the lines it points at.
    prefilter: re.Pattern[bytes] | None = field(default=None, compare=False, repr=False)
    # Variants for code files, where an unquoted right-hand side is code, never a value:
    # generic rules drop their unquoted branch there (far fewer candidates in source).
    hs_regex_code: str = ""
    prefilter_code: re.Pattern[bytes] | None = field(default=None, compare=False, repr=False)
    # "leaked-secret" (fails the check) or a lower severity label (contract.Severity).
    severity: str = "leaked-secret"
    # A hard-coded fallback (`os.getenv("SECRET_KEY", "dev")`): the literal counts whatever
    # it looks like (a weak stand-in is the problem), and the fix fails fast instead.
    fallback: bool = False
    # Lines after the candidate's that the regex may reach (`<apiToken>\n  value\n</...>`).
    extra_lines: int = 0
    # A template our tests and benchmark build true positives from (see samples.py).
    sample: str = ""
    sample_context: str = ""
    sample_suffix: str = ".py"  # the kind of file the sample context is written in
    # The format alone is not distinctive: the rule needs its keyword next to the value.
    contextual: bool = False


@dataclass(frozen=True, slots=True)
class Revocation:
    name: str
    revoke: str
    docs: str


@dataclass(frozen=True, slots=True)
class Placeholders:
    """Values that are never credentials; see placeholders.toml."""

    all_contains: tuple[str, ...]
    all_patterns: tuple[re.Pattern[str], ...]
    generic_exact: frozenset[str]
    generic_contains: tuple[str, ...]
    generic_patterns: tuple[re.Pattern[str], ...]
    database_exact: frozenset[str]
    generic_name_contains: tuple[bytes, ...] = ()

    def is_setting_name(self, name: bytes) -> bool:
        """`password_reset_timeout`, `secret_name`: a setting *about* a secret, not one."""
        low = name.lower()
        return any(part in low for part in self.generic_name_contains)

    def is_template(self, value: str) -> bool:
        """`${SECRET}`, `{{ secret }}`, `%(secret)s`: a reference filled in elsewhere."""
        return any(t in value for t in _TEMPLATE_MARKERS)

    def is_placeholder(self, value: str, *, generic: bool) -> bool:
        low = value.lower()
        if any(c in low for c in self.all_contains):
            return True
        if any(p.search(value) for p in self.all_patterns):
            return True
        if not generic:
            return False
        if low in self.generic_exact or any(c in low for c in self.generic_contains):
            return True
        return any(p.search(value) for p in self.generic_patterns)


@dataclass(frozen=True, slots=True)
class ScanSettings:
    skip_dirs: frozenset[str]
    skip_files: frozenset[str]
    skip_suffixes: tuple[str, ...]
    minified_min_bytes: int
    minified_max_avg_line: int
    max_file_bytes: int
    dotenv_names: tuple[str, ...]
    dotenv_examples: tuple[str, ...]
    allow_markers: tuple[bytes, ...]
    allow_next_line_markers: tuple[bytes, ...]
    config_suffixes: tuple[str, ...]
    # Sample request bodies (API-client collections): keyword rules do not fire there.
    request_samples: tuple[str, ...] = ()
    # Test fixtures: reported at low severity, never failing the check, never deleted.
    fixture_dirs: frozenset[str] = frozenset()
    fixture_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    placeholders: Placeholders
    revocations: Mapping[str, Revocation]
    scan: ScanSettings
    reviewed: str

    def by_id(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    @property
    def regex_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.kind == "regex")


def shannon_entropy(value: str) -> float:
    """Bits per character: random tokens score high, words and repeats low."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _prefilter(pattern: str, case_insensitive: bool) -> re.Pattern[bytes]:
    """Compile a candidate finder. A case-insensitive one is lower-cased and run over the
    lower-cased file instead: `re.IGNORECASE` disables the literal scans that make it fast."""
    if not case_insensitive:
        return re.compile(pattern.encode("ascii"))
    if re.search(r"\\[SWDBAZ]", pattern):
        raise ValueError("a case-insensitive hs_regex may not use upper-case escapes")
    return re.compile(pattern.lower().encode("ascii"))


def _rule(raw: Mapping[str, Any]) -> Rule:
    try:
        kind = str(raw.get("kind", "regex"))
        regex = str(raw.get("regex", ""))
        if "anchor" in raw:
            regex, anchored_hs = anchored_regex(list(raw["anchor"]), str(raw["value"]))
            raw = {
                "hs_regex": anchored_hs,
                "secret_groups": [1],
                "keywords": [a.lower() for a in raw["anchor"]],
                "contextual": True,
                "extra_lines": 1,  # `<apiToken>` on one line, the value on the next
                **raw,
            }
        ci = bool(raw.get("case_insensitive", False))
        compiled = prefilter = prefilter_code = None
        hs_regex = str(raw.get("hs_regex", regex))
        hs_regex_code = str(raw.get("hs_regex_code", hs_regex))
        if kind == "regex":
            flags = re.IGNORECASE if ci else 0
            if hs_regex != regex:
                prefilter = _prefilter(hs_regex, ci)
            prefilter_code = (
                _prefilter(hs_regex_code, ci) if hs_regex_code != hs_regex else prefilter
            )
            if raw.get("multiline"):
                flags |= re.DOTALL
            compiled = re.compile(regex.encode("ascii"), flags)
        groups = tuple(int(g) for g in raw.get("secret_groups", ()))
        return Rule(
            id=str(raw["id"]),
            provider=str(raw["provider"]),
            title=str(raw["title"]),
            kind=kind,
            regex=regex,
            hs_regex=hs_regex,
            hs_regex_code=hs_regex_code,
            keywords=tuple(str(k).lower().encode("ascii") for k in raw.get("keywords", ())),
            secret_groups=groups,
            span_group=int(raw["span_group"]) if "span_group" in raw else None,
            name_group=int(raw["name_group"]) if "name_group" in raw else None,
            user_group=int(raw["user_group"]) if "user_group" in raw else None,
            min_entropy=float(raw.get("min_entropy", 0.0)),
            min_length=int(raw.get("min_length", 0)),
            require_digit=bool(raw.get("require_digit", False)),
            generic=bool(raw.get("generic", False)),
            multiline=bool(raw.get("multiline", False)),
            case_insensitive=ci,
            env=str(raw.get("env", "")),
            pairs_with=str(raw["pairs_with"]) if "pairs_with" in raw else None,
            priority=int(raw.get("priority", 0)),
            source=str(raw["source"]),
            compiled=compiled,
            prefilter=prefilter,
            prefilter_code=prefilter_code,
            severity=str(raw.get("severity", "leaked-secret")),
            fallback=bool(raw.get("fallback", False)),
            extra_lines=int(raw.get("extra_lines", 0)),
            sample=str(raw.get("sample", "")),
            sample_context=str(raw.get("sample_context", "")),
            sample_suffix=str(raw.get("sample_suffix", ".py")),
            contextual=bool(raw.get("contextual", raw.get("fallback", False))),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise RuleDataError(f"bad secret rule {raw.get('id', '?')!r}: {exc}") from exc


def _placeholders(raw: Mapping[str, Any]) -> Placeholders:
    everywhere = raw.get("all", {})
    generic = raw.get("generic", {})
    return Placeholders(
        all_contains=tuple(s.lower() for s in everywhere.get("contains", ())),
        all_patterns=tuple(re.compile(p) for p in everywhere.get("patterns", ())),
        generic_exact=frozenset(s.lower() for s in generic.get("exact", ())),
        generic_contains=tuple(s.lower() for s in generic.get("contains", ())),
        generic_patterns=tuple(re.compile(p) for p in generic.get("patterns", ())),
        database_exact=frozenset(s.lower() for s in raw.get("database", {}).get("exact", ())),
        generic_name_contains=tuple(s.lower().encode() for s in generic.get("name_contains", ())),
    )


def _scan_settings(raw: Mapping[str, Any]) -> ScanSettings:
    return ScanSettings(
        skip_dirs=frozenset(raw.get("skip_dirs", ())),
        skip_files=frozenset(raw.get("skip_files", ())),
        skip_suffixes=tuple(raw.get("skip_suffixes", ())),
        minified_min_bytes=int(raw.get("minified_min_bytes", 4096)),
        minified_max_avg_line=int(raw.get("minified_max_avg_line", 400)),
        max_file_bytes=int(raw.get("max_file_bytes", 5_000_000)),
        dotenv_names=tuple(raw.get("dotenv_names", ())),
        dotenv_examples=tuple(raw.get("dotenv_examples", ())),
        allow_markers=tuple(m.encode() for m in raw.get("allow_markers", ())),
        allow_next_line_markers=tuple(m.encode() for m in raw.get("allow_next_line_markers", ())),
        config_suffixes=tuple(raw.get("config_suffixes", ())),
        request_samples=tuple(raw.get("request_samples", ())),
        fixture_dirs=frozenset(d.lower() for d in raw.get("fixture_dirs", ())),
        fixture_files=tuple(raw.get("fixture_files", ())),
    )


def load_ruleset(
    rules_file: Path = RULES_FILE,
    placeholders_file: Path = PLACEHOLDERS_FILE,
    revocation_file: Path = REVOCATION_FILE,
) -> RuleSet:
    """Parse and compile the three data files."""
    try:
        rules_raw = tomllib.loads(rules_file.read_text("utf-8"))
        ph_raw = tomllib.loads(placeholders_file.read_text("utf-8"))
        rev_raw = tomllib.loads(revocation_file.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleDataError(f"cannot load secret rule data: {exc}") from exc
    rules = tuple(_rule(r) for r in rules_raw.get("rule", ()))
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise RuleDataError("duplicate secret rule ids")
    revocations = {
        key: Revocation(str(v["name"]), str(v["revoke"]), str(v.get("docs", "")))
        for key, v in rev_raw.get("provider", {}).items()
    }
    return RuleSet(
        rules=rules,
        placeholders=_placeholders(ph_raw),
        revocations=revocations,
        scan=_scan_settings(rules_raw.get("scan", {})),
        reviewed=str(rules_raw.get("reviewed", "")),
    )


@functools.cache
def default_ruleset() -> RuleSet:
    """The shipped rules, compiled once per process (immutable, safe to share)."""
    return load_ruleset()
