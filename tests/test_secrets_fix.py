"""The secrets fixer's fix(): env lookups per language, .env.example, .gitignore, PR text."""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import random

import pytest
import tomlkit
from ruamel.yaml import YAML

from fixers.contract import Context, MemorySnapshot, Patch, Severity
from fixers.secrets import SecretsFixer, patch_key
from fixers.secrets.samples import Sample, sample

FIXER = SecretsFixer()


def s(rule: str, seed: int = 1) -> Sample:
    return sample(rule, random.Random(seed))


def run(files: dict[str, str]) -> tuple[MemorySnapshot, list[Patch]]:
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    return snap, FIXER.fix(snap, FIXER.detect(snap, Context()), Context())


def edit_of(patch: Patch, path: str) -> str | None:
    (edit,) = [e for e in patch.edits if e.path == path]
    return None if edit.content is None else edit.content.decode()


def only_patch(files: dict[str, str]) -> tuple[MemorySnapshot, Patch]:
    snap, patches = run(files)
    assert len(patches) == 1
    return snap, patches[0]


def assert_healed(snap: MemorySnapshot, patch: Patch) -> None:
    """After the patch, a rescan finds none of the findings it claims to resolve."""
    after = snap.with_edits(patch.edits)
    remaining = {f.fingerprint for f in FIXER.detect(after, Context())}
    assert not remaining & set(patch.fingerprints)


# -- Python --------------------------------------------------------------------------


def test_python_literal_becomes_os_environ_and_nothing_else_changes() -> None:
    st = s("stripe-secret-key")
    src = f'"""Payments."""\n\nimport sys\n\nSTRIPE_KEY = "{st.token}"  # live\nprint(sys.argv)\n'
    snap, patch = only_patch({"app/pay.py": src})
    new = edit_of(patch, "app/pay.py")
    assert new is not None and st.token not in new
    ast.parse(new)
    assert new == src.replace("import sys\n", "import os\nimport sys\n").replace(
        f'"{st.token}"', 'os.environ["STRIPE_KEY"]'
    )
    assert_healed(snap, patch)


def test_python_import_goes_after_docstring_and_future() -> None:
    st = s("github-pat-classic")
    src = f'"""Doc."""\nfrom __future__ import annotations\n\nTOKEN = "{st.token}"\n'
    _, patch = only_patch({"a.py": src})
    new = edit_of(patch, "a.py")
    assert new == (
        '"""Doc."""\nfrom __future__ import annotations\nimport os\n\nTOKEN = os.environ["TOKEN"]\n'
    )


def test_python_keeps_shebang_first_and_reuses_existing_import() -> None:
    st = s("npm-access-token")
    _, patch = only_patch({"a.py": f'#!/usr/bin/env python\nNPM = "{st.token}"\n'})
    expected = '#!/usr/bin/env python\nimport os\nNPM = os.environ["NPM"]\n'
    assert edit_of(patch, "a.py") == expected
    _, patch = only_patch({"b.py": f'import os\nNPM = "{st.token}"\n'})
    assert edit_of(patch, "b.py") == 'import os\nNPM = os.environ["NPM"]\n'


def test_python_partial_string_concatenates_and_bytes_encode() -> None:
    gh = s("github-pat-classic", 2)
    src = f'H = {{"Authorization": "token {gh.token}"}}\nB = b"{gh.token}"\n'
    _, patch = only_patch({"h.py": src})
    new = edit_of(patch, "h.py")
    assert new is not None
    assert '("token " + os.environ["GITHUB_TOKEN"])' in new
    assert 'B = os.environ["B"].encode()' in new or ".encode()" in new
    ast.parse(new)


