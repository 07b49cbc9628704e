"""``patchwell setup``: the GitHub App manifest flow against the fake GitHub, over HTTP and in a
real headless Chromium, through to ``patchwell serve`` accepting a webhook signed with the new
App's secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from dotenv import dotenv_values

from bot.setup_app import APP_YML, SetupError, SetupOptions, load_app_yml, start
from tests.payloads import ping
from tests.webhooks import delivery

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""
        if tag == "a" and a.get("id"):
            self.links[a["id"]] = a.get("href") or ""


def parse(html_text: str) -> _Form:
    form = _Form()
    form.feed(html_text)
    return form


def options(fake, tmp_path: Path, **kw) -> SetupOptions:
    return SetupOptions(
        env_file=tmp_path / ".env",
        web_url=fake.url,
        api_url=fake.url,
        port=0,
        webhook_url="https://patchwell.example.org/webhook",
        **kw,
    )


@contextlib.asynccontextmanager
async def setup_page(opts: SetupOptions):
    runner, flow = await start(opts)
    try:
        async with aiohttp.ClientSession() as session:
            yield session, flow
    finally:
        await runner.cleanup()


async def through_github(session, flow) -> tuple[str, str]:
    """Load the page, post its form to (fake) GitHub; returns (callback URL, page HTML)."""
    async with session.get(f"{flow.base_url}/") as resp:
        page = await resp.text()
    form = parse(page)
    async with session.post(form.action, data=form.fields, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        return resp.headers["Location"], page


def assert_private(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_page_posts_app_yml_as_the_manifest_and_writes_a_private_env_file(
    fake_github, tmp_path
) -> None:
    async with setup_page(options(fake_github, tmp_path)) as (session, flow):
        callback, page = await through_github(session, flow)
        form = parse(page)
        assert form.action.startswith(f"{fake_github.url}/settings/apps/new?state=")
        assert callback.startswith(f"{flow.base_url}/callback?code=")
        async with session.get(callback) as resp:
            assert resp.status == 200
            done = await resp.text()
        # The same redirect again (a reload, or a replayed link): refused, nothing changes.
        before = (tmp_path / ".env").read_bytes()
        async with session.get(callback) as resp:
            assert resp.status == 400
        assert (tmp_path / ".env").read_bytes() == before
    ((app_id, app),) = fake_github.created_apps().items()
    declared = load_app_yml(APP_YML)
    manifest = app["manifest"]
    assert manifest["default_permissions"] == declared["default_permissions"]
    assert manifest["default_events"] == declared["default_events"]
    assert manifest["public"] is False and manifest["name"] == declared["name"]
    assert manifest["url"] == declared["url"]
    assert manifest["hook_attributes"] == {
        "url": "https://patchwell.example.org/webhook",
        "active": True,
    }
    assert manifest["redirect_url"] == f"{flow.base_url}/callback"
    env = dotenv_values(tmp_path / ".env")
    assert env["PATCHWELL_APP_ID"] == str(app_id)
    assert env["PATCHWELL_WEBHOOK_SECRET"] == app["webhook_secret"]
    assert env["PATCHWELL_PRIVATE_KEY"].strip() == app["pem"].strip()
    assert_private(tmp_path / ".env")
    for secret in (app["webhook_secret"], app["pem"].splitlines()[1]):
        assert secret not in done and secret not in page
    assert (
        parse(done).links["install"] == f"https://github.com/apps/{app['slug']}/installations/new"
    )
    assert "patchwell serve" in done


async def test_forged_state_reused_code_and_existing_files_write_nothing(
    fake_github, tmp_path
) -> None:
    async with setup_page(options(fake_github, tmp_path, key_file=tmp_path / "key.pem")) as (
        session,
        flow,
    ):
        callback, _ = await through_github(session, flow)
        forged = re.sub(r"state=[^&]+", "state=forged", callback)
        async with session.get(forged) as resp:
            assert resp.status == 400
        async with session.get(f"{flow.base_url}/callback?code=x") as resp:
            assert resp.status == 400
        assert not (tmp_path / ".env").exists()
        # A code GitHub already traded (someone else got there first): GitHub says no.
        code = re.search(r"code=([^&]+)", callback).group(1)
        url = f"{fake_github.url}/app-manifests/{code}/conversions"
        async with aiohttp.ClientSession() as other, other.post(url) as r:
            assert r.status == 201
        async with session.get(callback) as resp:
            assert resp.status == 502
        assert not (tmp_path / ".env").exists() and not (tmp_path / "key.pem").exists()
        # A fresh round with a key file: the key goes to its own 0600 file.
        callback, _ = await through_github(session, flow)
        async with session.get(callback) as resp:
            assert resp.status == 200
    env = dotenv_values(tmp_path / ".env")
    assert "PATCHWELL_PRIVATE_KEY" not in env
    assert env["PATCHWELL_PRIVATE_KEY_PATH"] == str((tmp_path / "key.pem").resolve())
    assert_private(tmp_path / "key.pem")
    with pytest.raises(SetupError, match="exists; pass --force"):
        await start(options(fake_github, tmp_path))
    runner, _ = await start(options(fake_github, tmp_path, force=True))
    await runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def patchwell_serve(cwd: Path):
    """``patchwell serve`` in ``cwd`` with nothing but the env file written there."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHWELL_")}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_healthy(url: str, proc) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode(errors="replace"))
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise AssertionError("patchwell serve never became healthy")


