"""The dashboard's Data page over Fashion-MNIST's 70,000-image inspection: a study is recorded
for the IDX files, ``automl inspect --no-label-issues`` stores its findings, then AppTest times
the page's first run and its tab and gallery-page switches.

    .venv/bin/python bench/bench_data_page.py [--work /tmp/bench-data-page]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASHION = "/usr/share/datasets/fashion-mnist"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-data-page"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{args.work / 'automl.db'}"
    from storage import TrialStore

    store = TrialStore(url)
    if "fm" not in store.study_names() or store.data_report("fm") is None:
        settings = {"data_dir": FASHION, "artifacts_dir": str(args.work / "artifacts")}
        store.ensure_study("fm", "fashion_mnist", 1, settings)
        subprocess.run(
            [sys.executable, "-m", "automl.cli", "inspect", "--study", "fm", "--storage", url,
             "--no-label-issues"],
            check=True, cwd=args.work,
        )  # fmt: skip
    os.environ["AUTOML_STORAGE"] = url
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("app_pages/data.py")
    started = time.perf_counter()
    app.run()
    first = time.perf_counter() - started
    switches = []
    for tab in ("within", "label", "outlier", "across"):
        started = time.perf_counter()
        app.segmented_control(key="data_tab").set_value(tab).run()
        switches.append(time.perf_counter() - started)
    for page in (2, 50, 90):
        started = time.perf_counter()
        app.number_input(key="data_page_across").set_value(page).run()
        switches.append(time.perf_counter() - started)
    assert not app.exception, app.exception
    print(
        f"Data page, {store.data_report('fm').images:,} images: first run {first:.2f} s; tab and "
        f"page switches median {statistics.median(switches):.3f} s, slowest {max(switches):.3f} s"
    )


if __name__ == "__main__":
    main()
