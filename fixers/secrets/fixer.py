"""The ``secrets`` fixer: find committed credentials, move them to the environment."""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ruamel.yaml.error import YAMLError

from fixers.contract import (
    Context,
    FileEdit,
    Finding,
    MemorySnapshot,
    Patch,
    Severity,
    Snapshot,
    fingerprint,
)
from fixers.nesting import json_loads
from fixers.production.test_runner import has_tests, names_the_tests_set
from fixers.secrets import pool
from fixers.secrets.detect import (
    FIXER_NAME,
    FixtureIndex,
    SecretOptions,
    as_example,
    as_fixture,
    candidate_paths,
    dotenv_finding,
    fixture_index,
    hit_finding,
    in_doc_comments,
    is_accepted,
    is_dotenv,
    is_example_path,
    pair_hits,
    scan_file,
)
from fixers.secrets.dotenv_patch import dotenv_patch
from fixers.secrets.engine import EngineName, Hit, Scanner
from fixers.secrets.explain import explanation
from fixers.secrets.naming import assign_env_names, target_env
from fixers.secrets.rewrite import Target, language_of, rewrite_file
from fixers.secrets.rules import RuleSet, default_ruleset
from fixers.secrets.validate import verdict
from fixers.yaml_budget import YamlBudgetError, check_yaml

# Below this many candidate files a scan takes milliseconds: forking would cost more.
POOL_MIN_FILES = 64
# Files to rewrite: each takes milliseconds (a parse before and after), so fewer suffice.
FIX_POOL_MIN_FILES = 16

# The body stops at the next BEGIN: a lazy `.*?` to the END would rescan the rest of a
# file of headers without END lines once per header (32 KB: 47 s).
_PEM = re.compile(
    rb"-----BEGIN[ A-Z0-9]{0,40} PRIVATE KEY[- A-Z]{0,40}-----(?:(?!-----BEGIN).)*?"
    rb"-----END[ A-Z0-9]{0,40} PRIVATE KEY[- A-Z]{0,40}-----",
    re.S,
)


@dataclass(frozen=True, slots=True)
class _FilePlan:
    """What the fix does to one file: rewrite it, or delete it (it *is* the credential)."""

    edit: FileEdit
    names: tuple[str, ...]
    resolved: tuple[Finding, ...]
    how: str
    deleted: bool