async def assert_serve_takes_the_new_secret(cwd: Path, secret: str) -> None:
    with patchwell_serve(cwd) as (proc, url):
        await wait_healthy(url, proc)
        async with aiohttp.ClientSession() as session:
            for key, status in ((secret, 200), ("not-the-secret", 401)):  # ping: pong
                d = delivery("ping", ping(), key)
                async with session.post(f"{url}/webhook", data=d.body, headers=d.headers) as r:
                    assert r.status == status, await r.text()


async def test_setup_then_serve_accepts_a_webhook_signed_with_the_new_secret(
    fake_github, tmp_path
) -> None:
    async with setup_page(options(fake_github, tmp_path)) as (session, flow):
        callback, _ = await through_github(session, flow)
        async with session.get(callback) as resp:
            assert resp.status == 200
    ((_, app),) = fake_github.created_apps().items()
    await assert_serve_takes_the_new_secret(tmp_path, app["webhook_secret"])


# --------------------------------------------------------------------------- a real browser


def _browser_missing() -> str | None:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return (
            "Debian's chromium and chromium-driver are not installed "
            "(.ci/run installs them: apt-get install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")
async def test_the_setup_flow_in_headless_chromium(fake_github, tmp_path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    profile = tmp_path / "profile"
    chrome = webdriver.ChromeOptions()
    chrome.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        chrome.add_argument(flag)
    chrome.add_experimental_option(
        "prefs", {"profile.managed_default_content_settings.javascript": 2}
    )
    # The driver is given, so Selenium Manager never looks for (or downloads) a browser.
    service = Service(executable_path=str(CHROMEDRIVER))
    runner, flow = await start(options(fake_github, tmp_path))
    try:
        driver = await asyncio.to_thread(webdriver.Chrome, options=chrome, service=service)
        try:
            await asyncio.to_thread(driver.get, f"{flow.base_url}/")
            assert driver.title == "Set up Patchwell"
            button = driver.find_element(By.ID, "create")
            await asyncio.to_thread(button.click)  # JavaScript is off: a plain form post
            await asyncio.to_thread(
                WebDriverWait(driver, 30).until, lambda d: d.title == "Patchwell is set up"
            )
            assert driver.current_url.startswith(f"{flow.base_url}/callback?code=")
            install = driver.find_element(By.ID, "install").get_attribute("href")
            shot = tmp_path / "setup-done.png"
            driver.save_screenshot(str(shot))
            if os.environ.get("PATCHWELL_SCREENSHOT_DIR"):
                shutil.copy(shot, Path(os.environ["PATCHWELL_SCREENSHOT_DIR"]) / shot.name)
            text = driver.find_element(By.TAG_NAME, "body").text
        finally:
            await asyncio.to_thread(driver.quit)
    finally:
        await runner.cleanup()
    ((_, app),) = fake_github.created_apps().items()
    assert install == f"https://github.com/apps/{app['slug']}/installations/new"
    assert app["webhook_secret"] not in text and "PRIVATE KEY" not in text
    assert dotenv_values(tmp_path / ".env")["PATCHWELL_WEBHOOK_SECRET"] == app["webhook_secret"]
    assert_private(tmp_path / ".env")
