"""env-names: .gitignore for .env files and names (never values) in .env.example."""

from __future__ import annotations

import ast

import pytest

from fixers.contract import Context, MemorySnapshot, Severity
from fixers.production.env_names import FIXER, append_lines, listed_names, missing_entries
from fixers.production.facts import extract_facts, gitignored
from tests.fixtures.production.repos import load_repo

CTX = Context()


def _rules(findings):
    return sorted({f.rule for f in findings})


def _names(findings):
    """The undocumented names, from per-name findings and from the one no-example finding."""
    return sorted(e["name"] for e in missing_entries(findings))


def findings_by_rule(findings, rule):
    return next(f for f in findings if f.rule == rule)


def test_webapp_findings_and_patches():
    snap = load_repo("webapp")
    findings = FIXER.detect(snap, CTX)
    assert _rules(findings) == ["env-example-missing", "env-not-ignored"]
    missing = {f.data["name"] for f in findings if f.rule == "env-example-missing"}
    # PORT and DATABASE_URL are set by the platform (data table); TEST_ONLY_TOKEN is test code;
    # SECRET_KEY is already listed; SENTRY_DSN is read by sentry_sdk on its own.
    assert missing == {"SHOP_STRIPE_API_KEY", "SHOP_MAIL_FROM", "FEATURE_FLAG", "SENTRY_DSN"}
    by_name = {f.data["name"]: f for f in findings if f.rule == "env-example-missing"}
    assert by_name["SHOP_STRIPE_API_KEY"].path == "app/config.py"
    assert by_name["SHOP_STRIPE_API_KEY"].line == 7

    patches = {p.key: p for p in FIXER.fix(snap, findings, CTX)}
    assert set(patches) == {"gitignore-env", "env-example"}

    gi = patches["gitignore-env"].edits[0]
    before = snap.read(".gitignore")
    assert gi.path == ".gitignore" and gi.action == "modify"
    assert gi.content.startswith(before)  # bytes before the edit untouched
    added = gi.content[len(before) :]
    # Only `.env`: the file `.env.example` is copied to; no `.env.*` the project never uses.
    assert added.endswith(b"committed.\r\n.env\r\n")  # CRLF kept
    assert b"\n" not in added.replace(b"\r\n", b"")
    text = gi.content.decode()
    assert gitignored(text, ".env") and not gitignored(text, ".env.example")
    assert (
        "`.env.example` is the template it is copied from"
        in findings_by_rule(findings, "env-not-ignored").message
    )

    ex = patches["env-example"].edits[0]
    old = snap.read(".env.example")
    assert ex.content.startswith(old)
    tail = ex.content[len(old) :].decode()
    assert "# read in app/config.py:7 (required)\nSHOP_STRIPE_API_KEY=\n" in tail
    # Defaulted: commented out, so a copied example keeps the code's default ("off").
    assert "# read in app/main.py:15 (the code has a default)\n# FEATURE_FLAG=\n" in tail
    # never a value: every non-comment line added is exactly NAME=
    for line in tail.splitlines():
        assert not line or line.startswith("#") or line.endswith("=")
    assert "noreply@example.com" not in tail and "off" not in tail.replace("# ", "")

    # Re-scanning the patched tree finds nothing left to do.
    after = snap.with_edits([gi, ex])
    assert FIXER.detect(after, CTX) == []


def test_library_that_deploys_nothing_gets_no_environment_findings():
    snap = load_repo("library")
    # It reads FLASKEXT_THING_TIMEOUT, but a library's users configure their own apps:
    # no .env.example is invented and no .gitignore rule for files it never loads.
    assert FIXER.detect(snap, CTX) == []


def test_pure_library_without_env_reads_is_left_alone():
    snap = MemorySnapshot({"pkg/__init__.py": b"def f():\n    return 1\n", ".gitignore": b""})
    assert FIXER.detect(snap, CTX) == []


