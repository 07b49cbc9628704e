"""prod-contract: PROD.md generated from static facts, and checked when present."""

from __future__ import annotations

import re

from fixers.contract import Context, MemorySnapshot, Services
from fixers.production import env_names, migrations, runtime_defaults
from fixers.production.facts import extract_facts
from fixers.production.prod_contract import (
    FIXER,
    SECTIONS,
    check_contract,
    render_contract,
)
from fixers.repo_config import load_repo_config
from fixers.runner import run_fixers
from tests.fixtures.production.repos import load_repo

CTX = Context()
CITE = re.compile(r"read in `([^`:]+):(\d+)`")


def _contract(snap: MemorySnapshot) -> str:
    (patch,) = FIXER.fix(snap, FIXER.detect(snap, CTX), CTX)
    (edit,) = patch.edits
    assert edit.path == "PROD.md" and edit.action == "create"
    return edit.content.decode("utf-8")


def test_missing_contract_is_written_from_the_code_with_citations():
    snap = load_repo("webapp")
    findings = FIXER.detect(snap, CTX)
    assert [f.rule for f in findings] == ["contract-missing"]
    text = _contract(snap)
    for section in SECTIONS:
        assert f"\n## {section.heading}\n" in text
    # Every cited env read points at a line that really mentions the name (or its library).
    cited = 0
    for line in text.splitlines():
        m = CITE.search(line)
        if not m:
            continue
        name = re.match(r"- `([A-Z_0-9]+)`", line).group(1)
        source_line = snap.read(m.group(1)).decode().splitlines()[int(m.group(2)) - 1]
        key = "sentry_sdk" if name == "SENTRY_DSN" else name
        key = "stripe_api_key" if name == "SHOP_STRIPE_API_KEY" else key
        key = "mail_from" if name == "SHOP_MAIL_FROM" else key
        assert key in source_line, (name, source_line)
        cited += 1
    assert cited == 7
    assert "- `SECRET_KEY` — required — read in `app/main.py:13`" in text
    assert (
        "`web`: `gunicorn app.main:app" in text and "Release step: `alembic upgrade head`" in text
    )
    assert "Health check: `/healthz` — `app/main.py:19`" in text
    assert "Database named in the code: PostgreSQL — `app/worker.py:1`" in text
    assert "- Migrations: `alembic upgrade head` (release step) — `Procfile:3`" in text
    # The Procfile is Heroku's: the names Heroku sets say so, with the evidence.
    assert "- `PORT` — defaulted (set by Heroku — `Procfile`) — read in `app/main.py:16`" in text
    assert "`FLY_API_TOKEN` — used in `.github/workflows/deploy.yml:18`" in text
    # test-only names are not production's business
    assert "TEST_ONLY_TOKEN" not in text
    # what code cannot tell is a TODO, never invented
    for section in SECTIONS:
        if not section.from_code:
            assert f"## {section.heading}\n\nTODO: " in text
    # no values: the compose default and the pydantic default never appear
    assert "devonly" not in text and "noreply@example.com" not in text


def test_library_that_deploys_nothing_gets_no_contract():
    snap = load_repo("library")
    assert not extract_facts(snap).deploys  # imports flask but never creates an app
    assert FIXER.detect(snap, CTX) == []
    assert FIXER.fix(snap, [], CTX) == []


def test_django_contract_from_split_settings_and_dockerfile():
    text = _contract(load_repo("djangoapp"))
    assert "Web framework: Django — `shop/wsgi.py:6`" in text
    assert "- `web`: `gunicorn shop.wsgi --bind 0.0.0.0:8000` — `Dockerfile:5`" in text
    assert "`python:3.12-slim` — `Dockerfile:1`" in text
    assert "- `DJANGO_SECRET_KEY` — required — read in `shop/settings/base.py:5`" in text
    assert "- `DEBUG` — defaulted — read in `shop/settings/base.py:6`" in text
    assert "Port: 8000" in text
    # no release step, no CI: asked, not guessed (no `python manage.py migrate` invented)
    assert "- Migration tool: Django migrations — `manage.py`" in text
    assert "TODO: Which command runs the migrations on deploy, and when?" in text
    assert "manage.py migrate" not in text
    # A Dockerfile is no platform: DATABASE_URL is the app's own configuration.
    assert "- `DATABASE_URL` — required — read in `shop/settings/base.py:8`" in text
    # manage.py sets DJANGO_SETTINGS_MODULE itself: no deploy provides it.
    assert "DJANGO_SETTINGS_MODULE" not in text
    assert "## CI and deploy\n\nTODO: " in text


