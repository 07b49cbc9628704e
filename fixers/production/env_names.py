"""``env-names``: secret *names* in the repository, secret *values* never.

Three findings:

* ``env-file-committed`` -- a ``.env`` file (values!) is in the tree. Report only:
  the values are already in history and must be rotated by a person; deleting the
  file in a PR would also delete every developer's local copy on their next pull,
  so Patchwell does not. VULNERABILITY when a secret-looking name holds a real
  value, HYGIENE when every such value is empty or a placeholder (a template's
  ``SECRET_KEY=changethis``, Heroku's ``.env`` for ``heroku local``).
* ``env-not-ignored`` -- an env file the project really uses (python-dotenv's
  ``load_dotenv()``, a compose ``env_file:``, pydantic's ``env_file=``, or the
  ``.env`` an example file is copied to) is not ignored -> PR appending exactly
  those names. The finding cites where each file is used; nothing is added on a
  guess, and a file git already tracks is the ``env-file-committed`` report (an
  ignore rule does not untrack it).
* ``env-example-missing`` -- a name production code reads is absent from
  ``.env.example`` -> PR appending ``NAME=`` under a ``# read in path:line``
  comment; a name the code defaults is appended commented out (``# NAME=``), so a
  copied example never replaces the code's default with an empty string. Names a
  platform sets (``PORT``, ``DATABASE_URL``...: ``fixers/data/platform_env.toml``)
  are skipped only when the repository shows that platform; names a platform
  manifest declares (``app.json`` ``env``, ``render.yaml`` ``envVars``) count as
  documented. With no example file, the situation is one finding for the repository
  listing every such name: the PR creates ``.env.example``, except when a committed env
  file (a template's ``.env`` of ``changethis`` values) or a ``.env.dev-sample`` stands
  in for it -- its names count as documented, and no second template is written beside it.
  Libraries and project generators get none of these findings.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

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
from fixers.production.facts import (
    FACT_PATTERNS,
    MAX_FILE_BYTES,
    EnvRead,
    RepoFacts,
    Source,
    extract_facts,
    gitignored,
    is_production_path,
    is_vendored,
    platform_names,
    valid_env_name,
)

__all__ = [
    "EXAMPLE_FILES",
    "FIXER",
    "EnvNamesFixer",
    "append_lines",
    "code_block_for",
    "example_content",
    "listed_names",
    "missing_entries",
]

NAME = "env-names"
#: Example files, in order of preference; the first one present is the one we edit.
EXAMPLE_FILES = (".env.example", ".env.sample", ".env.template", "env.example", ".env.dist")
_ENV_FILE = re.compile(r"(?:^|/)\.env(?:\.[^/]+)?$")
# `.env.dev-sample`, `.env.prod.example`, `.env.template`: committed on purpose, as examples.
_EXAMPLE_LIKE = re.compile(r"(?:example|sample|template|dist|default)", re.I)
# Names whose values are secrets; the rest of an env file (ENVIRONMENT=development) is not.
_SECRET_NAME = re.compile(r"(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD|PASS|CREDENTIALS?|PRIVATE)$")
# A URL's password (`postgres://user:pass@host`) is a secret whatever the name.
_URL_PASSWORD = re.compile(r"://[^/\s:@]+:([^/\s@]+)@")
# The value stops before trailing blanks without a lazy `(.*?)\s*$`, which retries the
# blanks from every character of a long value (quadratic on one hostile line).
_VALUE = re.compile(
    r"^\s*+(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*+)\s*+=\s*+((?:\S|\s+(?=\S))*+)\s*$"
)
_PLATFORM_MANIFESTS = ("app.json", "render.yaml", "fly.toml")
_LISTED = re.compile(
    r"^[^\S\n]*+#?[^\S\n]*+(?:export[^\S\n]++)?([A-Za-z_][A-Za-z0-9_]*+)[^\S\n]*+=", re.M
)


def append_lines(original: bytes | None, lines: Sequence[str], *, separate: bool = True) -> bytes:
    """``original`` with ``lines`` appended, keeping its line ending; bytes before are untouched.

    A missing final newline is added first; ``separate`` puts one blank line between
    the old content and the new block.
    """
    before = original or b""
    newline = b"\r\n" if b"\r\n" in before else b"\n"
    out = bytearray(before)
    if out and not out.endswith(b"\n"):
        out += newline
    if out and separate and not out.endswith(newline * 2):
        out += newline
    for line in lines:
        out += line.encode("utf-8") + newline
    return bytes(out)


def listed_names(text: str) -> set[str]:
    """Names an example file already mentions (``NAME=``, ``export NAME=``, ``# NAME=``)."""
    return set(_LISTED.findall(text))


def _committed_env_files(snapshot: Snapshot, ctx: Context) -> list[str]:
    """Env files in the tree, outside tests/examples/docs (fixtures there hold fake values;
    a real value anywhere is the ``secrets`` fixer's finding).

    A file the root ``.gitignore`` ignores is taken as a local file: a checkout scanned
    with ``patchwell scan`` holds every developer's ignored ``.env``. (One tracked from
    before its ignore rule is missed here; its values are still the ``secrets`` fixer's.)
    """
    gitignore = _gitignore_text(snapshot) or ""
    return [
        p
        for p in snapshot.all_paths
        if _ENV_FILE.search(p)
        and p.rsplit("/", 1)[-1] not in EXAMPLE_FILES
        and not _EXAMPLE_LIKE.search(p.rsplit("/", 1)[-1])
        and is_production_path(p)
        and not is_vendored(p)
        and not ctx.ignored(p)
        and not gitignored(gitignore, p)
    ]


def _other_examples(snapshot: Snapshot) -> list[str]:
    """Root example files by another name (``.env.dev-sample``, ``.env.prod.example``):
    their names are documented too."""
    return sorted(
        p
        for p in snapshot.all_paths
        if "/" not in p
        and p not in EXAMPLE_FILES
        and _ENV_FILE.search(p)
        and _EXAMPLE_LIKE.search(p)
    )


def _example_path(snapshot: Snapshot) -> str | None:
    present = set(snapshot.all_paths)
    return next((p for p in EXAMPLE_FILES if p in present), None)


def _gitignore_text(snapshot: Snapshot) -> str | None:
    """The root .gitignore, ``""`` when absent, ``None`` when present but unreadable."""
    data = snapshot.read(".gitignore")
    if data is None:
        return "" if ".gitignore" not in snapshot.all_paths else None
    if len(data) > MAX_FILE_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


@lru_cache(maxsize=1)
def _placeholders() -> tuple[tuple[str, ...], tuple[re.Pattern[str], ...], frozenset[str]]:
    """``fixers/data/placeholders.toml``: the stand-ins (``changethis``) that are no secret."""
    raw = tomllib.loads(
        (resources.files("fixers") / "data" / "placeholders.toml").read_text("utf-8")
    )
    every, generic = raw.get("all", {}), raw.get("generic", {})
    return (
        tuple(c.lower() for c in every.get("contains", ())),
        tuple(re.compile(p) for p in every.get("patterns", ())),
        frozenset(e.lower() for e in generic.get("exact", ())),
    )


def _is_placeholder(value: str) -> bool:
    value = value.strip().strip("\"'")
    if not value:
        return True
    contains, patterns, exact = _placeholders()
    low = value.lower()
    return low in exact or any(c in low for c in contains) or any(p.search(value) for p in patterns)


def secret_values(text: str) -> Literal["real", "placeholder", "none"]:
    """What an env file holds for its secret-looking names (``KEY``, ``TOKEN``, a URL's
    password): a real value, only empty/placeholder ones, or no such name at all."""
    found: Literal["real", "placeholder", "none"] = "none"
    for line in text.splitlines():
        m = _VALUE.match(line)
        if not m:
            continue
        url = _URL_PASSWORD.search(m.group(2))
        candidates = [url.group(1)] if url else []
        if _SECRET_NAME.search(m.group(1).upper()):
            candidates.append(m.group(2))
        for value in candidates:
            if not _is_placeholder(value):
                return "real"
            found = "placeholder"
    return found


def holds_secret_values(text: str) -> bool:
    """Whether an env file gives a secret-looking name a value that is not a placeholder."""
    return secret_values(text) == "real"


def _used_env_files(snapshot: Snapshot, facts: RepoFacts) -> dict[str, str]:
    """Env file name -> why we know the project uses it (``flasky.py:7 loads it``)."""
    used: dict[str, str] = {}
    for fact in facts.env_files:
        used.setdefault(fact.value, f"`{fact.source}` loads it")
    example = _example_path(snapshot)
    if example is not None:
        used.setdefault(".env", f"`{example}` is the template it is copied from")
    return used


# Representative names for "is .env.* ignored?": the variants people actually create.
_VARIANTS = (".env.local", ".env.production")


def _gitignore_additions(gitignore: str, example: str) -> list[str]:
    """Every env file ignored, the example kept: what the secrets fixer's untrack patch
    appends once committed env files leave the index (not this fixer's evidence rule)."""
    lines: list[str] = []
    if not gitignored(gitignore, ".env"):
        lines.append(".env")
    if not all(gitignored(gitignore, v) for v in _VARIANTS):
        lines.append(".env.*")
    rules = "\n".join([gitignore, *lines])
    for name in dict.fromkeys((".env.example", example)):
        if gitignored(rules, name):
            lines.append(f"!{name}")
    return lines


def _used_additions(
    snapshot: Snapshot, facts: RepoFacts, gitignore: str
) -> tuple[list[str], dict[str, str]]:
    """Lines to append and, per file name, the evidence it is used; both empty: nothing to do.

    Only env files the project uses, only those neither ignored nor tracked already
    (``.gitignore`` does not untrack a committed file), and a ``!`` rule for an
    example file the additions would hide.
    """
    tracked = set(snapshot.all_paths)
    needed = {
        name: why
        for name, why in _used_env_files(snapshot, facts).items()
        if not gitignored(gitignore, name) and name not in tracked and valid_file_name(name)
    }
    lines = list(needed)
    rules = "\n".join([gitignore, *lines])
    example = _example_path(snapshot)
    for name in dict.fromkeys([example] if example else []):
        if gitignored(rules, name):
            lines.append(f"!{name}")
    return (lines, needed) if needed else ([], {})


def valid_file_name(name: str) -> bool:
    """Env file names we write into ``.gitignore``: ``.env`` and ``.env.<word>`` only."""
    return re.fullmatch(r"\.env(?:\.[\w-]+)*", name) is not None


def _missing_names(
    snapshot: Snapshot, facts: RepoFacts, committed: Sequence[str] = ()
) -> tuple[str | None, list[EnvRead]]:
    """The example file to edit and the production names it lacks (``None``: leave it).

    Names a deploy never sets are not asked for: those a platform or a CI system
    sets, and those the code gives a value itself (``os.environ.setdefault``). A
    committed env file (reported on its own) already documents the names it holds.
    """
    example = _example_path(snapshot)
    if example is None:
        if not facts.deploys:
            return None, []
        example, text = ".env.example", ""
    else:
        data = snapshot.read(example)
        if data is None or len(data) > MAX_FILE_BYTES:
            return None, []
        text = data.decode("utf-8", errors="replace")
    listed = listed_names(text)
    for path in [*committed, *_other_examples(snapshot)]:
        data = snapshot.read(path)
        if data is not None and len(data) <= MAX_FILE_BYTES:
            listed |= listed_names(data.decode("utf-8", errors="replace"))
    # A platform manifest that declares a name (app.json `env`) is where it is documented.
    listed |= {r.name for r in facts.env_reads if r.source.path in _PLATFORM_MANIFESTS}
    platform = platform_names()
    set_by_code = {r.name for r in facts.env_reads if r.set_by_code}
    missing = [
        read
        for name, read in facts.code_env().items()
        if name not in listed
        and name not in set_by_code
        and facts.platform_setting(name) is None
        and not (name in platform and platform[name].set_by_ci)
    ]
    return example, missing


@dataclass(frozen=True)
class EnvNamesFixer:
    name: str = NAME
    patterns: tuple[str, ...] = (*FACT_PATTERNS, ".gitignore", *EXAMPLE_FILES)
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        facts = extract_facts(snapshot, ctx.ignored)
        if facts.template_generator is not None:
            return []  # a project generator: its env files are templates, not configuration
        if facts.library:
            return []  # a library: its users configure their own apps
        committed = _committed_env_files(snapshot, ctx)
        # An env file with no secret-looking name at all (Vite's committed `.env` of public
        # URLs, Heroku's `ENVIRONMENT=development` for `heroku local`) is no finding.
        held = {path: _secret_values(snapshot, path) for path in committed}
        findings = [
            _committed_finding(path, held[path] == "real")
            for path in committed
            if held[path] != "none"
        ]
        gitignore = _gitignore_text(snapshot)
        example = _example_path(snapshot) or ".env.example"
        if gitignore is not None:
            additions, why = _used_additions(snapshot, facts, gitignore)
            if additions:
                findings.append(_not_ignored_finding(additions, why))
        example_path, missing = _missing_names(snapshot, facts, committed)
        if _example_path(snapshot) is not None:
            # A real example file: one finding per name, each one line of the patch.
            findings += [_missing_finding(example_path or example, read) for read in missing]
        elif missing:
            # No example file: one situation, one finding (the names are its list).
            template = _template_path(snapshot, committed)
            findings.append(_no_example_finding(example_path or example, template, missing))
        return findings

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        patches: list[Patch] = []
        ignore = [f for f in findings if f.rule == "env-not-ignored"]
        if ignore and (patch := _gitignore_patch(snapshot, ignore[0], findings)) is not None:
            patches.append(patch)
        missing = [f for f in findings if f.rule == "env-example-missing"]
        if missing and (patch := _example_patch(snapshot, missing, ctx)) is not None:
            patches.append(patch)
        return patches


def _secret_values(snapshot: Snapshot, path: str) -> Literal["real", "placeholder", "none"]:
    data = snapshot.read(path)
    if data is None or len(data) > MAX_FILE_BYTES:
        return "real"  # unseen: assume the worst
    return secret_values(data.decode("utf-8", errors="replace"))


def _committed_finding(path: str, secret_values: bool) -> Finding:
    shown = str(Source(path))  # printable, no backticks
    if secret_values:
        severity = Severity.VULNERABILITY
        message = (
            f"`{shown}` is tracked by git, so every value in it is in the repository history. "
            "Rotate the values it holds, then run `git rm --cached "
            f"{shown}` and keep it ignored. Patchwell does not delete it in a PR: that would "
            "also delete each developer's local copy on their next pull."
        )
    else:
        # A template's `SECRET_KEY=changethis`, or Heroku's `.env` for `heroku local`.
        severity = Severity.HYGIENE
        message = (
            f"`{shown}` is tracked by git; its secret-looking names hold only empty or "
            "placeholder values, so nothing needs rotating. A committed `.env` is where a real "
            "value lands next: if it is meant as a template, `git mv` it to `.env.example` "
            "and ignore `.env`."
        )
    return Finding(
        fixer=NAME,
        rule="env-file-committed",
        severity=severity,
        path=path,
        title=f"`{shown}` is committed",
        message=message,
        fingerprint=fingerprint(NAME, "env-file-committed", path),
    )


def _not_ignored_finding(additions: list[str], why: dict[str, str]) -> Finding:
    reasons = "; ".join(f"`{name}`: {reason}" for name, reason in why.items())
    return Finding(
        fixer=NAME,
        rule="env-not-ignored",
        severity=Severity.HYGIENE,
        path=".gitignore",
        title="`.env` files are not ignored",
        message=(
            f"The project uses env files that `.gitignore` does not ignore ({reasons}), so a "
            "`git add .` commits their secret values. Add: "
            + ", ".join(f"`{line}`" for line in additions)
            + "."
        ),
        fingerprint=fingerprint(NAME, "env-not-ignored"),
        data={"lines": additions},
    )


def _missing_finding(example: str, read: EnvRead) -> Finding:
    if read.requirement == "required":
        # Required and undocumented: the next deploy that lacks it fails to start.
        severity = Severity.DRIFT
        consequence = "so a new deploy or a new developer learns about it from a crash"
    else:
        severity = Severity.HYGIENE
        consequence = (
            "so a deploy runs on the code's default without anyone having chosen it"
            if read.requirement == "defaulted"
            else "so whoever deploys does not know the setting exists"
        )
    return Finding(
        fixer=NAME,
        rule="env-example-missing",
        severity=severity,
        path=read.source.path,
        line=read.source.line,
        title=f"`{read.name}` is not in `{example}`",
        message=(
            f"The code reads `{read.name}` ({read.requirement}, {read.source}) but `{example}` "
            f"does not list it, {consequence}."
        ),
        fingerprint=fingerprint(NAME, "env-example-missing", read.name),
        data={
            "name": read.name,
            "source": str(read.source),
            "requirement": read.requirement,
            "example": example,
        },
    )


def _template_path(snapshot: Snapshot, committed: Sequence[str]) -> str | None:
    """The file that stands in for ``.env.example`` when there is none: a committed env
    file at the root (a template's ``.env`` of ``changethis`` values), else a root example
    by another name (``.env.dev-sample``); ``None``: no template at all."""
    root = [p for p in committed if "/" not in p]
    return next(
        iter([*sorted(root, key=lambda p: (p != ".env", p)), *_other_examples(snapshot)]), None
    )


def _read_entry(read: EnvRead) -> dict[str, str]:
    return {"name": read.name, "source": str(read.source), "requirement": read.requirement}


def _severity(requirement: object) -> Severity:
    return Severity.DRIFT if requirement == "required" else Severity.HYGIENE


def _no_example_finding(example: str, template: str | None, reads: Sequence[EnvRead]) -> Finding:
    """The repository has no example file: one finding listing every undocumented name."""
    entries = [_read_entry(r) for r in sorted(reads, key=lambda r: r.name)]
    listed = ", ".join(f"`{e['name']}` ({e['requirement']}, {e['source']})" for e in entries)
    count = f"{len(entries)} environment variable name(s)"
    if template is None:
        title = f"No `{example}`: the code reads {count} no file lists"
        message = (
            f"The repository deploys but has no `{example}`, and the code reads {count} "
            f"that no file lists: {listed}. "
            + (
                "Whoever deploys learns about a required one from a crash."
                if any(e["requirement"] == "required" for e in entries)
                else "Whoever deploys does not know these settings exist."
            )
        )
    else:
        shown = str(Source(template))
        title = f"`{shown}` does not list {count} the code reads"
        message = (
            f"There is no `{example}`; `{shown}` is the committed env template, and the names "
            f"it lists count as documented. The code also reads: {listed}. Add them to "
            f"`{shown}` (a name the code defaults commented out, `# NAME=`); Patchwell does "
            "not write a second template beside it."
        )
    return Finding(
        fixer=NAME,
        rule="env-example-missing",
        severity=max(_severity(e["requirement"]) for e in entries),
        path=template or example,
        title=title,
        message=message,
        fingerprint=fingerprint(NAME, "env-example-missing"),
        data={"names": entries, "example": example, "template": template},
    )


def missing_entries(findings: Sequence[Finding]) -> list[dict[str, str]]:
    """Each undocumented name of ``env-example-missing`` findings (``name``, ``source``,
    ``requirement``), from the per-name findings and from the one no-example finding."""
    out: list[dict[str, str]] = []
    for f in findings:
        if f.rule != "env-example-missing":
            continue
        raw = f.data.get("names")
        items = raw if isinstance(raw, list) else [f.data]
        out += [
            {k: str(item.get(k, "")) for k in ("name", "source", "requirement")}
            for item in items
            if isinstance(item, dict)
        ]
    return out


def _gitignore_patch(snapshot: Snapshot, finding: Finding, all_: Sequence[Finding]) -> Patch | None:
    gitignore = _gitignore_text(snapshot)
    if gitignore is None:
        return None  # present but unreadable: never overwrite what we cannot see
    additions = [str(line) for line in finding.data.get("lines", [])]
    if not additions:
        return None
    header = "# Local environment files hold secret values; only the example is committed."
    original = snapshot.read(".gitignore")
    content = append_lines(original, [header, *additions])
    committed = [f.path for f in all_ if f.rule == "env-file-committed" and f.path]
    still = (
        "\n\nAlready committed, and **not** removed by this PR (rotate their values, then "
        "`git rm --cached` them): " + ", ".join(f"`{Source(p)}`" for p in committed)
        if committed
        else ""
    )
    return Patch(
        fixer=NAME,
        key="gitignore-env",
        title="Ignore local .env files",
        edits=(FileEdit(".gitignore", "modify" if original is not None else "create", content),),
        explanation=Explanation(
            found=finding.message + still,
            why="`.env` files hold secret values. Unignored, one `git add .` publishes them to "
            "everyone with read access, forever (history keeps them after a delete).",
            changes="Appends to `.gitignore`:\n\n```gitignore\n"
            + "\n".join([header, *additions])
            + "\n```\n\nNothing above the appended lines changes.",
            verify="`touch .env && git status --short` shows nothing for `.env`; "
            "`git check-ignore -v .env.example` prints nothing (the example stays committed).",
            rollback="Revert this commit, or delete the appended lines.",
        ),
        severity=finding.severity,
        fingerprints=(finding.fingerprint,),
    )


def example_content(
    original: bytes | None, dotenv_block: Sequence[str], code_block: Sequence[str]
) -> bytes | None:
    """The example file as every PR that writes it leaves it (``None``: not written).

    Two PRs may append to it: the secrets fixer's, untracking a committed ``.env`` (that
    file's names, ``dotenv_block``), and this fixer's (names the code reads,
    ``code_block``). Each writes both blocks, in this order, so merging the two in either
    order never conflicts: the second one merges as a change already made.
    """
    out = original
    if dotenv_block:
        out = append_lines(out, dotenv_block, separate=False)
    if code_block:
        out = append_lines(out, code_block, separate=out is not None)
    return out


def _code_block(
    snapshot: Snapshot, findings: Sequence[Finding], ctx: Context
) -> tuple[str, list[str], list[str]]:
    """(the example file, the lines this fixer appends to it, the names they list);
    no lines when it leaves the file alone."""
    example = str(findings[0].data.get("example", ".env.example"))
    original = snapshot.read(example)
    if original is None and example in snapshot.all_paths:
        return example, [], []
    if original is None and (_committed_env_files(snapshot, ctx) or _other_examples(snapshot)):
        # A committed `.env` or a `.env.prod-sample` is the template: a second file beside
        # it would confuse (the findings say which names it lacks).
        return example, [], []
    entries = missing_entries(findings)
    if original is None and all(e["requirement"] == "defaulted" for e in entries):
        return example, [], []  # a new file of commented-out lines only: nothing to set
    listed = listed_names(original.decode("utf-8", errors="replace")) if original else set()
    lines = ["# Names the code reads (Patchwell). Never commit a value here."]
    added: list[str] = []
    for e in sorted(entries, key=lambda e: e["name"]):
        name, source = e["name"], e["source"]
        if not valid_env_name(name) or name in listed or name in added:
            continue
        requirement = e["requirement"]
        if requirement == "defaulted":
            # Commented out: `NAME=` copied into `.env` would replace the code's default
            # with an empty string.
            lines += [f"# read in {source} (the code has a default)", f"# {name}="]
        elif requirement == "required":
            lines += [f"# read in {source} (required)", f"{name}="]
        else:
            # Commented out too: an empty value is not an unset one (microblog's
            # `os.environ.get('MAIL_USE_TLS') is not None` turns TLS on; pydantic fails
            # an empty `HttpUrl | None`).
            lines += [f"# read in {source} (optional; set it or leave it unset)", f"# {name}="]
        added.append(name)
    return example, (lines if added else []), added


def code_block_for(snapshot: Snapshot, example: str, ctx: Context) -> list[str]:
    """The lines this fixer's PR appends to ``example`` (the secrets PR writes them too)."""
    missing = [f for f in FIXER.detect(snapshot, ctx) if f.rule == "env-example-missing"]
    if not missing:
        return []
    target, lines, _added = _code_block(snapshot, missing, ctx)
    return lines if target == example else []


def _dotenv_block(snapshot: Snapshot, example: str, ctx: Context) -> list[str]:
    """The lines the secrets fixer's PR (untracking committed env files) appends."""
    from fixers.secrets.dotenv_patch import dotenv_block_for  # late: it imports this module

    return dotenv_block_for(snapshot, example, ctx)


def _example_patch(snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> Patch | None:
    example, lines, added = _code_block(snapshot, findings, ctx)
    if not added:
        return None
    original = snapshot.read(example)
    dotenv_block = _dotenv_block(snapshot, example, ctx)
    content = example_content(original, dotenv_block, lines)
    assert content is not None
    return Patch(
        fixer=NAME,
        key="env-example",
        title=f"List {len(added)} environment variable name(s) in {example}",
        edits=(FileEdit(example, "modify" if original is not None else "create", content),),
        explanation=Explanation(
            found="The code reads environment variables that `"
            + example
            + "` does not list:\n\n"
            + "\n".join(f"- `{n}`" for n in added),
            why="The example file is the list of what a deploy must provide. A missing name "
            "is found out at run time, in production, as a crash or a silently wrong default.",
            changes=f"Appends each name to `{example}` with an **empty** value and a comment "
            "citing where it is read. No value is ever written; existing lines are untouched."
            + (
                " It also lists the names of the committed env file that Patchwell's secrets "
                "pull request stops tracking (the same lines that pull request adds, so the "
                "two merge in either order)."
                if dotenv_block
                else ""
            ),
            verify=f"Each `# read in path:line` comment points at the read; `{example}` still "
            "holds no value.",
            rollback="Revert this commit, or delete the appended block.",
        ),
        severity=max(f.severity for f in findings),
        fingerprints=tuple(
            f.fingerprint
            for f in findings
            if f.data.get("name") in added or any(e["name"] in added for e in missing_entries([f]))
        ),
    )


FIXER = EnvNamesFixer()
