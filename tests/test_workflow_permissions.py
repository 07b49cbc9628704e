"""`workflow-permissions`: detection, the inserted blocks, and the refusals."""

from __future__ import annotations

import difflib

import pytest
from ruamel.yaml import YAML

from fixers.contract import Context, MemorySnapshot, Severity
from fixers.production.workflow_permissions import (
    WorkflowPermissionsFixer,
    load_permission_table,
)

WF = ".github/workflows/ci.yml"


@pytest.fixture(scope="module")
def fixer() -> WorkflowPermissionsFixer:
    return WorkflowPermissionsFixer()


def run(fixer: WorkflowPermissionsFixer, files: dict[str, bytes]):
    snap = MemorySnapshot(files)
    findings = fixer.detect(snap, Context())
    return findings, fixer.fix(snap, findings, Context())


def inserted_only(before: str, after: str) -> list[str]:
    """The lines ``after`` adds; fails if any original line changed or moved out."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        assert tag in ("equal", "insert"), f"original bytes changed: {tag} {a[i1:i2]!r}"
        if tag == "insert":
            added += b[j1:j2]
    return added


def load(text: str):
    return YAML(typ="safe").load(text)


CI = """\
name: ci   # keep this comment
"on":
  push:
    branches: ['main']
  pull_request:

env:
  FORCE_COLOR: "1"

# The jobs, in the order they run.
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.12"}
      - run: pytest -q
  release:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          git tag "v$(date +%s)"
          git push origin --tags
      - uses: softprops/action-gh-release@v2
  label:
    runs-on: ubuntu-latest
    steps:
      - run: gh pr edit "$PR" --add-label ci
        env:
          GH_TOKEN: ${{ github.token }}
"""


def test_all_known_jobs_get_top_level_read_and_job_level_writes(fixer):
    findings, patches = run(fixer, {WF: CI.encode()})
    [finding] = findings
    assert finding.rule == "missing-permissions"
    assert finding.severity is Severity.HYGIENE
    [patch] = patches
    assert patch.fixer == "workflow-permissions" and patch.key == "least-privilege"
    assert patch.fingerprints == (finding.fingerprint,)
    [edit] = patch.edits
    after = edit.content.decode()
    added = inserted_only(CI, after)
    assert all(
        line.strip().startswith(("#", "permissions:", "contents:", "pull-"))
        or line.strip() in ("",)
        for line in added
    ), added
    doc = load(after)
    assert doc["permissions"] == {"contents": "read"}
    assert "permissions" not in doc["jobs"]["test"]  # read-only default suffices
    assert doc["jobs"]["release"]["permissions"] == {"contents": "write"}
    assert doc["jobs"]["label"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    # Inserted before the comment that belongs to `jobs:`, not between them.
    assert "# The jobs, in the order they run.\njobs:\n" in after
    assert after.index("permissions:\n  contents: read") < after.index("# The jobs")
    # Round trip: the rest of the document reads back identically.
    before_doc, after_doc = load(CI), load(after)
    after_doc.pop("permissions")
    for job in after_doc["jobs"].values():
        job.pop("permissions", None)
    assert after_doc == before_doc


def test_explanation_names_scopes_and_reasons(fixer):
    _, [patch] = run(fixer, {WF: CI.encode()})
    body = patch.explanation.markdown()
    assert "`release`" in body and "`git push`" in body
    assert "softprops/action-gh-release" in body
    assert "### How to roll back" in body


def test_unknown_job_blocks_top_level_and_is_named(fixer):
    text = """\
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
  mystery:
    runs-on: ubuntu-latest
    steps:
      - uses: someone/unknown-action@v1
  scripted:
    runs-on: ubuntu-latest
    steps:
      - run: |
          curl -H "Authorization: token ${{ secrets.GITHUB_TOKEN }}" https://api.github.com
  reuse:
    uses: org/repo/.github/workflows/deploy.yml@main
