"""`workflow-permissions`: least-privilege GITHUB_TOKEN for every workflow.

Detect widely, fix narrowly, refuse loudly:

* a workflow without a top-level ``permissions:`` is a finding; the patch
  inserts ``permissions: {contents: read}`` right before ``jobs:`` and, per job,
  the write scopes that job needs -- inferred from a data table of known
  actions (``fixers/data/action_permissions.toml``) and from ``run:`` steps
  (``git push``, ``gh pr create`` ...);
* a job we cannot reason about (unknown or opaque action, the token used inside
  a script, a reusable workflow) is never restricted: when one exists the
  top-level default is *not* added (it would silently take rights from that
  job); only the jobs we understand get their own block, and the PR names the
  others with the reason;
* ``pull_request_target`` / ``workflow_run`` checking out the PR's head is a
  report-only, high-severity finding: the fix is a design change, not a patch.

Edits are line insertions into the original text at positions the round-trip
parser reported, then re-parsed to prove the result means what we intended.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

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
from fixers.production.workflows import (
    WORKFLOW_PATTERNS,
    EditError,
    Job,
    Step,
    Workflow,
    WorkflowCache,
    insert_lines,
    line_text,
    load_workflows,
    parse_yaml,
    replace_lines,
)

__all__ = [
    "JobPlan",
    "PermissionTable",
    "WorkflowPermissionsFixer",
    "load_permission_table",
    "narrow_workflow",
    "plan_workflow",
    "restrict_workflow",
    "top_level_writes",
]

NAME = "workflow-permissions"
Perms = dict[str, str]
_LEVEL = {"none": 0, "read": 1, "write": 2}

# The token as a workflow expression, and as the environment variables scripts read.
_TOKEN_EXPR = re.compile(r"\$\{\{[^}]*\b(?:secrets\.GITHUB_TOKEN|github\.token)\b", re.I)
_TOKEN_VAR = re.compile(r"\$\{?(?:GITHUB_TOKEN|GH_TOKEN)\b")
# `gh` the command, not the `gh` of `mkdocs gh-deploy` or `gh-pages`.
_GH_CALL = re.compile(r"(?:^|[\s;&|(`/])gh(?![\w.-])(?:\s+(\S+))?(?:\s+(\S+))?", re.M)
# A repository script a `run:` line calls (`scripts/publish`, `./deploy.sh`, `bash x.sh`):
# what it does with the checkout's persisted token is read from the script itself.
_SCRIPT_CALL = re.compile(
    r"(?:^|[\s;&|(\"'])(?:(?:bash|sh)\s+)?((?:\./)?(?:[\w.-]+/)*[\w.-]+\.sh|(?:\./)?"
    r"(?:[\w.-]+/)*scripts?/[\w.-]+)(?=$|[\s;&|)\"'])",
    re.M,
)
# Publishing a site to the gh-pages branch is a `git push` by another name.
# (`${PREFIX}mkdocs`: a virtualenv prefix variable before the command.)
_PAGES_PUSH = re.compile(r"(?:^|[\s;&|(}/])(?:mkdocs\s+gh-deploy|ghp-import\b[^\n]*\s-p\b)", re.M)
#: Reads a repository file's text (``None`` when absent or unreadable).
ScriptReader = Callable[[str], str | None]
# A gh subcommand word; short and without digits or "_", so a token never passes.
_WORD = re.compile(r"[a-z][a-z-]{0,19}")
_MAX_SHOWN = 80  # user-controlled text quoted in findings and PR bodies is cut here


def _no_userinfo(uses: str) -> str:
    """``docker://user:pass@host/image`` -> ``docker://host/image``: credentials never shown."""
    return _short(re.sub(r"^(docker://)[^/@]*@", r"\1", uses))


