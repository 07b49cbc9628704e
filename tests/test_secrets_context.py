"""Where a credential-shaped value sits: test fixtures and documentation are low severity
and said as what they are; a value whose format checks out stays a leak there too.

Shaped like the real-world findings judged wrong in issue 15's precision pass (httpx's
tests, cookiecutter-django's and django-locallibrary's test passwords, Flask's docs);
every value is built at run time.
"""

from __future__ import annotations

import base64
import random
import string

import pytest

from fixers.contract import Context, Finding, MemorySnapshot, Severity
from fixers.secrets import SecretsFixer
from fixers.secrets.samples import sample
from fixers.secrets.validate import _crc24, private_key_parses

FIXER = SecretsFixer()
FIXTURE_SAYS = "a credential-shaped value in a test fixture; if it is real, rotate it"
DOCS_SAYS = "a credential-shaped value in a documentation example; if it is real, rotate it"


def _value(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n - 2)) + "7Q"


def _scan(files: dict[str, str]) -> tuple[MemorySnapshot, list[Finding]]:
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    return snap, FIXER.detect(snap, Context())


def _basic(seed: int) -> str:
    return base64.b64encode(f"user:{_value(10, seed)}".encode()).decode()


FIXTURES = {
    "tests/test_auth.py": f'auth = DigestAuth(username="user", password="{_value(14, 1)}")\n',
    "tests/client/test_headers.py": (
        f'headers = {{"Authorization": "Basic {_basic(2)}"}}\nclient.get("/", headers=headers)\n'
    ),
    "tests/models/whatwg.json": (
        f'[{{"input": "https://user:{_value(9, 3)}@example.net/", "password": "{_value(9, 4)}"}},\n'
        f' {{"input": "postgres://app:{_value(12, 5)}@db.example.net/app"}}]\n'
    ),
    "app/users/tests/test_admin.py": (
        f'form = {{"username": "test", "password1": "{_value(16, 6)}", '
        f'"password2": "{_value(16, 6)}"}}\n'
    ),
    "catalog/test/views.py": f'user.set_password("x")\nDB_PASSWORD = "{_value(14, 7)}"\n',
    "web/src/__tests__/login.js": f'const apiKey = "{_value(32, 8)}";\n',
    "web/login.spec.ts": f'const clientSecret = "{_value(32, 9)}";\n',
    "pkg/auth/client_test.go": f'var deployToken = "{_value(32, 10)}"\n',
    "pkg/auth/testdata/config.yml": f"auth:\n  client_secret: {_value(32, 11)}\n",
    "spec/fixtures/settings.yml": f"password: {_value(14, 12)}\n",
    "tests/.env": f"API_TOKEN={_value(24, 14)}\n",  # a committed env file, in a fixture
    # Outside a test directory, but the test suite loads it by name.
    "seed/accounts.json": f'{{"api_token": "{_value(32, 13)}"}}\n',
    "tests/test_seed.py": 'def test_seed():\n    load("seed/accounts.json")\n',
}


def test_generic_values_in_test_fixtures_are_low_and_said_as_what_they_are() -> None:
    snap, found = _scan(FIXTURES)
    paths = {f.path for f in found}
    assert paths == set(FIXTURES) - {"tests/test_seed.py"}
    for f in found:
        assert f.severity is Severity.HYGIENE and not f.severity.is_high, f.path
        assert FIXTURE_SAYS in f.message, f.path
        assert "rotate it now" not in f.message.lower(), f.path
        assert "environment variable" not in f.message, f.path
        assert f.title and not f.title.startswith("Leaked") and f.title.endswith("test fixture")
        assert f.data["fixture"] is True and f.data["report_only"] is True
    assert {f.rule for f in found} >= {
        "generic-password-assignment", "generic-secret-assignment", "authorization-header",
        "database-url-password", "dotenv-committed",
    }  # fmt: skip
    assert FIXER.fix(snap, found, Context()) == []  # nothing patched, nothing deleted


def test_the_same_values_outside_tests_are_still_leaks() -> None:
    outside = {
        "app/auth.py": FIXTURES["tests/test_auth.py"],
        "app/client/headers.py": FIXTURES["tests/client/test_headers.py"],
        "app/users/admin.py": FIXTURES["app/users/tests/test_admin.py"],
        "web/src/login.js": FIXTURES["web/src/__tests__/login.js"],
        "pkg/auth/client.go": FIXTURES["pkg/auth/client_test.go"],
        "config/settings.yml": FIXTURES["spec/fixtures/settings.yml"],
    }
    _, found = _scan(outside)
    assert {f.path for f in found} == set(outside)
    assert all(f.severity is Severity.LEAKED_SECRET for f in found)
    assert all("Rotate it now" in f.message for f in found)


