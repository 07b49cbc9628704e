"""The scanning engine: which files to read, where candidates are, which are real.

Two stages. A *prefilter* finds the few places a rule could match: Hyperscan (one
compiled automaton for every rule, literal-factor prefiltering built in) when it is
installed, otherwise a per-rule keyword check on the lower-cased file before any
regex runs. The *confirmation* stage then runs the rule's Python regex only over
those places (one line, or a bounded window for multi-line keys) and applies the
gates: placeholder stop-lists, entropy, allow markers. Both engines share the
confirmation, so they report exactly the same hits; the tests hold them to that.

A :class:`Hit` carries the secret value because the fix must find and replace it;
it never leaves this package: its ``repr`` omits the value and findings carry only
masks and hashes.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fixers.contract import fingerprint, matches_any
from fixers.secrets import hscache
from fixers.secrets.rules import Rule, RuleSet, default_ruleset, entropy_ok

try:  # Hyperscan is optional: it only makes the prefilter faster.
    import hyperscan as _hs
except ImportError:  # pragma: no cover - exercised where the wheel is missing
    _hs = None

# "exhaustive" runs every rule's regex over every whole file, no prefilter: the reference
# the fast engines are tested against (tests/test_secrets_speed.py), far too slow for use.
EngineName = Literal["auto", "hyperscan", "re", "exhaustive"]

# A multi-line rule (a PEM block) is confirmed within this many bytes of its header.
MULTILINE_WINDOW = 64 * 1024

_ASSIGNED = re.compile(
    r"""([A-Za-z_$][A-Za-z0-9_.$-]*)["'\]]?"""
    # an optional type annotation (`apiKey: string = "..."`)
    r"""(?:[ \t]*:[ \t]*[A-Za-z_][A-Za-z0-9_.<>\[\]| ]*?)?"""
    r"""[ \t]*(?::=|=>|=|:|,)[ \t]*[A-Za-z]{0,2}["'`]?[ \t]*$"""
)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class Hit:
    """One confirmed secret. ``value`` is excluded from ``repr`` so it cannot leak via logs."""

    rule: Rule
    path: str
    line: int
    end_line: int
    start: int
    end: int
    span_start: int
    span_end: int
    name: str | None
    value: str = field(repr=False)

    @property
    def value_hash(self) -> str:
        return hashlib.sha256(self.value.encode("utf-8")).hexdigest()

    @property
    def accept_fingerprint(self) -> str:
        """What a user lists under ``accepted:``: rule + value, no path, line or commit."""
        return fingerprint(self.rule.id, self.value_hash)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.id, self.path, self.value_hash)

    @property
    def lo(self) -> int:
        return min(self.start, self.span_start)

    @property
    def hi(self) -> int:
        return max(self.end, self.span_end)


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


class _Hyperscan:
    """Hyperscan databases for every rule they can compile; the rest fall back to ``re``.

    Two databases share rule ids: ``db`` for config files and ``db_code`` for source code,
    where generic rules look only for quoted values."""

    def __init__(self, rules: tuple[Rule, ...], cache_dir: Path | None = None) -> None:
        assert _hs is not None
        self.rules: list[Rule] = list(rules)
        self.fallback: list[Rule] = []
        self.db: Any = None
        self.db_code: Any = None
        self.cache_dir = cache_dir
        try:
            self._compile_all()
        except _hs.error:
            # Some pattern is beyond Hyperscan: find which, and let `re` handle those.
            self.fallback = [r for r in rules if not self._compiles(r)]
            self.rules = [r for r in rules if r not in self.fallback]
            self._compile_all()

    def _compile_all(self) -> None:
        if self.rules:
            self.db = self._compile([r.hs_regex for r in self.rules], self.rules)
            self.db_code = self._compile([r.hs_regex_code for r in self.rules], self.rules)

    @staticmethod
    def _flags(rule: Rule) -> int:
        assert _hs is not None
        flags = 0
        if rule.case_insensitive:
            flags |= _hs.HS_FLAG_CASELESS
        return flags

    def _compile(self, patterns: list[str], rules: list[Rule], cached: bool = True) -> Any:
        """One database; from the on-disk cache when it holds these very patterns."""
        hs = _hs
        assert hs is not None
        expressions = [p.encode("ascii") for p in patterns]
        flags = [self._flags(r) for r in rules]

        def build() -> Any:
            db = hs.Database(mode=hs.HS_MODE_BLOCK)
            db.compile(
                expressions=expressions,
                ids=list(range(len(rules))),
                elements=len(rules),
                flags=flags,
            )
            return db

        if not cached:
            return build()
        key = hscache.database_key(hs, expressions, flags, hs.HS_MODE_BLOCK)
        return hscache.load_or_compile(hs, key, hs.HS_MODE_BLOCK, build, self.cache_dir)

    def _compiles(self, rule: Rule) -> bool:
        try:
            self._compile([rule.hs_regex], [rule], cached=False)
            self._compile([rule.hs_regex_code], [rule], cached=False)
        except _hs.error:  # type: ignore[union-attr]
            return False
        return True