def _short(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


_ACTION_REF = re.compile(r"^([\w.-]+)/([\w.-]+)((?:/[\w./-]+)?)@(\S+)$")


def merge(a: Mapping[str, str], b: Mapping[str, str]) -> Perms:
    """The union of two permission maps, keeping the higher level per scope."""
    out = dict(a)
    for scope, level in b.items():
        if _LEVEL.get(level, 0) > _LEVEL.get(out.get(scope, "none"), 0):
            out[scope] = level
    return out


@dataclass(frozen=True, slots=True)
class ActionRule:
    permissions: Mapping[str, str]
    with_token: Mapping[str, str] = field(default_factory=dict)
    when_input: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    opaque: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PermissionTable:
    actions: Mapping[str, ActionRule]
    gh: Mapping[str, Mapping[str, str]]
    git_push: re.Pattern[str]
    privileged: frozenset[str]
    untrusted_exprs: tuple[str, ...]
    untrusted_commands: tuple[re.Pattern[str], ...]
    reviewed: str

    def action(self, owner_repo_path: str) -> ActionRule | None:
        """Exact ``owner/repo/path``, then ``owner/repo`` (GitHub names ignore case)."""
        key = owner_repo_path.lower()
        if key in self.actions:
            return self.actions[key]
        owner_repo = "/".join(key.split("/")[:2])
        return self.actions.get(owner_repo)


def _perm_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if str(v) in _LEVEL}


def load_permission_table(data: bytes | None = None) -> PermissionTable:
    """Parse the action-permissions data file (the packaged one by default)."""
    if data is None:
        data = resources.files("fixers").joinpath("data/action_permissions.toml").read_bytes()
    raw = tomllib.loads(data.decode("utf-8"))
    actions: dict[str, ActionRule] = {}
    for name, entry in raw.get("actions", {}).items():
        actions[name.lower()] = ActionRule(
            permissions=_perm_map(entry.get("permissions")),
            with_token=_perm_map(entry.get("with-token")),
            when_input={k: _perm_map(v) for k, v in entry.get("when-input", {}).items()},
            opaque=bool(entry.get("opaque", False)),
            reason=str(entry.get("reason", "")),
        )
    gh = {k: _perm_map(v) for k, v in raw.get("gh", {}).items() if isinstance(v, Mapping)}
    untrusted = raw.get("untrusted-checkout", {})
    return PermissionTable(
        actions=actions,
        gh=gh,
        git_push=re.compile(raw["run"]["git-push"], re.M),
        privileged=frozenset(raw.get("triggers", {}).get("privileged", [])),
        untrusted_exprs=tuple(untrusted.get("expressions", [])),
        untrusted_commands=tuple(re.compile(p) for p in untrusted.get("commands", [])),
        reviewed=str(raw.get("meta", {}).get("reviewed", "")),
    )


@dataclass(frozen=True, slots=True)
class JobPlan:
    """What one job needs, or why we cannot tell."""

    job_id: str
    known: bool
    permissions: Perms
    reasons: tuple[str, ...]  # why each scope is needed, or why the job is unknown

    @property
    def needs_more_than_read(self) -> bool:
        return any(k != "contents" or v != "read" for k, v in self.permissions.items())

    def block(self) -> Perms:
        """The job-level block: what it needs, never less than reading the repo."""
        return merge({"contents": "read"}, self.permissions)


def _step_token_passed(step: Step, inherited_env: Mapping[str, str]) -> bool:
    values = [*step.with_.values(), *step.env.values(), *inherited_env.values()]
    return any(_TOKEN_EXPR.search(v) for v in values)