def test_documentation_examples_are_low_and_said_as_what_they_are() -> None:
    files = {
        "docs/config.rst": f".. code-block:: python\n\n    app.secret_key = '{_value(32, 20)}'\n",
        "docs/tutorial/deploy.rst": f"    SECRET_KEY = '{_value(32, 21)}'\n",
        "README.md": f"```\nDATABASE_URL=mysql://root:{_value(12, 22)}@db:3306/app\n```\n",
        "guide/setup.md": f'```python\nAPI_TOKEN = "{_value(30, 23)}"\n```\n',
    }
    snap, found = _scan(files)
    assert {f.path for f in found} == set(files)
    for f in found:
        assert f.severity is Severity.HYGIENE, f.path
        assert DOCS_SAYS in f.message and "Rotate it now" not in f.message, f.path
        assert f.data["example"] is True and f.data["report_only"] is True
    assert FIXER.fix(snap, found, Context()) == []


def _pem(kind: str, der: bytes) -> str:
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----\n"


def _rsa_pem() -> str:
    crypto = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = key.private_bytes(crypto.Encoding.DER, crypto.PrivateFormat.PKCS8, crypto.NoEncryption())
    return _pem("", der)


def test_verifiable_formats_stay_high_in_tests_and_are_left_in_place() -> None:
    rng = random.Random(3)
    github = sample("github-pat-classic", rng).token
    flipped = github[:10] + ("A" if github[10] != "A" else "B") + github[11:]
    aws = sample("aws-access-key-id", rng).token
    files = {
        "tests/test_ci.py": f'TOKEN = "{github}"\n',
        "tests/test_s3.py": f'KEY_ID = "{aws}"\n',
        "tests/certs/server.key": _rsa_pem(),
        "tests/test_made_up.py": f'TOKEN = "{flipped}"\n',  # the checksum does not match
    }
    snap, found = _scan(files)
    by_path = {f.path: f for f in found}
    assert set(by_path) == set(files)
    for path in ("tests/test_ci.py", "tests/test_s3.py", "tests/certs/server.key"):
        assert by_path[path].severity is Severity.LEAKED_SECRET, path
        assert by_path[path].data["format_verified"] and by_path[path].data["fixture"]
    made_up = by_path["tests/test_made_up.py"]
    assert made_up.severity is Severity.HYGIENE and FIXTURE_SAYS in made_up.message
    assert FIXER.fix(snap, found, Context()) == []  # the tests load them: never edited


def test_a_key_block_that_does_not_parse_is_low_in_docs_and_a_parsing_one_is_not() -> None:
    rng = random.Random(4)
    junk = "\n".join("".join(rng.choice(string.ascii_letters) for _ in range(64)) for _ in range(6))
    stand_in = f"-----BEGIN PRIVATE KEY-----\n{junk}\n-----END PRIVATE KEY-----\n"
    _, found = _scan({"docs/tls.md": f"```\n{stand_in}```\n", "docs/real.md": _rsa_pem()})
    by_path = {f.path: f for f in found}
    assert by_path["docs/tls.md"].severity is Severity.HYGIENE
    assert by_path["docs/real.md"].severity is Severity.LEAKED_SECRET


def test_private_key_bodies_parse_by_their_format() -> None:
    def body(der: bytes) -> str:
        return base64.b64encode(der).decode() + "\n"

    seq = bytes([0x30, 0x03, 0x02, 0x01, 0x00])  # SEQUENCE { INTEGER 0 }
    long_seq = bytes([0x30, 0x81, 0x83, 0x02, 0x01, 0x00]) + bytes([0x04, 0x7E]) + b"k" * 126
    assert private_key_parses(body(seq)) and private_key_parses(body(long_seq))
    assert not private_key_parses(body(seq + b"\x00"))  # the length does not span the bytes
    assert not private_key_parses(body(b"\x31" + seq[1:]))  # a SET, not a SEQUENCE
    assert private_key_parses(body(b"openssh-key-v1\x00" + b"\x00\x00\x00\x04none"))
    assert not private_key_parses("not base64 at all!\n")
    encrypted = "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n" + body(b"x" * 32)
    assert private_key_parses(encrypted)
    assert not private_key_parses(body(b"x" * 32))
    # OpenPGP: a new-format secret-key packet (tag 5), version 4, with its armor checksum.
    packet = bytes([0xC5, 0x20, 0x04]) + b"p" * 31
    armored = body(packet) + "=" + base64.b64encode(_crc24(packet)).decode() + "\n"
    assert private_key_parses(armored) and private_key_parses(body(packet))
    bad_crc = body(packet) + "=" + base64.b64encode(b"\x00\x00\x00").decode() + "\n"
    assert not private_key_parses(bad_crc)
    assert not private_key_parses(body(bytes([0xC6, 0x20, 0x04]) + b"p" * 31))  # tag 6
    assert not private_key_parses("A" * 70_000)  # bounded


def test_crc24_is_openpgp_s() -> None:
    assert _crc24(b"123456789") == bytes.fromhex("21cf02")  # the CRC-24/OPENPGP check value
