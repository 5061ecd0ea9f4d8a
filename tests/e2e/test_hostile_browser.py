"""In a real browser: hostile text in every field of an item renders no link and no image (GitHub-flavoured
autolinks included), on a server started with the project's own config (loopback, no error details)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.test_hostile_display import HOSTILE, hostile_fields
from tests.e2e.serving import ARGS, CHROMIUM, app_env, serve

pytestmark = pytest.mark.e2e
SEED = """
import json, sys
from improvement.wiring import make_backend
service = make_backend().backlog()
fields = json.loads(sys.argv[1])
logged = service.log_problem({**fields, "quarter": "2026-Q4"}, actor=fields["title"])
service.update_item(logged.improvement_id, {"owner": fields["title"]}, actor=fields["title"])
"""


def test_hostile_fields_render_no_live_link_or_image(tmp_path: Path) -> None:
    import json

    from playwright.sync_api import sync_playwright

    env = app_env(tmp_path / "data", BACKLOG_LLM="none")
    subprocess.run(
        [sys.executable, "-c", SEED, json.dumps(hostile_fields())], env=env, check=True, timeout=300, cwd=tmp_path
    )
    with serve(env) as (url, _):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"{url}/backlog", wait_until="networkidle")
            page.get_by_text("Root cause:").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            main = page.locator("section.main, [data-testid='stMain']").first
            assert main.get_by_text("Reset your password here").count() >= 1  # the text is there, as text
            links = page.eval_on_selector_all(
                "a[href]",
                # A heading's own anchor (same page) is the app's; any other link on the page came from data.
                "els => els.filter(e => new URL(e.href).origin !== location.origin)"
                ".map(e => e.href + ' | ' + e.textContent)",
            )
            images = page.eval_on_selector_all("img[src*='evil']", "els => els.length")
            scripts = page.eval_on_selector_all(
                "script:not([src])", "els => els.filter(e => e.textContent.includes('alert(1)')).length"
            )
            assert (links, images, scripts) == ([], 0, 0)
            # Into the test's folder (or E2E_SCREENSHOTS_DIR when someone wants to look), never into the checkout.
            shots = Path(os.environ.get("E2E_SCREENSHOTS_DIR", tmp_path))
            page.screenshot(path=str(shots / "hostile-backlog.png"), full_page=False)
            browser.close()
    assert "www.evil.example" in HOSTILE
