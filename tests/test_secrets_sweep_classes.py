"""False-positive and robustness classes found by reading the secrets fixer's findings and
patches on public repositories it was not tuned on (issue 15, precision sweep). Every value
here is our own, random and built at run time; each class keeps a control that must still be
reported.
"""

from __future__ import annotations

import base64
import random
import string

from fixers.contract import Context, MemorySnapshot, Severity
from fixers.secrets import SecretsFixer
from fixers.secrets.engine import Scanner

ALNUM = string.ascii_letters + string.digits
FIXER = SecretsFixer()


def _rand(alphabet: str, n: int, seed: int = 23) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def _rules(path: str, text: str) -> list[str]:
    return sorted(h.rule.id for h in Scanner().scan(path, text.encode()))


# -- a value with a character base64 never holds -----------------------------------------------


def test_a_non_ascii_value_of_base64_length_is_scanned_not_a_crash() -> None:
    # 15 random ASCII characters and one non-ASCII letter: 16 characters, a length base64
    # could have, which once made the HTTP Basic stand-in check raise and the whole fixer's
    # results go missing for the repository.
    value = _rand(ALNUM, 15) + "\u00fc"
    snap = MemorySnapshot({"app/settings.py": f'DB_PASSWORD = "{value}"\n'.encode()})
    found = FIXER.detect(snap, Context())
    assert [f.rule for f in found] == ["generic-password-assignment"]
    truncated = _rand(ALNUM, 19, 5) + "\u2026"
    assert _rules("client.ts", f"const apiToken = '{truncated}';\n") == [
        "generic-secret-assignment"
    ]


# -- a fallback's fix reads the variable its own call names ----------------------------------


def _patched(files: dict[str, str]) -> dict[str, str]:
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    findings = FIXER.detect(snap, Context())
    out: dict[str, str] = {}
    for patch in FIXER.fix(snap, findings, Context()):
        for edit in patch.edits:
            out[edit.path] = (edit.content or b"").decode()
    return out


def test_two_fallbacks_sharing_a_literal_each_keep_their_own_variable() -> None:
    shared = _rand(ALNUM, 18, 3)
    py = (
        "import os\n"
        f'CLIENT_KEY = os.environ.get("SHOP_CLIENT_KEY") or "{shared}"\n'
        f'CLIENT_SECRET = os.environ.get("SHOP_CLIENT_SECRET") or "{shared}"\n'
        f'SIGNING = os.getenv("SHOP_SIGNING_KEY", "{_rand(ALNUM, 18, 4)}")\n'
        f'SIGNING_AGAIN = os.getenv("SHOP_SIGNING_KEY", "{_rand(ALNUM, 18, 5)}")\n'
    )
    js = (
        f"const a = process.env.MAIL_API_KEY || '{shared}';\n"
        f"const b = process.env.MAIL_API_SECRET || '{shared}';\n"
    )
    new = _patched({"shop/config.py": py, "mail/config.js": js})
    assert new["shop/config.py"].splitlines()[1:] == [
        'CLIENT_KEY = os.environ["SHOP_CLIENT_KEY"]',
        'CLIENT_SECRET = os.environ["SHOP_CLIENT_SECRET"]',
        'SIGNING = os.environ["SHOP_SIGNING_KEY"]',
        'SIGNING_AGAIN = os.environ["SHOP_SIGNING_KEY"]',
    ]
    assert "process.env.MAIL_API_KEY ??" in new["mail/config.js"].splitlines()[0]
    assert "process.env.MAIL_API_SECRET ??" in new["mail/config.js"].splitlines()[1]
    assert shared not in new["shop/config.py"] + new["mail/config.js"]


# -- a YAML file rendered by ERB takes ERB ---------------------------------------------------


def test_a_yaml_file_that_reads_the_environment_through_erb_gets_erb() -> None:
    dev = _rand("0123456789abcdef", 64, 6)
    rails = (
        "development:\n"
        f"  secret_key_base: {dev}\n"
        "\n"
        "production:\n"
        '  secret_key_base: <%= ENV["SECRET_KEY_BASE"] %>\n'
    )
    compose = (
        "services:\n  web:\n    environment:\n"
        f"      DATABASE_URL: postgres://app:{_rand(ALNUM, 20, 7)}@db:5432/app\n"
    )
    new = _patched({"config/secrets.yml": rails, "compose.yml": compose})
    assert new["config/secrets.yml"].splitlines()[1] == (
        '  secret_key_base: <%= ENV["SECRET_KEY_BASE"] %>'
    )
    assert new["compose.yml"].splitlines()[-1] == "      DATABASE_URL: ${DATABASE_URL}"


# -- a line inside a JS block comment is text, not code------------------------------------------


