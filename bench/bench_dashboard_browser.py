"""The dashboard in a real browser on a big study: page times and the server's memory.

Builds a study as ``bench_dashboard.py`` does, starts the dashboard as a user does
(``automl dashboard``), then opens it in headless Chromium --sessions times, one after the
other, each a new browser session that clicks through every page in the sidebar. A page's
time runs from the click until the app root's script state goes from running back to not
running (the script is done and its output sent). The server's resident memory (the process and its children) is read after
every session: with several sessions' caches held it should stay flat, not grow per session.

    .venv/bin/python bench/bench_dashboard_browser.py --trials 50000 [--storage URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dashboard import build_study

PAGES = ("Trials", "Compare", "Analysis", "Trial & champion", "Studies")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (``automl dashboard`` may run
    Streamlit in a child)."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return total


#: Records, in the page, when the app root's script state next goes from running to done
#: (a MutationObserver sees every change; polling can miss a run shorter than a frame).
WATCH = """() => {
    const root = document.querySelector('[data-testid="stApp"]');
    window.__ran = false; window.__done = null; window.__clicked = performance.now();
    if (!window.__watching) {
        window.__watching = true;
        new MutationObserver(() => {
            const state = root.dataset.testScriptState;
            if (state === 'running') window.__ran = true;
            else if (state === 'notRunning' && window.__ran && window.__done === null)
                window.__done = performance.now();
        }).observe(root, {attributes: true});
    }
}"""


def timed_click(page, link) -> float:
    """Seconds from the click until the page's script has run."""
    page.evaluate(WATCH)
    link.click()
    page.wait_for_function("() => window.__done !== null", timeout=120_000)
    return page.evaluate("() => (window.__done - window.__clicked) / 1000")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument(
        "--storage", help="a database URL (an empty PostgreSQL database); default: a new SQLite"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    url = args.storage or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-browser-')) / 'big.db'}"
    build_study(url, "big", args.trials, args.epochs)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("automl")), "dashboard", "--host", "127.0.0.1",
         "--port", str(port), "--storage", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        print(f"{args.trials} trials; server started: {tree_rss_mb(server.pid):.0f} MB resident")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox", "--disable-dev-shm-usage"],
            )
            for session in range(1, args.sessions + 1):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.goto(base)
                page.wait_for_function(
                    "() => document.querySelector('[data-testid=\"stApp\"]')"
                    "?.dataset.testScriptState === 'notRunning'",
                    timeout=120_000,
                )
                for name in PAGES:
                    link = page.locator('[data-testid="stSidebarNav"] a', has_text=name).first
                    times[name].append(timed_click(page, link))
                context.close()
                print(f"after session {session}: server {tree_rss_mb(server.pid):.0f} MB resident")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    for name, seconds in times.items():
        print(
            f"{name:18s} median {statistics.median(seconds):.2f} s "
            f"(first session {seconds[0]:.2f} s, range {min(seconds):.2f}-{max(seconds):.2f})"
        )


if __name__ == "__main__":
    main()
