"""FakeGitHub helpers for the App's identity, installations and their tokens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakegithub import shapes
from tests.fakegithub.control import Controls
from tests.fakegithub.state import Installation, now

DEFAULT_PERMISSIONS = {
    "actions": "read",
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "workflows": "write",  # app.yml asks for it; an installation may not have accepted it yet
}


def generate_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class AuthControls(Controls):
    """The App (its slug, bot user), installations (added, removed, suspended) and tokens."""

    @property
    def bot_login(self) -> str:
        """Who the app's API writes (commits, pulls, comments) are made by: ``<slug>[bot]``."""
        with self.state.lock:
            return self.state.bot_login

    def rename_app(self, slug: str) -> None:
        """The App renamed on GitHub: ``GET /app`` gives the new slug, writes its new bot user."""
        with self.state.lock:
            self.state.app_slug = slug

    @property
    def token_lifetime(self) -> float:
        return self.state.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        with self.state.lock:
            self.state.token_lifetime = seconds

    @property
    def tokens_issued(self) -> int:
        return self.state.tokens_issued

    def expire_tokens(self) -> None:
        """Make every installation token issued so far expire now."""
        with self.state.lock:
            for token in self.state.tokens.values():
                token.expires_at = now() - 1

    def add_installation(
        self,
        installation_id: int,
        account_login: str,
        repos: Iterable[str] = (),
        *,
        account_type: str = "Organization",
        permissions: dict[str, str] | None = None,
    ) -> None:
        """Install the app on ``account_login`` for ``repos`` ("name" or "owner/name")."""
        names = {(r if "/" in r else f"{account_login}/{r}").lower() for r in repos}
        with self.state.lock:
            self.state.installations[installation_id] = Installation(
                id=installation_id,
                account_login=account_login,
                account_type=account_type,
                repos=names,
                permissions=dict(permissions or DEFAULT_PERMISSIONS),
                created_at=now(),
            )

    def remove_installation(self, installation_id: int) -> None:
        """Uninstall: the installation's tokens stop working (401), new ones cannot be had."""
        with self.state.lock:
            self.state.installations.pop(installation_id, None)

    def suspend_installation(self, installation_id: int, suspended: bool = True) -> None:
        """Suspend (or unsuspend): tokens are refused with 403 while suspended."""
        with self.state.lock:
            installation = self.state.installations[installation_id]
            installation.suspended_at = now() if suspended else None

    def installation_json(self, installation_id: int) -> dict[str, Any]:
        with self.state.lock:
            installation = self.state.installations.get(installation_id)
            if installation is None:
                raise ValueError(f"no installation {installation_id}")
            return shapes.installation(self.state, installation)

    def created_apps(self) -> dict[int, dict[str, Any]]:
        """Apps made through the manifest flow: id -> slug, pem, webhook_secret, manifest."""
        with self.state.lock:
            return {k: dict(v) for k, v in self.state.created_apps.items()}
