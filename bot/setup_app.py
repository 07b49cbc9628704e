"""``patchwell setup``: register the GitHub App from ``app.yml`` with GitHub's manifest flow.

The way Probot does it: a small local page whose form posts the manifest (built from
``app.yml``) to GitHub's new-app page with an anti-forgery ``state``. The person confirms the
name on GitHub, GitHub redirects back here with ``?code=``, and this page trades the code for
the App's credentials (``POST /app-manifests/{code}/conversions``) and writes them to the env
file, mode 0600. The page is plain HTML and works without JavaScript.

What it never does: show or log the private key or the webhook secret; overwrite an existing
env file or key file without ``--force``; accept a code that does not come back with a
``state`` this page issued (each state works once).
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from ruamel.yaml import YAML

DEFAULT_WEB_URL = "https://github.com"
DEFAULT_API_URL = "https://api.github.com"
APP_YML = Path(__file__).resolve().parents[1] / "app.yml"
_ORG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
MANIFEST_KEYS = ("name", "description", "url", "hook_attributes", "public")


class SetupError(Exception):
    """A problem the person can fix (said in one line, exit status 2)."""


@dataclass(frozen=True)
class SetupOptions:
    env_file: Path
    web_url: str = DEFAULT_WEB_URL
    api_url: str = DEFAULT_API_URL
    host: str = "127.0.0.1"
    port: int = 3000
    org: str | None = None
    webhook_url: str | None = None
    key_file: Path | None = None
    force: bool = False
    manifest_path: Path = APP_YML


def load_app_yml(path: Path) -> dict[str, Any]:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SetupError(f"cannot read {path} ({exc.strerror})") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise SetupError(f"{path} is not a GitHub App manifest (no name)")
    return data


def build_manifest(
    app_yml: Mapping[str, Any], *, redirect_url: str, webhook_url: str | None
) -> dict[str, Any]:
    """The manifest GitHub takes: app.yml's fields, our redirect, never a public App."""
    manifest = {k: app_yml[k] for k in MANIFEST_KEYS if k in app_yml}
    hook = dict(app_yml.get("hook_attributes") or {})
    if webhook_url:
        hook["url"] = webhook_url
    hook.setdefault("active", True)
    manifest["hook_attributes"] = hook
    manifest["redirect_url"] = redirect_url
    manifest["public"] = False
    manifest["default_permissions"] = dict(app_yml.get("default_permissions") or {})
    manifest["default_events"] = list(app_yml.get("default_events") or [])
    return manifest


def check_options(options: SetupOptions) -> None:
    if options.org is not None and not _ORG.fullmatch(options.org):
        raise SetupError("--org must be a GitHub organisation login")
    for path in (options.env_file, options.key_file):
        if path is not None and path.exists() and not options.force:
            raise SetupError(f"{path} exists; pass --force to replace it")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;"
        "padding:0 1em}code{background:#f3f3f3;padding:0 .2em}button{font-size:1em;"
        "padding:.5em 1em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(status=status, text=text, content_type="text/html")


