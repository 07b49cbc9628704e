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


# -- found on real repositories in the issue-15 precision pass (secrets-rules) -------------


def _b64url(obj: dict[str, object]) -> str:
    import base64
    import json

    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _jwt(payload: dict[str, object]) -> str:
    return f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url(payload)}.{_value(43, 8)}"


def test_supabase_local_demo_keys_are_not_secrets() -> None:
    # vercel/nextjs-subscription-payments `.env.local.example`: the Supabase CLI's local
    # keys (issuer supabase-demo) are the same on every machine.
    demo = _jwt({"iss": "supabase-demo", "role": "anon", "exp": 1983812996})
    assert rules({"web/config.ts": f'export const anonKey = "{demo}";\n'}) == []


def test_supabase_anon_keys_are_low_severity() -> None:
    anon = _jwt({"iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": "anon"})
    service = _jwt({"iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": "service_role"})
    (low,) = detect({"web/config.ts": f'export const anonKey = "{anon}";\n'})
    assert low.severity is Severity.HYGIENE and low.data["report_only"]
    (high,) = detect({"api/config.ts": f'export const serviceKey = "{service}";\n'})
    assert high.severity is Severity.LEAKED_SECRET


def test_github_tokens_with_a_wrong_checksum_are_low_severity() -> None:
    from fixers.secrets.samples import sample

    good = sample("github-pat-classic", random.Random(3)).token
    flipped = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    (real,) = detect({"ci.py": f'TOKEN = "{good}"\n'})
    (made_up,) = detect({"ci.py": f'TOKEN = "{flipped}"\n'})
    assert real.severity is Severity.LEAKED_SECRET
    assert made_up.severity is Severity.HYGIENE and made_up.data["report_only"]
    snap = MemorySnapshot({"ci.py": f'TOKEN = "{flipped}"\n'.encode()})
    assert FIXER.fix(snap, [made_up], Context()) == []


def test_github_checksum_matches_published_expired_tokens() -> None:
    from fixers.secrets.validate import crc32_tail

    # Bodies (never the whole token) of expired tokens published in
    # therootcompany/base62-token.js issue 2, with their checksums.
    assert crc32_tail("zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ") == "0mLq17"
    assert crc32_tail("adE7dp8rHP6gUTuPwxLTZjZdtya3sV") == "0UQzQM"


def test_keyword_values_in_example_files_are_low_severity() -> None:
    # sahat/hackathon-starter `.env.example`: demo app keys published on purpose.
    from fixers.secrets.samples import sample

    stripe = sample("stripe-secret-key", random.Random(2)).token
    files = {
        ".env.example": f"FACEBOOK_SECRET={_value(32)}\nSTRIPE_SKEY={stripe}\n",
        "config/settings.py.example": f'API_TOKEN = "{_value(30, 6)}"\n',
        ".env.local.example": f"NEXT_PUBLIC_SITE_URL=http://localhost:3000\nAPI_SECRET={_value()}\n",
    }
    found = {(f.path, f.rule): f for f in detect(files)}
    generic = found[(".env.example", "generic-secret-assignment")]
    assert generic.severity is Severity.HYGIENE and generic.data["example"]
    # A provider's distinctive format is a credential whatever the file is called.
    assert found[(".env.example", "stripe-secret-key")].severity is Severity.LEAKED_SECRET
    assert found[("config/settings.py.example", "generic-secret-assignment")].data["example"]
    assert not any(rule == "dotenv-committed" for _, rule in found)
    patches = FIXER.fix(
        MemorySnapshot({p: t.encode() for p, t in files.items()}), list(found.values()), Context()
    )
    assert all(e.path != ".env.example" for p in patches for e in p.edits if e.action == "delete")


def test_password_hashes_are_not_passwords() -> None:
    # wagtail/bakerydemo fixtures: Django's stored hashes, not passwords.
    salt, digest = _value(22, 3), _value(44, 4)
    files = {
        "app/fixtures/users.json": f'{{"password": "pbkdf2_sha256$600000${salt}${digest}"}}\n',
        "seed.py": f'user.password = "argon2$argon2id$v=19$m=102400,t=2,p=8${salt}${digest}"\n',
        "seed2.py": f'admin_password = "bcrypt_sha256$$2b$12${salt}{digest}"\n',
    }
    assert rules(files) == []


def test_a_fallback_split_over_lines_is_a_fallback() -> None:
    # mdn/django-locallibrary-tutorial settings.py: the call spans lines; reporting its
    # literal as a plain assignment would rewrite it into `get("KEY", os.environ[...])`.
    text = f"import os\nSECRET_KEY = os.environ.get(\n    'DJANGO_SECRET_KEY', '{_value(40, 9)}')\n"
    (finding,) = detect({"site/settings.py": text})
    assert finding.rule == "fallback-secret-python"
    (patch,) = FIXER.fix(MemorySnapshot({"site/settings.py": text.encode()}), [finding], Context())
    after = (patch.edits[0].content or b"").decode()
    assert 'os.environ["DJANGO_SECRET_KEY"]' in after and ".get(" not in after


def test_keyword_values_in_documentation_are_low_severity() -> None:
    # pallets/flask docs/config.rst and awesome-compose READMEs: code blocks that show how
    # to configure an app. A provider-format token there is still a leak.
    from fixers.secrets.samples import sample

    npm = sample("npm-access-token", random.Random(4)).token
    files = {
        "docs/config.rst": f".. code-block:: python\n\n    SECRET_KEY = '{_value(32, 2)}'\n",
        "README.md": (
            f"```\nDATABASE_URL=mysql://root:{_value(12, 3)}@db:3306/app\n```\n"
            f"Publish with `NPM_TOKEN={npm}`\n"
        ),
    }
    found = {(f.path, f.rule): f for f in detect(files)}
    for key in (("docs/config.rst", "generic-secret-assignment"),
                ("README.md", "database-url-password")):  # fmt: skip
        assert found[key].severity is Severity.HYGIENE and found[key].data["report_only"]
    assert found[("README.md", "npm-access-token")].severity is Severity.LEAKED_SECRET


def test_kubernetes_secret_manifests_are_reported_never_rewritten() -> None:
    import base64

    value = base64.b64encode(_value(24, 12).encode()).decode()
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n"
        f"  # base64 of the API token\n  api-token: {value}\n"
    )
    (finding,) = detect({"deploy/k8s/secret.yaml": manifest})
    assert finding.rule == "kubernetes-secret-manifest" and finding.data["report_only"]
    snap = MemorySnapshot({"deploy/k8s/secret.yaml": manifest.encode()})
    assert FIXER.fix(snap, [finding], Context()) == []
    templated = manifest.replace(value, "${API_TOKEN}")
    other_kind = manifest.replace("kind: Secret", "kind: ConfigMap")
    assert rules({"a/secret.yaml": templated}) == []
    found = rules({"b/config.yaml": other_kind})
    assert ("b/config.yaml", "kubernetes-secret-manifest") not in found