def test_a_value_inside_a_multi_line_js_comment_is_replaced_as_text() -> None:
    bearer = _rand(ALNUM, 32, 8)
    code = _rand(ALNUM, 24, 9)
    js = (
        "/*\n"
        " * Sends the request:\n"
        " *\n"
        " *   client.defaults.headers.Authorization = 'Bearer " + bearer + "';\n"
        " */\n"
        'const s = "/* not a comment";\n'
        f"const apiToken = '{code}';\n"
    )
    new = _patched({"src/client.js": js})["src/client.js"].splitlines()
    assert new[3].startswith(" *   client.defaults.headers.Authorization = 'Bearer $")
    assert "process.env" not in new[3]
    assert new[6].startswith("const apiToken = process.env.API_TOKEN")
    assert bearer not in "\n".join(new) and code not in "\n".join(new)


# -- values that cannot authenticate: an expired JWT, a Discord snowflake id ------------------


def _severities(files: dict[str, str]) -> list[tuple[str, int, Severity]]:
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    return sorted((f.rule, f.line or 0, f.severity) for f in FIXER.detect(snap, Context()))


def _jwt(claims: str, seed: int) -> str:
    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    return ".".join(
        [b64('{"alg":"HS256","typ":"JWT"}'), b64(claims), _rand(ALNUM + "-_", 43, seed)]
    )


def test_an_expired_jwt_is_reported_low() -> None:
    expired = _jwt('{"sub":"5f1c","iat":999996400,"exp":1000000000}', 12)
    live = _jwt('{"sub":"5f1c","iat":999996400,"exp":4102444800}', 13)
    js = f" *   refreshToken: {expired}\n const session = '{live}';\n"
    assert _severities({"src/routes/auth.js": js}) == [
        ("jwt", 1, Severity.HYGIENE),
        ("jwt", 2, Severity.LEAKED_SECRET),
    ]


def test_a_discord_snowflake_id_is_reported_low() -> None:
    role = "1" + _rand("0123456789", 17, 14)
    secret = _rand(ALNUM, 32, 15)
    py = f"DISCORD_HELPER_ROLE = {role}\nDISCORD_CLIENT_SECRET = '{secret}'\n"
    assert _severities({"bot/config.py": py}) == [
        ("discord-credential", 1, Severity.HYGIENE),
        ("discord-credential", 2, Severity.LEAKED_SECRET),
    ]


# -- a value typed as held-down blocks -----------------------------------------------------------


def test_a_value_typed_as_blocks_of_one_held_character_is_a_stand_in() -> None:
    typed = "9876" + "".join(c * 4 for c in "PPPPQQQQrrrrSSSStttt"[::4]) + "uuuVVVwww"
    assert _rules("examples/bot.py", f"bot_token = '{typed}'\n") == []
    held = "".join(c * 3 for c in "mkqzwd")
    assert _rules("examples/bot.py", f"bot_token = '{held}'\n") == []
    # Control: a random value that happens to hold one triple is still a value.
    real = _rand(ALNUM, 14, 16) + "xxx" + _rand(ALNUM, 15, 17)
    assert _rules("examples/bot.py", f"bot_token = '{real}'\n") == ["generic-secret-assignment"]


# -- settings that count a model's tokens ------------------------------------------------------


def test_a_setting_counting_model_tokens_is_no_secret_fallback() -> None:
    py = (
        "import os\n"
        'PRICE = float(os.environ.get("IMAGE_TOKEN_PRICE", "0.02"))\n'
        'LIMIT = int(os.getenv("MAX_TOKENS", "900"))\n'
        'BUDGET = int(os.getenv("DAILY_TOKEN_BUDGET", "25000"))\n'
        f'BOT = os.getenv("CHAT_BOT_TOKEN", "{_rand(ALNUM, 20, 18)}")\n'
        # Whole words only: a provider whose name ends in "max" keeps its key.
        f'MM = os.getenv("MINIMAX_API_KEY", "{_rand(ALNUM, 20, 19)}")\n'
    )
    js = "const cost = Number(process.env.TOKEN_COST_PER_1K || '0.003');\n"
    assert _rules("bot/main.py", py) == ["fallback-secret-python"] * 2
    assert _rules("bot/main.js", js) == []


# -- a fix that would leave the value behind -------------------------------------------------


def test_no_patch_moves_a_value_that_stays_elsewhere_in_the_file() -> None:
    word = "harborlight"  # a word: no entropy bar passes it as a password on its own line
    compose = (
        "services:\n"
        "  api:\n"
        "    environment:\n"
        f"      DATABASE_URL: mysql://root:{word}@db:3306/shop\n"
        "  db:\n"
        "    environment:\n"
        f"      MYSQL_ROOT_PASSWORD: {word}\n"
    )
    control = compose.replace(f"MYSQL_ROOT_PASSWORD: {word}", "MYSQL_ROOT_PASSWORD: ${DB_PW}")
    snap = MemorySnapshot({"shop/compose.yml": compose.encode()})
    findings = FIXER.detect(snap, Context())
    assert [(f.path, f.rule) for f in findings] == [("shop/compose.yml", "database-url-password")]
    assert FIXER.fix(snap, findings, Context()) == []
    assert list(_patched({"shop/compose.yml": control})) == ["shop/compose.yml"]