class SecretsFixer:
    """Detects leaked credentials and opens one PR per file moving them to the environment.

    Options read from ``fixers.secrets`` in ``.github/patchwell.yml``:
    ``accepted`` (fingerprints, either a finding's or its ``accept_fingerprint``) and
    ``paths-ignore`` (globs).
    """

    name = FIXER_NAME
    patterns: tuple[str, ...] = ("*", "**/*")
    scope: Literal["file", "repo"] = "file"

    def __init__(
        self,
        ruleset: RuleSet | None = None,
        engine: EngineName = "auto",
        workers: int | None = None,
    ) -> None:
        self.ruleset = ruleset or default_ruleset()
        self.engine: EngineName = engine
        # Processes that scan files (``None``: every usable CPU, for trees big enough).
        self.workers = workers

    # -- detect -------------------------------------------------------------------------

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        opts = SecretOptions.from_mapping(ctx.options)
        scanner = Scanner(self.ruleset, self.engine)
        added = snapshot.added_lines
        findings: list[Finding] = []
        fixtures: FixtureIndex | None = None
        paths = list(candidate_paths(snapshot, ctx, opts))

        def scan_one(i: int) -> list[Finding] | None:
            data = snapshot.read(paths[i])
            if data is None:
                return None
            try:
                return self.file_findings(scanner, paths[i], data)
            except Exception as exc:  # one file's bug must not cost every other file's results
                return [_not_scanned(paths[i], exc)]

        scanned = pool.run(scan_one, len(paths), self._workers(snapshot, len(paths)))
        for path, found in zip(paths, scanned.results, strict=True):
            if found is None:
                continue
            if found:
                fixtures = fixtures or fixture_index(snapshot, self.ruleset)
                if fixtures.is_fixture(path, self.ruleset):
                    found = [as_fixture(f, self.ruleset) for f in found]
                elif is_example_path(path, self.ruleset):
                    found = [as_example(f, self.ruleset) for f in found]
            for finding in found:
                if added is not None and not _on_lines(finding, added.get(path, frozenset())):
                    continue
                if not is_accepted(finding, opts.accepted):
                    findings.append(finding)
        return _report_import_time_reads_the_tests_need(snapshot, findings)

    def _workers(self, snapshot: Snapshot, files: int, minimum: int = POOL_MIN_FILES) -> int:
        """A pool only over an in-memory snapshot (a forked child reads it for free) and
        only when there is enough to share; a handful of files is faster in-process."""
        if self.workers is not None:
            return self.workers
        if not isinstance(snapshot, MemorySnapshot) or files < minimum:
            return 1
        return pool.usable_cpus()

    def file_findings(self, scanner: Scanner, path: str, data: bytes) -> list[Finding]:
        """Every finding in one file, before push, accept-list and path filters."""
        out: list[Finding] = []
        if is_dotenv(path, self.ruleset):
            dotenv = dotenv_finding(path, data, scanner)
            if dotenv is not None:
                out.append(dotenv)
        # Published values (Supabase's local demo keys) are nobody's credential.
        hits = [
            h for h in scan_file(scanner, path, data) if verdict(h.rule.id, h.value) != "public"
        ]
        names = assign_env_names(hits)
        first: dict[str, Hit] = {}
        counts: dict[str, int] = {}
        for hit in hits:
            first.setdefault(hit.fingerprint, hit)
            counts[hit.fingerprint] = counts.get(hit.fingerprint, 0) + 1
        for hit, partner in pair_hits(list(first.values())):
            out.append(
                hit_finding(
                    hit, partner, self.ruleset, names[hit.fingerprint], counts[hit.fingerprint]
                )
            )
        return _unrewritable_yaml(path, data, in_doc_comments(path, data, out, self.ruleset))

    # -- fix ----------------------------------------------------------------------------

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        by_path: dict[str, list[Finding]] = {}
        for f in findings:
            if f.fixer == FIXER_NAME and f.path and not f.data.get("report_only"):
                by_path.setdefault(f.path, []).append(f)
        scanner = Scanner(self.ruleset, self.engine)
        dotenv = [f for fs in by_path.values() for f in fs if f.rule == "dotenv-committed"]
        # Committed env files get one repository-wide patch, below.
        paths = [p for p in sorted(by_path) if not is_dotenv(p, self.ruleset)]

        def patch_one(i: int) -> Patch | None:
            data = snapshot.read(paths[i])
            if data is None:
                return None
            plan = self._plan(scanner, paths[i], data, by_path[paths[i]])
            return None if plan is None else self._patch(paths[i], plan)

        # Proving each rewrite (parsing the file before and after) costs milliseconds a
        # file: the files are shared out like the scan's.
        workers = self._workers(snapshot, len(paths), FIX_POOL_MIN_FILES)
        planned = pool.run(patch_one, len(paths), workers)
        patches = [p for p in planned.results if p is not None]
        combined = dotenv_patch(snapshot, dotenv, scanner, ctx)
        if combined is not None:
            patches.append(combined)
        return patches

    def _plan(
        self, scanner: Scanner, path: str, data: bytes, findings: list[Finding]
    ) -> _FilePlan | None:
        if _whole_file_credential(data, findings):
            names = tuple(
                dict.fromkeys(str(f.data.get("env", "")) for f in findings if f.data.get("env"))
            )
            return _FilePlan(FileEdit(path, "delete"), names, tuple(findings), "", True)
        wanted = {fp for f in findings for fp in f.data.get("covers", [f.fingerprint])}
        hits = scan_file(scanner, path, data)
        names = assign_env_names(hits)
        targets = [Target(h, target_env(h, names)) for h in hits if h.fingerprint in wanted]
        result = rewrite_file(path, data, targets)
        if result is None or _value_left_behind(result.content, result.done):
            return None
        done = {t.hit.fingerprint for t in result.done}
        resolved = tuple(f for f in findings if set(f.data.get("covers", [f.fingerprint])) <= done)
        if not resolved:
            return None
        env_names = tuple(dict.fromkeys(t.env for t in result.done))
        return _FilePlan(
            FileEdit(path, "modify", result.content), env_names, resolved, result.how, False
        )

    def _patch(self, path: str, plan: _FilePlan) -> Patch:
        """One file's patch. It edits that file only: the names it introduces reach
        `.env.example` through the env-names fixer (the code now reads them), so two
        secrets PRs never touch the same file and merge in any order."""
        return Patch(
            fixer=FIXER_NAME,
            key=patch_key(path),
            title=_title(path, plan),
            edits=(plan.edit,),
            explanation=explanation(
                plan.resolved,
                self.ruleset,
                path=path,
                how=plan.how,
                names=plan.names,
                deleted=plan.deleted,
            ),
            severity=max(f.severity for f in plan.resolved),
            fingerprints=tuple(f.fingerprint for f in plan.resolved),
            labels=("security",),
            bypass_limit=True,
        )


