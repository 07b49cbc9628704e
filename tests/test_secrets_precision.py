"""Real-world false positives and misses of the secrets fixer, one test per class.

Each case is shaped like what scans of public repositories met (issue 15); values are
random, built at run time.
"""

from __future__ import annotations

import random
import string

from fixers.contract import Context, Finding, MemorySnapshot, Severity
from fixers.secrets import SecretsFixer

FIXER = SecretsFixer()


def _value(n: int = 18, seed: int = 5) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n - 1)) + "7"


def detect(files: dict[str, str]) -> list[Finding]:
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    return FIXER.detect(snap, Context())


def rules(files: dict[str, str]) -> list[tuple[str | None, str]]:
    return sorted((f.path, f.rule) for f in detect(files))


# -- false positives ---------------------------------------------------------------------


def test_compose_interpolation_with_default_or_error_is_not_a_secret() -> None:
    compose = (
        "services:\n  db:\n    environment:\n"
        "      - POSTGRES_PASSWORD=${POSTGRES_PASSWORD:?Variable not set}\n"
        "      - POSTGRES_USER=${POSTGRES_USER?Variable not set}\n"
        "      PGPASSWORD: ${PGPASSWORD:-fallbackvalue9}\n"
        "  backend:\n    environment:\n"
        "      - DATABASE_URL=postgresql://app:${POSTGRES_PASSWORD:?Variable not set}@db/app\n"
        "      - SECRET_KEY=${SECRET_KEY:?Variable not set}\n"
    )
    assert rules({"docker-compose.yml": compose}) == []


def test_template_interpolations_are_references() -> None:
    files = {
        "deploy/values.yaml": "db:\n  password: {{ .Values.dbPassword9 }}\n",
        "alembic.ini": "url = postgresql://u:%(DB_PASSWORD)s@db/app\npassword = %(pw9x)s\n",
        "config/app.rb": "api_token = \"#{ENV.fetch('TOKEN9')}abc\"\n",
    }
    assert rules(files) == []


def test_commented_lines_in_config_files_are_documentation() -> None:
    conf = (
        "#password_encryption = scram-sha-256\n"
        f"# ssl_passphrase_command = '{_value()}'\n"
        f";auth_token = {_value(seed=6)}\n"
    )
    assert rules({"conf/postgresql.conf": conf, "php.ini": conf}) == []


def test_a_real_value_on_an_uncommented_config_line_still_counts() -> None:
    conf = f"#password_encryption = scram-sha-256\nssl_passphrase = '{_value()}'\n"
    assert rules({"conf/postgresql.conf": conf}) == [
        ("conf/postgresql.conf", "generic-password-assignment")
    ]


def test_dotenv_of_localhost_urls_and_placeholders_is_not_a_leak() -> None:
    files = {
        "frontend/.env": "VITE_API_URL=http://localhost:8000\nNODE_ENV=development\n",
        ".env": (
            "DOMAIN=localhost\nSECRET_KEY=changethis\nFIRST_SUPERUSER_PASSWORD=changethis\n"
            "POSTGRES_PASSWORD=changethis\nPOSTGRES_SERVER=localhost\n"
        ),
    }
    assert rules(files) == []


def test_placeholder_words_are_not_secrets() -> None:
    files = {
        "app/settings.py": 'SECRET_KEY = "changethis"\nAPI_TOKEN = "change-this-9"\n',
        "config.yml": "admin_password: changeit\n",
    }
    assert rules(files) == []


def test_sample_request_bodies_of_api_clients_are_not_secrets() -> None:
    pw = _value(12)
    files = {
        "bruno/login.bru": f'body:json {{\n  {{\n    "password": "{pw}"\n  }}\n}}\n',
        "api/auth.http": f'POST /login\n\n{{"password": "{pw}"}}\n',
        "docs/App.postman_collection.json": (
            f'{{"item":[{{"request":{{"body":{{"raw":"{{\\"password\\":\\"{pw}\\"}}"}}}}}}]}}\n'
        ),
    }
    assert rules(files) == []


def test_uuids_and_integrity_hashes_are_not_generic_secrets() -> None:
    files = {
        "app/config.py": (
            'CLIENT_SECRET_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"\n'
            'session_token = "0f8fad5b-d9cb-469f-a165-70867728950e"\n'
            f'integrity_token = "sha512-{"9f86d081884c7d65" * 4}"\n'
        )
    }
    assert rules(files) == []