def _plan_uses(step: Step, env: Mapping[str, str], table: PermissionTable) -> tuple[Perms, str]:
    """Permissions for a ``uses:`` step; raises ``LookupError(reason)`` when unknown."""
    uses = step.uses or ""
    if uses.startswith("./"):
        raise LookupError(f"uses the local action `{_short(uses)}` (not analysed)")
    if uses.startswith("docker://"):
        if _step_token_passed(step, env):
            raise LookupError(f"hands the token to the container `{_no_userinfo(uses)}`")
        return {}, ""
    match = _ACTION_REF.match(uses)
    if match is None:
        raise LookupError(f"uses `{_short(uses)}`, which is not an `owner/repo@ref` reference")
    name = f"{match.group(1)}/{match.group(2)}{match.group(3)}"
    rule = table.action(name)
    if rule is None:
        raise LookupError(f"uses `{_short(name)}`, an action not in Patchwell's permission table")
    if rule.opaque:
        raise LookupError(
            f"uses `{_short(name)}`, which {rule.reason or 'cannot be reasoned about'}"
        )
    perms = dict(rule.permissions)
    if rule.with_token and _step_token_passed(step, env):
        perms = merge(perms, rule.with_token)
    for key, extra in rule.when_input.items():
        if key in step.with_:
            perms = merge(perms, extra)
    return perms, name


def _plan_run(
    script: str,
    token_in_env: bool,
    table: PermissionTable,
    read: ScriptReader | None = None,
    depth: int = 0,
) -> tuple[Perms, list[str]]:
    """Permissions for a ``run:`` script; raises ``LookupError(reason)`` when unknown.

    A repository script it calls is read (``read``) and judged the same way, up to
    :data:`_SCRIPT_DEPTH` levels deep; one that cannot be read makes the job unknown:
    ``scripts/publish`` may well run ``mkdocs gh-deploy`` with the persisted token
    (encode/httpx).
    """
    if _TOKEN_EXPR.search(script):
        raise LookupError("puts the GITHUB_TOKEN into a `run:` script")
    if _TOKEN_VAR.search(script):
        raise LookupError("reads the token variable inside a `run:` script")
    perms: Perms = {}
    why: list[str] = []
    if table.git_push.search(script):
        perms = merge(perms, {"contents": "write"})
        why.append("`git push`")
    if _PAGES_PUSH.search(script):
        perms = merge(perms, {"contents": "write"})
        why.append("a gh-pages deploy")
    calls = 0
    for match in _GH_CALL.finditer(script):
        group, verb = match.group(1) or "", match.group(2) or ""
        if not _WORD.fullmatch(group):
            # Flags before the subcommand, aliases, `gh` alone: not a form we parse.
            # Never quoted: such arguments may carry a token (`gh --token ...`).
            raise LookupError("runs `gh` with arguments Patchwell cannot parse")
        # `gh api <endpoint>`: the second word is an argument, not a verb.
        command = f"{group} {verb}" if _WORD.fullmatch(verb) else group
        needed = table.gh.get(command)
        if needed is None:
            raise LookupError(f"runs `gh {command}`, a command not in the permission table")
        perms = merge(perms, needed)
        why.append(f"`gh {command}`")
        calls += 1
    if token_in_env and not calls:
        # The token is handed to a program whose API calls we cannot see.
        raise LookupError("hands the GITHUB_TOKEN to a script through `env:`")
    for match in _SCRIPT_CALL.finditer(script):
        path = match.group(1).removeprefix("./")
        text = read(path) if read is not None and depth < _SCRIPT_DEPTH else None
        if text is None:
            raise LookupError(f"runs `{path[:80]}`, a script Patchwell cannot read")
        inner, inner_why = _plan_run(text, token_in_env, table, read, depth + 1)
        perms = merge(perms, inner)
        why += [f"{w} in `{path[:80]}`" for w in inner_why]
    return perms, why


SCRIPT_PATTERNS = ("scripts/**", "script/**", "**/*.sh", "bin/**")
_SCRIPT_DEPTH = 4
_MAX_SCRIPT_BYTES = 256 * 1024


def _reader(snapshot: Snapshot) -> ScriptReader:
    def read(path: str) -> str | None:
        data = snapshot.read(path)
        if data is None or len(data) > _MAX_SCRIPT_BYTES:
            return None
        return data.decode("utf-8", errors="replace")

    return read