def test_python_kwarg_and_generic_names() -> None:
    pw, st = s("generic-password-assignment"), s("stripe-secret-key", 3)
    src = f'client = Client(api_key="{st.token}")\nself_db_password = "{pw.token}"\n'
    _, patch = only_patch({"c.py": src})
    new = edit_of(patch, "c.py")
    assert new is not None
    assert 'Client(api_key=os.environ["STRIPE_API_KEY"])' in new
    assert 'self_db_password = os.environ["SELF_DB_PASSWORD"]' in new
    assert [e.path for e in patch.edits] == ["c.py"]  # shared files are not touched


def test_env_name_never_carries_the_value() -> None:
    st = s("stripe-secret-key")
    # A variable literally named after the value must not become the variable name.
    odd = st.token.upper().replace("-", "_")
    _, patch = only_patch({"a.py": f'{odd} = "{st.token}"\n'})
    new = edit_of(patch, "a.py") or ""
    # Booleans only: a failing assertion must not print the value into CI logs.
    uses_rule_name = 'os.environ["STRIPE_API_KEY"]' in new
    assert uses_rule_name and [e.path for e in patch.edits] == ["a.py"]


def test_python_fstring_and_broken_files_are_report_only() -> None:
    st = s("stripe-secret-key")
    snap, patches = run(
        {
            "f.py": f'K = f"{st.token}{{x}}"\n',
            "broken.py": f'K = "{st.token}"\ndef (:\n',
            "main.go": f'var k = "{st.token}"\n',
        }
    )
    assert patches == []
    assert len(FIXER.detect(snap, Context())) == 3  # still reported


def test_python_comment_secret_is_redacted() -> None:
    st = s("slack-token")
    _, patch = only_patch({"a.py": f"# old token {st.token}\nx = 1\n"})
    assert edit_of(patch, "a.py") == "# old token $SLACK_TOKEN\nx = 1\n"


# -- JavaScript / TypeScript --------------------------------------------------------------


def test_javascript_literal_template_and_concatenation() -> None:
    st, pw = s("stripe-secret-key"), s("database-url-password", 4)
    gh = s("github-pat-classic", 5)
    src = (
        f'const stripe = require("stripe")("{st.token}");\n'
        f"const url = `{pw.token}`;\n"
        f"const h = `token {gh.token} for ${{user}}`;\n"
        f"const a = 'Bearer {gh.token}';\n"
    )
    snap, patch = only_patch({"web/pay.js": src})
    new = edit_of(patch, "web/pay.js")
    assert new == (
        'const stripe = require("stripe")(process.env.STRIPE_API_KEY);\n'
        "const url = process.env.DATABASE_URL;\n"
        "const h = `token ${process.env.GITHUB_TOKEN} for ${user}`;\n"
        "const a = ('Bearer ' + process.env.GITHUB_TOKEN);\n"
    )
    assert_healed(snap, patch)


def test_typescript_constant_name() -> None:
    oa = s("openai-api-key")
    _, patch = only_patch({"src/ai.ts": f'export const OPENAI_KEY: string = "{oa.token}";\n'})
    assert (
        edit_of(patch, "src/ai.ts") == "export const OPENAI_KEY: string = process.env.OPENAI_KEY;\n"
    )


def test_jsx_attribute_gets_braces() -> None:
    st = s("stripe-secret-key")
    src = f'export const P = () => <Checkout mode="pay" apiKey="{st.token}" />;\n'
    _, patch = only_patch({"web/Pay.tsx": src})
    expected = (
        'export const P = () => <Checkout mode="pay" apiKey={process.env.STRIPE_API_KEY} />;\n'
    )
    assert edit_of(patch, "web/Pay.tsx") == expected
    # Outside JSX the same `name="..."` shape stays a plain expression.
    _, patch = only_patch({"web/pay.js": f'let apiKey="{st.token}";\n'})
    assert edit_of(patch, "web/pay.js") == "let apiKey=process.env.STRIPE_API_KEY;\n"