def test_test_fixture_keys_are_low_severity_and_never_deleted() -> None:
    begin, end = "-----BEGIN " + "PRIVATE KEY-----", "-----END " + "PRIVATE KEY-----"
    rng = random.Random(9)
    body = "\n".join(
        "".join(rng.choice(string.ascii_letters + "+/") for _ in range(64)) for _ in range(6)
    )
    key = f"{begin}\n{body}\n{end}\n"
    files = {
        "tests/certs/server.key": key,
        "certs/loaded.pem": key,  # outside a test directory, but a test loads it
        "tests/test_tls.py": 'def test_tls():\n    load("certs/loaded.pem")\n',
        "deploy/prod.key": key,
    }
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    found = {f.path: f for f in FIXER.detect(snap, Context())}
    assert set(found) == {"tests/certs/server.key", "certs/loaded.pem", "deploy/prod.key"}
    for path in ("tests/certs/server.key", "certs/loaded.pem"):
        assert found[path].severity == Severity.HYGIENE and not found[path].severity.is_high
        assert found[path].data["fixture"] is True
    assert found["deploy/prod.key"].severity == Severity.LEAKED_SECRET
    patches = FIXER.fix(snap, list(found.values()), Context())
    edited = {e.path for p in patches for e in p.edits}
    assert "deploy/prod.key" in edited
    assert not edited & {"tests/certs/server.key", "certs/loaded.pem"}


# -- misses ------------------------------------------------------------------------------


def test_key_material_settings_are_found() -> None:
    code = "".join(
        f'{name} = "{_value(32, seed=i)}="\n'
        for i, name in enumerate(
            ["ENCRYPTION_KEY", "FERNET_KEY", "SIGNING_KEY", "JWT_SIGNING_KEY", "HMAC_KEY"]
        )
    )
    found = detect({"backend/config.py": code})
    assert [f.line for f in found] == [1, 2, 3, 4, 5]
    assert {f.data["env"] for f in found} == {
        "ENCRYPTION_KEY", "FERNET_KEY", "SIGNING_KEY", "JWT_SIGNING_KEY", "HMAC_KEY"
    }  # fmt: skip


def test_compose_passwords_in_list_and_mapping_form_are_found() -> None:
    compose = (
        "services:\n  db:\n    environment:\n"
        f"      - POSTGRES_PASSWORD={_value(14)}\n"
        f'      - "MYSQL_ROOT_PASSWORD={_value(14, seed=8)}"\n'
        f"  cache:\n    environment:\n      REDIS_PASSWORD: {_value(14, seed=9)}\n"
    )
    found = detect({"docker-compose.yml": compose})
    assert [(f.line, f.rule) for f in found] == [
        (4, "generic-password-assignment"),
        (5, "generic-password-assignment"),
        (8, "generic-password-assignment"),
    ]


def test_hard_coded_fallbacks_are_findings_with_a_fail_fast_fix() -> None:
    files = {
        "app/config.py": (
            "import os\n\n"
            'SECRET_KEY = os.environ.get("SECRET_KEY") or "you-will-never-guess"\n'
            'JWT_SECRET = os.getenv("JWT_SECRET", "dev")\n'
            'DEBUG = os.getenv("DEBUG", "1")\n'
            'TOKEN_URL = os.getenv("TOKEN_URL", "https://auth.example.net/token")\n'
            'EMPTY = os.getenv("API_KEY", "")\n'
        ),
        "web/auth.js": 'export const secret = process.env.SESSION_SECRET || "keyboard cat";\n',
    }
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    found = FIXER.detect(snap, Context())
    assert sorted((f.path, f.line, f.data["env"]) for f in found) == [
        ("app/config.py", 3, "SECRET_KEY"),
        ("app/config.py", 4, "JWT_SECRET"),
        ("web/auth.js", 1, "SESSION_SECRET"),
    ]
    assert all(f.severity == Severity.VULNERABILITY for f in found)
    assert all(f.title and f.title.startswith("Hard-coded fallback for ") for f in found)
    fixed = FIXER.fix(snap, found, Context())
    patches = {p.edits[0].path: p.edits[0].content or b"" for p in fixed}
    py = patches["app/config.py"].decode()
    assert 'SECRET_KEY = os.environ["SECRET_KEY"]\n' in py
    assert 'JWT_SECRET = os.environ["JWT_SECRET"]\n' in py
    assert 'DEBUG = os.getenv("DEBUG", "1")' in py  # not a secret: untouched
    js = patches["web/auth.js"].decode()
    assert "process.env.SESSION_SECRET ?? " in js and 'throw new Error("SESSION_SECRET' in js
    assert "keyboard cat" not in js
