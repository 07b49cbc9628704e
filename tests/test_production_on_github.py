"""The production-config fixers end to end on the fake GitHub: real PRs, files that still parse.

The ``webapp`` fixture repository (a Flask app with a Procfile, alembic, a
compose file and tests) is pushed to the fake GitHub with a workflow that has no
``permissions:`` and an ignored-nothing ``.gitignore``; the real scan engine runs
every production fixer and opens its PRs.
"""

from __future__ import annotations

import ast
import io
import tomllib

import pytest
from ruamel.yaml import YAML

from bot.scan.engine import ScanRequest
from fixers.production import (
    ci_tests,
    env_names,
    migrations,
    prod_contract,
    runtime_defaults,
    runtime_drift,
    workflow_permissions,
)
from tests.appfixtures import engine_on_fake
from tests.fixtures.production.repos import HERE

OWNER, REPO, INSTALLATION = "acme", "webapp", 55

DEPLOY_WORKFLOW = """name: deploy
on:
  push:
    branches: [main]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      # ship it
      - run: ./deploy.sh
"""


def fixers():
    return [
        prod_contract.FIXER,
        env_names.FIXER,
        migrations.FIXER,
        runtime_defaults.FIXER,
        workflow_permissions.WorkflowPermissionsFixer(),
        ci_tests.CiTestsFixer(),
        runtime_drift.RuntimeDriftFixer(),
    ]


def webapp_files() -> dict[str, bytes]:
    root = HERE / "webapp"
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    files[".github/workflows/deploy.yml"] = DEPLOY_WORKFLOW.encode()
    # The script the deploy step runs: Patchwell reads it before restricting the token.
    files["deploy.sh"] = b"#!/bin/sh\nset -e\nflyctl deploy --remote-only\n"
    files[".gitignore"] = b"__pycache__/\n"
    # Room for every production PR at once (the default limit of 5 would queue some).
    files[".github/patchwell.yml"] = b"open-pull-requests-limit: 10\n"
    return files


def parses(path: str, data: bytes) -> None:
    if path.endswith(".py"):
        ast.parse(data)
    elif path.endswith((".yml", ".yaml")):
        YAML(typ="rt").load(io.BytesIO(data))
    elif path.endswith(".toml"):
        tomllib.loads(data.decode())


@pytest.fixture
async def scanned(fake_github, tmp_path):
    files = webapp_files()
    fake_github.create_repo(OWNER, REPO, files)
    fake_github.add_installation(INSTALLATION, OWNER, [REPO])
    async with engine_on_fake(
        fake_github, f"sqlite:///{tmp_path / 'scan.db'}", INSTALLATION, fixers=fixers()
    ) as (engine, _db):
        outcome = await engine.scan(ScanRequest(OWNER, REPO, INSTALLATION, reason="install"))
        yield files, outcome, engine


async def test_each_pr_changes_only_its_files_and_they_still_parse(fake_github, scanned) -> None:
    files, _outcome, _ = scanned
    pulls = fake_github.pulls(OWNER, REPO)
    assert pulls, "the webapp fixture should get production-config PRs"
    fixers_with_prs = {p["head"]["ref"].split("/")[1] for p in pulls}
    assert {"workflow-permissions", "env-names", "prod-contract"} <= fixers_with_prs
    for pull in pulls:
        after = fake_github.files_at(OWNER, REPO, pull["head"]["ref"])
        changed = {p for p in set(after) | set(files) if after.get(p) != files.get(p)}
        assert changed, pull["title"]
        for path in changed:
            if path in after:
                parses(path, after[path])
        assert "### How to roll back" in pull["body"]


async def test_permissions_pr_keeps_comments_and_layout(fake_github, scanned) -> None:
    (pull,) = [
        p
        for p in fake_github.pulls(OWNER, REPO)
        if p["head"]["ref"].startswith("patchwell/workflow-permissions/")
    ]
    after = fake_github.file_at(OWNER, REPO, pull["head"]["ref"], ".github/workflows/deploy.yml")
    text = after.decode()
    assert "permissions:" in text and "contents: read" in text
    assert "      # ship it\n      - run: ./deploy.sh\n" in text
    original_lines = [line for line in DEPLOY_WORKFLOW.splitlines() if line.strip()]
    assert all(line in text.splitlines() for line in original_lines)


async def test_env_example_pr_lists_names_never_values(fake_github, scanned) -> None:
    _files, _, _ = scanned
    prs = [
        p
        for p in fake_github.pulls(OWNER, REPO)
        if p["head"]["ref"].startswith("patchwell/env-names/")
    ]
    assert prs
    for pull in prs:
        example = fake_github.file_at(OWNER, REPO, pull["head"]["ref"], ".env.example")
        if example is None:
            continue
        for line in example.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                assert value == "", f"{name} got a value in .env.example"


async def test_rescan_is_idempotent_and_check_run_lists_findings(fake_github, scanned) -> None:
    _, _first, engine = scanned
    count = len(fake_github.pulls(OWNER, REPO))
    await engine.scan(ScanRequest(OWNER, REPO, INSTALLATION, reason="rescan"))
    assert len(fake_github.pulls(OWNER, REPO)) == count
    runs = fake_github.check_runs(OWNER, REPO)
    assert runs and runs[-1]["conclusion"] in ("neutral", "failure")
    assert "| hygiene |" in runs[-1]["output"]["summary"]