def plan_job(
    job: Job, workflow: Workflow, table: PermissionTable, read: ScriptReader | None = None
) -> JobPlan:
    if job.uses:
        return JobPlan(job.id, False, {}, (f"calls the reusable workflow `{_short(job.uses)}`",))
    env = {**workflow.env, **job.env}
    perms: Perms = {}
    reasons: list[str] = []
    for step in job.steps:
        if step.malformed:
            reason = f"step {step.index + 1} has a `uses:` or `run:` that is not plain text"
            return JobPlan(job.id, False, {}, (reason,))
        try:
            if step.uses:
                needed, name = _plan_uses(step, env, table)
                if any(v != "read" or k != "contents" for k, v in needed.items()):
                    reasons.append(f"`{name}`")
            elif step.run is not None:
                token_in_env = any(
                    _TOKEN_EXPR.search(v) for v in (*env.values(), *step.env.values())
                )
                needed, why = _plan_run(step.run, token_in_env, table, read)
                if needed:
                    reasons.extend(why)
            else:
                continue
        except LookupError as exc:
            return JobPlan(job.id, False, {}, (f"step {step.index + 1} {exc.args[0]}",))
        perms = merge(perms, needed)
    return JobPlan(job.id, True, perms, tuple(dict.fromkeys(reasons)))


def plan_workflow(
    workflow: Workflow, table: PermissionTable, read: ScriptReader | None = None
) -> list[JobPlan]:
    """A plan for every job that does not already set its own permissions."""
    return [plan_job(j, workflow, table, read) for j in workflow.jobs if not j.has_permissions]


# --- the edit ---------------------------------------------------------------------


def _block_lines(indent: str, unit: str, perms: Mapping[str, str]) -> list[str]:
    lines = [f"{indent}permissions:"]
    lines += [f"{indent}{unit}{scope}: {perms[scope]}" for scope in sorted(perms)]
    return lines


def _comment_reasons(plan: JobPlan) -> str:
    """Why, short enough for one line in the workflow (the PR body has the full list)."""
    if not plan.reasons:
        return "nothing that writes"
    names = [r.strip("`").rsplit("/", 1)[-1] if "/" in r else r.strip("`") for r in plan.reasons]
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _top_insert_line(workflow: Workflow) -> int:
    """The line before ``jobs:``, moved above comments that belong to ``jobs:``."""
    assert workflow.jobs_line is not None
    line = workflow.jobs_line
    while line > 0 and line_text(workflow.text, line - 1).lstrip().startswith("#"):
        line -= 1
    return line


@dataclass(frozen=True, slots=True)
class Restriction:
    """The outcome of restricting one workflow."""

    text: str | None  # the new text, or None when nothing could be changed
    top_level: bool
    plans: tuple[JobPlan, ...]
    refused: tuple[str, ...] = ()


def restrict_workflow(
    workflow: Workflow, table: PermissionTable, read: ScriptReader | None = None
) -> Restriction:
    """Insert the permission blocks into ``workflow.text`` (see the module docstring)."""
    plans = plan_workflow(workflow, table, read)
    if workflow.jobs_line is None:
        return Restriction(None, False, tuple(plans))
    all_known = all(p.known for p in plans)
    unit = " " * workflow.indent
    nl = workflow.newline
    inserts: list[tuple[int, list[str]]] = []
    expected_jobs: dict[str, Perms] = {}
    refused: list[str] = []
    for plan in plans:
        if not plan.known or (all_known and not plan.needs_more_than_read):
            continue
        job = workflow.job(plan.job_id)
        assert job is not None
        if job.body_line is None or job.body_col is None:
            refused.append(f"`{job.id}` is written in flow style; left alone")
            continue
        prefix = line_text(workflow.text, job.body_line)[: job.body_col]
        if prefix.strip():
            refused.append(f"`{job.id}` has an unusual layout; left alone")
            continue
        indent = " " * job.body_col
        comment = f"{indent}# Patchwell: least privilege for this job ({_comment_reasons(plan)})."
        block = plan.block()
        inserts.append((job.body_line, [comment, *_block_lines(indent, unit, block)]))
        expected_jobs[job.id] = block
    if all_known:
        at = _top_insert_line(workflow)
        # Keep the block visually apart from whatever precedes it.
        spacer = [""] if at > 0 and line_text(workflow.text, at - 1).strip() else []
        top = [
            *spacer,
            "# Patchwell: least-privilege GITHUB_TOKEN. Read-only by default;",
            "# a job that needs more asks for it in its own `permissions:`.",
            *_block_lines("", unit, {"contents": "read"}),
            "",
        ]
        inserts.append((at, top))
    if not inserts:
        return Restriction(None, False, tuple(plans), tuple(refused))
    text = workflow.text
    # Bottom-up, so earlier line numbers stay valid.
    for line, lines in sorted(inserts, key=lambda item: item[0], reverse=True):
        text = insert_lines(text, line, lines, nl)
    _verify(text, workflow, expected_jobs, top_level=all_known)
    return Restriction(text, all_known, tuple(plans), tuple(refused))


