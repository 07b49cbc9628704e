"""Start-up configuration: every bad variable named at once, no value ever shown."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.config import Secret, load_settings, mask_url, parse_duration
from bot.errors import ConfigError

SECRET = "whsec-test-Zq9f4LrT"


def base_env(private_key_pem: str) -> dict[str, str]:
    return {
        "PATCHWELL_APP_ID": "12345",
        "PATCHWELL_PRIVATE_KEY": private_key_pem,
        "PATCHWELL_WEBHOOK_SECRET": SECRET,
    }


def test_valid_environment_loads(rsa_private_key_pem: str, tmp_path: Path) -> None:
    settings = load_settings(base_env(rsa_private_key_pem), dotenv_path=None)
    assert settings.app_id == 12345
    assert settings.webhook_secret.reveal() == SECRET
    assert settings.database_url == "sqlite:///patchwell.db"
    assert settings.port == 8000
    assert settings.runs_inline_worker is True


def test_every_problem_named_in_one_message(tmp_path: Path) -> None:
    env = {
        "PATCHWELL_APP_ID": "twelve",
        "PATCHWELL_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-Xy7\n",
        "PORT": "99999",
        "DATABASE_URL": "mysql://root:hunter2pass@db/app",  # patchwell:allow
        "LOG_FORMAT": "xml",
        "PATCHWELL_RESCAN_INTERVAL": "soon",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env, dotenv_path=None)
    message = str(caught.value)
    for name in (
        "PATCHWELL_APP_ID",
        "PATCHWELL_PRIVATE_KEY",
        "PATCHWELL_WEBHOOK_SECRET",
        "PORT",
        "DATABASE_URL",
        "LOG_FORMAT",
        "PATCHWELL_RESCAN_INTERVAL",
    ):
        assert name in message
    for value in ("twelve", "not-a-key-Xy7", "99999", "hunter2pass", "xml", "soon"):
        assert value not in message


def test_write_budget_settings(rsa_private_key_pem: str) -> None:
    defaults = load_settings(base_env(rsa_private_key_pem), dotenv_path=None)
    assert defaults.write_windows == ((60, 60.0), (450, 3600.0))  # under GitHub's 80/min, 500/h
    assert defaults.write_interval == 1.0  # GitHub: at least one second between writes
    tuned = load_settings(
        base_env(rsa_private_key_pem)
        | {"PATCHWELL_WRITE_LIMITS": "30/1m, 200/1h", "PATCHWELL_WRITE_INTERVAL": "2.5"},
        dotenv_path=None,
    )
    assert (tuned.write_windows, tuned.write_interval) == (((30, 60.0), (200, 3600.0)), 2.5)
    for name, bad in (
        ("PATCHWELL_WRITE_LIMITS", "lots"),
        ("PATCHWELL_WRITE_LIMITS", "0/1m"),
        ("PATCHWELL_WRITE_LIMITS", "60/forever"),
        ("PATCHWELL_WRITE_INTERVAL", "-1"),
        ("PATCHWELL_WRITE_INTERVAL", "nan"),
    ):
        with pytest.raises(ConfigError, match=f"{name} is malformed"):
            load_settings(base_env(rsa_private_key_pem) | {name: bad}, dotenv_path=None)


def test_retention_and_shutdown_grace_settings(rsa_private_key_pem: str) -> None:
    defaults = load_settings(base_env(rsa_private_key_pem), dotenv_path=None)
    assert defaults.retention == timedelta(days=14)
    assert defaults.shutdown_grace == 20.0  # under the 30 s platforms give before SIGKILL
    tuned = load_settings(
        base_env(rsa_private_key_pem)
        | {"PATCHWELL_RETENTION": "30d", "PATCHWELL_SHUTDOWN_GRACE": "8"},
        dotenv_path=None,
    )
    assert (tuned.retention, tuned.shutdown_grace) == (timedelta(days=30), 8.0)
    assert (defaults.github_timeout, defaults.retry_backoff) == (30.0, 5.0)
    for name, bad, why in (
        ("PATCHWELL_RETENTION", "2d", "at least 3d"),  # GitHub redelivers for 3 days
        ("PATCHWELL_RETENTION", "71h", "at least 3d"),
        ("PATCHWELL_RETENTION", "forever", "duration"),
        ("PATCHWELL_SHUTDOWN_GRACE", "-1", "seconds"),
        ("PATCHWELL_SHUTDOWN_GRACE", "inf", "seconds"),
        ("PATCHWELL_GITHUB_TIMEOUT", "0", "seconds"),
        ("PATCHWELL_RETRY_BACKOFF", "soon", "seconds"),
    ):
        with pytest.raises(ConfigError, match=f"{name} is malformed: .*{why}"):
            load_settings(base_env(rsa_private_key_pem) | {name: bad}, dotenv_path=None)


def test_missing_key_named_when_neither_form_given(rsa_private_key_pem: str) -> None:
    env = base_env(rsa_private_key_pem)
    del env["PATCHWELL_PRIVATE_KEY"]
    with pytest.raises(ConfigError, match="PATCHWELL_PRIVATE_KEY or PATCHWELL_PRIVATE_KEY_PATH"):
        load_settings(env, dotenv_path=None)


def test_key_from_file_and_escaped_newlines(rsa_private_key_pem: str, tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(rsa_private_key_pem)
    env = base_env(rsa_private_key_pem)
    del env["PATCHWELL_PRIVATE_KEY"]
    env["PATCHWELL_PRIVATE_KEY_PATH"] = str(key_file)
    assert (
        load_settings(env, dotenv_path=None).private_key.reveal().strip()
        == rsa_private_key_pem.strip()
    )
    env = base_env(rsa_private_key_pem.replace("\n", "\\n"))
    assert "BEGIN" in load_settings(env, dotenv_path=None).private_key.reveal()


def test_unreadable_key_file_and_non_rsa_key(rsa_private_key_pem: str, tmp_path: Path) -> None:
    env = base_env(rsa_private_key_pem)
    del env["PATCHWELL_PRIVATE_KEY"]
    env["PATCHWELL_PRIVATE_KEY_PATH"] = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="PATCHWELL_PRIVATE_KEY_PATH is malformed"):
        load_settings(env, dotenv_path=None)
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ConfigError, match="RSA"):
        load_settings(base_env(ec_pem), dotenv_path=None)


def test_dotenv_file_is_read_and_environment_wins(rsa_private_key_pem: str, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PATCHWELL_APP_ID=777\nPORT=9001\n")
    env = base_env(rsa_private_key_pem)
    del env["PATCHWELL_APP_ID"]
    env["PORT"] = "9002"
    settings = load_settings(env, dotenv_path=dotenv)
    assert settings.app_id == 777
    assert settings.port == 9002


def test_secrets_never_show_in_repr(rsa_private_key_pem: str) -> None:
    settings = load_settings(
        {
            **base_env(rsa_private_key_pem),
            "PATCHWELL_INDEX_PASSWORD": "idx-pass-Q1w2",  # patchwell:allow
        },
        dotenv_path=None,
    )
    text = repr(settings) + str(settings)
    assert SECRET not in text
    assert "BEGIN" not in text
    assert "idx-pass-Q1w2" not in text
    assert repr(Secret("abc")) == "Secret('********')"


def test_postgres_scheme_alias_and_masking() -> None:
    url = "postgresql://bob:s3cret@db:5432/app"  # patchwell:allow
    assert mask_url(url) == "postgresql://bob:****@db:5432/app"
    assert mask_url("sqlite:///patchwell.db") == "sqlite:///patchwell.db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("30m", timedelta(minutes=30)),
        ("7d", timedelta(days=7)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0h", "h", "-1d", "1w", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_serve_refuses_to_start_and_names_variables(tmp_path: Path) -> None:
    """The real command: exit 2, one message naming every missing variable, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "PATCHWELL_WEBHOOK_SECRET": SECRET,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        },
    )
    assert result.returncode == 2
    assert "PATCHWELL_APP_ID is missing" in result.stderr
    assert "PATCHWELL_PRIVATE_KEY or PATCHWELL_PRIVATE_KEY_PATH is missing" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
