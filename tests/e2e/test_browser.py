"""The dashboard in a real browser: Debian's Chromium driven by Playwright, never downloaded."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from storage import PredictionRecord, TrialStore
from tests.conftest import copy_study

from .conftest import assert_loads_and_predicts

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("AUTOML_TEST_OUTPUT", ROOT / "test-output")) / "browser"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("Debian's chromium is not installed")


@contextmanager
def _streamlit(url: str, tmp_path: Path) -> Iterator[str]:
    """``streamlit run`` of the dashboard on a free port, over the store at ``url``."""
    port = _free_port()
    env = dict(os.environ, AUTOML_STORAGE=url, PYTHONUNBUFFERED="1")
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture
def dashboard(digits_study, tmp_path: Path):
    _require_chromium()
    config = digits_study
    url = copy_study(config, tmp_path)
    with _streamlit(url, tmp_path) as base:
        yield base, url, config.name


@pytest.fixture
def big_dashboard(tmp_path: Path):
    """The dashboard over a generated study of 3,000 trials (the benchmark's generator)."""
    _require_chromium()
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_dashboard import build_study

    url = f"sqlite:///{tmp_path / 'big.db'}"
    build_study(url, "big", n_trials=3000, n_epochs=3, seed=3)
    with _streamlit(url, tmp_path) as base:
        yield base


def _wait_idle(page) -> None:
    """Streamlit shows a running indicator while a script runs; wait until it is gone."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )
    page.wait_for_timeout(300)


def test_browse_compare_promote_export(dashboard, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, url, study = dashboard
    store = TrialStore(url)
    completed = [t.number for t in store.trials(study) if t.state.value == "COMPLETE"]
    assert len(completed) >= 2
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(base)
        expect(page.get_by_role("heading", name="Studies")).to_be_visible(timeout=60_000)
        _wait_idle(page)
        expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
        expect(page.locator("td", has_text=study).first).to_be_attached()  # the grid is a canvas
        page.screenshot(path=str(OUTPUT / "1-studies.png"), full_page=True)

        # Trials: tick two rows in the grid's row-selection column.
        page.get_by_role("link", name="Trials").click()
        expect(page.get_by_role("heading", name="Trials")).to_be_visible(timeout=30_000)
        _wait_idle(page)
        expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
        for row in (0, 1):
            _tick_row(page, row)
        expect(page.get_by_text("Selected trials")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(OUTPUT / "2-trials.png"), full_page=True)

        # Compare: the two selected trials arrive as two curves.
        _compare_chart(page)
        page.screenshot(path=str(OUTPUT / "3-compare.png"), full_page=True)

        page.get_by_role("link", name="Analysis").click()
        expect(page.get_by_role("heading", name="Analysis")).to_be_visible(timeout=30_000)
        _wait_idle(page)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(OUTPUT / "4-analysis.png"), full_page=True)

        # Trial & champion: promote the best trial, export it as .keras, download it.
        page.get_by_role("link", name="Trial & champion").click()
        expect(page.get_by_role("heading", name="Trial detail & champion")).to_be_visible(
            timeout=30_000
        )
        _wait_idle(page)
        best = store.best_trial(study, with_artifact=True)
        page.get_by_role("button", name=f"Promote trial {best.number} to champion").click()
        expect(page.get_by_text(f"Trial {best.number} is now the champion.")).to_be_visible(
            timeout=120_000
        )
        assert store.champion(study).number == best.number

        page.get_by_role("button", name="Export and verify").click()
        download_button = page.get_by_test_id("stDownloadButton").get_by_role("button")
        expect(download_button).to_be_visible(timeout=180_000)
        with page.expect_download(timeout=60_000) as info:
            download_button.click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        page.screenshot(path=str(OUTPUT / "5-champion.png"), full_page=True)

        # Monitoring: the champion served 300 answers, all one class; its test split (the
        # promotion evaluated it) has all ten: the drift banner.
        now = datetime.now(timezone.utc)
        store.record_predictions(
            [
                PredictionRecord(study, "ab" * 32, f"r{i}", "/predict", 200, 4.0, now, "3",
                                 0.9, study, best.number)
                for i in range(300)
            ]
        )  # fmt: skip
        page.get_by_role("link", name="Monitoring").click()
        expect(page.get_by_role("heading", name="Monitoring")).to_be_visible(timeout=30_000)
        _wait_idle(page)
        expect(page.get_by_text("Drift:")).to_be_visible(timeout=30_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(OUTPUT / "6-monitoring.png"), full_page=True)
        browser.close()

    assert target.suffix == ".keras"
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    recorded = store.exports(study)[0]
    assert recorded.format == "keras" and recorded.sha256 == digest
    assert recorded.trial_number == best.number and recorded.size_bytes == target.stat().st_size
    assert_loads_and_predicts(target)


def _compare_chart(page):
    """Open Compare from the sidebar; its chart, once it draws two curves or more."""
    from playwright.sync_api import expect

    page.get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", name="Compare trials")).to_be_visible(timeout=30_000)
    _wait_idle(page)
    chart = page.locator(".js-plotly-plot").first
    expect(chart).to_be_visible(timeout=30_000)
    assert chart.locator("g.trace.scatter").count() >= 2
    return chart


def _tick_row(page, row: int) -> None:
    """Click the selection box of a grid row (the grid is a canvas: by position)."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    row_height = 35
    page.mouse.click(box["x"] + 18, box["y"] + row_height * (row + 1) + row_height / 2)
    _wait_idle(page)


def test_a_study_of_thousands_of_trials_pages_and_compares(big_dashboard) -> None:
    from playwright.sync_api import expect, sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{big_dashboard}/trials")
        expect(page.get_by_role("heading", name="Trials")).to_be_visible(timeout=60_000)
        _wait_idle(page)
        expect(page.get_by_text("Trials 1–50 of 3,000 matching")).to_be_visible(timeout=30_000)
        _tick_row(page, 0)
        expect(page.get_by_text("Selected trials 0:")).to_be_visible(timeout=30_000)

        # Page 2 of 60, read from the database; the pick on page 1 stays.
        page_box = page.get_by_label("Page (of 60)")
        page_box.fill("2")
        page_box.press("Enter")
        _wait_idle(page)
        expect(page.get_by_text("Trials 51–100 of 3,000 matching")).to_be_visible(timeout=30_000)
        _tick_row(page, 2)
        expect(page.get_by_text("Selected trials 0, 52:")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(OUTPUT / "big-1-trials-page-2.png"), full_page=True)

        chart = _compare_chart(page)
        expect(chart.get_by_text("trial 52", exact=False).first).to_be_attached()
        page.screenshot(path=str(OUTPUT / "big-2-compare.png"), full_page=True)

        # Any trial by number, though only the best and the latest are listed.
        page.get_by_role("link", name="Trial & champion").click()
        expect(page.get_by_role("heading", name="Trial detail & champion")).to_be_visible(
            timeout=30_000
        )
        _wait_idle(page)
        picker = page.get_by_test_id("stSelectbox").filter(has_text="Trial").first
        picker.click()
        page.keyboard.type("1234")
        page.keyboard.press("Enter")
        _wait_idle(page)
        page.screenshot(path=str(OUTPUT / "big-3-trial.png"), full_page=True)
        expect(page.get_by_role("combobox", name="Trial")).to_have_value("1234")
        expect(page.get_by_text("This trial kept no saved model")).to_be_visible(timeout=30_000)
        browser.close()
