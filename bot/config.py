"""Operator configuration, read from the environment and validated at start-up.

Every variable is checked before anything starts; a bad configuration stops
start-up with one message that names *every* bad variable and what is wrong
with it -- never its value. A ``.env`` file in the working directory is read if
present; real environment variables win over it.

Secrets (the webhook secret, the App's private key) are held in :class:`Secret`,
whose ``repr``/``str`` is masked, so they cannot leak through logs, error
messages or tracebacks that print locals.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.errors import ConfigError
from fixers.isolation import ScanBudget

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_DATABASE_URL = "sqlite:///patchwell.db"
#: Largest webhook body accepted (GitHub caps payloads at 25 MB).
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024
#: Default cap on webhook body bytes being received at once, over all requests (four bodies
#: of the largest size GitHub sends): unsigned bodies cost memory before they are verified.
DEFAULT_WEBHOOK_INFLIGHT_BYTES = 4 * MAX_WEBHOOK_BYTES
#: How long done jobs (with their webhook payloads) and delivery ids are kept.
DEFAULT_RETENTION = timedelta(days=14)
#: GitHub lets an App redeliver deliveries of the past 3 days: a delivery id forgotten sooner
#: would make a redelivery run twice, so retention never goes below it.
MIN_RETENTION = timedelta(days=3)

T = TypeVar("T")


class Secret:
    """A secret string that never shows itself by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Refuse pickling: a pickled secret ends up in caches and queues.
        raise TypeError("Secret values cannot be pickled")


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``"24h"``, ``"30m"``, ``"7d"``, ``"90s"`` -> timedelta (positive)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError("expected a duration such as 30m, 24h or 7d")
    amount = int(match.group(1))
    if amount <= 0:
        raise ValueError("must be greater than zero")
    return timedelta(**{_DURATION_UNITS[match.group(2)]: amount})