def test_crlf_and_non_ascii_files_keep_their_bytes() -> None:
    st = s("stripe-secret-key")
    src = f'# café ☕ config\r\nK = "{st.token}"\r\nimport os\r\nX = "naïve"\r\n'
    _, patch = only_patch({"cfg.py": src})
    new = edit_of(patch, "cfg.py")
    assert new == src.replace(f'"{st.token}"', 'os.environ["K"]')
    js = f"// café\r\nconst k = '{st.token}';\r\n"
    _, patch = only_patch({"k.js": js})
    assert edit_of(patch, "k.js") == js.replace(f"'{st.token}'", "process.env.STRIPE_API_KEY")


# -- YAML ---------------------------------------------------------------------------------


def _yaml(text: str) -> list[object]:
    return list(YAML(typ="safe", pure=True).load_all(io.StringIO(text)))


def test_compose_yaml_uses_interpolation() -> None:
    pw, db = s("generic-password-assignment"), s("database-url-password", 2)
    src = (
        "services:\n  db:\n    image: postgres:16  # pinned\n    environment:\n"
        f"      POSTGRES_PASSWORD: {pw.token}\n"
        f'      DATABASE_URL: "{db.token}"\n'
    )
    snap, patch = only_patch({"docker-compose.yml": src})
    new = edit_of(patch, "docker-compose.yml")
    assert new is not None
    assert new == src.replace(pw.token, "${POSTGRES_PASSWORD}").replace(db.token, "${DATABASE_URL}")
    doc = _yaml(new)[0]
    assert doc["services"]["db"]["environment"]["DATABASE_URL"] == "${DATABASE_URL}"  # type: ignore[index]
    assert patch.title == "Read 2 leaked credentials in docker-compose.yml from the environment"
    assert_healed(snap, patch)


def test_workflow_yaml_uses_repository_secrets() -> None:
    sl = s("slack-webhook-url")
    src = f"on: push\njobs:\n  n:\n    steps:\n      - env:\n          HOOK: {sl.token}\n"
    _, patch = only_patch({".github/workflows/notify.yml": src})
    new = edit_of(patch, ".github/workflows/notify.yml")
    assert new is not None and "HOOK: ${{ secrets.HOOK }}" in new
    _yaml(new)
    assert "repository secret" in patch.explanation.changes


def test_same_key_twice_gets_distinct_names() -> None:
    a, b = s("generic-password-assignment", 1), s("generic-password-assignment", 2)
    src = f"db:\n  password: {a.token}\nsmtp:\n  password: {b.token}\n"
    _, patch = only_patch({"config.yml": src})
    new = edit_of(patch, "config.yml")
    assert new == "db:\n  password: ${PASSWORD}\nsmtp:\n  password: ${PASSWORD_2}\n"


def test_yaml_flow_mapping_gets_a_quoted_reference() -> None:
    gh = s("github-pat-classic")
    src = f"creds: {{user: bot, token: {gh.token}}}\nother: [1, 2]\n"
    _, patch = only_patch({"ci/creds.yaml": src})
    new = edit_of(patch, "ci/creds.yaml")
    assert new == 'creds: {user: bot, token: "${GITHUB_TOKEN}"}\nother: [1, 2]\n'
    assert _yaml(new) == [{"creds": {"user": "bot", "token": "${GITHUB_TOKEN}"}, "other": [1, 2]}]


def test_numeric_yaml_password_is_replaced() -> None:
    src = "db:\n  password: 84615937\n"
    _, patch = only_patch({"config.yml": src})
    assert edit_of(patch, "config.yml") == "db:\n  password: ${PASSWORD}\n"


def test_hostile_nesting_is_refused_not_crashed() -> None:
    st = s("stripe-secret-key")
    # One bracket a line: not "minified", so the files are really scanned and parsed.
    deep_json = "[\n" * 50_000 + f'"{st.token}"' + "\n]" * 50_000
    deep_yaml = "[\n" * 50_000 + st.token + "\n]" * 50_000 + "\n"
    deep_py = "x = " + "(" * 300 + f'"{st.token}"' + ")" * 300 + "\n"
    snap, patches = run({"a.json": deep_json, "b.yaml": deep_yaml, "c.py": deep_py})
    assert patches == []
    assert len(FIXER.detect(snap, Context())) == 3


