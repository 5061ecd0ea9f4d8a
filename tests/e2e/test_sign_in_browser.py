"""Sign-in end to end (issue 15): Debian's chromium, `streamlit run` with st.login, and a real OpenID Connect
provider (oidc-provider-mock) on loopback. Anonymous visitors see only the sign-in page; an agent logs a
problem under their own name; a viewer is refused; an admin grants a role."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.serving import ARGS, CHROMIUM, app_env, backlog, serve

pytestmark = pytest.mark.e2e

PEOPLE = {
    "ada@example.com": "Ada Admin",
    "ana@example.com": "Ana Agent",
    "vera@example.com": "Vera Viewer",
}


@pytest.fixture
def signed_in_app(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    provider_port, app_port = free_port(), free_port()
    env = app_env(
        tmp_path / "data",
        BACKLOG_AUTH="oidc",
        BACKLOG_ADMINS="ada@example.com",
        AUTHLIB_INSECURE_TRANSPORT="1",  # the test provider speaks plain http on loopback
    )
    granted = backlog(env, "users", "grant", "vera@example.com", "viewer", timeout=120)
    assert granted.returncode == 0, granted.stderr
    provider = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--port", str(provider_port)]
        + [
            arg
            for email, name in PEOPLE.items()
            for arg in ("--user-claims", json.dumps({"sub": email, "email": email, "name": name}))
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        'cookie_secret = "e2e-only-cookie-secret-0123456789abcdef"\n'
        'client_id = "improvement-backlog"\n'
        'client_secret = "e2e-only-client-secret"\n'
        f'server_metadata_url = "http://127.0.0.1:{provider_port}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    try:
        with serve(env, flags=["--secrets.files", str(secrets)], port=app_port, wait_for=[provider_port]) as (url, _):
            yield url, env
    finally:
        provider.terminate()
        provider.wait(timeout=30)


def _sign_in(browser, url: str, email: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=email).click()  # the provider's form: one button per known person
    expect(page.get_by_text(f"Signed in as {PEOPLE[email]}")).to_be_visible(timeout=120_000)
    return page


def test_sign_in_roles_and_a_real_name_on_every_change(
    signed_in_app: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, env = signed_in_app
    shots = Path(os.environ.get("E2E_SCREENSHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        anonymous = browser.new_page(viewport={"width": 1300, "height": 900})
        anonymous.goto(url, wait_until="networkidle")
        expect(anonymous.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
        anonymous.goto(f"{url}/backlog", wait_until="networkidle")
        expect(anonymous.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
        assert anonymous.get_by_text("What happened?").count() == 0 and anonymous.get_by_text("Database").count() == 0
        anonymous.screenshot(path=str(shots / "sign-in.png"), full_page=True)

        agent = _sign_in(browser, url, "ana@example.com")
        agent.get_by_label("What happened?").fill("Customers cannot change a delivery address after ordering")
        agent.get_by_role("button", name="Log and classify").click()
        expect(agent.get_by_text("This calls for")).to_be_visible(timeout=300_000)  # the first loads the models
        agent.screenshot(path=str(shots / "signed-in-agent.png"), full_page=True)
        items = json.loads(backlog(env, "list", "--json").stdout)
        shown = json.loads(backlog(env, "show", str(items[0]["id"]), "--json").stdout)
        assert shown["history"][0]["changed_by"] == "Ana Agent <ana@example.com>"

        viewer = _sign_in(browser, url, "vera@example.com")
        viewer.get_by_label("What happened?").fill("The returns label prints on two pages")
        viewer.get_by_role("button", name="Log and classify").click()
        expect(viewer.get_by_text("may not log problems")).to_be_visible(timeout=60_000)
        assert len(json.loads(backlog(env, "list", "--json").stdout)) == 1

        admin = _sign_in(browser, url, "ada@example.com")
        admin.goto(f"{url}/people", wait_until="networkidle")
        admin.get_by_label("E-mail").fill("vera@example.com")
        admin.get_by_role("button", name="Save role").click()  # the default choice in the picker is agent
        # (an invisible word joiner sits before the @: shown text never becomes a mailto link)
        expect(admin.get_by_text(re.compile(r"vera\W?@example\.com is now agent"))).to_be_visible(timeout=60_000)
        admin.screenshot(path=str(shots / "people.png"), full_page=True)
        roles = {u["email"]: u["role"] for u in json.loads(backlog(env, "users", "list", "--json").stdout)}
        assert roles == {"ada@example.com": "admin", "ana@example.com": "agent", "vera@example.com": "agent"}
        for page in (anonymous, agent, viewer, admin):
            assert page.locator("[data-testid='stException']").count() == 0
        browser.close()