def test_secret_in_a_start_command_is_masked():
    secret = "sk_live_" + "9f8e7d6c5b4a39281706"
    procfile = f"web: STRIPE_KEY={secret} gunicorn app:app -b :$PORT\n"
    url = "redis://user:hunter2hunter2@cache:6379/0"  # patchwell:allow
    snap = MemorySnapshot(
        {
            "Procfile": procfile.encode(),
            "app.py": b"from flask import Flask\napp = Flask(__name__)\n",
            "render.yaml": (
                f"services:\n  - type: worker\n    startCommand: rq worker --url {url}\n"
            ).encode(),
        }
    )
    text = _contract(snap)
    assert secret not in text and "hunter2hunter2" not in text
    assert "STRIPE_KEY=sk_l****" in text or "STRIPE_KEY=****" in text
    assert "redis://user:" in text


def test_generated_contract_checks_clean_except_human_todos():
    snap = load_repo("webapp")
    text = _contract(snap)
    with_contract = load_repo("webapp", **{"PROD.md": text.encode()})
    findings = FIXER.detect(with_contract, CTX)
    assert {f.rule for f in findings} == {"section-todo"}
    human = {s.key for s in SECTIONS if not s.from_code}
    assert {f.data["section"] for f in findings} == human
    assert all(f.line and text.splitlines()[f.line - 1].startswith("## ") for f in findings)
    assert FIXER.fix(with_contract, findings, CTX) == []


PARTIAL = (
    "# Production\r\n"
    "\r\n"
    "## Runtime\r\n"
    "\r\n"
    "Python 3.12 on Fly.\r\n"
    "```\r\n"
    "## Owner and on-call\r\n"  # inside a code fence: not a heading
    "```\r\n"
    "\r\n"
    "## Configuration and secrets\r\n"
    "\r\n"
    "- `SECRET_KEY` is in Fly secrets\r\n"
    "\r\n"
    "## Backups\r\n"
    "\r\n"
    "TODO\r\n"
)


def test_partial_contract_reports_sections_and_adds_names():
    snap = load_repo("webapp", **{"PROD.md": PARTIAL.encode()})
    findings = FIXER.detect(snap, CTX)
    by_rule: dict[str, set[str]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, set()).add(f.data.get("section") or f.data.get("name"))
    assert by_rule["section-todo"] == {"backups"}
    assert "owner" in by_rule["section-missing"] and "runtime" not in by_rule["section-missing"]
    assert "configuration" not in by_rule["section-missing"]
    # PORT and DATABASE_URL are set by the platform; SECRET_KEY is listed already.
    assert by_rule["names-missing"] == {
        "FEATURE_FLAG", "SENTRY_DSN", "SHOP_MAIL_FROM", "SHOP_STRIPE_API_KEY"
    }  # fmt: skip

    (patch,) = FIXER.fix(snap, findings, CTX)
    assert patch.key == "prod-md-names"
    (edit,) = patch.edits
    before, after = PARTIAL.encode(), edit.content
    anchor = b"- `SECRET_KEY` is in Fly secrets\r\n"
    cut = before.index(anchor) + len(anchor)
    assert after.startswith(before[:cut]) and after.endswith(before[cut:])
    inserted = after[cut : len(after) - len(before) + cut]
    assert inserted == (
        b"- `FEATURE_FLAG` \xe2\x80\x94 defaulted \xe2\x80\x94 read in `app/main.py:15`\r\n"
        b"- `SENTRY_DSN` \xe2\x80\x94 optional \xe2\x80\x94 read in `app/main.py:6`\r\n"
        b"- `SHOP_MAIL_FROM` \xe2\x80\x94 defaulted \xe2\x80\x94 read in `app/config.py:8`\r\n"
        b"- `SHOP_STRIPE_API_KEY` \xe2\x80\x94 required \xe2\x80\x94 read in `app/config.py:7`\r\n"
    )
    patched = snap.with_edits(patch.edits)
    assert not [f for f in FIXER.detect(patched, CTX) if f.rule == "names-missing"]