_LEFT_BEHIND_MIN = 8  # shorter values turn up in unrelated text by chance


def _value_left_behind(content: bytes, done: Sequence[Target]) -> bool:
    """Whether a moved value still stands elsewhere in the rewritten file, where no rule
    read it (a compose file's `DATABASE_URL` password is also its database service's
    `MYSQL_ROOT_PASSWORD: ...`, a word no entropy bar passes). Such a PR would say the
    credential left the file while it did not: the finding stays a report instead."""
    return any(
        len(t.hit.value) >= _LEFT_BEHIND_MIN and t.hit.value.encode("utf-8") in content
        for t in done
    )


def _not_scanned(path: str, exc: Exception) -> Finding:
    """A file the detector failed on: said, and incomplete (the engine then keeps what it
    knew of this fixer and closes none of its PRs). Only the error's type is named: its
    message may quote the file, and so a secret."""
    return Finding(
        fixer=FIXER_NAME,
        rule="file-not-scanned",
        severity=Severity.HYGIENE,
        message=(
            f"Patchwell could not scan {path} for secrets (an internal error, "
            f"{type(exc).__name__}); the repository's other files were scanned. Please report "
            "it; the next scan with a fixed Patchwell looks at the file again."
        ),
        fingerprint=fingerprint(FIXER_NAME, "file-not-scanned", path),
        path=path,
        title=f"{path} was not scanned for secrets",
        data={"report_only": True},
        incomplete=True,
    )


def _unrewritable_yaml(path: str, data: bytes, found: list[Finding]) -> list[Finding]:
    """The findings of a YAML file too big to rewrite safely, saying so and report-only.

    A rewrite is proven by loading the file before and after; a file over the YAML budget
    (an alias bomb, absurd nesting) is never loaded, so it gets no PR. Without this the
    maintainer would wait for a PR that never comes."""
    if not found or language_of(path) != "yaml":
        return found
    try:
        check_yaml(data)
    except YamlBudgetError as over:
        note = (
            f" Patchwell opens no PR for this file: {over.problem}, so it cannot prove a "
            "rewrite keeps the file valid. Move the value to the environment by hand."
        )
        return [
            replace(f, message=f.message + note, data={**f.data, "report_only": True})
            for f in found
        ]
    except YAMLError:
        pass  # a syntax error: the rewrite refuses the file and the YAML fixers report it
    return found