def test_committed_env_file_is_reported_not_deleted():
    snap = load_repo("djangoapp")
    files = {p: snap.read(p) or b"" for p in snap.paths()}
    files["shop/wsgi.py"] += b"from dotenv import load_dotenv\nload_dotenv('.env.staging')\n"
    snap = MemorySnapshot(files, all_paths=[*snap.paths(), ".env.production"])
    findings = FIXER.detect(snap, CTX)
    committed = [f for f in findings if f.rule == "env-file-committed"]
    assert [f.path for f in committed] == [".env.production"]
    assert committed[0].severity is Severity.VULNERABILITY  # unseen content: the worst
    patches = FIXER.fix(snap, findings, CTX)
    edits = [e for p in patches for e in p.edits]
    assert all(e.action != "delete" for e in edits)
    gi = next(p for p in patches if p.key == "gitignore-env")
    assert "`.env.production`" in gi.explanation.markdown()
    # `.env` is ignored already; the loaded `.env.staging` is added by name, nothing more.
    assert gi.edits[0].content == (
        b".env\n\n# Local environment files hold secret values; only the example is committed."
        b"\n.env.staging\n"
    )
    assert "`shop/wsgi.py:" in gi.explanation.markdown()


def test_example_created_for_deploying_repo_without_one():
    snap = load_repo("djangoapp", **{".gitignore": b".env\n.env.*\n!.env.example\n"})
    findings = FIXER.detect(snap, CTX)
    assert _rules(findings) == ["env-example-missing"]
    names = set(_names(findings))
    # DEBUG has a default in the Env scheme; still a name the code reads. Not
    # DJANGO_SETTINGS_MODULE: manage.py sets it itself (os.environ.setdefault).
    # DATABASE_URL: nothing shows a platform that provides it (a Dockerfile is no Heroku).
    assert names == {
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "DEBUG",
        "DJANGO_SECRET_KEY",
        "EMAIL_HOST_PASSWORD",
    }
    (patch,) = FIXER.fix(snap, findings, CTX)
    (edit,) = patch.edits
    assert edit.path == ".env.example" and edit.action == "create"
    assert (
        "# read in shop/settings/base.py:5 (required)\nDJANGO_SECRET_KEY=\n"
        in edit.content.decode()
    )


def test_existing_sample_file_is_used_and_commented_names_count_as_listed():
    snap = load_repo(
        "webapp",
        **{
            ".env.sample": b"export SECRET_KEY=\n# SHOP_MAIL_FROM=\nSHOP_STRIPE_API_KEY=x",
            ".env.example": b"",
        },
    )
    files = {p: snap.read(p) for p in snap.paths() if p != ".env.example"}
    snap = MemorySnapshot(files)
    findings = [f for f in FIXER.detect(snap, CTX) if f.rule == "env-example-missing"]
    assert {f.data["name"] for f in findings} == {"FEATURE_FLAG", "SENTRY_DSN"}
    patch = next(p for p in FIXER.fix(snap, findings, CTX) if p.key == "env-example")
    content = patch.edits[0].content
    assert patch.edits[0].path == ".env.sample"
    # the missing final newline is added, then one blank line, then the block
    assert content.startswith(b"export SECRET_KEY=\n# SHOP_MAIL_FROM=\nSHOP_STRIPE_API_KEY=x\n\n#")


def test_hostile_and_dynamic_names_never_reach_the_file():
    code = (
        b"import os\n"
        b"a = os.environ['GOOD_NAME']\n"
        b"b = os.environ['BAD\\nNAME=evil']\n"
        b"c = os.getenv(f'DYN_{a}')\n"
        b"d = os.environ.get('has space')\n"
    )
    snap = MemorySnapshot({"Procfile": b"web: python app.py\n", "app.py": code})
    findings = FIXER.detect(snap, CTX)
    assert _names(findings) == ["GOOD_NAME"]


def test_unreadable_gitignore_is_never_overwritten():
    snap = MemorySnapshot(
        {"Procfile": b"web: gunicorn app:app\n", "app.py": b"import os\nos.environ['K']\n"},
        all_paths=[".gitignore", "Procfile", "app.py"],
    )
    findings = FIXER.detect(snap, CTX)
    assert "env-not-ignored" not in _rules(findings)
    assert all(e.path != ".gitignore" for p in FIXER.fix(snap, findings, CTX) for e in p.edits)


def test_broken_python_is_a_note_not_a_crash():
    snap = MemorySnapshot(
        {"Procfile": b"web: x\n", "app.py": b"def (:\n", "ok.py": b"import os\nos.environ['A']\n"}
    )
    facts = extract_facts(snap)
    assert [n.path for n in facts.notes] == ["app.py"]
    assert _names(FIXER.detect(snap, CTX)) == ["A"]