def _verify(text: str, before: Workflow, jobs: Mapping[str, Perms], *, top_level: bool) -> None:
    """Re-parse the edited text: the permissions must read back exactly as intended."""
    try:
        doc = parse_yaml(text)
    except YAMLError as exc:  # pragma: no cover - would be a bug in the insertion
        raise EditError(f"edited workflow no longer parses: {exc}") from None
    if not isinstance(doc, CommentedMap):  # pragma: no cover
        raise EditError("edited workflow is no longer a mapping")
    if top_level and dict(doc.get("permissions") or {}) != {"contents": "read"}:
        raise EditError("top-level permissions did not read back as contents: read")
    for job_id, perms in jobs.items():
        node = doc["jobs"][job_id]
        if dict(node.get("permissions") or {}) != perms:
            raise EditError(f"job {job_id} permissions did not read back as intended")
    if len(doc["jobs"]) != len(before.jobs):
        raise EditError("job count changed")


def top_level_writes(workflow: Workflow) -> list[str]:
    """The write scopes the top-level ``permissions:`` grants every job (``*`` for write-all)."""
    perms = workflow.permissions
    if perms == "write-all":
        return ["*"]
    if isinstance(perms, Mapping):
        return sorted(str(k) for k, v in perms.items() if str(v) == "write")
    return []


_SIMPLE_SCOPE = re.compile(r"^\s+[a-z][a-z-]*:\s*(?:read|write|none)\s*(?:#.*)?$")


def _narrowed_top(workflow: Workflow) -> Perms:
    """The top level without its write scopes; reads and explicit ``none`` are kept."""
    perms = workflow.permissions
    kept = (
        {str(k): str(v) for k, v in perms.items() if str(v) in ("read", "none")}
        if isinstance(perms, Mapping)
        else {}
    )
    return {"contents": "read", **kept}