def _title(path: str, plan: _FilePlan) -> str:
    """A sentence saying what the PR does, naming the variable where there is one."""
    if plan.deleted:
        return f"Delete {path}: the file is a committed credential"
    if all(f.rule.startswith("fallback-secret") for f in plan.resolved):
        if len(plan.names) == 1:
            return f"Fail fast when {plan.names[0]} is unset instead of using a fallback in {path}"
        names = (
            " or ".join(plan.names)
            if len(plan.names) == 2
            else f"any of {len(plan.names)} secret settings"
        )
        return f"Fail fast when {names} is unset instead of using fallbacks in {path}"
    if len(plan.names) == 1:
        return f"Read {plan.names[0]} from the environment instead of {path}"
    return f"Read {len(plan.names)} leaked credentials in {path} from the environment"


def _on_lines(finding: Finding, added: frozenset[int]) -> bool:
    if not added:
        return False
    if finding.rule == "dotenv-committed":
        return True
    lines = set(range(finding.line or 0, (finding.end_line or finding.line or 0) + 1))
    paired = finding.data.get("paired")
    if isinstance(paired, dict) and isinstance(paired.get("line"), int):
        lines.add(paired["line"])
    return bool(lines & added)


def patch_key(path: str) -> str:
    """Stable per path: the same leak always updates the same branch."""
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:40] or "file"
    return f"{slug}-{hashlib.sha256(path.encode('utf-8')).hexdigest()[:8]}"


def _whole_file_credential(data: bytes, findings: Sequence[Finding]) -> bool:
    """A key file (PEM, service-account JSON) is deleted, not edited."""
    rules = {f.rule for f in findings}
    if "google-service-account-key" in rules:
        try:
            doc = json_loads(data)
        except ValueError:
            return False
        return isinstance(doc, dict) and doc.get("type") == "service_account"
    if "private-key" in rules:
        return not _PEM.sub(b"", data).strip()
    return False


def _report_import_time_reads_the_tests_need(
    snapshot: Snapshot, findings: list[Finding]
) -> list[Finding]:
    """Make report-only, saying why, a Python literal whose fix the tests would crash on.

    The fix reads ``os.environ["NAME"]`` where the literal stood. At module or class
    level -- ``SECRET_KEY = os.environ.get("SECRET_KEY") or "dev"`` in the ``Config``
    that ``TestingConfig`` inherits (flasky, microblog), a Django settings module's
    ``SECRET_KEY`` (djangox) -- that raises ``KeyError`` on import, so every test run
    that does not set the name crashes, and the PR breaks the build it lands in. Inside a
    function it only raises when called, so those are still patched. The finding says so,
    or the maintainer would wait for a PR that never comes.
    """
    if not any(_import_time_candidate(f) for f in findings) or not has_tests(snapshot):
        return findings
    told = names_the_tests_set(snapshot)
    lines: dict[str, frozenset[int]] = {}
    out: list[Finding] = []
    for f in findings:
        env = str(f.data.get("env", ""))
        if f.path and _import_time_candidate(f) and env and env not in told:
            if f.path not in lines:
                lines[f.path] = _import_time_lines(snapshot.read(f.path))
            if f.line in lines[f.path]:
                note = _tests_note(env)
                f = replace(f, message=f.message + note, data={**f.data, "report_only": True})
        out.append(f)
    return out


def _import_time_candidate(f: Finding) -> bool:
    return bool(f.path and f.path.endswith(".py") and f.line and not f.data.get("report_only"))


def _tests_note(env: str) -> str:
    return (
        f' Patchwell opens no PR for this: its fix reads `os.environ["{env}"]` when the'
        f" module is imported, and the tests do not set {env}, so every test run would crash."
        f" Set {env} for the tests (the CI workflow's `env:`, pytest-env, or the test"
        " configuration) and the next scan opens the PR."
    )


def _import_time_lines(data: bytes | None) -> frozenset[int]:
    """Lines of a module that run on import (outside every function body); all lines
    when the module does not parse (we cannot tell, so assume the worst)."""
    if data is None:
        return frozenset()
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset(range(1, data.count(b"\n") + 2))
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            end = getattr(node, "end_lineno", None) or node.lineno
            first = node.body[0].lineno if isinstance(node.body, list) else node.lineno
            inside.update(range(first, end + 1))
    return frozenset(range(1, data.count(b"\n") + 2)) - inside