# -- a doc block is documentation --------------------------------------------------------------


def test_a_keyword_value_inside_a_js_doc_block_is_documentation() -> None:
    basic = base64.b64encode(f"{_rand(ALNUM, 6, 20)}:{_rand(ALNUM, 6, 21)}".encode()).decode()
    aws = "AKIA" + _rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 22)
    js = (
        "/**\n"
        " * Usage:\n"
        f" *   http.defaults.headers.common.Authorization = 'Basic {basic}';\n"
        f" *   const keyId = '{aws}';\n"
        " */\n"
        "/* a plain block comment is no doc block:\n"
        f"   Authorization: Bearer {_rand(ALNUM, 30, 23)}\n"
        "*/\n"
        f"const apiToken = '{_rand(ALNUM, 24, 24)}';\n"
    )
    assert _severities({"src/http.js": js}) == [
        ("authorization-header", 3, Severity.HYGIENE),
        ("authorization-header", 7, Severity.LEAKED_SECRET),
        ("aws-access-key-id", 4, Severity.LEAKED_SECRET),
        ("generic-secret-assignment", 9, Severity.LEAKED_SECRET),
    ]


# -- titles read as sentences ------------------------------------------------------------------


def test_fallback_titles_agree_with_how_many_settings_they_name() -> None:
    def title(n: int) -> str:
        py = "import os\n" + "".join(
            f'V{i} = os.getenv("APP{i}_SECRET", "{_rand(ALNUM, 16, 30 + i)}")\n' for i in range(n)
        )
        snap = MemorySnapshot({"app/config.py": py.encode()})
        (patch,) = FIXER.fix(snap, FIXER.detect(snap, Context()), Context())
        return patch.title

    assert (
        title(1)
        == "Fail fast when APP0_SECRET is unset instead of using a fallback in app/config.py"
    )
    assert title(2) == (
        "Fail fast when APP0_SECRET or APP1_SECRET is unset instead of using fallbacks in "
        "app/config.py"
    )
    assert title(3) == (
        "Fail fast when any of 3 secret settings is unset instead of using fallbacks in "
        "app/config.py"
    )


# -- a fallback's literal is a value: its diff is masked ---------------------------------------


def test_a_fallback_patch_diff_never_shows_the_literal() -> None:
    from fixers.output import diff_is_masked, patch_diff
    from fixers.runner import PlannedPatch

    literal = _rand(ALNUM, 32, 40)
    js = f"module.exports = {{ s: process.env.APP_SECRET || '{literal}' }};\n"
    snap = MemorySnapshot({"app/config.js": js.encode()})
    findings = FIXER.detect(snap, Context())
    (patch,) = FIXER.fix(snap, findings, Context())
    planned = PlannedPatch(patch, "fix")
    diff = patch_diff(snap, planned, findings)
    shown = literal in diff  # a failing assertion must not print the value
    assert not shown
    assert "process.env.APP_SECRET ??" in diff
    assert diff_is_masked(snap, planned, findings)


class _FailsOnOneFile(SecretsFixer):
    """The real fixer with a detector bug on one file (the crash above, before its fix):
    the fault is injected, everything else is the real code."""

    def file_findings(self, scanner: Scanner, path: str, data: bytes):  # type: ignore[override]
        if path == "broken.py":
            raise ValueError(f"cannot read {data.decode()}")  # a message quoting the file
        return super().file_findings(scanner, path, data)


def test_a_file_the_detector_fails_on_costs_only_that_file() -> None:
    # satellizer/chatgpt-telegram-bot: one file raising lost the repository's every result.
    token = "sk_live_" + _rand(string.ascii_letters + string.digits, 24, seed=5)
    snap = MemorySnapshot(
        {
            "pay.py": f'STRIPE_KEY = "{token}"\n'.encode(),
            "broken.py": f'OTHER = "{token}"\n'.encode(),
        }
    )
    found = {f.path: f for f in _FailsOnOneFile().detect(snap, Context())}
    assert found["pay.py"].severity == Severity.LEAKED_SECRET  # the other file is still scanned
    broken = found["broken.py"]
    assert broken.rule == "file-not-scanned" and broken.incomplete
    assert broken.data["report_only"] and "ValueError" in broken.message
    assert token not in broken.message and token[8:] not in str(broken.as_json())