def test_append_lines_and_listed_names():
    assert append_lines(None, ["A="]) == b"A=\n"
    assert append_lines(b"x", ["A="]) == b"x\n\nA=\n"
    assert append_lines(b"x\r\n", ["A="], separate=False) == b"x\r\nA=\r\n"
    assert listed_names("A=1\n export B=\n#C=\n# just words\nD = 2\n") == {"A", "B", "C", "D"}


def test_patched_files_stay_parseable():
    snap = load_repo("webapp")
    for patch in FIXER.fix(snap, FIXER.detect(snap, CTX), CTX):
        for edit in patch.edits:
            edit.content.decode("utf-8")  # text files stay valid UTF-8
    ast.parse(snap.read("app/main.py"))  # sources untouched by this fixer


def test_env_files_in_fixtures_and_examples_are_not_reported_as_committed():
    snap = load_repo("webapp")
    files = {p: snap.read(p) or b"" for p in snap.paths()}
    paths = [*files, "tests/fixtures/.env", "examples/demo/.env", "node_modules/x/.env"]
    findings = FIXER.detect(MemorySnapshot(files, all_paths=paths), CTX)
    assert "env-file-committed" not in _rules(findings)
    findings = FIXER.detect(MemorySnapshot(files, all_paths=[*paths, "app/.env"]), CTX)
    assert [f.path for f in findings if f.rule == "env-file-committed"] == ["app/.env"]


def _reads(files: dict[str, bytes]) -> dict[str, str]:
    facts = extract_facts(MemorySnapshot(files))
    return {name: read.requirement for name, read in facts.code_env().items()}


def test_python_env_reads_every_style():
    code = b"""
import os
from os import environ as E, getenv
import decouple
from decouple import config
from pydantic import Field
from pydantic_settings import BaseSettings


class S(BaseSettings):
    class Config:
        env_prefix = "APP_"

    token: str
    retries: int = 3
    dsn: str = Field(..., alias="SENTRY_URL")
    region: str = Field(default="eu")
    _private: str = "x"


A = os.environ["A_REQ"]
B = E.get("B_OPT")
C = getenv("C_DEF", "1")
D = os.environ.get("D_NONE", None)
E2 = config("E_REQ")
F = decouple.config("F_DEF", default="x", cast=bool)
G = "G_OPT" in os.environ
os.environ["WRITTEN"] = "1"
H = os.environ.setdefault("H_DEF", "1")
"""
    assert _reads({"app/settings.py": code}) == {
        "APP_TOKEN": "required",
        "APP_RETRIES": "defaulted",
        "SENTRY_URL": "required",
        "APP_REGION": "defaulted",
        "A_REQ": "required",
        "B_OPT": "optional",
        "C_DEF": "defaulted",
        "D_NONE": "optional",
        "E_REQ": "required",
        "F_DEF": "defaulted",
        "G_OPT": "optional",
        "H_DEF": "defaulted",
    }


def test_javascript_env_reads():
    js = b"""// process.env.IN_COMMENT
const key = process.env.STRIPE_KEY;
const port = process.env.PORT || 3000;
const url = process.env["REDIS_URL"] ?? "redis://localhost";
const { JWT_SECRET, MODE = "dev" } = process.env;
"""
    reads = _reads(
        {
            "server.js": js,
            "node_modules/lib/index.js": b"process.env.VENDORED\n",
            "src/app.test.js": b"process.env.TEST_ONLY\n",
        }
    )
    assert reads == {
        "STRIPE_KEY": "optional",
        "PORT": "defaulted",
        "REDIS_URL": "defaulted",
        "JWT_SECRET": "optional",
        "MODE": "defaulted",
    }


def test_express_app_and_health_route_are_facts():
    js = (
        b"const express = require('express');\nconst app = express();\napp.get('/health', h);\n"
        b'import * as Sentry from "@sentry/node";\n'
    )
    facts = extract_facts(MemorySnapshot({"index.js": js}))
    assert {n: str(r.source) for n, r in facts.code_env().items()} == {"SENTRY_DSN": "index.js:4"}
    assert [(f.value, str(f.source)) for f in facts.frameworks] == [("Express", "index.js:2")]
    assert [(f.value, str(f.source)) for f in facts.health_paths] == [("/health", "index.js:3")]
    assert facts.deploys