@dataclass
class SetupFlow:
    """The two pages; ``finished`` is set once the env file is written."""

    options: SetupOptions
    app_yml: dict[str, Any]
    base_url: str = ""
    states: set[str] = field(default_factory=set)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    written: Path | None = None

    def application(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/", self.start_page), web.get("/callback", self.callback)])
        return app

    @property
    def new_app_url(self) -> str:
        web_url = self.options.web_url.rstrip("/")
        if self.options.org:
            return f"{web_url}/organizations/{quote(self.options.org)}/settings/apps/new"
        return f"{web_url}/settings/apps/new"

    async def start_page(self, request: web.Request) -> web.Response:
        if self.written is not None:
            return _page(
                "Patchwell is set up",
                f"<p>Credentials are in <code>{html.escape(str(self.written))}</code>.</p>",
            )
        state = secrets.token_urlsafe(32)
        self.states.add(state)
        manifest = build_manifest(
            self.app_yml,
            redirect_url=f"{self.base_url}/callback",
            webhook_url=self.options.webhook_url,
        )
        events = ", ".join(html.escape(str(e)) for e in manifest["default_events"])
        perms = ", ".join(
            f"{html.escape(str(k))}: {html.escape(str(v))}"
            for k, v in manifest["default_permissions"].items()
        )
        action = f"{self.new_app_url}?state={quote(state)}"
        where = (
            f"the organisation <b>{html.escape(self.options.org)}</b>"
            if self.options.org
            else "your account"
        )
        body = (
            f"<p>This registers the GitHub App <b>{html.escape(str(manifest['name']))}</b> on "
            f"{where} from <code>app.yml</code>. GitHub asks you to confirm its name, then sends "
            "you back here, and the App's credentials are written to "
            f"<code>{html.escape(str(self.options.env_file))}</code> (mode 0600).</p>"
            f"<p>Webhook: <code>{html.escape(str(manifest['hook_attributes'].get('url')))}</code>"
            f"<br>Events: {events}<br>Permissions: {perms}</p>"
            f'<form method="post" action="{html.escape(action)}">'
            f'<input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">'
            '<button type="submit" id="create">Create the GitHub App on GitHub</button></form>'
        )
        return _page("Set up Patchwell", body)

    async def callback(self, request: web.Request) -> web.Response:
        state = request.query.get("state", "")
        code = request.query.get("code", "")
        known = any(secrets.compare_digest(state, s) for s in self.states)
        if not known or not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", code):
            return _page(
                "This link is not from this setup page",
                "<p>Nothing was written. Start again from the setup page.</p>",
                status=400,
            )
        self.states.discard(state)  # each state works once
        try:
            app = await exchange_code(self.options.api_url, code)
        except SetupError as exc:
            return _page(
                "GitHub did not accept this",
                f"<p>{html.escape(str(exc))} Nothing was written.</p>",
                status=502,
            )
        try:
            write_credentials(self.options, app)
        except (SetupError, OSError) as exc:
            return _page("Credentials not written", f"<p>{html.escape(str(exc))}</p>", status=500)
        self.written = self.options.env_file
        self.finished.set()
        install = html.escape(f"{app['html_url']}/installations/new")
        env = self.options.env_file
        serve = (
            "patchwell serve" if env.name == ".env" else f"set -a; . {env}; set +a; patchwell serve"
        )
        body = (
            f"<p>The GitHub App <b>{html.escape(str(app['slug']))}</b> (id {int(app['id'])}) is "
            f"registered. Its id, webhook secret and private key are in "
            f"<code>{html.escape(str(env))}</code> (mode 0600).</p>"
            f'<p>Next: <a id="install" href="{install}">install it on your repositories</a>, '
            f"then start Patchwell in <code>{html.escape(str(env.parent))}</code>:</p>"
            f"<pre><code>{html.escape(serve)}</code></pre>"
            "<p>You can close this page.</p>"
        )
        return _page("Patchwell is set up", body)


async def exchange_code(api_url: str, code: str) -> dict[str, Any]:
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code)}/conversions"
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "patchwell-setup"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(url, headers=headers) as resp,
        ):
            if resp.status != 201:
                raise SetupError(
                    f"GitHub answered {resp.status} for this code (used already, or expired)."
                )
            app = await resp.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise SetupError(f"GitHub could not be reached ({type(exc).__name__}).") from None
    if not (
        isinstance(app, dict)
        and isinstance(app.get("id"), int)
        and isinstance(app.get("pem"), str)
        and isinstance(app.get("webhook_secret"), str)
        and isinstance(app.get("slug"), str)
    ):
        raise SetupError("GitHub's answer lacks the App's id, key or webhook secret.")
    app.setdefault("html_url", f"{DEFAULT_WEB_URL}/apps/{app['slug']}")
    return app


def _quoted(value: str) -> str:
    """A double-quoted dotenv value (python-dotenv turns ``\\n`` back into newlines)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _write_private(path: Path, text: str, *, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SetupError(f"{path} exists; pass --force to replace it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # O_CREAT's mode does not apply to a file that existed
        out.write(text)


def write_credentials(options: SetupOptions, app: Mapping[str, Any]) -> None:
    lines = [
        f"# Written by `patchwell setup` for the GitHub App {app['slug']} (id {app['id']}).",
        "# It holds the App's private key and webhook secret: keep it out of git and private.",
        f"PATCHWELL_APP_ID={int(app['id'])}",
        f"PATCHWELL_WEBHOOK_SECRET={_quoted(str(app['webhook_secret']))}",
    ]
    if options.key_file is not None:
        _write_private(options.key_file, str(app["pem"]), force=options.force)
        lines.append(f"PATCHWELL_PRIVATE_KEY_PATH={_quoted(str(options.key_file.resolve()))}")
    else:
        lines.append(f"PATCHWELL_PRIVATE_KEY={_quoted(str(app['pem']))}")
    if options.api_url.rstrip("/") != DEFAULT_API_URL:
        lines.append(f"PATCHWELL_GITHUB_API_URL={_quoted(options.api_url.rstrip('/'))}")
    _write_private(options.env_file, "\n".join(lines) + "\n", force=options.force)


async def start(options: SetupOptions) -> tuple[web.AppRunner, SetupFlow]:
    """Serve the setup pages on ``options.host``/``port`` (0: an ephemeral port)."""
    check_options(options)
    flow = SetupFlow(options, load_app_yml(options.manifest_path))
    runner = web.AppRunner(flow.application(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, options.host, options.port).start()
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in str(host) else host
    flow.base_url = f"http://{shown}:{port}"
    return runner, flow


def run(options: SetupOptions) -> int:
    async def main() -> int:
        try:
            runner, flow = await start(options)
        except SetupError as exc:
            print(f"patchwell setup: {exc}", file=sys.stderr)
            return 2
        print(f"Open {flow.base_url}/ in your browser to register Patchwell's GitHub App.")
        try:
            await flow.finished.wait()
            await asyncio.sleep(1.0)  # let the success page reach the browser
        finally:
            await runner.cleanup()
        print(f"Done: credentials written to {options.env_file}. Next: patchwell serve")
        return 0

    return asyncio.run(main())
