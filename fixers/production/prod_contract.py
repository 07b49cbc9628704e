"""``prod-contract``: a ``PROD.md`` that says how production runs, pre-filled from the code.

Only for repositories that deploy something (a platform manifest, a deploy
workflow, or a web app created in code -- see :attr:`RepoFacts.deploys`), and
never for one whose product is an image it publishes and deploys nothing itself
(a base image: see :attr:`RepoFacts.published_artifact`).

* ``PROD.md`` missing -> PR creating it. Every fact cites the ``path:line`` it came
  from; what the files cannot tell (which database production really uses, when
  migrations run, domain, owner, load, backups, rollback) is a ``TODO:`` question
  for the maintainer, never an invented value: a migration command is quoted only
  where a Procfile, Dockerfile, compose file or start script runs it, and a name is
  "set by the platform" only when the platform's manifest is in the repository.
* ``PROD.md`` present -> report sections that are missing or still ``TODO``
  (``section-missing``, ``section-todo``), and a PR adding the environment
  variable names the code reads that the contract does not mention
  (``names-missing``).

The section headings are defined once, in :data:`SECTIONS`, and used both to
write and to check the contract.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
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
    Fact,
    RepoFacts,
    conventions,
    extract_facts,
    platform_names,
    valid_env_name,
)

__all__ = [
    "CONTRACT_PATH",
    "FIXER",
    "SECTIONS",
    "ProdContractFixer",
    "Section",
    "check_contract",
    "render_contract",
]

NAME = "prod-contract"
CONTRACT_PATH = "PROD.md"
TODO = "TODO:"


@dataclass(frozen=True, slots=True)
class Section:
    """One contract section: the heading Patchwell writes, the hint its TODO carries,
    and ``aliases`` -- words that let a hand-written heading count as this section
    ("Owners and on-call", "Rolling back", "Health")."""

    key: str
    heading: str
    hint: str
    aliases: tuple[str, ...]
    from_code: bool = True


#: The contract's sections, in order. ``from_code=False`` sections are always a TODO
#: for a person: code cannot tell them, and an invented value is worse than none.
SECTIONS: tuple[Section, ...] = (
    Section("runtime", "Runtime", "Which language and version does production run?",
            ("runtime", "stack", "language")),
    Section("processes", "Processes and release step",
            "Which processes run in production, with which commands, and what runs before "
            "a release?",
            ("process", "release step", "procfile")),
    Section("configuration", "Configuration and secrets",
            "Which environment variables does production need (names only, never values)?",
            ("configuration", "config", "secret", "environment variable", "env")),
    Section("web", "Web port and health check",
            "Which port does the app listen on, and which path does the load balancer poll?",
            ("port", "health")),
    Section("database", "Database and migrations",
            "Which database does production use, and when and how do migrations run on deploy?",
            ("database", "migration", "data", "storage")),
    Section("ci-deploy", "CI and deploy", "Which workflow runs the tests, and which one deploys?",
            ("ci", "deploy", "pipeline", "continuous")),
    Section("domain", "Domain and region",
            "Which domain(s) is it served on, and in which region(s) does it run?",
            ("domain", "region"), from_code=False),
    Section("owner", "Owner and on-call", "Who owns this service, and who is paged when it breaks?",
            ("owner", "on call", "oncall", "contact"), from_code=False),
    Section("load", "Behaviour under load",
            "What traffic is expected, what are the known limits, and what degrades first?",
            ("load", "scaling", "capacity", "performance", "limits"), from_code=False),
    Section("backups", "Backups",
            "What is backed up, how often, and when was a restore last tested?",
            ("backup", "restore"), from_code=False),
    Section("rollback", "Recovery and rollback",
            "For each critical flow, which one safe action recovers or rolls it back?",
            ("rollback", "roll back", "rolling back", "recovery", "runbook"), from_code=False),
)  # fmt: skip

_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


# --------------------------------------------------------------------------- render


def _cite(fact: Fact) -> str:
    return f"`{fact.source}`"


def _todo(section: Section) -> str:
    return f"{TODO} {section.hint}"


def _runtime(facts: RepoFacts) -> list[str]:
    lines = [f"- {f.value} — {_cite(f)}" for f in facts.runtimes]
    lines += [f"- Web framework: {f.value} — {_cite(f)}" for f in facts.frameworks]
    return lines


def _processes(facts: RepoFacts) -> list[str]:
    lines = [f"- `{p.name}`: `{p.command}` — `{p.source}`" for p in facts.processes]
    lines += [f"- Release step: `{p.command}` — `{p.source}`" for p in facts.release]
    if lines and not facts.release:
        lines.append(f"- {TODO} Does anything run before a release (migrations, asset build)?")
    return lines


def _env_line(read: EnvRead, facts: RepoFacts) -> str:
    note = ""
    if (platform := facts.platform_setting(read.name)) is not None:
        note = f" (set by {platform.value} — `{platform.source}`)"
    elif read.origin == "library":
        note = " (read by a library on its own)"
    return f"- `{read.name}` — {read.requirement}{note} — read in `{read.source}`"


def _ci_only(name: str) -> bool:
    spec = platform_names().get(name)
    return spec is not None and spec.set_by_ci


def _configuration(facts: RepoFacts) -> list[str]:
    # A name the code sets itself (`os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)`)
    # is no configuration a deploy provides.
    set_by_code = {r.name for r in facts.env_reads if r.set_by_code}
    code = {n: r for n, r in facts.code_env().items() if not _ci_only(n) and n not in set_by_code}
    lines = [_env_line(r, facts) for r in code.values()]
    others: dict[str, EnvRead] = {}
    for read in facts.env_reads:
        if (
            read.name not in code
            and read.name not in set_by_code
            and read.production
            and not read.from_code
            and not _ci_only(read.name)
            and facts.platform_setting(read.name) is None  # `$PORT` in a Procfile
        ):
            others.setdefault(read.name, read)
    deploy = [r for r in others.values() if r.origin == "workflow"]
    rest = [r for r in others.values() if r.origin != "workflow"]
    if deploy:
        lines += ["", "CI and deploy secrets (GitHub Actions):", ""]
        lines += [f"- `{r.name}` — used in `{r.source}`" for r in deploy]
    if rest:
        lines += ["", "Also named in compose, Procfile or platform files:", ""]
        lines += [f"- `{r.name}` — {r.requirement} — `{r.source}`" for r in rest]
    if lines:
        lines = [
            "Names only: values live in the platform's secret store, never in git.",
            *([""] if lines[0] else []),  # the compose/workflow lists open with a blank
            *lines,
        ]
    return lines


def _web(facts: RepoFacts) -> list[str]:
    lines = [f"- Port: {f.value} — {_cite(f)}" for f in facts.ports]
    lines += [f"- Health check: `{f.value}` — {_cite(f)}" for f in facts.health_paths]
    if lines and not facts.health_paths:
        lines.append(f"- {TODO} Which path does the load balancer poll? (No health route found.)")
    return lines


def _database_lines(facts: RepoFacts) -> list[str]:
    """Each database the files name, said as what it is: a driver the code imports, an
    engine in settings, a compose service -- none of them proves what production uses."""
    kinds = {db.name: db.kind for db in conventions().databases}
    lines: list[str] = []
    for f in facts.databases:
        if kinds.get(f.value) == "cache":
            what = "Cache or queue"
        elif f.source.path.endswith((".yml", ".yaml")):
            what = "Database service (compose)"
        else:
            what = "Database named in the code"
        lines.append(f"- {what}: {f.value} — {_cite(f)}")
    data = [f for f in facts.databases if kinds.get(f.value) != "cache"]
    url = facts.code_env().get("DATABASE_URL")
    if url is not None:
        lines.append(f"- Connection: from `DATABASE_URL` — `{url.source}`")
    named = {f.value for f in data}
    if len(named) > 1 or (named == {"SQLite"} and url is not None):
        # SQLite as the fallback beside a `DATABASE_URL`, or a dev compose file's Postgres.
        lines.append(f"- {TODO} Which of these does production use?")
    return lines


def _database(facts: RepoFacts) -> list[str]:
    lines = _database_lines(facts)
    release = {p.source for p in facts.release}
    tools = ", ".join(f"{f.value} — {_cite(f)}" for f in facts.migration_tools)
    if facts.migration_runs:
        # What the deploy really runs, never a tool's usual command (`flask db upgrade`,
        # not `alembic upgrade head`, for Flask-Migrate).
        for fact in facts.migration_runs[:4]:
            when = " (release step)" if fact.source in release else ""
            lines.append(f"- Migrations: `{fact.value}`{when} — {_cite(fact)}")
    elif facts.migration_tools:
        lines.append(f"- Migration tool: {tools}")
        lines.append(f"- {TODO} Which command runs the migrations on deploy, and when?")
    return lines


def _ci_deploy(facts: RepoFacts) -> list[str]:
    lines: list[str] = []
    for wf in facts.workflows:
        on = ", ".join(f"`{t}`" for t in wf.triggers) or "no trigger found"
        parts = [f"- `{wf.name}` (`{wf.path}`), on {on}"]
        if wf.runs_tests:
            parts.append(f"runs tests — `{wf.runs_tests}`")
        if wf.deploys:
            parts.append(f"deploys — `{wf.deploys}`")
        if wf.publishes:
            parts.append(f"publishes an image — `{wf.publishes}`")
        lines.append("; ".join(parts))
    if lines and not any(wf.deploys for wf in facts.workflows):
        lines.append(f"- {TODO} How does a deploy happen? (No workflow step deploys.)")
    return lines


_FILLERS = {
    "runtime": _runtime,
    "processes": _processes,
    "configuration": _configuration,
    "web": _web,
    "database": _database,
    "ci-deploy": _ci_deploy,
}


def render_contract(facts: RepoFacts, commit: str | None = None) -> str:
    """The whole ``PROD.md`` for ``facts`` (Markdown, ``\\n`` line endings)."""
    at = f" at `{commit[:12]}`" if commit else ""
    out = [
        "# Production contract",
        "",
        f"<!-- Pre-filled by Patchwell from the code{at}. Each fact cites where it was found; "
        f"`{TODO}` marks what code cannot tell. Keep this file true: it is what on-call reads. -->",
    ]
    for section in SECTIONS:
        filler = _FILLERS.get(section.key)
        body = filler(facts) if filler and section.from_code else []
        out += ["", f"## {section.heading}", "", *(body or [_todo(section)])]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- check


@dataclass(frozen=True, slots=True)
class SectionState:
    section: Section
    line: int | None  # heading line, None when the section is missing
    todo: bool


def _headings(text: str) -> list[tuple[int, str]]:
    """``(line, heading text)`` of every ``##`` heading outside code fences."""
    found: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line)):
            found.append((number, m.group(1).strip()))
    return found


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _matches(heading: str, section: Section) -> bool:
    """The heading is the section's own, or holds one of its aliases as whole words
    (the alias's last word may be a prefix: "owner" matches "Owners")."""
    words = _words(heading)
    if words == _words(section.heading):
        return True
    for alias in section.aliases:
        want = _words(alias)
        for i in range(len(words) - len(want) + 1):
            window = words[i : i + len(want)]
            if window[:-1] == want[:-1] and window[-1].startswith(want[-1]):
                return True
    return False