"""
    [finding], [patch] = run(fixer, {WF: text.encode()})
    assert "mystery" in finding.message and "reuse" in finding.message
    assert finding.data["jobs"]["mystery"]["known"] is False
    after = patch.edits[0].content.decode()
    inserted_only(text, after)
    doc = load(after)
    assert "permissions" not in doc  # would silently restrict `mystery`
    assert doc["jobs"]["build"]["permissions"] == {"contents": "read"}
    for job in ("mystery", "scripted", "reuse"):
        assert "permissions" not in doc["jobs"][job]
    body = patch.explanation.markdown()
    assert "`mystery` left alone" in body and "someone/unknown-action" in body
    assert "`scripted` left alone" in body and "`run:` script" in body
    assert "`reuse` left alone" in body and "reusable workflow" in body
    # The finding stays open: only the top-level block resolves it.
    assert patch.fingerprints == ()


def test_only_unknown_jobs_means_no_patch(fixer):
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
    text += "      - uses: actions/github-script@v7\n"

    [finding], patches = run(fixer, {WF: text.encode()})
    assert "caller-supplied script" in finding.message
    assert patches == []


def test_existing_permissions_are_respected(fixer):
    top = "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: x\n    steps: [{run: make}]\n"
    per_job = "on: push\njobs:\n  a:\n    runs-on: x\n    permissions: read-all\n    steps: []\n"
    assert run(fixer, {WF: top.encode(), ".github/workflows/b.yaml": per_job.encode()}) == ([], [])


def test_write_all_is_reported_and_narrowed(fixer):
    """Issue 14: top-level writes are what Scorecard's Token-Permissions flags."""
    text = CI.replace("# The jobs,", "permissions: write-all\n\n# The jobs,")
    [finding], [patch] = run(fixer, {WF: text.encode()})
    assert finding.rule == "write-all" and "`release` needs" in finding.message
    assert patch.fingerprints == (finding.fingerprint,)
    after = patch.edits[0].content.decode()
    doc = load(after)
    assert doc["permissions"] == {"contents": "read"}
    assert "permissions" not in doc["jobs"]["test"]
    assert doc["jobs"]["release"]["permissions"] == {"contents": "write"}
    assert doc["jobs"]["label"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "write-all" not in after and "# The jobs, in the order they run.\njobs:" in after
    assert "write scopes removed" in patch.explanation.markdown()


TOP_WRITE = """\
on: [push, pull_request]
permissions:
  contents: write   # for the release job
  pull-requests: read
  issues: none
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pytest
  release:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: git push origin HEAD:refs/tags/v1
"""


def test_top_level_contents_write_moves_to_the_job_that_needs_it(fixer):
    [finding], [patch] = run(fixer, {WF: TOP_WRITE.encode()})
    assert finding.rule == "top-level-write" and finding.line == 2
    assert "`contents: write`" in finding.message
    doc = load(patch.edits[0].content.decode())
    # Reads and explicit "none" stay; the job-level block keeps them (it replaces the top).
    assert doc["permissions"] == {"contents": "read", "pull-requests": "read", "issues": "none"}
    assert "permissions" not in doc["jobs"]["test"]
    assert doc["jobs"]["release"]["permissions"] == {
        "contents": "write",
        "pull-requests": "read",
        "issues": "none",
    }
    assert load(TOP_WRITE)["jobs"]["test"]["steps"] == doc["jobs"]["test"]["steps"]


def test_a_write_no_job_is_known_to_need_moves_only_into_a_single_job(fixer):
    one = TOP_WRITE.replace("  pull-requests: read", "  pull-requests: write")
    one = one[: one.index("  release:")]
    [finding], [patch] = run(fixer, {WF: one.encode()})
    doc = load(patch.edits[0].content.decode())
    assert doc["permissions"] == {"contents": "read", "issues": "none"}
    # One job: the move changes nothing at run time, whatever our table knows.
    assert doc["jobs"]["test"]["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "none",
    }
    two = TOP_WRITE.replace("  pull-requests: read", "  pull-requests: write")
    [finding], patches = run(fixer, {WF: two.encode()})
    assert finding.rule == "top-level-write" and patches == []


def test_top_level_write_with_an_unknown_job_is_reported_only(fixer):
    text = TOP_WRITE + "  other:\n    runs-on: x\n    steps:\n      - uses: someone/thing@v1\n"
    [finding], patches = run(fixer, {WF: text.encode()})
    assert finding.rule == "top-level-write" and patches == []
    assert "`other` step 1 uses `someone/thing`" in finding.message


def test_top_level_write_in_an_unusual_layout_is_left_alone(fixer):
    text = TOP_WRITE.replace("  contents: write   # for the release job", "  contents: &w write")
    [finding], patches = run(fixer, {WF: text.encode()})
    assert finding.rule == "top-level-write" and patches == []


def test_read_only_top_levels_are_not_findings(fixer):
    for top in ("read-all", "{contents: read}", "{}"):
        text = f"on: push\npermissions: {top}\njobs:\n  a:\n    runs-on: x\n    steps: []\n"
        assert run(fixer, {WF: text.encode()}) == ([], [])


def test_privileged_trigger_raises_severity(fixer):
    text = """\
on: pull_request_target
jobs:
  triage:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/labeler@v5
"""
    [finding], [patch] = run(fixer, {WF: text.encode()})
    assert finding.severity is Severity.DRIFT
    assert patch.severity is Severity.DRIFT
    doc = load(patch.edits[0].content.decode())
    assert doc["jobs"]["triage"]["permissions"] == {"contents": "read", "pull-requests": "write"}


@pytest.mark.parametrize(
    "step",
    [
        "- uses: actions/checkout@v4\n        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}",
        "- run: gh pr checkout ${{ github.event.number }}",
        "- uses: actions/checkout@v4\n        with:\n"
        "          ref: refs/pull/${{ github.event.number }}/merge",
    ],
)
def test_pull_request_target_head_checkout_is_high_and_report_only(fixer, step):
    text = (
        "on:\n  pull_request_target:\npermissions:\n  contents: read\n"
        f"jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      {step}\n"
    )
    [finding], patches = run(fixer, {WF: text.encode()})
    assert finding.rule == "untrusted-checkout"
    assert finding.severity is Severity.VULNERABILITY and finding.severity.is_high
    assert finding.line == 9 and patches == []


def test_pull_request_checkout_of_head_is_not_flagged(fixer):
    text = (
        "on: pull_request\npermissions: {contents: read}\njobs:\n  b:\n    runs-on: x\n"
        "    steps:\n      - uses: actions/checkout@v4\n        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
    )
    assert run(fixer, {WF: text.encode()}) == ([], [])


def test_crlf_and_four_space_indent_are_kept(fixer):
    text = (
        "on: push\r\njobs:\r\n    pub:\r\n        runs-on: ubuntu-latest\r\n"
        "        steps:\r\n            - uses: pypa/gh-action-pypi-publish@release/v1\r\n"
    )
    _, [patch] = run(fixer, {WF: text.encode()})
    after = patch.edits[0].content.decode()
    assert "\n" not in after.replace("\r\n", "")
    assert "permissions:\r\n    contents: read\r\n" in after
    assert (
        "        permissions:\r\n            contents: read\r\n            id-token: write\r\n"
        in after
    )
    inserted_only(text, after)


def test_token_inputs_and_conditional_inputs(fixer):
    text = """\
on: push
jobs:
  image:
    runs-on: ubuntu-latest
    steps:
      - uses: docker/login-action@v3
        with:
          registry: ghcr.io
          password: ${{ secrets.GITHUB_TOKEN }}
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: arn:aws:iam::1:role/x
"""
    _, [patch] = run(fixer, {WF: text.encode()})
    doc = load(patch.edits[0].content.decode())
    assert doc["jobs"]["image"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "packages": "write",
    }


def test_unlisted_gh_command_makes_job_unknown(fixer):
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: gh api repos/o/r\n"
    [finding], patches = run(fixer, {WF: text.encode()})
    assert "gh api" in finding.message and patches == []


def test_flow_style_job_is_refused_loudly(fixer):
    text = (
        "on: push\njobs:\n  a: {runs-on: x, steps: [{run: git push}]}\n"
        "  b:\n    runs-on: x\n    steps:\n      - run: make\n"
    )
    _, [patch] = run(fixer, {WF: text.encode()})
    after = patch.edits[0].content.decode()
    assert load(after)["permissions"] == {"contents": "read"}
    assert "flow style" in patch.explanation.markdown()


@pytest.mark.parametrize(
    "data",
    [
        b"on: push\njobs:\n  a: [unclosed\n",
        b"\xff\xfe not utf-8",
        b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\njobs: [*c, *c]\n",
        b"on: push\non: pull_request\njobs: {}\n",
        b"- just\n- a list\n",
        b"x" * (600 * 1024),
    ],
)
def test_hostile_workflows_get_a_bounded_answer(fixer, data):
    findings, patches = run(fixer, {WF: data})
    assert patches == []
    assert all(f.rule == "unreadable-workflow" for f in findings)
    assert all(len(f.message) < 400 for f in findings)


def test_ignored_paths_and_non_workflow_files_are_skipped(fixer):
    snap = MemorySnapshot({WF: CI.encode(), "ci/other.yml": CI.encode()})
    assert fixer.detect(snap, Context(ignore_paths=(".github/workflows/*",))) == []


@pytest.mark.parametrize(
    ("script", "writes"),
    [
        ("git push", True),
        ("git -C site push origin gh-pages", True),
        ("cd x && git -c user.name=bot push --force", True),
        ("git pushd", False),
        ("echo git-push-docs", False),
        ("git log --oneline", False),
    ],
)
def test_git_push_recognition(script, writes):
    assert bool(load_permission_table().git_push.search(script)) is writes


def test_data_table_has_sources_and_review_date():
    table = load_permission_table()
    assert table.reviewed == "2026-11-23"
    assert table.action("Actions/Checkout") is not None
    assert table.action("github/codeql-action/analyze").permissions["security-events"] == "write"
    assert "pull_request_target" in table.privileged


@pytest.mark.parametrize(
    ("script", "env", "reason"),
    [
        ("gh -R o/r pr create --fill", "", "cannot parse"),
        ("./scripts/release.sh", "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}", "through `env:`"),
        ('curl -H "authorization:Bearer $GH_TOKEN" https://api.github.com', "", "token variable"),
    ],
)
def test_scripts_we_cannot_see_into_make_the_job_unknown(fixer, script, env, reason):
    env_block = f"        env:\n          {env}\n" if env else ""
    text = f"on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: {script}\n{env_block}"
    [finding], patches = run(fixer, {WF: text.encode()})
    assert reason in finding.message and patches == []


def test_credentials_in_scripts_and_image_urls_are_never_echoed(fixer):
    secret = "ghp_" + "Z" * 36
    text = (
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
        f"      - run: gh --token {secret} pr create\n"
        "  b:\n    runs-on: x\n    steps:\n"
        f"      - uses: docker://bot:{secret}@ghcr.io/o/img\n"
        "        env:\n          T: ${{ github.token }}\n"
    )
    [finding], patches = run(fixer, {WF: text.encode()})
    assert "cannot parse" in finding.message and "ghcr.io/o/img" in finding.message
    assert secret not in repr(finding) and patches == []


def test_tagged_or_structured_steps_are_unknown(fixer):
    text = (
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
        "      - uses: !custom softprops/action-gh-release@v2\n"
        "  b:\n    runs-on: x\n    steps:\n      - run: {script: git push}\n"
    )
    [finding], patches = run(fixer, {WF: text.encode()})
    assert finding.data["jobs"]["a"]["known"] is False
    assert finding.data["jobs"]["b"]["known"] is False
    assert patches == []


def test_hostile_long_action_names_are_cut_in_messages(fixer):
    name = "o/" + "a" * 5000 + "@v1"
    text = f"on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: {name}\n"
    [finding], _ = run(fixer, {WF: text.encode()})
    assert len(finding.message) < 400


def test_workflow_cache_parses_once_and_remembers_failures():
    from fixers.production.workflows import WorkflowCache, WorkflowError

    cache = WorkflowCache(limit=2)
    first = cache.load(WF, CI.encode())
    assert cache.load(WF, CI.encode()) is first
    assert cache.load(WF, CI.encode() + b"\n") is not first  # content, not path, decides
    for _ in range(2):
        with pytest.raises(WorkflowError, match="invalid YAML"):
            cache.load(WF, b"jobs: [x\n")
    assert len(cache._items) == 2  # bounded


def test_mangled_workflows_never_crash_and_every_edit_still_parses():
    """Seeded byte mangling of a real-shaped workflow through all three fixers."""
    import random
    from datetime import UTC, datetime

    from fixers.contract import Services
    from fixers.production.ci_tests import CiTestsFixer
    from fixers.production.runtime_drift import RuntimeDriftFixer

    ctx = Context(services=Services(clock=lambda: datetime(2026, 11, 23, tzinfo=UTC)))
    base = CI.replace("ubuntu-latest", "ubuntu-20.04", 1).encode()
    extra = {"Dockerfile": b"FROM python:3.13\n", "tests/test_a.py": b""}
    fixers = [WorkflowPermissionsFixer(), CiTestsFixer(), RuntimeDriftFixer()]
    rng = random.Random(5)
    alphabet = b" \n:-[]{}#'\"|>&*!%@`\t"
    for _ in range(30):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                del data[at : at + rng.randint(1, 3)]
            else:
                data[at:at] = bytes([rng.choice(alphabet)])
        snap = MemorySnapshot({WF: bytes(data), **extra})
        for fixer in fixers:
            findings = fixer.detect(snap, ctx)
            for patch in fixer.fix(snap, findings, ctx):
                for edit in patch.edits:
                    if edit.path.endswith((".yml", ".yaml")):
                        YAML(typ="rt").load(edit.content.decode())  # keeps custom tags


def test_repository_scripts_a_step_runs_are_read_before_restricting(fixer):
    # encode/httpx publish.yml: `run: scripts/publish`, which ends in `mkdocs gh-deploy --force`
    # with the checkout's persisted token: `contents: read` would break the docs deploy.
    text = (
        b"on: push\njobs:\n  publish:\n    runs-on: x\n    steps:\n      - run: scripts/publish\n"
    )
    deploys = {
        WF: text,
        "scripts/publish": b"#!/bin/sh -e\n${PREFIX}twine upload dist/*\nscripts/docs\n",
        "scripts/docs": b"#!/bin/sh -e\n${PREFIX}mkdocs gh-deploy --force\n",
    }
    [finding], [patch] = run(fixer, deploys)
    content = patch.edits[0].content.decode()
    assert "      contents: write" in content
    why = "a gh-pages deploy in `scripts/docs` in `scripts/publish`"
    assert why in patch.explanation.markdown()
    # A harmless script keeps the job read-only...
    harmless = {WF: text, "scripts/publish": b"#!/bin/sh\npytest -q\n"}
    [_], [patch] = run(fixer, harmless)
    assert "contents: write" not in patch.edits[0].content.decode()
    # ...and one Patchwell cannot read makes the job unknown: reported, not restricted.
    [finding], patches = run(fixer, {WF: text})
    assert "runs `scripts/publish`, a script Patchwell cannot read" in finding.message
    assert patches == []
