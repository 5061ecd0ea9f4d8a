"""One real browser: Debian's chromium driven by Playwright against `streamlit run` on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "BACKLOG_DATA_DIR": str(tmp_path / "data")}
    subprocess.run(
        [sys.executable, "-m", "improvement", "seed-demo", "--count", "300"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "streamlit_app.py"),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_log_a_problem_find_it_and_open_the_review(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("E2E_SCREENSHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server, wait_until="networkidle")
        page.get_by_label("What happened?").fill(
            "Warranty repairs bounce between the retailer, the manufacturer and an engineer for six weeks <b>x</b>"
        )
        page.get_by_role("button", name="Log and classify").click()
        expect(page.get_by_text("This calls for")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("kaikaku").first).to_be_visible()
        page.screenshot(path=str(shots / "log.png"), full_page=True)

        page.goto(f"{server}/backlog", wait_until="networkidle")
        page.get_by_label("Search title and description").fill("Warranty repairs bounce")
        page.keyboard.press("Enter")
        expect(page.get_by_text("1 item(s) match")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(shots / "backlog.png"), full_page=True)

        page.goto(f"{server}/review", wait_until="networkidle")
        expect(page.get_by_text("Quarterly innovation backlog review")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Balance of kaizen, kaikaku and kakushin")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "review.png"), full_page=True)
        for name in ("assistant", "knowledge"):
            page.goto(f"{server}/{name}", wait_until="networkidle")
            page.wait_for_timeout(3000)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert page.locator("[data-testid='stException']").count() == 0
        browser.close()
