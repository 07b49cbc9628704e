"""From hits to findings: push restriction, config accept-list, pairing, masking."""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fixers.contract import Context, Finding, Severity, Snapshot, fingerprint, mask, matches_any
from fixers.secrets.engine import Hit, Scanner
from fixers.secrets.rewrite import js_block_comments, language_of
from fixers.secrets.rules import Rule, RuleSet
from fixers.secrets.validate import private_key_parses, verdict

FIXER_NAME = "secrets"
_DOTENV_LINE = re.compile(rb"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*(.*)$")


@dataclass(frozen=True, slots=True)
class SecretOptions:
    """The ``fixers.secrets`` section of ``.github/patchwell.yml`` that this fixer reads."""

    accepted: frozenset[str]
    paths_ignore: tuple[str, ...]

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> SecretOptions:
        """Tolerant of shapes the schema should have rejected: a bad value is ignored."""
        accepted = _strings(options.get("accepted"))
        return cls(
            accepted=frozenset(a.strip() for a in accepted if a.strip()),
            paths_ignore=_strings(options.get("paths-ignore")),
        )


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(str(v) for v in value if isinstance(v, str | int))
    return ()


def is_dotenv(path: str, ruleset: RuleSet) -> bool:
    name = path.rsplit("/", 1)[-1]
    s = ruleset.scan
    return matches_any(name, s.dotenv_names) and not matches_any(name, s.dotenv_examples)


def dotenv_names(data: bytes) -> list[str]:
    """Variable names a dotenv file assigns (values are never returned)."""
    names: list[str] = []
    for raw in data.splitlines():
        m = _DOTENV_LINE.match(raw)
        if m and not raw.lstrip().startswith(b"#"):
            name = m.group(1).decode("ascii", "replace")
            if name not in names:
                names.append(name)
    return names


_SECRET_NAME = re.compile(
    rb"(?i)secret|passw|pwd|token|api_?key|(?:^|_)key(?:$|_)|private|credential|auth|salt|"
    rb"signing|encryption|dsn|cookie"
)


def dotenv_line_is_secret(name: str, value: str, scanner: Scanner) -> bool:
    """Whether one `NAME=value` of an env file holds a credential: a secret-named variable
    with a real-looking value, or a value any rule recognises (a token, a URL password)."""
    ph = scanner.ruleset.placeholders
    if not value:
        return False
    raw_name = name.encode("utf-8", "replace")
    named = _SECRET_NAME.search(raw_name) and not ph.is_setting_name(raw_name)
    if named and not ph.is_placeholder(value, generic=True):
        return True
    line = f"{name}={value}\n".encode("utf-8", "replace")
    return bool(scanner.scan(".env", line))


def _dotenv_has_credentials(data: bytes, scanner: Scanner) -> bool:
    """A `.env` of localhost URLs, ports and `changethis` stand-ins is development config,
    not a leak (the env-names fixer still reports that it is tracked)."""
    for raw in data.splitlines():
        m = _DOTENV_LINE.match(raw)
        if not m or raw.lstrip().startswith(b"#"):
            continue
        name = m.group(1).decode("utf-8", "replace")
        value = m.group(2).split(b" #", 1)[0].strip().strip(b"\"'").decode("utf-8", "replace")
        if dotenv_line_is_secret(name, value, scanner):
            return True
    return False


@dataclass(frozen=True, slots=True)
class FixtureIndex:
    """Which files are test fixtures: by directory or name, or named by a test file.

    Key and certificate files, JSON and dotenv files a test mentions count by their name
    alone (`load("server.key")`): tests load those. Any other data file (not source code)
    counts when a test names its exact path, from the repository root or from the test's
    own directory (`open("tests/models/whatwg.json")`, `Path(__file__).parent / "data/x.yaml"`
    written as `"data/x.yaml"`): a mere name (`settings.yaml`) could be the app's own."""

    mentioned: frozenset[str]
    named: frozenset[str] = frozenset()

    @classmethod
    def build(cls, snapshot: Snapshot, ruleset: RuleSet) -> FixtureIndex:
        """Every path-like word the test files mention (read once per snapshot)."""
        words: set[str] = set()
        named: set[str] = set()
        for path in snapshot.paths():
            if not is_fixture_path(path, ruleset) or not _is_test_code(path):
                continue
            data = snapshot.read(path)
            if data is None or len(data) > ruleset.scan.max_file_bytes:
                continue
            here = path.rsplit("/", 1)[0] if "/" in path else ""
            for m in _PATHISH.finditer(data):
                raw = m.group(0).decode("utf-8", "replace")
                ext = raw.rsplit(".", 1)[-1].lower()
                if ext in _KEYISH_EXTENSIONS:
                    word = raw.lstrip("./")
                    words.add(word)
                    words.add(word.rsplit("/", 1)[-1])
                elif ext not in _CODE_EXTENSIONS and len(named) < _MAX_NAMED:
                    named.add(posixpath.normpath(raw.removeprefix("./")))
                    if here:
                        named.add(posixpath.normpath(posixpath.join(here, raw)))
        return cls(frozenset(words), frozenset(named))

    def is_fixture(self, path: str, ruleset: RuleSet) -> bool:
        if is_fixture_path(path, ruleset) or path in self.named:
            return True
        return path in self.mentioned or (
            "." in path.rsplit("/", 1)[-1] and path.rsplit("/", 1)[-1] in self.mentioned
        )