def test_compose_names_and_repo_ignores():
    compose = b"services:\n  web:\n    environment:\n      - API_KEY\n      - MODE=prod\n"
    facts = extract_facts(
        MemorySnapshot(
            {"docker-compose.yml": compose, "docs/conf.py": b"import os\nos.environ['X']\n"}
        )
    )
    compose_reads = {(r.name, r.requirement, str(r.source)) for r in facts.env_reads}
    assert ("API_KEY", "required", "docker-compose.yml:4") in compose_reads
    assert ("MODE", "defaulted", "docker-compose.yml:5") in compose_reads
    assert facts.code_env() == {}  # docs/ is not production code
    ignored = extract_facts(
        MemorySnapshot({"app/a.py": b"import os\nos.environ['X']\n"}),
        ignored=lambda p: p.startswith("app/"),
    )
    assert ignored.env_reads == ()


def test_gitignored_local_files_are_not_taken_as_committed_or_deployed():
    # A local checkout (`patchwell scan .`) holds ignored files: a developer's .env and
    # .python-version pin are neither committed nor what production runs.
    files = {
        ".gitignore": b".env\n.python-version\n",
        ".python-version": b"3.9\n",
        "runtime.txt": b"python-3.12.4\n",
        "Procfile": b"web: gunicorn app:app\n",
    }
    snap = MemorySnapshot(files, all_paths=[*files, ".env"])
    assert "env-file-committed" not in _rules(FIXER.detect(snap, CTX))
    facts = extract_facts(snap)
    assert [(f.value, str(f.source)) for f in facts.runtimes] == [
        ("Python 3.12.4", "runtime.txt:1")
    ]


def test_hostile_file_names_cannot_inject_lines_into_the_example():
    path = "app/x\nINJECTED=1\n`.py"
    snap = MemorySnapshot({"Procfile": b"web: x\n", path: b"import os\nos.environ['TOKEN']\n"})
    findings = FIXER.detect(snap, CTX)
    (patch,) = [p for p in FIXER.fix(snap, findings, CTX) if p.key == "env-example"]
    lines = patch.edits[0].content.decode().splitlines()
    assert "# read in app/x?INJECTED=1??.py:2 (required)" in lines
    assert [ln for ln in lines if not ln.startswith("#")] == ["TOKEN="]


# --------------------------------------------------------------------------- issue 14


def test_names_ci_sets_or_the_code_sets_itself_are_not_asked_for():
    snap = MemorySnapshot(
        {
            "Procfile": b"web: gunicorn app:app\n",
            ".gitignore": b".env\n.env.*\n!.env.example\n",
            ".env.example": b"API_KEY=\n",
            "app.py": b"import os\n"
            b"os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site.settings')\n"
            b"IN_CI = os.environ.get('CI')\nTOKEN = os.getenv('GITHUB_TOKEN')\n"
            b"KEY = os.environ['API_KEY']\nSECRET = os.environ['SECRET_KEY']\n",
            "web/playwright.config.ts": b"const url = process.env.PLAYWRIGHT_BASE_URL;\n",
        }
    )
    findings = FIXER.detect(snap, CTX)
    assert [f.data["name"] for f in findings] == ["SECRET_KEY"]


def test_wording_and_severity_follow_whether_the_name_has_a_default():
    snap = MemorySnapshot(
        {
            "Procfile": b"web: gunicorn app:app\n",
            ".gitignore": b".env\n.env.*\n!.env.example\n",
            ".env.example": b"",
            "app.py": b"import os\nA = os.environ['NEEDED']\nB = os.getenv('TUNED', '5')\n"
            b"C = os.getenv('MAYBE')\n",
        }
    )
    by_name = {f.data["name"]: f for f in FIXER.detect(snap, CTX)}
    assert by_name["NEEDED"].severity is Severity.DRIFT
    assert "from a crash" in by_name["NEEDED"].message
    for name in ("TUNED", "MAYBE"):
        assert by_name[name].severity is Severity.HYGIENE
        assert "crash" not in by_name[name].message
    assert "default" in by_name["TUNED"].message
    (patch,) = FIXER.fix(snap, list(by_name.values()), CTX)
    assert patch.severity is Severity.DRIFT