def narrow_workflow(
    workflow: Workflow, table: PermissionTable, read: ScriptReader | None = None
) -> Restriction:
    """Move top-level write scopes down to the jobs that need them (see the module docstring).

    Only when every job without its own block is understood: a job we cannot reason
    about may rely on the top-level write, so nothing is changed then.
    """
    plans = plan_workflow(workflow, table, read)
    span = workflow.permissions_lines
    if not all(p.known for p in plans) or span is None or workflow.jobs_line is None:
        return Restriction(None, False, tuple(plans))
    start, end = span
    body = [line_text(workflow.text, i) for i in range(start + 1, end)]
    if not line_text(workflow.text, start).startswith("permissions:") or not all(
        not line.strip() or line.lstrip().startswith("#") or _SIMPLE_SCOPE.match(line)
        for line in body
    ):
        raise EditError("the top-level `permissions:` block has a layout Patchwell does not edit")
    top = _narrowed_top(workflow)
    # A write the author granted by name that no job is known to need: our table may
    # be missing what uses it. With one job, moving it there changes nothing at run
    # time; with several, which job needs it is the author's call, so only report.
    writes = [w for w in top_level_writes(workflow) if w != "*"]
    unexplained = {
        w: "write" for w in writes if not any(p.permissions.get(w) == "write" for p in plans)
    }
    if unexplained and len(plans) != 1:
        raise EditError(
            "no job is known to need "
            + ", ".join(f"`{w}: write`" for w in sorted(unexplained))
            + ", and which of several jobs does is the author's call"
        )
    unit = " " * workflow.indent
    nl = workflow.newline
    edits: list[tuple[int, int, list[str]]] = []
    expected_jobs: dict[str, Perms] = {}
    refused: list[str] = []
    for plan in plans:
        block = merge(merge(top, plan.permissions), unexplained)
        if block == top:
            continue
        job = workflow.job(plan.job_id)
        assert job is not None
        if job.body_line is None or job.body_col is None:
            raise EditError(f"`{job.id}` is written in flow style")
        if line_text(workflow.text, job.body_line)[: job.body_col].strip():
            raise EditError(f"`{job.id}` has an unusual layout")
        indent = " " * job.body_col
        kept = (
            f"; {', '.join(f'{w}: write' for w in unexplained)} as granted" if unexplained else ""
        )
        comment = f"{indent}# Patchwell: moved from the top level ({_comment_reasons(plan)}{kept})."
        lines = [comment, *_block_lines(indent, unit, block)]
        edits.append((job.body_line, job.body_line, lines))
        expected_jobs[job.id] = block
    header = [
        "# Patchwell: read-only by default; a job that writes asks in its own `permissions:`.",
        *_block_lines("", unit, top),
    ]
    edits.append((start, end, header))
    text = workflow.text
    for first, last, lines in sorted(edits, key=lambda e: e[0], reverse=True):
        text = replace_lines(text, first, last, lines, nl)
    _verify(text, workflow, expected_jobs, top_level=False)
    doc = parse_yaml(text)
    if dict(doc.get("permissions") or {}) != top:
        raise EditError("top-level permissions did not read back as intended")
    return Restriction(text, True, tuple(plans), tuple(refused))


# --- findings ---------------------------------------------------------------------


def _untrusted_checkout(step: Step, table: PermissionTable) -> bool:
    if step.uses and step.uses.lower().startswith("actions/checkout@"):
        values = (step.with_.get("ref", ""), step.with_.get("repository", ""))
        return any(expr in v for v in values for expr in table.untrusted_exprs)
    if step.run:
        if any(p.search(step.run) for p in table.untrusted_commands):
            return True
        return "git checkout" in step.run and any(e in step.run for e in table.untrusted_exprs)
    return False


def _untrusted_findings(workflow: Workflow, table: PermissionTable) -> list[Finding]:
    risky = workflow.triggers & {"pull_request_target", "workflow_run"}
    if not risky:
        return []
    out = []
    for job in workflow.jobs:
        step = next((s for s in job.steps if _untrusted_checkout(s, table)), None)
        if step is None:
            continue
        trigger = sorted(risky)[0]
        out.append(
            Finding(
                fixer=NAME,
                rule="untrusted-checkout",
                severity=Severity.VULNERABILITY,
                title=f"`{trigger}` checks out untrusted pull-request code",
                message=(
                    f"Job `{job.id}` runs on `{trigger}`, which has the base repository's "
                    f"secrets and a write-capable token, and step {step.index + 1} checks out "
                    "the pull request's head. Code from a fork then runs with those rights. "
                    "Split the workflow: build untrusted code under `pull_request`, and do "
                    "privileged work in a separate `workflow_run` job that never executes it."
                ),
                fingerprint=fingerprint(NAME, "untrusted-checkout", workflow.path, job.id),
                path=workflow.path,
                line=step.line,
                data={"job": job.id, "trigger": trigger},
            )
        )
    return out