def test_names_go_to_a_new_section_when_configuration_is_missing():
    prod = b"# Prod\n\n## Runtime\n\nPython.\n"
    snap = load_repo("webapp", **{"PROD.md": prod})
    findings = FIXER.detect(snap, CTX)
    (patch,) = FIXER.fix(snap, findings, CTX)
    content = patch.edits[0].content
    assert content.startswith(prod)
    assert content[len(prod) :].startswith(b"\n## Configuration and secrets\n\n- `FEATURE_FLAG`")
    states = {s.section.key: s for s in check_contract(content.decode())}
    assert states["configuration"].line is not None


def test_check_contract_finds_headings_loosely():
    states = check_contract("## runtime ##\n\nok\n\n##  Web Port and Health-Check\n\nTODO: x\n")
    by_key = {s.section.key: s for s in states}
    assert by_key["runtime"].line == 1 and not by_key["runtime"].todo
    assert by_key["web"].line == 5 and by_key["web"].todo
    assert by_key["backups"].line is None


def test_hostile_inputs_do_not_crash():
    snap = MemorySnapshot(
        {
            "Procfile": b"web: gunicorn app:app\n\x00\xff: \n:::\n",
            "app.py": b"x = (" * 500 + b"\n",
            ".github/workflows/ci.yml": b"on: [push\njobs: {{{\n",
            "docker-compose.yml": b"a: &a [*a, *a]\nservices: 3\n",
            "fly.toml": b"[[[not toml\n",
            "PROD.md": b"\xff\xfe## Runtime\n" + b"TODO " * 10,
        }
    )
    facts = extract_facts(snap)
    assert {n.path for n in facts.notes} >= {"app.py", ".github/workflows/ci.yml", "fly.toml"}
    findings = FIXER.detect(snap, CTX)
    assert all(f.rule in {"section-missing", "section-todo"} for f in findings)
    # Without PROD.md the contract is written, and says which files it could not read.
    files = {p: snap.read(p) for p in snap.paths() if p != "PROD.md"}
    bare = MemorySnapshot(files)
    (patch,) = FIXER.fix(bare, FIXER.detect(bare, CTX), CTX)
    assert "- `fly.toml`: does not parse as TOML" in patch.explanation.found
    assert "- `app.py`: " in patch.explanation.found


def test_render_is_stable_and_ends_with_newline():
    facts = extract_facts(load_repo("webapp"))
    a, b = render_contract(facts, "0123456789abcdef"), render_contract(facts, "0123456789abcdef")
    assert a == b and a.endswith("\n") and "`0123456789ab`" in a


def test_hand_written_headings_count_by_alias():
    text = (
        "# Prod\n\n## Processes\n\nweb\n\n## Configuration (names only)\n\nSECRET_KEY\n\n"
        "## Health\n\n/healthz\n\n## Data\n\nTODO — backups\n\n## Rolling back\n\nredeploy\n\n"
        "## Owners and on-call\n\nTODO\n"
    )
    by_key = {s.section.key: s for s in check_contract(text)}
    assert by_key["processes"].line == 3 and by_key["configuration"].line == 7
    assert by_key["web"].line == 11 and by_key["database"].todo
    assert by_key["rollback"].line == 19 and not by_key["rollback"].todo
    assert by_key["owner"].todo
    assert by_key["runtime"].line is None and by_key["domain"].line is None


HOOK_WORKFLOW = b"""name: ship
on: {push: {branches: [main]}}
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: curl -fsS -X POST "$DEPLOY_HOOK"
        env:
          DEPLOY_HOOK: ${{ secrets.DEPLOY_HOOK }}
"""
DOCS_WORKFLOW = b"""on: push
jobs:
  deploy-docs:
    runs-on: ubuntu-latest
    steps:
      - run: mkdocs gh-deploy --force
"""


def test_deploy_job_by_name_counts_but_docs_publishing_does_not():
    app = (
        b"import os\nfrom flask import Flask\napp = Flask(__name__)\n"
        b"app.run(port=int(os.getenv('PORT', '5000')))\n"
    )
    hook = MemorySnapshot({".github/workflows/ship.yml": HOOK_WORKFLOW, "app.py": app})
    facts = extract_facts(hook)
    (wf,) = facts.workflows
    assert str(wf.deploys) == ".github/workflows/ship.yml:4"
    assert [p.value for p in facts.ports] == ["`$PORT` (from the environment)"]
    text = _contract(hook)
    assert "- `DEPLOY_HOOK` — used in `.github/workflows/ship.yml:9`" in text
    assert "deploys — `.github/workflows/ship.yml:4`" in text

    lib = {"pkg/__init__.py": b"X = 1\n", ".github/workflows/docs.yml": DOCS_WORKFLOW}
    assert not extract_facts(MemorySnapshot(lib)).deploys
    assert FIXER.detect(MemorySnapshot(lib), CTX) == []