@functools.cache
def _default_hyperscan() -> _Hyperscan:
    """The default rules' database, compiled once per process (read-only once built)."""
    return _Hyperscan(default_ruleset().regex_rules, hscache.default_cache_dir())


class Scanner:
    """Finds secrets in one file's bytes. Create one per scan (it owns Hyperscan scratch)."""

    def __init__(self, ruleset: RuleSet | None = None, engine: EngineName = "auto") -> None:
        self.ruleset = ruleset or default_ruleset()
        self.settings = self.ruleset.scan
        use_hs = engine == "hyperscan" or (engine == "auto" and _hs is not None)
        if use_hs and _hs is None:
            raise RuntimeError("the hyperscan engine was requested but is not installed")
        self._hs: _Hyperscan | None = None
        self._scratch: Any = None
        self._scratch_code: Any = None
        if use_hs:
            shipped = self.ruleset is default_ruleset()
            self._hs = (
                _default_hyperscan()
                if shipped
                else _Hyperscan(self.ruleset.regex_rules, hscache.default_cache_dir())
            )
            if self._hs.db is not None:
                self._scratch = _hs.Scratch(self._hs.db)  # type: ignore[union-attr]
                self._scratch_code = _hs.Scratch(self._hs.db_code)  # type: ignore[union-attr]
        self._exhaustive = engine == "exhaustive"
        self.engine_name = (
            "hyperscan" if self._hs is not None else engine if self._exhaustive else "re"
        )

    # -- which files -----------------------------------------------------------------

    def skip_reason(self, path: str, data: bytes) -> str | None:
        """Why a file is not scanned, or ``None`` to scan it."""
        s = self.settings
        parts = path.split("/")
        if any(p in s.skip_dirs for p in parts[:-1]):
            return "vendored or tool directory"
        name = parts[-1]
        if name in s.skip_files:
            return "lock file"
        lower = name.lower()
        if lower.endswith(s.skip_suffixes):
            return "binary or minified by name"
        if len(data) > s.max_file_bytes:
            return "larger than the scan limit"
        if b"\x00" in data[:8192]:
            return "binary content"
        if len(data) >= s.minified_min_bytes:
            lines = data.count(b"\n") + 1
            if len(data) / lines > s.minified_max_avg_line:
                return "minified content"
        return None

    def is_config_file(self, path: str) -> bool:
        name = _basename(path).lower()
        return name.endswith(self.settings.config_suffixes) or name.startswith(".env")

    def is_request_sample(self, path: str) -> bool:
        """An API client's saved requests (Bruno, Postman, Insomnia, .http files): their
        `"password": "pass123"` bodies are examples sent to a dev server, not settings."""
        return matches_any(path, self.settings.request_samples)

    # -- where to look -------------------------------------------------------------------

    def _windows(self, data: bytes, config: bool) -> Iterator[tuple[Rule, int, int]]:
        """(rule, start, end) byte ranges in which the rule's regex must run."""
        fallback: tuple[Rule, ...] | list[Rule]
        if self._exhaustive:
            for rule in self.ruleset.regex_rules:
                yield rule, 0, len(data)
            return
        if self._hs is None:
            fallback = self.ruleset.regex_rules
        else:
            fallback = self._hs.fallback
            yield from self._hs_windows(data, config)
        if fallback:
            lowered = data.lower()
            for rule in fallback:
                if rule.keywords and not any(k in lowered for k in rule.keywords):
                    continue
                prefilter = rule.prefilter if config else rule.prefilter_code
                if prefilter is None:
                    yield rule, 0, len(data)
                    continue
                seen: set[int] = set()
                haystack = lowered if rule.case_insensitive else data
                for m in prefilter.finditer(haystack):
                    window = _line_window(rule, data, m.end())
                    if window[0] not in seen:
                        seen.add(window[0])
                        yield rule, *window

    def _hs_windows(self, data: bytes, config: bool) -> Iterator[tuple[Rule, int, int]]:
        assert self._hs is not None
        if self._hs.db is None:
            return
        db, scratch = (
            (self._hs.db, self._scratch) if config else (self._hs.db_code, self._scratch_code)
        )
        ends: list[tuple[int, int]] = []

        def on_match(rule_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            ends.append((rule_id, end))

        db.scan(data, match_event_handler=on_match, scratch=scratch)
        seen: set[tuple[int, int]] = set()
        for rule_id, end in ends:
            rule = self._hs.rules[rule_id]
            lo, hi = _line_window(rule, data, end)
            if (rule_id, lo) not in seen:
                seen.add((rule_id, lo))
                yield rule, lo, hi

    # -- what is real -------------------------------------------------------------------

    def scan(self, path: str, data: bytes) -> list[Hit]:
        """Confirmed hits in ``data``, overlaps resolved in favour of the specific rule."""
        found: dict[tuple[str, int], Hit] = {}
        lines = _Lines(data)
        config = self.is_config_file(path)
        keyword_rules = not self.is_request_sample(path)
        for rule, lo, hi in _merge_multiline(self._windows(data, config)):
            assert rule.compiled is not None
            if rule.generic and not keyword_rules:
                continue
            for match in rule.compiled.finditer(data, lo, hi):
                hit = self._confirm(rule, match, path, data, lines, config)
                if hit is not None:
                    found.setdefault((rule.id, hit.start), hit)
        return _resolve_overlaps(list(found.values()))

    def _confirm(
        self,
        rule: Rule,
        m: re.Match[bytes],
        path: str,
        data: bytes,
        lines: _Lines,
        config: bool,
    ) -> Hit | None:
        group = next((g for g in rule.secret_groups if m.group(g) is not None), None)
        if group is None:
            return None
        unquoted = group == rule.unquoted_group
        if unquoted and not config:
            return None  # `token = make_token()` is code, not a value
        if rule.generic and _not_an_assignment(rule, m, data, config):
            return None
        value = m.group(group).decode("utf-8", "replace")
        if not self._plausible(rule, m, value):
            return None
        start, end = m.span(group)
        if self._allowed(data, start) or self.ruleset.placeholders.continues_masked(data, end):
            return None
        span_start, span_end = (
            m.span(rule.span_group) if rule.span_group is not None else (start, end)
        )
        lo, hi = min(start, span_start), max(end, span_end)
        line = lines.number(lo)
        return Hit(
            rule=rule,
            path=path,
            line=line,
            end_line=line + data.count(b"\n", lo, hi),
            start=start,
            end=end,
            span_start=span_start,
            span_end=span_end,
            name=self._name(rule, m, data, span_start),
            value=value,
        )

    def _plausible(self, rule: Rule, m: re.Match[bytes], value: str) -> bool:
        ph = self.ruleset.placeholders
        if rule.name_group is not None and ph.is_setting_name(m.group(rule.name_group) or b""):
            return False
        if rule.fallback:
            # Any literal fallback is the problem, `"changeme"` included; a template
            # marker (`"${SECRET}"`) or an empty string is not a value.
            return bool(value.strip()) and not (ph.is_template(value) or ph.is_masked_token(value))
        # A keyword rule whose keyword says "key" (`X-Api-Key: <uuid>`) keeps UUIDs, which
        # the generic stop-list treats as ids.
        generic = rule.generic and not (rule.uuid_values and _UUID.fullmatch(value))
        if len(value) < rule.min_length or ph.is_placeholder(value, generic=generic):
            return False
        if rule.require_digit and not any(c.isdigit() for c in value):
            return False
        if rule.user_group is not None:
            user = (m.group(rule.user_group) or b"").decode("utf-8", "replace")
            if value.lower() in ph.database_exact or value == user:
                return False
        return entropy_ok(value, rule.min_entropy)

    def _allowed(self, data: bytes, offset: int) -> bool:
        """An inline allow marker on the secret's line, or a next-line marker above it."""
        ls = data.rfind(b"\n", 0, offset) + 1
        le = data.find(b"\n", offset)
        line = data[ls : len(data) if le < 0 else le]
        if any(marker in line for marker in self.settings.allow_markers):
            return True
        if ls == 0:
            return False
        prev = data[data.rfind(b"\n", 0, ls - 1) + 1 : ls]
        return any(marker in prev for marker in self.settings.allow_next_line_markers)

    @staticmethod
    def _name(rule: Rule, m: re.Match[bytes], data: bytes, span_start: int) -> str | None:
        """The variable or key the secret is assigned to, if the line says."""
        if rule.name_group is not None and m.group(rule.name_group):
            return m.group(rule.name_group).decode("utf-8", "replace")
        ls = data.rfind(b"\n", 0, span_start) + 1
        prefix = data[max(ls, span_start - 200) : span_start].decode("utf-8", "replace")
        found = _ASSIGNED.search(prefix)
        return found.group(1) if found else None


_INTERPOLATION_OPENERS = (b"${", b"{{", b"%(", b"#{", b"$(", b"<%=")
_COMMENT_PREFIXES = (b"#", b";", b"//", b"--", b"!")


def _not_an_assignment(rule: Rule, m: re.Match[bytes], data: bytes, config: bool) -> bool:
    """A keyword rule's match that reads a name rather than assigning it a value:

    * an interpolation: `${POSTGRES_PASSWORD:?Variable not set}` (compose), `{{ password }}`,
      `%(password)s`, `#{password}`: the "name" is inside the opener, the "value" its
      default or error text;
    * a commented-out line of a config file (`#password_encryption = scram-sha-256` in
      postgresql.conf): documentation of a setting, not the setting.
    """
    if rule.name_group is None:
        return False
    ns = m.start(rule.name_group)
    before = data[max(0, ns - 3) : ns]
    if before.endswith(_INTERPOLATION_OPENERS):
        return True
    if not config:
        return False
    ls = data.rfind(b"\n", 0, ns) + 1
    return data[ls:ns].lstrip().startswith(_COMMENT_PREFIXES)


def _merge_multiline(
    windows: Iterator[tuple[Rule, int, int]],
) -> Iterator[tuple[Rule, int, int]]:
    """The windows, with overlapping ones of a multi-line rule merged into one.

    A multi-line window runs MULTILINE_WINDOW bytes past its header: scanned one by one,
    a file of many headers is rescanned once per header (quadratic up to the window
    size); merged, each byte is scanned once per rule."""
    spans: dict[str, tuple[Rule, list[tuple[int, int]]]] = {}
    for rule, lo, hi in windows:
        if rule.multiline:
            spans.setdefault(rule.id, (rule, []))[1].append((lo, hi))
        else:
            yield rule, lo, hi
    for rule, ranges in spans.values():
        ranges.sort()
        start, stop = ranges[0]
        for lo, hi in ranges[1:]:
            if lo > stop:
                yield rule, start, stop
                start = lo
            stop = max(stop, hi)
        yield rule, start, stop


def _line_window(rule: Rule, data: bytes, end: int) -> tuple[int, int]:
    """The line a candidate ends on (a bounded window from it for multi-line rules).

    A rule that may reach ``extra_lines`` further lines (an XML element's value alone on
    the line under its tag) gets as many lines before it too: the prefilter reports where
    a match *ends*, and the match may have started on an earlier line."""
    start = data.rfind(b"\n", 0, max(end - 1, 0)) + 1
    if rule.multiline:
        return start, min(len(data), start + MULTILINE_WINDOW)
    for _ in range(rule.extra_lines):
        if start == 0:
            break
        start = data.rfind(b"\n", 0, start - 1) + 1
    stop = data.find(b"\n", end)
    for _ in range(rule.extra_lines):
        if stop < 0:
            break
        stop = data.find(b"\n", stop + 1)
    return start, len(data) if stop < 0 else stop


class _Lines:
    """Line numbers by offset, indexed once per file on first use (hits are rare)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._starts: list[int] | None = None

    def number(self, offset: int) -> int:
        if self._starts is None:
            self._starts = [m.end() for m in re.finditer(b"\n", self._data)]
        return bisect.bisect_right(self._starts, offset) + 1


def _resolve_overlaps(hits: list[Hit]) -> list[Hit]:
    """Keep the highest-priority hit where spans overlap (a Stripe key, not 'generic')."""
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (-h.rule.priority, h.lo)):
        if all(hit.hi <= k.lo or hit.lo >= k.hi for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: (h.start, h.rule.id))