def _missing_finding(
    workflow: Workflow, table: PermissionTable, read: ScriptReader | None = None
) -> Finding | None:
    plans = plan_workflow(workflow, table, read)
    if not plans:
        return None  # every job already sets its own permissions
    privileged = sorted(workflow.triggers & table.privileged)
    # A privileged trigger hands outsider-controlled input to a token that may
    # write: above hygiene so it is fixed first, but not "high" (that is the
    # untrusted-checkout finding, which is the actually exploitable shape).
    severity = Severity.DRIFT if privileged else Severity.HYGIENE
    unknown = [p for p in plans if not p.known]
    msg = "No top-level `permissions:`: every job gets the repository's default token rights."
    if privileged:
        msg += f" It runs on {', '.join(f'`{t}`' for t in privileged)} with outsider input."
    if unknown:
        msg += " Jobs Patchwell cannot reason about: " + "; ".join(
            f"`{p.job_id}` {p.reasons[0]}" for p in unknown
        )
    return Finding(
        fixer=NAME,
        rule="missing-permissions",
        severity=severity,
        title="Workflow token has no least-privilege permissions",
        message=msg,
        fingerprint=fingerprint(NAME, "missing-permissions", workflow.path),
        path=workflow.path,
        line=1,
        data={
            "privileged_triggers": privileged,
            "jobs": {
                p.job_id: {"known": p.known, "permissions": p.permissions, "why": list(p.reasons)}
                for p in plans
            },
        },
    )


def _write_finding(
    workflow: Workflow, table: PermissionTable, read: ScriptReader | None = None
) -> Finding | None:
    """Top-level write scopes (Scorecard's Token-Permissions flags exactly these)."""
    writes = top_level_writes(workflow)
    if not writes:
        return None
    plans = plan_workflow(workflow, table, read)
    unknown = [p for p in plans if not p.known]
    if writes == ["*"]:
        rule, granted = "write-all", "`permissions: write-all` gives every job every write scope"
    else:
        rule = "top-level-write"
        granted = "The top-level `permissions:` gives every job " + ", ".join(
            f"`{w}: write`" for w in writes
        )
    needs = [f"`{p.job_id}` needs {_format_perms(p.block())}" for p in plans if p.known]
    message = granted + "; grant write scopes per job instead."
    if needs:
        message += " " + "; ".join(needs) + "."
    if unknown:
        message += " Jobs Patchwell cannot reason about (so it only reports): " + "; ".join(
            f"`{p.job_id}` {p.reasons[0]}" for p in unknown
        )
    privileged = sorted(workflow.triggers & table.privileged)
    return Finding(
        fixer=NAME,
        rule=rule,
        severity=Severity.DRIFT if privileged else Severity.HYGIENE,
        title="Workflow grants every job write access",
        message=message,
        fingerprint=fingerprint(NAME, rule, workflow.path),
        path=workflow.path,
        line=(workflow.permissions_lines[0] + 1) if workflow.permissions_lines else 1,
        data={"writes": writes, "unknown_jobs": [p.job_id for p in unknown]},
    )


def _format_perms(perms: Mapping[str, str]) -> str:
    return ", ".join(f"`{k}: {v}`" for k, v in sorted(perms.items())) or "none"


