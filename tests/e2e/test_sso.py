"""OpenID Connect single sign-on through a REAL local provider (npm ``oidc-provider``) in Chromium.

The fixture installs ``oidc-provider`` with the machine's npm into ``var/oidc-provider`` (once;
later runs reuse it), starts it, and starts a Daphne configured for it from the environment
(``OIDC_RP_CLIENT_ID`` …). Missing node or npm fails the test: nothing is skipped silently.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio.models import AuditEvent
from tests.conftest import UserFactory
from tests.e2e.test_project_admin import log_in
from tests.fixtures.browser import screenshot
from tests.fixtures.services import ROOT, _test_env, _wait_until, free_port, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

OIDC_PROVIDER_VERSION = "9.13.3"
PROVIDER_DIR = ROOT / "var" / "oidc-provider"
ACCOUNTS = {
    "ada-sso": {"email": "ADA@example.com", "email_verified": True, "preferred_username": "ada"},
    "stranger": {"email": "stranger@example.com", "email_verified": True},
}


def _port(name: str) -> int:
    """A port from the environment (``STUDIO_TEST_OIDC_PORT`` / ``STUDIO_TEST_SSO_WEB_PORT``) or a free one."""
    return int(os.environ.get(name) or free_port())


def _install_provider() -> Path:
    """``var/oidc-provider/node_modules/oidc-provider`` at the pinned version (npm, cached)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("The SSO test needs node and npm (to install the npm package oidc-provider); install them.")
    package = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not package.exists() or json.loads(package.read_text())["version"] != OIDC_PROVIDER_VERSION:
        PROVIDER_DIR.mkdir(parents=True, exist_ok=True)
        (PROVIDER_DIR / "package.json").write_text('{"name": "studio-test-oidc-provider", "private": true}\n')
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"oidc-provider@{OIDC_PROVIDER_VERSION}"],
            cwd=PROVIDER_DIR,
            check=True,
            timeout=300,
        )
    return Path(node)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - the local test provider
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def sso_server(django_db_setup: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A running OpenID provider and a Daphne with SSO configured for it; yields their URLs."""
    node = _install_provider()
    op_port, web_port = _port("STUDIO_TEST_OIDC_PORT"), _port("STUDIO_TEST_SSO_WEB_PORT")
    issuer, base = f"http://127.0.0.1:{op_port}", f"http://127.0.0.1:{web_port}"
    script = PROVIDER_DIR / "provider.mjs"
    shutil.copyfile(Path(__file__).with_name("oidc_provider.mjs"), script)
    op_log = tmp_path / "oidc-provider.log"
    op_env = {
        **os.environ,
        "PORT": str(op_port),
        "ISSUER": issuer,
        "CLIENT_ID": "studio",
        "CLIENT_SECRET": "studio-test-secret",
        "REDIRECT_URI": f"{base}/oidc/callback/",
        "ACCOUNTS": json.dumps(ACCOUNTS),
    }
    op = subprocess.Popen(
        [str(node), str(script)], cwd=PROVIDER_DIR, env=op_env, stdout=op_log.open("w"), stderr=subprocess.STDOUT
    )
    web = None
    try:
        _wait_until(lambda: _answers(f"{issuer}/.well-known/openid-configuration"), 60, "oidc-provider", op, op_log)
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=5) as response:  # noqa: S310
            discovery = json.loads(response.read())
        web_log = tmp_path / "daphne.log"
        web_env = {
            **_test_env(),
            "OIDC_RP_CLIENT_ID": "studio",
            "OIDC_RP_CLIENT_SECRET": "studio-test-secret",
            "OIDC_OP_AUTHORIZATION_ENDPOINT": discovery["authorization_endpoint"],
            "OIDC_OP_TOKEN_ENDPOINT": discovery["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": discovery["userinfo_endpoint"],
            "OIDC_OP_JWKS_ENDPOINT": discovery["jwks_uri"],
            "OIDC_PROVIDER_NAME": "Test IdP",
        }
        web = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "studio.asgi:application"],
            cwd=ROOT,
            env=web_env,
            stdout=web_log.open("w"),
            stderr=subprocess.STDOUT,
        )

        def web_ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", web_port), timeout=0.5):
                    return True
            except OSError:
                return False

        _wait_until(web_ready, 60, "daphne (SSO)", web, web_log)
        yield {"base": base, "issuer": issuer}
    finally:
        if web is not None:
            stop(web)
        stop(op)


def _sign_in_at_the_provider(page: Any, login: str) -> None:
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any-password")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]:has-text('Continue')")  # the consent page
    page.click("button[type=submit]:has-text('Continue')")


def test_sign_in_through_a_real_openid_provider_maps_the_user_by_email(browser, sso_server):
    base = sso_server["base"]
    ada = UserFactory(username="ada", email="ada@example.com")
    UserFactory(username="alice", email="alice@example.com")
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()

    page.goto(f"{base}/login/")
    button = page.locator("a:has-text('Sign in with Test IdP')")
    assert button.count() == 1
    screenshot(page, "sso-login")
    button.click()
    page.wait_for_url(f"{sso_server['issuer']}/**")
    _sign_in_at_the_provider(page, "ada-sso")
    page.wait_for_url(f"{base}/")
    assert "ada" in page.inner_text("header")
    event = AuditEvent.objects.get(verb="user.sso_login")
    assert event.actor == ada and event.data == {"email": "ada@example.com", "sub": "ada-sso"}

    # An e-mail that matches no account is refused (accounts are not created unless OIDC_CREATE_USER).
    other = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    other.goto(f"{base}/oidc/authenticate/")
    _sign_in_at_the_provider(other, "stranger")
    other.wait_for_url(f"{base}/login/?sso=failed")
    assert "matches no active Studio account" in other.inner_text("main")
    screenshot(other, "sso-refused")
    assert not AuditEvent.objects.filter(verb="user.sso_create").exists()

    # Local accounts keep working next to SSO.
    local = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(local, base, "alice")
    assert local.url == f"{base}/" and "alice" in local.inner_text("header")