def test_every_patch_survives_the_real_runner_in_both_modes():
    """The runner re-checks patches (paths exist, something changes, one branch each)."""
    fixers = [FIXER, env_names.FIXER, migrations.FIXER, runtime_defaults.FIXER]
    expected = {
        "webapp": {
            "patchwell/prod-contract/prod-md",
            "patchwell/env-names/gitignore-env",
            "patchwell/env-names/env-example",
            "patchwell/runtime-defaults/http-timeouts",
        },
        "djangoapp": {
            "patchwell/prod-contract/prod-md",
            "patchwell/env-names/env-example",
        },
        "library": {
            "patchwell/runtime-defaults/http-timeouts",
        },
    }
    for name, branches in expected.items():
        for text in (None, "fixers:\n  prod-contract: report\n  env-names: report\n"):
            config, problems = load_repo_config(text)
            assert problems == []
            result = run_fixers(load_repo(name), config, Services(), fixers=fixers)
            assert result.errors == (), (name, result.errors)
            assert {p.patch.branch for p in result.patches} == branches, name
            report = {"prod-contract", "env-names"} if text else set()
            for planned in result.patches:
                assert planned.should_open is (planned.patch.fixer not in report)


def test_a_manifest_counts_by_existence_even_when_not_loaded():
    files = {"app.py": b"import os\nKEY = os.environ['API_KEY']\n"}
    snap = MemorySnapshot(files, all_paths=[*files, "fly.toml"])
    facts = extract_facts(snap)
    assert [f.value for f in facts.deploy_markers] == ["`fly.toml`"]
    assert [f.rule for f in FIXER.detect(snap, CTX)] == ["contract-missing"]
    assert extract_facts(snap, ignored=lambda p: p == "fly.toml").deploy_markers == ()


def test_hostile_names_cannot_break_out_of_code_spans():
    workflow = b'name: "x`\\n## Owner and on-call\\nowned"\non: ["push`"]\njobs: {}\n'
    fly = b'[processes]\n"web`\\n## Backups" = "gunicorn `rm -rf /`"\n'
    snap = MemorySnapshot(
        {".github/workflows/a.yml": workflow, "fly.toml": fly, "Procfile": b"web: a\n"}
    )
    text = _contract(snap)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [f"## {s.heading}" for s in SECTIONS]
    for line in text.splitlines():
        assert line.count("`") % 2 == 0, line


def test_redis_is_a_cache_and_migrations_are_what_the_procfile_runs():
    """Issue 14: not "Database: Redis", not `alembic upgrade head` for `flask db upgrade`."""
    from fixers.contract import MemorySnapshot
    from fixers.production.prod_contract import render_contract

    snap = MemorySnapshot(
        {
            "Procfile": b"web: flask db upgrade; gunicorn app:app\n",
            "app.py": b"import redis\nfrom flask import Flask\napp = Flask(__name__)\n",
            "migrations/env.py": b"",
            "migrations/alembic.ini": b"[alembic]\n",
        }
    )
    text = render_contract(extract_facts(snap))
    assert "- Cache or queue: Redis — `app.py:1`" in text and "Database: Redis" not in text
    assert "- Migrations: `flask db upgrade` — `Procfile:1`" in text
    assert "alembic upgrade head" not in text


def _render(files: dict[str, bytes]) -> str:
    from fixers.contract import MemorySnapshot
    from fixers.production.prod_contract import render_contract

    return render_contract(extract_facts(MemorySnapshot(files)))


_FLASK = b"import os\nfrom flask import Flask\napp = Flask(__name__)\n"