_PATHISH = re.compile(rb"[A-Za-z0-9_./-]{1,200}\.[A-Za-z][A-Za-z0-9]{0,9}\b")
_KEYISH_EXTENSIONS = frozenset(
    ("pem", "key", "crt", "p12", "pfx", "jks", "json", "env", "der", "ppk", "asc")
)
# A test naming source code (`mock.patch("app/settings.py")`) does not make it a fixture.
_CODE_EXTENSIONS = frozenset(
    ("py", "pyi", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "rb", "java", "kt", "kts",
     "rs", "php", "cs", "swift", "scala", "c", "h", "cc", "cpp", "hpp", "m", "sh", "bash",
     "ps1", "vue", "svelte", "html", "css", "md", "rst")
)  # fmt: skip
_MAX_NAMED = 50_000  # path words kept per snapshot
_TEST_CODE = (
    ".py", ".js", ".ts", ".jsx", ".tsx", ".mjs", ".go", ".rb", ".java", ".kt", ".rs",
    ".php", ".cs", ".swift", ".scala", ".ex", ".exs",
)  # fmt: skip


def _is_test_code(path: str) -> bool:
    return path.lower().endswith(_TEST_CODE)


def is_fixture_path(path: str, ruleset: RuleSet) -> bool:
    s = ruleset.scan
    parts = path.lower().split("/")
    if any(p in s.fixture_dirs for p in parts[:-1]):
        return True
    return matches_any(path.rsplit("/", 1)[-1], s.fixture_files)


def fixture_index(snapshot: Snapshot, ruleset: RuleSet) -> FixtureIndex:
    memo = getattr(snapshot, "memo", None)
    if callable(memo):
        key = ("secrets-fixtures", id(ruleset))
        return memo(key, lambda: FixtureIndex.build(snapshot, ruleset))
    return FixtureIndex.build(snapshot, ruleset)


def is_example_path(path: str, ruleset: RuleSet) -> bool:
    """`.env.example`, `config.py.sample`, `settings.yml.dist`: files committed to show
    which settings exist, whose values the author published on purpose."""
    name = path.rsplit("/", 1)[-1]
    s = ruleset.scan
    if matches_any(name, s.dotenv_examples) or matches_any(name, s.example_files):
        return True
    return matches_any(path.lower(), s.doc_files)


def keyword_like(rule: Rule) -> bool:
    """A rule that recognises a value by the name it is assigned to or the header it sits
    in (a password assignment, an `Authorization:` header, a database URL's password):
    the value itself carries no mark of a real credential."""
    return rule.generic or rule.contextual or rule.kind != "regex" or rule.provider == "database"


def format_verified(hit: Hit) -> bool:
    """Whether the value is a credential by its own format, wherever it sits: a provider's
    distinctive token (`AKIA...`, `sk_live_...`) whose checksum, where it has one, matches,
    or a private key block whose body decodes to a key."""
    if keyword_like(hit.rule) or hit.rule.provider == "jwt":
        return False  # a JWT is any signed JSON: test suites sign their own by the dozen
    if hit.rule.id == "private-key":
        return private_key_parses(hit.value)
    return verdict(hit.rule.id, hit.value) == "ok"


# Where a value sits when it is shown rather than used: (data flag, how the message names it).
_FIXTURE = ("fixture", "a test fixture")
_DOCS = ("example", "a documentation example")
_EXAMPLE = ("example", "an example file")


def _described(finding: Finding, ruleset: RuleSet) -> str:
    """The finding's first sentence without the advice: what, masked, where."""
    rule = ruleset.by_id(finding.rule)
    what = rule.title if rule is not None else finding.rule
    shown = finding.data.get("masked")
    if shown is None:  # a committed .env file: the file is the finding
        return f"{what} {finding.path}"
    paired = finding.data.get("paired")
    if isinstance(paired, Mapping):
        other = ruleset.by_id(str(paired.get("rule")))
        return (
            f"{what} {shown} and its {other.title if other else paired.get('rule')} "
            f"{paired.get('masked')} in {finding.path} lines {finding.line} and "
            f"{paired.get('line')}"
        )
    return f"{what} {shown} in {finding.path} line {finding.line}"