def format_duration(value: timedelta) -> str:
    """The shortest ``parse_duration`` spelling of ``value`` (``14d``, ``36h``, ``90s``)."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def mask_url(url: str) -> str:
    """A URL with any password replaced by ``****`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return url.replace(parts.netloc, f"{user}:****@{netloc[-1]}", 1)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str

    @property
    def dialect(self) -> str:
        return "sqlite" if self.url.startswith("sqlite:") else "postgresql"


@dataclass(frozen=True)
class Settings:
    """Everything ``patchwell serve`` / ``patchwell worker`` need."""

    app_id: int
    private_key: Secret
    webhook_secret: Secret
    github_api_url: str = DEFAULT_GITHUB_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    port: int = 8000
    log_format: str = "text"
    log_level: str = "INFO"
    worker_concurrency: int = 4
    job_lease_seconds: int = 60
    rescan_interval: timedelta = timedelta(hours=24)
    bot_name: str = "patchwell"
    inline_worker: bool | None = None
    #: Content-creating requests per installation: (writes, seconds) windows and the pause
    #: between two writes (GitHub: 80/min, 500/h, "at least one second"; see bot/budget.py).
    write_windows: tuple[tuple[int, float], ...] = ((60, 60.0), (450, 3600.0))
    write_interval: float = 1.0
    webhook_inflight_bytes: int = DEFAULT_WEBHOOK_INFLIGHT_BYTES
    #: A failed job's retries wait up to base * 2**(attempt-1) seconds (full jitter, at most 1 h).
    retry_backoff: float = 5.0
    #: Seconds one GitHub request may take before it is given up (and retried as transient).
    github_timeout: float = 30.0
    #: Done jobs and delivery ids older than this are purged (hourly, by a housekeeping job).
    retention: timedelta = DEFAULT_RETENTION
    #: Seconds a stopping worker (SIGTERM) lets running jobs finish before handing them back.
    shutdown_grace: float = 20.0
    #: What one scan process may use (CPU seconds, memory, wall clock): fixers run there.
    scan_budget: ScanBudget = field(default_factory=ScanBudget)
    #: The merged environment, for services configured by their own variables
    #: (package index, advisories). Kept out of ``repr`` because it may hold credentials.
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings(self.database_url)

    @property
    def runs_inline_worker(self) -> bool:
        """SQLite: one process does everything. PostgreSQL: separate worker processes."""
        if self.inline_worker is not None:
            return self.inline_worker
        return self.database.dialect == "sqlite"


#: Variables that hold our credentials or carry them (a URL's ``user:password@``). Read once
#: at start-up into :class:`Settings`; no child process needs them.
CREDENTIAL_VARIABLES = (
    "PATCHWELL_PRIVATE_KEY",
    "PATCHWELL_WEBHOOK_SECRET",
    "DATABASE_URL",
    "PATCHWELL_INDEX_URL",
    "PATCHWELL_INDEX_USERNAME",
    "PATCHWELL_INDEX_PASSWORD",
    "PATCHWELL_OSV_URL",
)


def withhold_credentials(environ: MutableMapping[str, str]) -> dict[str, str]:
    """A copy of ``environ`` to read the configuration from, and ``environ`` itself without
    :data:`CREDENTIAL_VARIABLES`.

    Called on ``os.environ`` before anything starts: every process started later inherits
    the environment of that moment -- the scan forkserver and each scan forked from it,
    which run the fixers over a stranger's repository. A fixer tricked into reading
    ``/proc/self/environ`` then finds no App key there.
    """
    copy = dict(environ)
    for name in CREDENTIAL_VARIABLES:
        environ.pop(name, None)
    return copy


def read_environment(
    environ: Mapping[str, str], dotenv_path: Path | None = Path(".env")
) -> dict[str, str]:
    """The process environment over the ``.env`` file (real variables win)."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(environ)
    return merged


class _Collector:
    """Reads variables and collects every problem, so one message names them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def get(
        self,
        name: str,
        parse: Callable[[str], T],
        default: T | None = None,
        *,
        required: bool = False,
    ) -> T | None:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            if required:
                self.problems.append(f"{name} is missing")
            return default
        try:
            return parse(raw.strip())
        except (ValueError, TypeError) as exc:
            # The reason comes from our own parsers and never quotes the value.
            self.problems.append(f"{name} is malformed: {exc}")
            return default


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise ValueError("expected a positive whole number")
    return int(text)


def parse_write_windows(text: str) -> tuple[tuple[int, float], ...]:
    """``"60/1m,450/1h"`` -> ((60, 60.0), (450, 3600.0)): at most N writes per duration."""
    windows = []
    for part in text.split(","):
        count, slash, duration = part.strip().partition("/")
        if not slash or not count.strip().isdigit() or int(count) <= 0:
            raise ValueError("expected writes/duration pairs such as 60/1m,450/1h")
        windows.append((int(count), parse_duration(duration).total_seconds()))
    return tuple(windows)


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number of seconds ({low:g} to {high:g})") from None
        if not low <= value <= high:  # also refuses nan and inf
            raise ValueError(f"expected a number of seconds ({low:g} to {high:g})")
        return value

    return parse


def _byte_budget(text: str) -> int:
    size = _positive_int(text)
    if size < 64 * 1024:
        raise ValueError("expected a number of bytes, at least 65536")
    return size


def parse_retention(text: str) -> timedelta:
    """A duration of at least :data:`MIN_RETENTION` (GitHub's redelivery window)."""
    retention = parse_duration(text)
    if retention < MIN_RETENTION:
        raise ValueError("must be at least 3d (GitHub redelivers deliveries of the past 3 days)")
    return retention


def _port(text: str) -> int:
    port = _positive_int(text)
    if port > 65535:
        raise ValueError("expected a TCP port between 1 and 65535")
    return port


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("expected an http(s) URL")
    return text.rstrip("/")


def _database_url(text: str) -> str:
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://") :]
    if text.startswith("sqlite:///") and len(text) > len("sqlite:///"):
        return text
    if text.startswith("postgresql://") and urlsplit(text).netloc:
        return text
    raise ValueError("expected sqlite:///path/to/file.db or postgresql://user@host/db")


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _boolean(text: str) -> bool:
    value = text.lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _private_key(text: str) -> Secret:
    # Accept keys pasted with literal "\n" (a common way to fit PEM in one env line).
    pem = text.replace("\\n", "\n").strip() + "\n"
    _check_private_key(pem)
    return Secret(pem)


def _check_private_key(pem: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except Exception as exc:  # cryptography raises several types; none quote the key
        raise ValueError("not a readable PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("GitHub App keys are RSA keys; this PEM holds another kind")


def _private_key_file(text: str) -> Secret:
    path = Path(text)
    try:
        pem = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read the file ({exc.strerror})") from exc
    return _private_key(pem)


def _webhook_secret(text: str) -> Secret:
    return Secret(text)


def _bounded_int(low: int, high: int, unit: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"expected a whole number of {unit} ({low} to {high})")
        return int(text)

    return parse


def _scan_budget(c: _Collector) -> ScanBudget:
    default = ScanBudget()
    cpu = c.get("PATCHWELL_SCAN_CPU_SECONDS", _bounded_int(5, 86_400, "seconds"))
    memory_mb = c.get("PATCHWELL_SCAN_MEMORY_MB", _bounded_int(512, 1_048_576, "MiB"))
    wall = c.get("PATCHWELL_SCAN_WALL_SECONDS", _bounded_int(10, 86_400, "seconds"))
    return ScanBudget(
        cpu_seconds=cpu if cpu is not None else default.cpu_seconds,
        memory_bytes=memory_mb * 1024 * 1024 if memory_mb is not None else default.memory_bytes,
        wall_seconds=wall if wall is not None else default.wall_seconds,
    )


def scan_budget_from_env(environ: Mapping[str, str]) -> ScanBudget:
    """The scan budget alone (``patchwell scan`` needs no App credentials)."""
    c = _Collector(environ)
    budget = _scan_budget(c)
    if c.problems:
        raise ConfigError("bad scan budget: " + "; ".join(c.problems))
    return budget


def load_settings(environ: Mapping[str, str], dotenv_path: Path | None = Path(".env")) -> Settings:
    """Validate the whole configuration; raise :class:`ConfigError` naming every problem."""
    env = read_environment(environ, dotenv_path)
    c = _Collector(env)
    app_id = c.get("PATCHWELL_APP_ID", _positive_int, required=True)
    key_text = c.get("PATCHWELL_PRIVATE_KEY", _private_key)
    key_file = c.get("PATCHWELL_PRIVATE_KEY_PATH", _private_key_file)
    if (
        key_text is None
        and key_file is None
        and not any(p.startswith("PATCHWELL_PRIVATE_KEY") for p in c.problems)
    ):
        c.problems.append("PATCHWELL_PRIVATE_KEY or PATCHWELL_PRIVATE_KEY_PATH is missing")
    secret = c.get("PATCHWELL_WEBHOOK_SECRET", _webhook_secret, required=True)
    settings_kwargs = {
        "github_api_url": c.get("PATCHWELL_GITHUB_API_URL", _http_url, DEFAULT_GITHUB_API_URL),
        "database_url": c.get("DATABASE_URL", _database_url, DEFAULT_DATABASE_URL),
        "port": c.get("PORT", _port, 8000),
        "log_format": c.get("LOG_FORMAT", _choice("text", "json"), "text"),
        "log_level": c.get(
            "LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info"
        ).upper(),
        "worker_concurrency": c.get("PATCHWELL_WORKER_CONCURRENCY", _positive_int, 4),
        "job_lease_seconds": c.get("PATCHWELL_JOB_LEASE_SECONDS", _positive_int, 60),
        "rescan_interval": c.get("PATCHWELL_RESCAN_INTERVAL", parse_duration, timedelta(hours=24)),
        "bot_name": c.get("PATCHWELL_BOT_NAME", _choice_bot_name, "patchwell"),
        "inline_worker": c.get("PATCHWELL_INLINE_WORKER", _boolean, None),
        "write_windows": c.get(
            "PATCHWELL_WRITE_LIMITS", parse_write_windows, ((60, 60.0), (450, 3600.0))
        ),
        "write_interval": c.get("PATCHWELL_WRITE_INTERVAL", _seconds(0, 60), 1.0),
        "webhook_inflight_bytes": c.get(
            "PATCHWELL_WEBHOOK_INFLIGHT_BYTES", _byte_budget, DEFAULT_WEBHOOK_INFLIGHT_BYTES
        ),
        "retention": c.get("PATCHWELL_RETENTION", parse_retention, DEFAULT_RETENTION),
        "github_timeout": c.get("PATCHWELL_GITHUB_TIMEOUT", _seconds(1, 300), 30.0),
        "retry_backoff": c.get("PATCHWELL_RETRY_BACKOFF", _seconds(0.1, 600), 5.0),
        # Below the 30 s most platforms allow between SIGTERM and SIGKILL, with time left to
        # hand unfinished jobs back (see PROD.md "Stopping").
        "shutdown_grace": c.get("PATCHWELL_SHUTDOWN_GRACE", _seconds(0, 3600), 20.0),
        "scan_budget": _scan_budget(c),
    }
    for name in ("PATCHWELL_INDEX_URL", "PATCHWELL_OSV_URL"):
        c.get(name, _http_url)
    if c.problems:
        raise ConfigError(
            "Patchwell cannot start; fix these environment variables (see .env.example):\n  - "
            + "\n  - ".join(c.problems)
        )
    assert app_id is not None and secret is not None
    return Settings(
        app_id=app_id,
        private_key=key_text or key_file,  # type: ignore[arg-type]
        webhook_secret=secret,
        env=dict(env),
        **settings_kwargs,  # type: ignore[arg-type]
    )


def _choice_bot_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}", text):
        raise ValueError("expected a GitHub login (letters, digits, hyphens)")
    return text.lower()


def load_retention(
    environ: Mapping[str, str], dotenv_path: Path | None = Path(".env")
) -> timedelta:
    """Only ``PATCHWELL_RETENTION`` (for ``patchwell jobs purge``)."""
    c = _Collector(read_environment(environ, dotenv_path))
    retention = c.get("PATCHWELL_RETENTION", parse_retention, DEFAULT_RETENTION)
    if c.problems:
        raise ConfigError("Patchwell cannot start:\n  - " + "\n  - ".join(c.problems))
    assert retention is not None
    return retention


def load_database_url(environ: Mapping[str, str], dotenv_path: Path | None = Path(".env")) -> str:
    """Only ``DATABASE_URL`` (for ``migrate`` and ``jobs``, which need no App credentials)."""
    c = _Collector(read_environment(environ, dotenv_path))
    url = c.get("DATABASE_URL", _database_url, DEFAULT_DATABASE_URL)
    if c.problems:
        raise ConfigError("Patchwell cannot start:\n  - " + "\n  - ".join(c.problems))
    assert url is not None
    return url
