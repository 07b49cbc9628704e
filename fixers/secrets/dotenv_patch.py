"""The one secrets patch that touches shared files: committed ``.env`` files stop being
tracked, their variable names (and their non-secret values) go to ``.env.example``, and
``.gitignore`` ignores them from now on.

Every other secrets patch edits only its own file, so merging the secrets PRs of a
repository in any order never conflicts on ``.env.example`` or ``.gitignore``. The
``.gitignore`` lines are the env-names fixer's own (:func:`gitignore_additions`, appended
the same way), so that fixer's PR and this one add identical bytes and merge cleanly too.

A ``.env`` is removed from the index, not thrown away: docker compose ``env_file:`` and
code that loads it still need the file on each machine, so the example keeps every
non-secret value (`DOMAIN=localhost`) and the PR says how to keep the local copy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fixers.contract import Context, Explanation, FileEdit, Finding, Patch, Severity, Snapshot
from fixers.production.env_names import (
    EXAMPLE_FILES,
    append_lines,
    code_block_for,
    example_content,
    listed_names,
)
from fixers.production.env_names import _gitignore_additions as gitignore_additions
from fixers.secrets.detect import (
    FIXER_NAME,
    dotenv_finding,
    dotenv_line_is_secret,
    fixture_index,
    is_dotenv,
)
from fixers.secrets.engine import Scanner
from fixers.secrets.explain import preface
from fixers.secrets.rules import RuleSet, default_ruleset

DOTENV_PATCH_KEY = "untrack-env-files"
_LINE = re.compile(r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=(.*)$")
_GITIGNORE_HEADER = "# Local environment files hold secret values; only the example is committed."
_EXAMPLE_HEADER = "# Copy to .env and fill in the secrets. Never commit the copy."


@dataclass(frozen=True, slots=True)
class _Example:
    path: str
    edit: FileEdit | None
    names: tuple[str, ...]


def example_path(snapshot: Snapshot, env_path: str) -> str:
    """The example next to the env file: an existing one by any common name, else
    ``.env.example`` in the same directory (where compose's `env_file:` looks)."""
    folder = env_path.rsplit("/", 1)[0] + "/" if "/" in env_path else ""
    present = set(snapshot.all_paths)
    for name in EXAMPLE_FILES:
        if folder + name in present:
            return folder + name
    return folder + ".env.example"


def example_lines(data: bytes, scanner: Scanner) -> list[tuple[str, str]]:
    """(name, line for the example) per variable: a secret's value is dropped, any other
    value (ports, hosts, flags) is kept so `cp .env.example .env` gives a working setup."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in data.decode("utf-8", "replace").splitlines():
        if raw.lstrip().startswith("#"):
            continue
        m = _LINE.match(raw)
        if not m or m.group(1) in seen:
            continue
        name, value = m.group(1), m.group(2).strip()
        seen.add(name)
        keep = value and not dotenv_line_is_secret(name, value.strip("\"'"), scanner)
        out.append((name, f"{name}={value}" if keep else f"{name}="))
    return out


def _block(current: bytes | None, lines: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(lines this PR appends to the example, the names they list)."""
    present = listed_names(current.decode("utf-8", "replace")) if current is not None else set()
    missing = [(n, line) for n, line in lines if n not in present]
    if not missing:
        return [], []
    header = [] if current is not None else [_EXAMPLE_HEADER]
    return [*header, *(line for _, line in missing)], [n for n, _ in missing]


def _example_edit(
    snapshot: Snapshot, path: str, lines: list[tuple[str, str]], ctx: Context
) -> _Example:
    current = snapshot.read(path)
    block, names = _block(current, lines)
    if not block:
        return _Example(path, None, ())
    # The env-names PR may append the code's names to the same file: both PRs write both
    # blocks, byte for byte the same, so they merge in either order.
    content = example_content(current, block, code_block_for(snapshot, path, ctx))
    assert content is not None
    action = "modify" if current is not None else "create"
    return _Example(path, FileEdit(path, action, content), tuple(names))


def _example_sources(
    snapshot: Snapshot, paths: Sequence[str], scanner: Scanner
) -> dict[str, list[tuple[str, str]]]:
    """Per example file, the (name, line) pairs of the env files it documents."""
    examples: dict[str, list[tuple[str, str]]] = {}
    for path in paths:
        data = snapshot.read(path)
        if data is None:
            continue
        merged = examples.setdefault(example_path(snapshot, path), [])
        have = {n for n, _ in merged}
        merged += [(n, line) for n, line in example_lines(data, scanner) if n not in have]
    return examples


def dotenv_block_for(snapshot: Snapshot, example: str, ctx: Context) -> list[str]:
    """The lines this fixer's combined PR appends to ``example``, found the way ``detect``
    finds them (for the env-names PR, which writes them too)."""
    ruleset = default_ruleset()
    scanner = Scanner(ruleset)
    fixtures = None
    paths = []
    for path in snapshot.paths():
        if not is_dotenv(path, ruleset) or ctx.ignored(path):
            continue
        if example_path(snapshot, path) != example:
            continue
        data = snapshot.read(path)
        if data is None or dotenv_finding(path, data, scanner) is None:
            continue
        fixtures = fixtures or fixture_index(snapshot, ruleset)
        if not fixtures.is_fixture(path, ruleset):
            paths.append(path)
    lines = _example_sources(snapshot, paths, scanner).get(example, [])
    return _block(snapshot.read(example), lines)[0]


def _gitignore_edit(snapshot: Snapshot) -> FileEdit | None:
    original = snapshot.read(".gitignore")
    text = original.decode("utf-8", "replace") if original is not None else ""
    example = next((p for p in EXAMPLE_FILES if p in set(snapshot.all_paths)), ".env.example")
    additions = gitignore_additions(text, example)
    if not additions:
        return None
    content = append_lines(original, [_GITIGNORE_HEADER, *additions])
    return FileEdit(".gitignore", "modify" if original is not None else "create", content)


def dotenv_patch(
    snapshot: Snapshot, findings: Sequence[Finding], scanner: Scanner, ctx: Context
) -> Patch | None:
    """One patch for every committed env file with credentials in the repository."""
    ruleset = scanner.ruleset
    paths = sorted({f.path for f in findings if f.path and f.rule == "dotenv-committed"})
    paths = [p for p in paths if snapshot.read(p) is not None]
    edits: list[FileEdit] = [FileEdit(path, "delete") for path in paths]
    if not edits:
        return None
    written: list[_Example] = []
    for target, lines in _example_sources(snapshot, paths, scanner).items():
        ex = _example_edit(snapshot, target, lines, ctx)
        if ex.edit is not None:
            edits.append(ex.edit)
            written.append(ex)
    ignore = _gitignore_edit(snapshot)
    if ignore is not None:
        edits.append(ignore)
    resolved = [f for f in findings if f.rule == "dotenv-committed" and f.path in paths]
    untracked = [e.path for e in edits if e.action == "delete"]
    title = (
        f"Stop tracking {untracked[0]} and list its variables in an example file"
        if len(untracked) == 1
        else f"Stop tracking {len(untracked)} env files and list their variables in example files"
    )
    return Patch(
        fixer=FIXER_NAME,
        key=DOTENV_PATCH_KEY,
        title=title,
        edits=tuple(edits),
        explanation=_explanation(resolved, ruleset, untracked, written, ignore is not None),
        severity=Severity.LEAKED_SECRET,
        fingerprints=tuple(f.fingerprint for f in resolved),
        labels=("security",),
        bypass_limit=True,
    )


def _explanation(
    findings: Sequence[Finding],
    ruleset: RuleSet,
    untracked: Sequence[str],
    examples: Sequence[_Example],
    gitignored: bool,
) -> Explanation:
    files = ", ".join(f"`{p}`" for p in untracked)
    changes = [
        f"- Stops tracking {files}: git no longer holds the file (it stays in history until "
        "purged, so rotate what it held)."
    ]
    for ex in examples:
        changes.append(
            f"- Lists {len(ex.names)} variable(s) in `{ex.path}`: secret values left empty, "
            "other values (hosts, ports, flags) kept so a copy of it runs the app."
        )
    if gitignored:
        changes.append("- Ignores `.env` and `.env.*` in `.gitignore` (the example stays tracked).")
    first = untracked[0]
    return Explanation(
        preface=preface(findings, ruleset),
        found="Committed environment files holding credentials: " + files + ".",
        why=(
            "An env file holds one machine's secrets. Committed, every clone and fork has "
            "them; and docker compose `env_file:` or code that loads the file keeps working "
            "only if the file stays on each machine, untracked, rather than deleted."
        ),
        changes="\n".join(changes),
        verify=(
            f"1. Before you pull this change, keep your local copy: `cp {first} /tmp/` "
            f"(after pulling, `git show ORIG_HEAD:{first} > {first}` restores it too).\n"
            "2. On a fresh clone: copy the example next to it to the env file's name and fill "
            "in the secrets (new values: the old ones are compromised).\n"
            "3. `git status` shows the env file as ignored, and the app starts as before."
        ),
        rollback=(
            "Revert this pull request. Do not commit the old values again: rotate them "
            "whether or not this change is merged."
        ),
    )