def test_unparseable_yaml_is_not_patched() -> None:
    st = s("stripe-secret-key")
    _, patches = run({"chart/values.yaml": f"key: {st.token}\n  bad: [unclosed\n"})
    assert patches == []


# -- .env, JSON, TOML, key files -----------------------------------------------------------


def test_dotenv_is_untracked_with_an_example_that_keeps_non_secret_values() -> None:
    st = s("stripe-secret-key")
    files = {
        ".env": f"STRIPE_KEY={st.token}\nDEBUG=1\nDOMAIN=localhost\nDB_PASSWORD=Zq7w9Lk2mPx4\n",
        ".env.example": "DEBUG=\n",
        ".gitignore": "node_modules/\n*.log",
        "docker-compose.yml": "services:\n  web:\n    env_file: [.env]\n",
    }
    snap, patch = only_patch(files)
    assert patch.key == "untrack-env-files"
    assert [(e.path, e.action) for e in patch.edits] == [
        (".env", "delete"),
        (".env.example", "modify"),
        (".gitignore", "modify"),
    ]
    # No duplicate DEBUG; secrets emptied; other values kept so a copy runs the app.
    assert edit_of(patch, ".env.example") == "DEBUG=\nSTRIPE_KEY=\nDOMAIN=localhost\nDB_PASSWORD=\n"
    # The env-names fixer opens no .gitignore PR of its own for a tracked .env (an ignore
    # rule does not untrack a file): this patch is the only one, so nothing conflicts.
    from fixers.production.env_names import EnvNamesFixer

    env_names = EnvNamesFixer()
    found = env_names.detect(snap, Context())
    theirs = [
        p
        for p in env_names.fix(snap, found, Context())
        if any(e.path == ".gitignore" for e in p.edits)
    ]
    assert theirs == []
    assert [f.rule for f in found if f.path == ".env"] == ["env-file-committed"]
    assert patch.title == "Stop tracking .env and list its variables in an example file"
    assert "ORIG_HEAD:.env" in patch.explanation.verify
    assert FIXER.detect(snap.with_edits(patch.edits), Context()) == []


def test_env_files_in_two_folders_get_one_patch_and_an_example_each() -> None:
    st = s("stripe-secret-key")
    files = {
        ".env": f"STRIPE_KEY={st.token}\n",
        "backend/.env": f"API_TOKEN={st.token}\nPORT=8000\n",
        ".gitignore": ".env\n.env.*\n",
    }
    _, patch = only_patch(files)
    assert [(e.path, e.action) for e in patch.edits] == [
        (".env", "delete"),
        ("backend/.env", "delete"),
        (".env.example", "create"),
        ("backend/.env.example", "create"),
        (".gitignore", "modify"),  # `!.env.example`: `.env.*` would hide the examples
    ]
    assert (edit_of(patch, "backend/.env.example") or "").endswith("API_TOKEN=\nPORT=8000\n")


def test_secrets_patches_never_share_a_file() -> None:
    """Merging a repository's secrets PRs in any order never conflicts."""
    st, pw, gh = s("stripe-secret-key"), s("generic-password-assignment"), s("github-pat-classic")
    files = {
        "a.py": st.text + "\n",
        "b.py": pw.text + "\n",
        "deploy.yml": f"token: {gh.token}\n",
        ".env": f"STRIPE_KEY={st.token}\n",
        "web/.env": f"GITHUB_TOKEN={gh.token}\n",
    }
    _, patches = run(files)
    assert len(patches) == 4
    touched = [e.path for p in patches for e in p.edits]
    assert len(touched) == len(set(touched))
    assert sorted(p.title for p in patches) == [
        "Read DB_PASSWORD from the environment instead of b.py",
        "Read GITHUB_TOKEN from the environment instead of deploy.yml",
        "Read STRIPE_API_KEY from the environment instead of a.py",
        "Stop tracking 2 env files and list their variables in example files",
    ]


