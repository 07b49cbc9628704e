"""The GitHub App manifest flow: the new-app page and the code-for-credentials conversion.

``POST /settings/apps/new?state=S`` (or ``/organizations/ORG/settings/apps/new``) takes the
form field ``manifest`` (JSON) the way github.com does. Real GitHub then shows a page where the
person confirms the name; the fake confirms at once and redirects to the manifest's
``redirect_url`` with ``?code=C&state=S``, as GitHub does after the click.

``POST /app-manifests/{code}/conversions`` (no authentication, like GitHub) trades a code for
the new App's id, slug, webhook secret and private key. A code works once and for an hour;
anything else is a 404.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from tests.fakegithub.httpkit import Reply, Req, Route
from tests.fakegithub.state import ApiError, FakeState, now

CODE_LIFETIME = 3600.0
REQUIRED = ("name", "url", "hook_attributes", "redirect_url")


@dataclass
class PendingApp:
    code: str
    manifest: dict[str, Any]
    owner: str
    created_at: float


def _error_page(status: int, text: str) -> web.Response:
    return web.Response(
        status=status, text=f"<html><body><p>{text}</p></body></html>", content_type="text/html"
    )


def web_routes(state: FakeState) -> list[web.RouteDef]:
    async def new_app(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        raw = form.get("manifest")
        try:
            manifest = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or any(k not in manifest for k in REQUIRED):
            return _error_page(422, "Invalid GitHub App manifest")
        redirect = manifest["redirect_url"]
        if not isinstance(redirect, str) or urlsplit(redirect).scheme not in ("http", "https"):
            return _error_page(422, "Invalid redirect_url")
        hook = manifest.get("hook_attributes")
        if not isinstance(hook, dict) or not isinstance(hook.get("url"), str):
            return _error_page(422, "hook_attributes.url is required")
        code = secrets.token_hex(20)
        owner = request.match_info.get("org") or "manifest-user"
        with state.lock:
            state.manifest_codes[code] = PendingApp(code, manifest, owner, now())
        query = {"code": code}
        if "state" in request.query:
            query["state"] = request.query["state"]
        separator = "&" if urlsplit(redirect).query else "?"
        raise web.HTTPFound(f"{redirect}{separator}{urlencode(query)}")

    return [
        web.post("/settings/apps/new", new_app),
        web.post("/organizations/{org}/settings/apps/new", new_app),
    ]


def convert(state: FakeState, req: Req) -> Reply:
    from tests.fakegithub.server import generate_private_key_pem

    pending = state.manifest_codes.pop(req.params["code"], None)
    if pending is None or now() - pending.created_at > CODE_LIFETIME:
        raise ApiError(404, "Not Found")
    manifest = pending.manifest
    app_id = state.new_id()
    slug = "".join(c if c.isalnum() else "-" for c in str(manifest["name"]).lower()).strip("-")
    pem = generate_private_key_pem()
    secret = secrets.token_hex(20)
    state.created_apps[app_id] = {
        "slug": slug,
        "pem": pem,
        "webhook_secret": secret,
        "manifest": manifest,
    }
    body = {
        "id": app_id,
        "slug": slug,
        "node_id": f"A_{app_id}",
        "owner": {"login": pending.owner, "type": "User"},
        "name": manifest["name"],
        "description": manifest.get("description"),
        "external_url": manifest["url"],
        "html_url": f"https://github.com/apps/{slug}",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": dict(manifest.get("default_permissions") or {}),
        "events": list(manifest.get("default_events") or []),
        "client_id": f"Iv23li{app_id:014d}",
        "client_secret": secrets.token_hex(20),
        "webhook_secret": secret,
        "pem": pem,
    }
    return Reply(status=201, body=body)


ROUTES = [Route("POST", "/app-manifests/{code}/conversions", convert, "public")]
