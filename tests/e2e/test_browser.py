"""One real browser: Debian's chromium driven by Playwright against `streamlit run` on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.serving import ARGS, CHROMIUM, app_env, backlog, serve

pytestmark = pytest.mark.e2e


def _demo_app(tmp_path: Path, **extra_env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The app on 300 demo items."""
    env = app_env(tmp_path / "data", **extra_env)
    seeded = backlog(env, "seed-demo", "--count", "300")
    assert seeded.returncode == 0, seeded.stderr
    with serve(env) as running:
        yield running


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    for url, _ in _demo_app(tmp_path):
        yield url


@pytest.fixture
def server_with_local_model(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    yield from _demo_app(tmp_path, BACKLOG_LLM="local")


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
        page.get_by_label("Search titles and descriptions").fill("Warranty repairs bounce")
        page.keyboard.press("Enter")
        expect(page.get_by_text("1 item(s) match")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(shots / "backlog.png"), full_page=True)

        page.goto(f"{server}/review", wait_until="networkidle")
        expect(page.get_by_text("Quarterly innovation backlog review")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Balance of kaizen, kaikaku and kakushin")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("70 / 20 / 10 is a starting point")).to_be_visible()
        # The downloads sit at the bottom of the page, which a busy machine renders last.
        expect(page.get_by_role("button", name="The meeting report (PDF)")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "review.png"), full_page=True)
        for name in ("assistant", "knowledge"):
            page.goto(f"{server}/{name}", wait_until="networkidle")
            page.wait_for_timeout(3000)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert page.locator("[data-testid='stException']").count() == 0
        browser.close()


def _backlog(tmp_path: Path, *args: str) -> Any:
    env = {**os.environ, "BACKLOG_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "improvement", *args, "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _click_table(page: Any, row: int, *, checkbox: bool) -> None:
    """Click a row of the backlog table (a canvas): its tick box, or its title cell to open it."""
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    x = box["x"] + (18 if checkbox else 160)
    y = box["y"] + 35 + 35 * row + 17  # header row, then 35 px rows
    page.mouse.click(x, y)
    page.wait_for_timeout(1500)


def test_a_working_day_log_merge_unmerge_bulk_change_and_open_from_a_row(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("E2E_SCREENSHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server, wait_until="networkidle")
        # Log a problem, then the same problem again: warned first, logged anyway, then merged and unmerged.
        for attempt in range(2):
            page.get_by_label("What happened?").fill(
                "The parcel card never says which depot is holding the parcel, so customers go to the wrong one"
            )
            page.get_by_role("button", name="Log and classify").click()
            if attempt == 0:
                expect(page.get_by_text("This calls for")).to_be_visible(timeout=400_000)
                expect(page.get_by_label("What happened?")).to_have_value("", timeout=30_000)  # the form cleared
        expect(page.get_by_text("very similar problem was logged")).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Log it anyway").click()
        merge = page.get_by_role("button", name="Merge into #").first
        expect(merge).to_be_visible(timeout=120_000)
        merge.click()
        expect(page.get_by_text("Merge this problem")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Merge", exact=True).click()
        expect(page.get_by_text("every report is kept")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(shots / "log-merged.png"), full_page=True)
        page.get_by_role("button", name="Undo the merge").click()
        expect(page.get_by_text("is on its own again")).to_be_visible(timeout=30_000)
        assert page.locator("[data-testid='stException']").count() == 0

        # Open an item by clicking its row.
        items = _backlog(tmp_path, "list", "--limit", "100")
        page.goto(f"{server}/backlog", wait_until="networkidle")
        expect(page.get_by_text(f"#{items[0]['id']} ").first).to_be_visible(timeout=60_000)
        _click_table(page, 2, checkbox=False)
        expect(page.get_by_role("heading", name=f"#{items[2]['id']} ")).to_be_visible(timeout=30_000)

        # Tick two rows on page 1 and one on page 2, then change them together.
        _click_table(page, 0, checkbox=True)
        _click_table(page, 1, checkbox=True)
        expect(page.get_by_text("2 item(s) selected")).to_be_visible(timeout=30_000)
        pager = page.get_by_label("Page (of")
        pager.fill("2")
        pager.press("Enter")
        page.wait_for_timeout(2000)
        _click_table(page, 0, checkbox=True)
        expect(page.get_by_text("3 item(s) selected")).to_be_visible(timeout=30_000)
        page.get_by_label("Set owner").fill("E2E Owner")
        page.get_by_label("Set owner").press("Enter")
        page.get_by_role("button", name="Apply to 3 item(s)").click()
        page.get_by_role("button", name="Confirm the change").click()
        expect(page.get_by_text("Updated 3 item(s)")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(shots / "backlog-bulk.png"), full_page=True)
        owned = {i["id"] for i in _backlog(tmp_path, "list", "--limit", "1000") if i["owner"] == "E2E Owner"}
        assert owned == {items[0]["id"], items[1]["id"], items[50]["id"]}
        assert page.locator("[data-testid='stException']").count() == 0
        browser.close()


def _model_children(server_pid: int) -> list[int]:
    """The local model servers the app started (children of the Streamlit process)."""
    result = subprocess.run(["pgrep", "-P", str(server_pid), "-f", "assistant.local_server"], capture_output=True)
    return [int(pid) for pid in result.stdout.split()]


def _wait_for_child(server_pid: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = _model_children(server_pid)
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the app never started a local model server")


def _wait_until_asked(pid: int, timeout: float = 180) -> None:
    """Until the model server holds an open connection: the app has sent it the question."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connections = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout
        if f"pid={pid}," in connections:
            return
        time.sleep(0.05)
    raise AssertionError(f"the model server {pid} was never asked")


def test_killing_the_local_model_mid_answer_leaves_every_session_serving(
    server_with_local_model: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, process = server_with_local_model
    shots = Path(os.environ.get("E2E_SCREENSHOTS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        asker = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # another person
        other.goto(f"{url}/backlog", wait_until="networkidle")
        expect(other.get_by_text("item(s) match")).to_be_visible(timeout=60_000)

        asker.goto(f"{url}/assistant", wait_until="networkidle")
        chat = asker.locator("[data-testid='stChatInput'] textarea")
        expect(chat).to_be_visible(timeout=180_000)  # a fresh install first loads the knowledge base and playbook
        chat.fill("How should leaders use customer stories?")
        asker.keyboard.press("Enter")
        child = _wait_for_child(process.pid)
        _wait_until_asked(child)  # the app's request is in: the model reads a ~500-token prompt, then writes
        time.sleep(0.5)  # mid-answer (the prompt alone takes several seconds on 2 cores)
        os.kill(child, signal.SIGKILL)
        expect(asker.get_by_text("is unavailable")).to_be_visible(timeout=90_000)
        expect(asker.get_by_text("Sources", exact=True).last).to_be_visible()  # the retrieval answer stands
        asker.screenshot(path=str(shots / "assistant-model-killed.png"), full_page=True)

        assert process.poll() is None  # the web server lives
        other.reload(wait_until="networkidle")
        expect(other.get_by_text("item(s) match")).to_be_visible(timeout=60_000)
        assert other.locator("[data-testid='stException']").count() == 0

        chat.fill("What is kaizen?")
        asker.keyboard.press("Enter")
        expect(asker.locator("[data-testid='stChatMessage']")).to_have_count(4, timeout=120_000)
        expect(asker.get_by_text("Sources", exact=True)).to_have_count(2, timeout=180_000)
        new_child = _model_children(process.pid)
        assert new_child and new_child[0] != child  # the next question started a fresh model server
        expect(asker.get_by_text("is unavailable")).to_have_count(1)  # only the first answer had the notice
        asker.screenshot(path=str(shots / "assistant-after-restart.png"), full_page=True)
        assert asker.locator("[data-testid='stException']").count() == 0
        browser.close()


def test_a_leader_downloads_the_meeting_pdf_from_the_review(server: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from playwright.sync_api import expect, sync_playwright

    from improvement.domain import quarter_of

    quarter = quarter_of(datetime.now(UTC))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(f"{server}/review", wait_until="networkidle")
        expect(page.get_by_text("70 / 20 / 10 is a starting point")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("Items that would close the gap")).to_be_visible()
        with page.expect_download(timeout=180_000) as download:
            page.get_by_role("button", name="The meeting report (PDF)").click()
        pdf = tmp_path / "review.pdf"
        download.value.save_as(pdf)
        assert download.value.suggested_filename == f"review-{quarter}.pdf"
        assert pdf.read_bytes().startswith(b"%PDF")
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert f"Quarterly innovation backlog review: {quarter}" in text and "starting point" in text
        assert page.locator("[data-testid='stException']").count() == 0
        browser.close()