def test_json_value_is_removed_and_explained() -> None:
    st = s("stripe-secret-key")
    src = f'{{\n  "name": "shop",\n  "stripe": {{"apiKey": "{st.token}"}}\n}}\n'
    snap, patch = only_patch({"config/app.json": src})
    new = edit_of(patch, "config/app.json")
    assert new == src.replace(st.token, "")
    assert json.loads(new)["stripe"]["apiKey"] == ""
    assert "JSON and TOML cannot read the environment" in patch.explanation.changes
    assert_healed(snap, patch)


def test_toml_value_is_removed() -> None:
    pw = s("generic-password-assignment")
    src = f'[database]\nhost = "db"\npassword = "{pw.token}"\n'
    _, patch = only_patch({"config.toml": src})
    new = edit_of(patch, "config.toml")
    assert new is not None and tomlkit.parse(new)["database"]["password"] == ""  # type: ignore[index]


def test_service_account_file_is_deleted() -> None:
    sa = s("google-service-account-key")
    doc = '{\n  "type": "service_account",\n  "project_id": "p",\n' + sa.text + '\n  "x": 1\n}\n'
    json.loads(doc)
    _, patch = only_patch({"keys/sa.json": doc})
    assert [(e.path, e.action) for e in patch.edits] == [("keys/sa.json", "delete")]
    assert patch.title == "Delete keys/sa.json: the file is a committed credential"


def test_pem_key_file_is_deleted() -> None:
    pk = s("private-key")
    _, patch = only_patch({"deploy/id_rsa": pk.token + "\n"})
    assert (patch.edits[0].path, patch.edits[0].action) == ("deploy/id_rsa", "delete")


# -- the patch ------------------------------------------------------------------------------


def test_patch_shape_and_pr_text() -> None:
    kid, sec = s("aws-access-key-id"), s("aws-secret-access-key", 2)
    snap, patch = only_patch({"deploy/s3.py": f"{kid.text}\n{sec.text}\n"})
    assert patch.fixer == "secrets" and patch.key == patch_key("deploy/s3.py")
    assert patch.branch == f"patchwell/secrets/{patch.key}"
    assert patch.severity == Severity.LEAKED_SECRET and patch.bypass_limit
    assert len(patch.fingerprints) == 1  # the pair is one finding
    body = patch.explanation.markdown()
    assert body.startswith("> [!CAUTION]\n> **Rotate this credential now.**")
    assert "console.aws.amazon.com/iam" in body and "git filter-repo" in body
    assert "AKIA****" in body
    new = edit_of(patch, "deploy/s3.py")
    assert new is not None
    assert 'AWS_ACCESS_KEY_ID = os.environ["AWS_ACCESS_KEY_ID"]' in new
    assert 'aws_secret_access_key = os.environ["AWS_SECRET_ACCESS_KEY"]' in new
    assert_healed(snap, patch)


def test_patch_key_is_stable_and_distinct() -> None:
    assert patch_key("a/b.py") == patch_key("a/b.py")
    assert patch_key("a/b.py") != patch_key("a-b.py")


def test_one_patch_per_file() -> None:
    st = s("stripe-secret-key")
    _, patches = run({"a.py": st.text, "b.js": f'k("{st.token}")', "c.yml": f"k: {st.token}\n"})
    assert sorted(p.edits[0].path for p in patches) == ["a.py", "b.js", "c.yml"]
    assert len({p.key for p in patches}) == 3


def test_fix_ignores_other_fixers_findings() -> None:
    st = s("stripe-secret-key")
    snap = MemorySnapshot({"a.py": st.text.encode()})
    mine = FIXER.detect(snap, Context())
    foreign = [dataclasses.replace(f, fixer="other") for f in mine]
    assert len(mine) == 1 and FIXER.fix(snap, foreign, Context()) == []


