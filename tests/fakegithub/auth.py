"""Authentication the way GitHub checks it: app JWTs, installation tokens, codeload tickets."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass

import jwt

from tests.fakegithub.state import (
    ApiError,
    CodeloadTicket,
    FakeState,
    Installation,
    Repo,
    Token,
    now,
)

CLOCK_SKEW = 60  # seconds of drift GitHub tolerates on ``iat``
MAX_JWT_LIFETIME = 600
TICKET_LIFETIME = 300
SUSPENDED_MESSAGE = "This installation has been suspended"
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Credentials:
    """What the Authorization header carried, before any validation."""

    kind: str  # "jwt" | "token" | "none" | "invalid"
    value: str = ""


def parse_authorization(header: str | None) -> Credentials:
    if not header:
        return Credentials("none")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() not in ("bearer", "token") or not value:
        return Credentials("invalid")
    # a JWT is three base64url segments; an installation token is one opaque word
    if value.count(".") == 2:
        return Credentials("jwt", value)
    return Credentials("token", value)


def _jwt_error(message: str) -> ApiError:
    return ApiError(
        401,
        message,
        documentation_url="https://docs.github.com/rest",
    )


def verify_app_jwt(state: FakeState, creds: Credentials) -> None:
    """Raise the 401 GitHub would give unless ``creds`` is a valid JWT for our app."""
    if creds.kind == "none":
        raise ApiError(401, "Requires authentication")
    if creds.kind != "jwt":
        raise _jwt_error("A JSON web token could not be decoded")
    try:
        # signature only: the claims are checked below with GitHub's rules and messages
        # (PyJWT's own claim checks would, e.g., refuse the integer ``iss`` GitHub accepts)
        signed = jwt.PyJWS().decode_complete(
            creds.value, state.public_key_pem, algorithms=["RS256"]
        )
        claims = json.loads(signed["payload"])
    except (jwt.PyJWTError, ValueError):
        raise _jwt_error("A JSON web token could not be decoded") from None
    if not isinstance(claims, dict):
        raise _jwt_error("A JSON web token could not be decoded")
    _check_claims(state, claims)


def _check_claims(state: FakeState, claims: dict[str, object]) -> None:
    iss, iat, exp = claims.get("iss"), claims.get("iat"), claims.get("exp")
    # GitHub takes the app id (int or digits) or, since 2024, the app's client id
    if iss != state.client_id:
        if isinstance(iss, bool) or not (
            isinstance(iss, int) or (isinstance(iss, str) and iss.isdigit())
        ):
            raise _jwt_error("'Issuer' claim ('iss') must be an Integer")
        if int(iss) != state.app_id:
            # a different app id names an app whose key did not sign this token
            raise _jwt_error("A JSON web token could not be decoded")
    current = now()
    if not isinstance(iat, int | float) or isinstance(iat, bool) or iat > current + CLOCK_SKEW:
        raise _jwt_error(
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued"
        )
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= current:
        raise _jwt_error(
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires"
        )
    # GitHub measures exp from its own clock (at most 10 minutes ahead); its docs back-date iat
    # by 60 s for drift, so a 660 s iat..exp span is the longest a well-made JWT can have
    if exp > current + MAX_JWT_LIFETIME or exp - iat > MAX_JWT_LIFETIME + CLOCK_SKEW:
        raise _jwt_error("'Expiration time' claim ('exp') is too far in the future")


def _random_secret(prefix: str) -> str:
    # the length varies on purpose: GitHub documents that token lengths change without notice
    length = 36 + secrets.randbelow(25)
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def issue_token(state: FakeState, installation: Installation) -> Token:
    token = Token(
        value=_random_secret("ghs_"),
        installation_id=installation.id,
        expires_at=now() + state.token_lifetime,
    )
    state.tokens[token.value] = token
    state.tokens_issued += 1
    return token


def installation_from_token(state: FakeState, creds: Credentials) -> Installation:
    if creds.kind == "none":
        raise ApiError(401, "Requires authentication")
    token = state.tokens.get(creds.value) if creds.kind == "token" else None
    if token is None or token.expires_at <= now():
        raise ApiError(401, "Bad credentials")
    installation = state.installations.get(token.installation_id)
    if installation is None:  # the installation was removed after the token was issued
        raise ApiError(401, "Bad credentials")
    if installation.suspended_at is not None:
        raise ApiError(403, SUSPENDED_MESSAGE)
    return installation


def repo_for_token(
    state: FakeState, creds: Credentials, owner: str, name: str, method: str = "GET"
) -> Repo:
    installation = installation_from_token(state, creds)
    repo = state.repos.get(f"{owner}/{name}".lower())
    if repo is None:
        raise ApiError(404, "Not Found")
    # Like GitHub, an installation token may read public repositories it is not
    # installed on (an action's tags, say), but never write to them.
    if repo.key not in installation.repos and (repo.private or method != "GET"):
        raise ApiError(404, "Not Found")
    return repo


def issue_ticket(state: FakeState, repo: Repo, sha: str) -> str:
    value = _random_secret("")
    state.tickets[value] = CodeloadTicket(repo.key, sha, now() + TICKET_LIFETIME)
    return value


def check_ticket(state: FakeState, value: str, repo: Repo, sha: str) -> None:
    ticket = state.tickets.get(value)
    if ticket is None or ticket.expires_at <= now() or (ticket.repo, ticket.sha) != (repo.key, sha):
        raise ApiError(404, "Not Found")