@dataclass(frozen=True)
class WorkflowPermissionsFixer:
    table: PermissionTable = field(default_factory=load_permission_table)
    cache: WorkflowCache = field(default_factory=WorkflowCache, compare=False, repr=False)
    name: str = NAME
    # The scripts a `run:` step calls are read too, so a workflow's findings depend on
    # more than its own file.
    patterns: tuple[str, ...] = (*WORKFLOW_PATTERNS, *SCRIPT_PATTERNS)
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        workflows, errors = load_workflows(snapshot, ctx, self.cache)
        findings = [
            Finding(
                fixer=NAME,
                rule="unreadable-workflow",
                severity=Severity.BROKEN_BUILD,
                title="Workflow file cannot be parsed",
                message=f"Patchwell could not read this workflow: {err.reason}. GitHub will "
                "not run it either.",
                fingerprint=fingerprint(NAME, "unreadable-workflow", err.path),
                path=err.path,
            )
            for err in errors
        ]
        for workflow in workflows:
            findings += _untrusted_findings(workflow, self.table)
            if workflow.jobs_line is None:
                continue
            read = _reader(snapshot)
            if workflow.has_permissions:
                found = _write_finding(workflow, self.table, read)
            else:
                found = _missing_finding(workflow, self.table, read)
            if found is not None:
                findings.append(found)
        return findings

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        rules = ("missing-permissions", "write-all", "top-level-write")
        wanted = {f.path: f for f in findings if f.rule in rules and f.path}
        if not wanted:
            return []
        workflows, _ = load_workflows(snapshot, ctx, self.cache)
        edits: list[FileEdit] = []
        resolved: list[str] = []
        notes: list[str] = []
        severity = Severity.HYGIENE
        for workflow in workflows:
            finding = wanted.get(workflow.path)
            if finding is None or workflow.jobs_line is None:
                continue
            narrowing = finding.rule != "missing-permissions"
            try:
                if narrowing:
                    result = narrow_workflow(workflow, self.table, _reader(snapshot))
                else:
                    result = restrict_workflow(workflow, self.table, _reader(snapshot))
            except EditError as exc:
                notes.append(f"- `{workflow.path}`: left unchanged ({exc}).")
                continue
            notes.append(_describe(workflow.path, result, narrowed=narrowing))
            if result.text is None:
                continue
            edits.append(FileEdit(workflow.path, "modify", result.text.encode("utf-8")))
            severity = max(severity, finding.severity)
            if result.top_level:
                resolved.append(finding.fingerprint)
        if not edits:
            return []
        return [
            Patch(
                fixer=NAME,
                key="least-privilege",
                title="Give workflow tokens least-privilege permissions",
                edits=tuple(edits),
                explanation=_explanation(notes, self.table.reviewed),
                severity=severity,
                fingerprints=tuple(resolved),
                labels=("security",),
            )
        ]


def _describe(path: str, result: Restriction, *, narrowed: bool = False) -> str:
    lines = [f"- `{path}`:"]
    if narrowed and result.top_level:
        lines.append("  - top level: write scopes removed (reads kept); `contents: read`")
    elif narrowed:
        lines.append(
            "  - top level **not** narrowed: a job below cannot be reasoned about and may "
            "rely on the write scopes it grants"
        )
    elif result.top_level:
        lines.append("  - top level: `contents: read` before `jobs:`")
    else:
        lines.append(
            "  - top level **not** restricted: a job below cannot be reasoned about, and a "
            "read-only default would silently take rights from it"
        )
    for plan in result.plans:
        if not plan.known:
            lines.append(f"  - job `{plan.job_id}` left alone: it {plan.reasons[0]}")
        elif plan.needs_more_than_read or not result.top_level:
            why = ", ".join(plan.reasons) or "nothing that writes"
            lines.append(f"  - job `{plan.job_id}`: {_format_perms(plan.block())} ({why})")
    lines += [f"  - {note}" for note in result.refused]
    return "\n".join(lines)


def _explanation(notes: list[str], reviewed: str) -> Explanation:
    return Explanation(
        found="These workflows run without a `permissions:` block (every job receives the "
        "repository's default GITHUB_TOKEN rights, read-write on older repositories) or grant "
        "write scopes to every job at the top level:\n\n" + "\n".join(notes),
        why="A compromised dependency, action or injected script can only do what the token "
        "allows. Read-only by default, with each job's write scopes written next to it, "
        "limits that to what the job was built to do.",
        changes="Inserts `permissions:` blocks (and rewrites a top-level block that grants "
        "writes: its write scopes move to the jobs that need them); every other byte of each "
        "workflow is unchanged. Scopes come from Patchwell's table of what known actions need "
        f"(`fixers/data/action_permissions.toml`, reviewed {reviewed}) and from recognised "
        "`run:` commands (`git push` needs `contents: write`, `gh pr create` needs "
        "`pull-requests: write`).",
        verify="Let the workflows run on this branch (or re-run them after merging). A job "
        "that fails with `Resource not accessible by integration` needs one more scope: add "
        "it to that job's block.",
        rollback="Revert this pull request; the workflows return to the default token rights.",
    )