def test_a_committed_env_file_documents_its_names():
    snap = MemorySnapshot(
        {
            "Procfile": b"web: gunicorn app:app\n",
            ".env": b"API_KEY=changethis\n",
            "app.py": b"import os\nKEY = os.environ['API_KEY']\nDB = os.environ['DB_HOST']\n",
        }
    )
    findings = FIXER.detect(snap, CTX)
    assert _names(findings) == ["DB_HOST"]
    assert "env-file-committed" in _rules(findings)


@pytest.mark.parametrize(
    "marker", ["cookiecutter.json", "copier.yml", "{{cookiecutter.project_slug}}/manage.py"]
)
def test_template_generators_get_no_environment_findings(marker):
    files = {
        "Procfile": b"web: gunicorn app:app\n",
        ".env": b"API_KEY=\n",
        "app.py": b"import os\nKEY = os.environ['API_KEY']\nDB = os.environ['DB_HOST']\n",
        marker: b"{}\n",
    }
    assert FIXER.detect(MemorySnapshot(files), CTX) == []


# --- precision on real repositories (issue 14): each class below was a wrong finding or
# patch on a public repository, reproduced here in miniature.

_FLASK_APP = b"import os\nfrom flask import Flask\napp = Flask(__name__)\n"


def test_a_dotenv_the_app_loads_is_ignored_and_nothing_else_is_added():
    # microblog: `load_dotenv(os.path.join(basedir, '.env'))`, `.gitignore` without `.env`.
    snap = MemorySnapshot(
        {
            "config.py": b"import os\nfrom dotenv import load_dotenv\n"
            b"load_dotenv(os.path.join(os.path.dirname(__file__), '.env'))\n",
            "app.py": _FLASK_APP,
            "Procfile": b"web: gunicorn app:app\n",
            ".gitignore": b"venv\n",
        }
    )
    finding = findings_by_rule(FIXER.detect(snap, CTX), "env-not-ignored")
    assert finding.data["lines"] == [".env"]
    assert "`config.py:3` loads it" in finding.message
    assert finding.severity is Severity.HYGIENE


def test_no_gitignore_finding_when_the_env_files_used_are_ignored_or_none_is_used():
    # mdn/django-locallibrary-tutorial, render-examples: `.env` ignored, no `.env.*` in use;
    # httpx-like apps that never load an env file at all.
    for gitignore in (b".env\n", b""):
        snap = MemorySnapshot(
            {"app.py": _FLASK_APP, "Procfile": b"web: gunicorn app:app\n", ".gitignore": gitignore}
        )
        assert "env-not-ignored" not in _rules(FIXER.detect(snap, CTX)), gitignore


def test_compose_env_files_are_added_by_name_and_sample_files_are_examples():
    # testdrivenio/django-on-docker: `.env.dev` is loaded by compose and ignored; the
    # committed `.env.dev-sample` is a template, not a leaked env file.
    compose = b"services:\n  web:\n    build: .\n    env_file:\n      - ./.env.dev\n"
    files = {"app.py": _FLASK_APP, "docker-compose.yml": compose, ".env.dev-sample": b"DEBUG=1\n"}
    ignored = MemorySnapshot({**files, ".gitignore": b".env.dev\n"})
    assert FIXER.detect(ignored, CTX) == []
    bare = MemorySnapshot({**files, ".gitignore": b"venv\n"})
    finding = findings_by_rule(FIXER.detect(bare, CTX), "env-not-ignored")
    assert finding.data["lines"] == [".env.dev"]
    assert "`docker-compose.yml:5` loads it" in finding.message