def _shown_not_used(finding: Finding, ruleset: RuleSet, where: tuple[str, str]) -> Finding:
    """A finding in a test fixture or an example: low severity, left in place, and said
    as what it is."""
    flag, place = where
    rule = ruleset.by_id(finding.rule)
    title = rule.title if rule is not None else finding.rule
    return replace(
        finding,
        severity=Severity.HYGIENE,
        title=f"{title} in {place}",
        message=(
            f"{_described(finding, ruleset)}: a credential-shaped value in {place}; if it is "
            "real, rotate it. Reported at low severity and left in place."
        ),
        data={**finding.data, flag: True, "report_only": True},
    )


def as_example(finding: Finding, ruleset: RuleSet) -> Finding:
    """A value in an example or documentation file (committed to show how the app is
    configured, `app.secret_key = '...'` in Flask's docs) is low severity, unless its
    format checks out as a credential (`format_verified`): that one is a leak whatever the
    file is called, and is handled like one anywhere else."""
    if finding.data.get("format_verified"):
        return finding
    where = _DOCS if matches_any((finding.path or "").lower(), ruleset.scan.doc_files) else _EXAMPLE
    return _shown_not_used(finding, ruleset, where)


_DOC_COMMENT = ("example", "a documentation comment")


def in_doc_comments(
    path: str, data: bytes, found: list[Finding], ruleset: RuleSet
) -> list[Finding]:
    """Findings inside a JS/TS doc block (`/** ... */`: JSDoc, a `@swagger` spec) are
    documentation, like a README's code block: `Authorization = 'Basic ...'` in a library's
    usage notes, an example response. Low severity and left in place, unless the value's
    format checks out as a credential (`as_example`'s rule)."""
    if not found or language_of(path) != "javascript":
        return found
    text = data.decode("utf-8", "replace")
    if "/**" not in text:
        return found
    lines = [
        (text.count("\n", 0, a) + 1, text.count("\n", 0, b) + 1)
        for a, b in js_block_comments(text)
        if text.startswith("/**", a)
    ]
    return [
        _shown_not_used(f, ruleset, _DOC_COMMENT)
        if not f.data.get("format_verified")
        and f.line is not None
        and any(lo < f.line and (f.end_line or f.line) < hi for lo, hi in lines)
        else f
        for f in found
    ]


def as_fixture(finding: Finding, ruleset: RuleSet) -> Finding:
    """A value in a test fixture is low severity and never rewritten or deleted (the tests
    load it). One whose format checks out as a credential (a GitHub token whose checksum
    matches, an `AKIA` key id, a key block that parses) keeps its severity: real keys do get
    committed in tests. The fix still leaves the file alone."""
    if finding.data.get("format_verified"):
        return replace(
            finding,
            message=(
                f"{finding.message} The file is a test fixture, so Patchwell leaves it as it "
                "is; the value's format checks out as a real credential, so it is not "
                "downgraded."
            ),
            data={**finding.data, "fixture": True, "report_only": True},
        )
    return _shown_not_used(finding, ruleset, _FIXTURE)


def scan_file(scanner: Scanner, path: str, data: bytes) -> list[Hit]:
    """All hits in one file, or none when the file is skipped by kind."""
    if scanner.skip_reason(path, data) is not None:
        return []
    return scanner.scan(path, data)


def pair_hits(hits: Sequence[Hit]) -> list[tuple[Hit, Hit | None]]:
    """Match each hit of a rule with ``pairs_with`` to the nearest partner in the file.

    An AWS key id and its secret are one credential: one finding, one rotation.
    """
    partners: dict[str, list[Hit]] = {}
    for hit in hits:
        partners.setdefault(hit.rule.id, []).append(hit)
    used: set[int] = set()
    out: list[tuple[Hit, Hit | None]] = []
    for hit in hits:
        if id(hit) in used:
            continue
        partner = None
        if hit.rule.pairs_with:
            free = [p for p in partners.get(hit.rule.pairs_with, []) if id(p) not in used]
            if free:
                partner = min(free, key=lambda p: abs(p.line - hit.line))
                used.add(id(partner))
        used.add(id(hit))
        out.append((hit, partner))
    return out


_SEVERITIES = {s.label: s for s in Severity}