def test_migrations_are_quoted_only_where_a_start_script_or_dockerfile_runs_them():
    # full-stack-fastapi-template: `alembic upgrade head` in backend/scripts/prestart.sh;
    # nsidnev/fastapi-realworld: a multi-line `CMD ... && \` in the Dockerfile.
    text = _render(
        {
            "app.py": _FLASK,
            "alembic.ini": b"[alembic]\n",
            "scripts/prestart.sh": b"#! /usr/bin/env bash\nset -e\n# Run migrations\n"
            b"alembic upgrade head\npython app/initial_data.py\n",
            "Dockerfile": b"ARG PYTHON_VERSION=3.12-slim\nFROM python:${PYTHON_VERSION}\n"
            b"CMD poetry run alembic upgrade head && \\\n    poetry run uvicorn app.main:app\n",
        }
    )
    assert "- Migrations: `alembic upgrade head` — `scripts/prestart.sh:4`" in text
    assert "- Migrations: `poetry run alembic upgrade head` — `Dockerfile:3`" in text
    assert "`web`: `poetry run alembic upgrade head && poetry run uvicorn app.main:app`" in text
    assert "- `python:3.12-slim` — `Dockerfile:2`" in text  # the ARG default, not `${...}`
    # A tool with nothing that runs it is a question, never its usual command.
    asked = _render({"app.py": _FLASK, "migrations/alembic.ini": b"", "migrations/env.py": b""})
    assert "- Migration tool: Alembic — `migrations/alembic.ini`" in asked
    assert "TODO: Which command runs the migrations on deploy, and when?" in asked
    assert "alembic upgrade" not in asked


def test_sqlite_fallback_beside_database_url_is_a_question_not_the_answer():
    # mdn/django-locallibrary-tutorial: ENGINE sqlite3, then dj_database_url from DATABASE_URL.
    settings = (
        b"import os\nimport dj_database_url\n"
        b"DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3'}}\n"
        b"DATABASES['default'].update(dj_database_url.config(default=os.environ.get('DATABASE_URL')))\n"
    )
    text = _render({"app.py": _FLASK, "site/settings.py": settings, "Dockerfile": b"FROM x\n"})
    assert "- Database named in the code: SQLite — `site/settings.py:3`" in text
    assert "- TODO: Which of these does production use?" in text
    assert "Database: SQLite" not in text


def test_platform_names_cite_the_platform_and_are_not_asked_for_twice():
    # gothinkster/flask-realworld: `$PORT` in the Procfile is Heroku's, not configuration.
    code = _FLASK + b"DB = os.environ.get('DATABASE_URL', 'postgresql://localhost/example')\n"
    heroku = _render({"app.py": code, "Procfile": b"web: gunicorn app:app -b 0.0.0.0:$PORT\n"})
    assert "(set by Heroku — `Procfile`)" in heroku
    assert "- `PORT` — required" not in heroku
    compose = _render({"app.py": code, "docker-compose.yml": b"services:\n  web:\n    build: .\n"})
    assert "- `DATABASE_URL` — defaulted — read in `app.py:4`" in compose
    assert "set by" not in compose


def test_no_contract_of_questions_only_and_no_django_for_a_flask_manage_py():
    # render-examples/flask-hello-world: a framework call and nothing else to pre-fill.
    from fixers.contract import MemorySnapshot

    hello = MemorySnapshot({"app.py": _FLASK + b"@app.route('/')\ndef hi():\n    return 'hi'\n"})
    assert FIXER.detect(hello, CTX) == []
    # testdrivenio/flask-on-docker: a Flask CLI `manage.py` is no Django migrations marker;
    # tiangolo/uwsgi-nginx-flask-docker: `alembic upgrade head` inside an echoed string.
    text = _render(
        {
            "app.py": _FLASK,
            "Dockerfile": b"FROM python:3.12\n",
            "manage.py": b"from flask.cli import FlaskGroup\ncli = FlaskGroup()\n",
            "prestart.sh": b'#!/bin/sh\necho "\n# Run migrations\nalembic upgrade head\n"\n',
        }
    )
    assert "Django" not in text and "alembic upgrade head" not in text


def test_configuration_without_code_names_has_no_double_blank_line():
    # wsvincent/djangox: the code reads no env name; only compose names one.
    compose = (
        b"services:\n  web:\n    build: .\n  db:\n    image: postgres:16\n"
        b"    environment:\n      - POSTGRES_HOST_AUTH_METHOD=trust\n"
    )
    text = _render({"app.py": _FLASK, "Dockerfile": b"FROM python:3.12\n", "compose.yml": compose})
    section = text.split("## Configuration and secrets\n", 1)[1].split("\n## ", 1)[0]
    assert "POSTGRES_HOST_AUTH_METHOD" in section
    assert "\n\n\n" not in section