def test_a_committed_env_of_placeholders_is_hygiene_and_gets_no_patch():
    # fastapi/full-stack-fastapi-template (`SECRET_KEY=changethis`), heroku's getting-started
    # (`.env` for `heroku local`): nothing to rotate; an ignore rule cannot untrack the file,
    # and a second example file beside the committed one would confuse.
    env = (
        b"SECRET_KEY=changethis\nPOSTGRES_PASSWORD=changethis\n"
        b"DATABASE_URL=postgresql://postgres:changethis@db/app\nENVIRONMENT=local\n"
    )
    app = _FLASK_APP + b"TOKEN = os.environ.get('API_TOKEN')\n"
    snap = MemorySnapshot(
        {"app.py": app, "Procfile": b"web: gunicorn app:app\n", ".env": env, ".gitignore": b""}
    )
    findings = FIXER.detect(snap, CTX)
    committed = findings_by_rule(findings, "env-file-committed")
    assert committed.severity is Severity.HYGIENE
    assert "nothing needs rotating" in committed.message
    assert "env-not-ignored" not in _rules(findings)
    assert FIXER.fix(snap, findings, CTX) == []
    real = MemorySnapshot(
        {**{p: snap.read(p) for p in snap.paths()}, ".env": b"SECRET_KEY=9f8a7b6c5d4e3f2a1b0c\n"}
    )
    assert findings_by_rule(FIXER.detect(real, CTX), "env-file-committed").severity is (
        Severity.VULNERABILITY
    )


def test_platform_provided_names_need_evidence_of_the_platform():
    # full-stack-fastapi-template: DATABASE_URL read, deployed with compose -- no Heroku,
    # no Fly.io, so nobody provides it and `.env.example` must name it.
    code = _FLASK_APP + b"DB = os.environ['DATABASE_URL']\nPORT = os.environ.get('PORT', '5000')\n"
    dockerfile = MemorySnapshot({"app.py": code, "Dockerfile": b"FROM python:3.12\n"})
    assert _names(FIXER.detect(dockerfile, CTX)) == ["DATABASE_URL", "PORT"]
    heroku = MemorySnapshot({"app.py": code, "Procfile": b"web: gunicorn app:app\n"})
    assert not [f for f in FIXER.detect(heroku, CTX) if f.rule == "env-example-missing"]
    render = MemorySnapshot({"app.py": code, "render.yaml": b"services: []\n"})
    assert _names(FIXER.detect(render, CTX)) == [
        "DATABASE_URL"
    ]  # Render sets PORT; its DATABASE_URL is declared, not set


def test_names_a_platform_manifest_declares_are_documented():
    # heroku/python-getting-started: app.json `env` declares DJANGO_SECRET_KEY.
    app_json = b'{"env": {"DJANGO_SECRET_KEY": {"generator": "secret"}}}'
    code = _FLASK_APP + b"KEY = os.environ.get('DJANGO_SECRET_KEY', default=None)\n"
    snap = MemorySnapshot({"app.py": code, "Procfile": b"web: x\n", "app.json": app_json})
    assert FIXER.detect(snap, CTX) == []


def test_or_fallback_is_a_default():
    # flasky/microblog: `os.environ.get('SECRET_KEY') or 'hard to guess string'`.
    code = (
        b"import os\nA = os.environ.get('A') or 'dev'\nB = os.environ.get('B')\n"
        b"C = os.environ.get('C', '').replace('x', 'y') or 'z'\nD = os.getenv('D') or None\n"
    )
    facts = extract_facts(MemorySnapshot({"config.py": code}))
    got = {n: r.requirement for n, r in facts.code_env().items()}
    assert got == {"A": "defaulted", "B": "optional", "C": "defaulted", "D": "optional"}


def test_sample_files_by_another_name_are_the_examples():
    # testdrivenio/flask-on-docker: `.env.dev-sample` and `.env.prod-sample` list the names.
    code = (
        _FLASK_APP + b"DB = os.getenv('DATABASE_URL', 'sqlite://')\nF = os.getenv('APP_FOLDER')\n"
    )
    files = {
        "app.py": code,
        "Dockerfile": b"FROM python:3.12\n",
        ".env.dev-sample": b"DATABASE_URL=x\n",
    }
    snap = MemorySnapshot(files)
    findings = FIXER.detect(snap, CTX)
    assert _names(findings) == ["APP_FOLDER"]
    assert FIXER.fix(snap, findings, CTX) == []  # no `.env.example` beside the samples


def test_no_new_example_file_of_commented_defaults_only():
    # gothinkster/flask-realworld: one defaulted name; a file of one commented line is noise.
    code = _FLASK_APP + b"SECRET = os.environ.get('CONDUIT_SECRET', 'secret-key')\n"
    snap = MemorySnapshot({"app.py": code, "Dockerfile": b"FROM python:3.12\n"})
    findings = FIXER.detect(snap, CTX)
    assert [f.severity for f in findings] == [Severity.HYGIENE]
    assert FIXER.fix(snap, findings, CTX) == []