def _section_index(heads: list[tuple[int, str]], section: Section) -> int | None:
    exact = next(
        (i for i, (_, h) in enumerate(heads) if _words(h) == _words(section.heading)), None
    )
    if exact is not None:
        return exact
    return next((i for i, (_, h) in enumerate(heads) if _matches(h, section)), None)


def check_contract(text: str) -> list[SectionState]:
    """Each section of :data:`SECTIONS`: where its heading is and whether it is still TODO."""
    lines = text.splitlines()
    heads = _headings(text)
    states: list[SectionState] = []
    for section in SECTIONS:
        index = _section_index(heads, section)
        if index is None:
            states.append(SectionState(section, None, False))
            continue
        start = heads[index][0]
        end = heads[index + 1][0] - 1 if index + 1 < len(heads) else len(lines)
        body = "\n".join(lines[start:end])
        states.append(SectionState(section, start, re.search(r"\bTODO\b", body) is not None))
    return states


def _mentioned(text: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None


def _unlisted(text: str, facts: RepoFacts) -> list[EnvRead]:
    """Names production code reads that the contract never mentions.

    Platform-set names (``PORT``...) are exempt where the repository shows the platform:
    production provides them itself.
    """
    set_by_code = {r.name for r in facts.env_reads if r.set_by_code}
    return [
        read
        for name, read in facts.code_env().items()
        if not _mentioned(text, name)
        and name not in set_by_code
        and facts.platform_setting(name) is None
        and not _ci_only(name)
    ]


# --------------------------------------------------------------------------- fixer


def _contract_text(snapshot: Snapshot) -> str | None:
    data = snapshot.read(CONTRACT_PATH)
    if data is None or len(data) > MAX_FILE_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ProdContractFixer:
    name: str = NAME
    patterns: tuple[str, ...] = (*FACT_PATTERNS, CONTRACT_PATH)
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        present = CONTRACT_PATH in snapshot.all_paths
        text = _contract_text(snapshot)
        if present and text is None:
            return []  # present but not loaded or too large: nothing sound to say
        facts = extract_facts(snapshot, ctx.ignored)
        if facts.template_generator is not None:
            return []  # a project generator: what it deploys is each generated project
        if text is None and facts.published_artifact is not None:
            return []  # the product is a published image: its consumers deploy it
        if text is None:
            return [_missing_contract(facts)] if facts.deploys and _fillable(facts) else []
        findings = [_section_finding(s) for s in check_contract(text) if s.line is None or s.todo]
        findings += [_unlisted_finding(r) for r in _unlisted(text, facts)]
        return findings

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        patches: list[Patch] = []
        if any(f.rule == "contract-missing" for f in findings):
            facts = extract_facts(snapshot, ctx.ignored)
            patches.append(_create_patch(facts, snapshot.commit, findings))
        unlisted = [f for f in findings if f.rule == "names-missing"]
        if unlisted and (patch := _names_patch(snapshot, unlisted)) is not None:
            patches.append(patch)
        return patches


def _fillable(facts: RepoFacts) -> bool:
    """Whether the files say enough to pre-fill a contract: a platform manifest or deploy
    workflow, or beside the web framework at least a process, a variable or a database.
    A hello-world (render-examples/flask-hello-world) would get a page of questions only."""
    return bool(
        facts.deploy_markers
        or facts.processes
        or facts.code_env()
        or facts.databases
        or facts.migration_tools
    )


def _missing_contract(facts: RepoFacts) -> Finding:
    why = ", ".join(f.value for f in (*facts.deploy_markers, *facts.frameworks)[:3])
    return Finding(
        fixer=NAME,
        rule="contract-missing",
        severity=Severity.HYGIENE,
        path=CONTRACT_PATH,
        title="No production contract (PROD.md)",
        message=f"This repository deploys ({why}) but has no `{CONTRACT_PATH}` saying which "
        "secrets production needs, how it runs and how to roll back.",
        fingerprint=fingerprint(NAME, "contract-missing"),
    )


def _section_finding(state: SectionState) -> Finding:
    heading = state.section.heading
    if state.line is None:
        rule, title = "section-missing", f"PROD.md has no `{heading}` section"
        message = f"`{CONTRACT_PATH}` has no `## {heading}` section: {state.section.hint}"
    else:
        rule, title = "section-todo", f"PROD.md `{heading}` is still TODO"
        message = f"`## {heading}` still says TODO: {state.section.hint}"
    return Finding(
        fixer=NAME,
        rule=rule,
        severity=Severity.HYGIENE,
        path=CONTRACT_PATH,
        line=state.line,
        title=title,
        message=message,
        fingerprint=fingerprint(NAME, rule, state.section.key),
        data={"section": state.section.key},
    )


def _unlisted_finding(read: EnvRead) -> Finding:
    return Finding(
        fixer=NAME,
        rule="names-missing",
        severity=Severity.HYGIENE,
        path=read.source.path,
        line=read.source.line,
        title=f"`{read.name}` is not in PROD.md",
        message=f"The code reads `{read.name}` ({read.requirement}, {read.source}) but "
        f"`{CONTRACT_PATH}` does not list it.",
        fingerprint=fingerprint(NAME, "names-missing", read.name),
        data={"name": read.name, "requirement": read.requirement, "source": str(read.source)},
    )


def _create_patch(facts: RepoFacts, commit: str | None, findings: Sequence[Finding]) -> Patch:
    content = render_contract(facts, commit)
    todos = [s.heading for s in SECTIONS if f"## {s.heading}\n\n{TODO}" in content]
    unread = "".join(f"\n- `{n.path}`: {n.reason}" for n in facts.notes[:10])
    if unread:
        unread = "\n\nNot read, so facts they hold are missing from the contract:" + unread
    return Patch(
        fixer=NAME,
        key="prod-md",
        title="Add PROD.md, a production contract pre-filled from the code",
        edits=(FileEdit(CONTRACT_PATH, "create", content.encode("utf-8")),),
        explanation=Explanation(
            found="This repository deploys, but nothing written down says what production "
            "needs: "
            + ", ".join(f.value for f in facts.deploy_markers[:3] or facts.frameworks[:1])
            + "."
            + unread,
            why="Apps rarely sink on one bug; they sink on the boring parts nobody wrote down: "
            "which secrets a deploy needs, how it starts, how to roll back. On-call needs that "
            "page before the incident, not during it.",
            changes=f"Adds `{CONTRACT_PATH}`. Each fact cites the `path:line` it was read from "
            "(statically: nothing was imported or run). Environment variables appear by "
            "**name** only. Sections the code cannot answer are `TODO:` with a hint: "
            + (", ".join(todos) or "none")
            + ".",
            verify="Open each cited `path:line` and check the fact; fill in each `TODO:`. "
            "Patchwell re-checks the file on every scan and reports sections still TODO.",
            rollback=f"Close this PR, or delete `{CONTRACT_PATH}`; nothing reads it at run time.",
        ),
        severity=Severity.HYGIENE,
        fingerprints=tuple(f.fingerprint for f in findings if f.rule == "contract-missing"),
    )


def _insert_names(original: bytes, lines: Sequence[str]) -> bytes:
    """Insert ``lines`` at the end of the Configuration section (or a new one at the end)."""
    newline = b"\r\n" if b"\r\n" in original else b"\n"
    block = b"".join(line.encode("utf-8") + newline for line in lines)
    text = original.decode("utf-8", errors="replace")
    config = next(s for s in check_contract(text) if s.section.key == "configuration")
    raw_lines = original.splitlines(keepends=True)
    if config.line is None:
        head = original if original.endswith(b"\n") or not original else original + newline
        heading = f"## {config.section.heading}".encode()
        return head + newline + heading + newline + newline + block
    heads = [n for n, _ in _headings(text) if n > config.line]
    end = (heads[0] - 1) if heads else len(raw_lines)  # last line of the section (1-based)
    while end > config.line and not raw_lines[end - 1].strip():
        end -= 1  # insert after the section's last non-blank line
    before = b"".join(raw_lines[:end])
    if before and not before.endswith(b"\n"):
        before += newline
    if end == config.line:
        before += newline  # an empty section: keep a blank line under its heading
    return before + block + b"".join(raw_lines[end:])


def _names_patch(snapshot: Snapshot, findings: Sequence[Finding]) -> Patch | None:
    original = snapshot.read(CONTRACT_PATH)
    if original is None or len(original) > MAX_FILE_BYTES:
        return None
    lines: list[str] = []
    names: list[str] = []
    for f in sorted(findings, key=lambda f: str(f.data.get("name"))):
        name = str(f.data.get("name", ""))
        if valid_env_name(name) and name not in names:
            names.append(name)
            lines.append(
                f"- `{name}` — {f.data.get('requirement', 'required')} — read in "
                f"`{f.data.get('source', '')}`"
            )
    if not lines:
        return None
    content = _insert_names(original, lines)
    return Patch(
        fixer=NAME,
        key="prod-md-names",
        title=f"List {len(names)} environment variable name(s) in PROD.md",
        edits=(FileEdit(CONTRACT_PATH, "modify", content),),
        explanation=Explanation(
            found="The code reads environment variables that `PROD.md` does not list:\n\n"
            + "\n".join(f"- `{n}`" for n in names),
            why="A name missing from the contract is a secret the next deploy forgets to set; "
            "it shows up as a crash or a silently wrong default in production.",
            changes="Adds one line per name to `## Configuration and secrets`, citing where "
            "the code reads it. Names only, never values; the rest of the file is untouched.",
            verify="Open each cited `path:line`; check the platform's secret store has the name.",
            rollback="Revert this commit, or delete the added lines.",
        ),
        severity=Severity.HYGIENE,
        fingerprints=tuple(f.fingerprint for f in findings if f.data.get("name") in names),
    )


FIXER = ProdContractFixer()