@pytest.mark.parametrize("existing", [None, "A=\n", "A="])
def test_env_example_created_or_appended(existing: str | None) -> None:
    st = s("stripe-secret-key")
    files = {".env": f"STRIPE_KEY={st.token}\n", ".gitignore": ".env\n.env.*\n"}
    if existing is not None:
        files[".env.example"] = existing
    _, patch = only_patch(files)
    content = edit_of(patch, ".env.example")
    assert content is not None and content.endswith("STRIPE_KEY=\n")
    if existing is not None:
        assert content.startswith("A=\n")


def test_a_compose_value_with_an_equals_sign_is_replaced_whole() -> None:
    # testdrivenio/django-celery: `- SECRET_KEY=dbaa1_i7%*3r9-=z-+_...` became
    # `- SECRET_KEY=${SECRET_KEY}=z-+_...`: most of the secret stayed in the file.
    value = "dbaa1_i7%*3r9-=z-+_mz4r-!qeed@(-a_r(g@k8jo8y3r27%m"  # patchwell:allow
    compose = (
        "services:\n  web:\n    build: .\n    environment:\n      - DEBUG=1\n"
        f"      - SECRET_KEY={value}\n      - HOSTS=localhost\n"
    )
    _snap, patches = run({"docker-compose.yml": compose})
    edits = [e for p in patches for e in p.edits if e.path == "docker-compose.yml"]
    assert edits
    for edit in edits:
        text = edit.content.decode()
        assert "z-+_mz4r" not in text and value[:6] not in text
        assert "      - SECRET_KEY=${SECRET_KEY}\n      - HOSTS=localhost\n" in text


def test_a_fallback_the_tests_run_on_is_reported_not_patched() -> None:
    # flasky/microblog: `SECRET_KEY = os.environ.get('SECRET_KEY') or 'hard to guess string'`
    # in the Config that TestingConfig inherits; `os.environ["SECRET_KEY"]` would crash every
    # test (and the CI workflow Patchwell proposes beside it).
    config = (
        "import os\n\nclass Config:\n"
        "    SECRET_KEY = os.environ.get('SECRET_KEY') or 'hard to guess string'\n"
    )
    test = "import unittest\nfrom config import Config\n"
    assert run({"config.py": config})[1]  # no tests: fail fast is the fix
    snap, patches = run({"config.py": config, "tests/test_app.py": test})
    assert patches == []
    (found,) = [f for f in FIXER.detect(snap, Context()) if f.rule.startswith("fallback-secret")]
    # ...and the finding says why no PR comes and what lets it come.
    assert found.data["report_only"]
    assert "Patchwell opens no PR for this" in found.message
    assert "the tests do not set SECRET_KEY, so every test run would crash" in found.message
    conftest = "import os\nos.environ.setdefault('SECRET_KEY', 'test')\n"
    files = {"config.py": config, "tests/test_app.py": test, "tests/conftest.py": conftest}
    assert run(files)[1]  # the tests set it: the fix cannot break them


def test_a_django_settings_key_the_tests_import_is_reported_a_function_one_patched() -> None:
    # wsvincent/djangox: `SECRET_KEY = "django-insecure-..."` in settings.py, Django tests;
    # `os.environ["SECRET_KEY"]` would crash `manage.py test` (and Patchwell's own CI PR).
    st = s("stripe-secret-key")
    settings = f'SECRET_KEY = "{st.token}"\n'
    tests = {"accounts/tests.py": "from django.test import TestCase\n"}
    assert run({"proj/settings.py": settings})[1]
    assert run({"proj/settings.py": settings, **tests})[1] == []
    in_function = f'import stripe\n\ndef charge():\n    return stripe.Charge(key="{st.token}")\n'
    assert run({"billing.py": in_function, **tests})[1]  # raises only when called: patched