def test_a_committed_env_without_secret_names_is_no_finding():
    # full-stack-fastapi-template's frontend/.env (Vite commits `.env`: VITE_API_URL=...),
    # heroku/python-getting-started's `.env` for `heroku local` (ENVIRONMENT=development).
    for env in (b"VITE_API_URL=http://localhost:8000\n", b'ENVIRONMENT="development"\nTIMES=2\n'):
        snap = MemorySnapshot({"app.py": _FLASK_APP, "Procfile": b"web: x\n", ".env": env})
        assert "env-file-committed" not in _rules(FIXER.detect(snap, CTX)), env


# fastapi/full-stack-fastapi-template: the committed `.env` of `changethis` values IS the
# template (compose `env_file:`, pydantic `env_file="../.env"`); there is no `.env.example`.
_TEMPLATE_CONFIG = (
    b"from pydantic_settings import BaseSettings, SettingsConfigDict\n\n\n"
    b"class Settings(BaseSettings):\n"
    b'    model_config = SettingsConfigDict(env_file="../.env")\n'
    b"    SECRET_KEY: str\n"
    b"    PROJECT_NAME: str\n"
    b'    API_V1_STR: str = "/api/v1"\n'
    b"    SMTP_USER: str | None = None\n"
    b"    SMTP_HOST: str | None = None\n"
)
_TEMPLATE_FILES = {
    "backend/app/core/config.py": _TEMPLATE_CONFIG,
    "Dockerfile": b"FROM python:3.12\n",
    "compose.yml": b"services:\n  backend:\n    build: ./backend\n    env_file:\n      - .env\n",
    ".env": b"PROJECT_NAME=app\nSECRET_KEY=changethis\nSMTP_HOST=localhost\n",
}


def test_a_committed_env_template_gets_one_finding_naming_it():
    snap = MemorySnapshot(dict(_TEMPLATE_FILES))
    findings = FIXER.detect(snap, CTX)
    missing = [f for f in findings if f.rule == "env-example-missing"]
    # One situation, one finding -- not one per name, each naming a `.env.example` that
    # does not exist.
    assert len(missing) == 1
    (finding,) = missing
    assert finding.path == ".env"
    assert "`.env` does not list" in finding.title and ".env.example`:" not in finding.title
    # Names the committed template lists are documented; the others are listed once.
    assert _names(findings) == ["API_V1_STR", "SMTP_USER"]
    assert "SECRET_KEY" not in finding.message and "`SMTP_USER` (" in finding.message
    assert finding.severity is Severity.HYGIENE  # both names have a default
    # The fix matches what the fixer proposes: no second template beside the `.env`.
    assert [p for p in FIXER.fix(snap, findings, CTX) if p.key == "env-example"] == []


def test_no_template_at_all_gets_one_finding_and_its_patch():
    files = {p: v for p, v in _TEMPLATE_FILES.items() if p != ".env"}
    snap = MemorySnapshot(files)
    findings = [f for f in FIXER.detect(snap, CTX) if f.rule == "env-example-missing"]
    assert len(findings) == 1
    (finding,) = findings
    assert finding.path == ".env.example" and finding.line is None
    assert _names(findings) == [
        "API_V1_STR",
        "PROJECT_NAME",
        "SECRET_KEY",
        "SMTP_HOST",
        "SMTP_USER",
    ]
    assert finding.severity is Severity.DRIFT  # SECRET_KEY is required
    (patch,) = [p for p in FIXER.fix(snap, findings, CTX) if p.key == "env-example"]
    assert patch.fingerprints == (finding.fingerprint,)
    (edit,) = patch.edits
    assert edit.path == ".env.example" and edit.action == "create"
    text = edit.content.decode()
    assert "# read in backend/app/core/config.py:6 (required)\nSECRET_KEY=\n" in text
    assert "\n# API_V1_STR=\n" in text  # defaulted: commented out
    after = snap.with_edits([edit])
    assert [f for f in FIXER.detect(after, CTX) if f.rule == "env-example-missing"] == []