def _what_to_do(hit: Hit, ruleset: RuleSet, env: str) -> str:
    if hit.rule.fallback:
        return (
            f"Read {env} without a default so a missing variable stops the app at start-up, "
            "and rotate the value if it was ever used."
        )
    rev = ruleset.revocations.get(hit.rule.provider)
    where = f" at {rev.revoke}" if rev else ""
    return (
        f"Rotate it now{where} (it stays in git history), then read it from the "
        f"environment variable {env} instead of the source."
    )


def hit_finding(
    hit: Hit, partner: Hit | None, ruleset: RuleSet, env: str, occurrences: int
) -> Finding:
    """A finding that names the credential by mask and hash only."""
    shown = mask(hit.value)
    title = f"Leaked {hit.rule.title}"
    message = f"{hit.rule.title} {shown} committed in {hit.path} line {hit.line}."
    covers = [hit.fingerprint]
    if partner is not None:
        message = (
            f"{hit.rule.title} {shown} and its {partner.rule.title} {mask(partner.value)} "
            f"committed in {hit.path} lines {hit.line} and {partner.line}."
        )
        covers.append(partner.fingerprint)
    data: dict[str, Any] = {
        "accept_fingerprint": hit.accept_fingerprint,
        "provider": hit.rule.provider,
        "env": env,
        "masked": shown,
        "covers": covers,
        "occurrences": occurrences,
        "format_verified": format_verified(hit),
    }
    if partner is not None:
        data["paired"] = {
            "rule": partner.rule.id,
            "line": partner.line,
            "masked": mask(partner.value),
            "accept_fingerprint": partner.accept_fingerprint,
        }
    lines = [hit.line, hit.end_line] + ([partner.line, partner.end_line] if partner else [])
    if hit.rule.fallback:
        title = f"Hard-coded fallback for {env}"
        message = (
            f"{env} is read from the environment, but a literal {shown} stands in when it is "
            f"unset ({hit.path} line {hit.line}): production runs on the committed value the "
            "day the variable goes missing."
        )
    severity = _SEVERITIES.get(hit.rule.severity, Severity.LEAKED_SECRET)
    advice = _what_to_do(hit, ruleset, env)
    if hit.rule.report_only:
        data["report_only"] = True
    if verdict(hit.rule.id, hit.value) == "low":
        # The format's own check says this is no working credential (a checksum that does
        # not match, a key meant to be public): worth a look, not a failing check.
        severity = Severity.HYGIENE
        data["report_only"] = True
        advice = (
            "Its format check fails or marks it public (a made-up example, a checksum that "
            "does not match, a token past its expiry, a public id, or a key meant for "
            "browsers), so it is reported at low severity; if it is a live credential, "
            "rotate it."
        )
    return Finding(
        fixer=FIXER_NAME,
        rule=hit.rule.id,
        severity=severity,
        message=f"{message} {advice}",
        fingerprint=hit.fingerprint,
        path=hit.path,
        line=min(lines),
        end_line=max(lines),
        title=title,
        data=data,
    )


def dotenv_finding(path: str, data: bytes, scanner: Scanner) -> Finding | None:
    ruleset = scanner.ruleset
    if not _dotenv_has_credentials(data, scanner):
        return None
    rule = ruleset.by_id("dotenv-committed")
    assert rule is not None, "dotenv-committed must be in secret_rules.toml"
    path_hash = hashlib.sha256(path.encode("utf-8")).hexdigest()
    names = dotenv_names(data)
    return Finding(
        fixer=FIXER_NAME,
        rule=rule.id,
        severity=Severity.LEAKED_SECRET,
        message=(
            f"{path} is committed: a .env file holds this environment's secrets "
            f"({len(names)} variable(s)). Rotate every credential in it, remove it from the "
            "repository and list the variable names in .env.example instead."
        ),
        fingerprint=fingerprint(rule.id, path),
        path=path,
        line=1,
        title="Committed .env file",
        data={
            "accept_fingerprint": fingerprint(rule.id, path_hash),
            "provider": rule.provider,
            "names": names,
        },
    )


def is_accepted(finding: Finding, accepted: frozenset[str]) -> bool:
    if not accepted:
        return False
    ids = {finding.fingerprint, finding.data.get("accept_fingerprint")}
    paired = finding.data.get("paired")
    if isinstance(paired, Mapping):
        ids.add(paired.get("accept_fingerprint"))
    return bool(ids & accepted)


def candidate_paths(snapshot: Snapshot, ctx: Context, opts: SecretOptions) -> Iterable[str]:
    added = snapshot.added_lines
    for path in snapshot.paths():
        if ctx.ignored(path) or matches_any(path, opts.paths_ignore):
            continue
        if added is not None and not added.get(path):
            continue  # a push scan reads only the files the push added lines to
        yield path