def test_a_real_example_lacking_a_required_name_still_gets_its_own_finding():
    # Control: beside the committed `.env`, a real `.env.example` is the template; each
    # name it lacks is one finding, one line of the patch.
    files = {**_TEMPLATE_FILES, ".env.example": b"PROJECT_NAME=\nAPI_V1_STR=\nSMTP_USER=\n"}
    files["backend/app/core/config.py"] += b"    DB_HOST: str\n"
    snap = MemorySnapshot(files)
    findings = [f for f in FIXER.detect(snap, CTX) if f.rule == "env-example-missing"]
    # SECRET_KEY and SMTP_HOST are in the committed `.env`: documented there.
    assert [f.data["name"] for f in findings] == ["DB_HOST"]
    assert findings[0].path == "backend/app/core/config.py"
    assert findings[0].title == "`DB_HOST` is not in `.env.example`"
    assert findings[0].severity is Severity.DRIFT
    (patch,) = [p for p in FIXER.fix(snap, findings, CTX) if p.key == "env-example"]
    assert patch.edits[0].path == ".env.example"
    assert patch.edits[0].content.endswith(b"(required)\nDB_HOST=\n")


def test_an_optional_name_is_written_commented_out():
    # miguelgrinberg/microblog: `MAIL_USE_TLS = os.environ.get('MAIL_USE_TLS') is not None`;
    # an example's `MAIL_USE_TLS=` copied into `.env` sets it to "" and turns TLS on.
    code = (
        _FLASK_APP + b"TLS = os.environ.get('MAIL_USE_TLS') is not None\n"
        b"KEY = os.environ['MAIL_API_KEY']\n"
    )
    snap = MemorySnapshot({"app.py": code, "Dockerfile": b"FROM python:3.12\n"})
    findings = FIXER.detect(snap, CTX)
    assert _names(findings) == ["MAIL_API_KEY", "MAIL_USE_TLS"]
    (patch,) = [p for p in FIXER.fix(snap, findings, CTX) if p.key == "env-example"]
    lines = patch.edits[0].content.decode().splitlines()
    assert "# MAIL_USE_TLS=" in lines and "MAIL_USE_TLS=" not in lines
    assert "MAIL_API_KEY=" in lines  # required: the one a deploy must fill in


def test_a_read_used_as_if_never_none_is_required():
    # testdrivenio/django-on-docker: `os.environ.get("DJANGO_ALLOWED_HOSTS").split(" ")`
    # crashes when the name is unset, whatever `.get` suggests.
    code = (
        b"import os\nH = os.environ.get('HOSTS').split(' ')\nP = int(os.getenv('WORKERS'))\n"
        b"F = os.environ.get('FIRST')[0]\nO = os.environ.get('OPT')\n"
        b"D = os.environ.get('DEF', '').split(',')\nL = (os.environ.get('LOW') or 'x').lower()\n"
        b"B = os.environ.get('BAD').strip() or 'never reached'\n"
    )
    facts = extract_facts(MemorySnapshot({"settings.py": code}))
    got = {n: r.requirement for n, r in facts.code_env().items()}
    assert got == {
        "HOSTS": "required",
        "WORKERS": "required",
        "FIRST": "required",
        "OPT": "optional",  # control: not dereferenced
        "DEF": "defaulted",  # control: `.split` of the default
        "LOW": "defaulted",  # control: the `or` comes before `.lower()`
        "BAD": "required",
    }


def test_django_settings_secret_key_from_a_bare_get_is_required():
    # testdrivenio/django-on-docker: `SECRET_KEY = os.environ.get("SECRET_KEY")`; Django
    # refuses an empty SECRET_KEY, so the name is required (PROD.md said "optional").
    settings = (
        b"import os\nSECRET_KEY = os.environ.get('SECRET_KEY')\n"
        b"INSTALLED_APPS = ['django.contrib.admin']\nEXTRA = os.environ.get('EXTRA')\n"
    )
    got = extract_facts(MemorySnapshot({"proj/settings.py": settings})).code_env()
    assert got["SECRET_KEY"].requirement == "required"
    assert got["EXTRA"].requirement == "optional"  # control: any other name
    # Control: a Flask config's SECRET_KEY is not Django's.
    flask = b"import os\nSECRET_KEY = os.environ.get('SECRET_KEY')\nDEBUG = False\n"
    got = extract_facts(MemorySnapshot({"app/settings.py": flask})).code_env()
    assert got["SECRET_KEY"].requirement == "optional"
