"""Searches with and without pretrained backbones, as a user runs them, on the same data.

Cases:
  clipart    Debian's openclipart-png (`apt-get install openclipart-png`): 1,695 drawings in six
             class folders (animals, food, people, plants, tools, transportation), copied into a
             folder of class folders; real, varied, and in no test.
  fashion_mnist / digits   the built-in tasks, to show where CNNs from scratch still win.
For each case and budget it runs `automl search` twice, `--backbones scratch` and the default
(scratch and efficientnet_lite0), in fresh folders, and prints the held-out test accuracy, the
candidates screened, what won and how long the backbone's features took.

    .venv/bin/python bench/bench_backbones.py --cases clipart --budgets 300 600
    .venv/bin/python bench/bench_backbones.py --feature-pace
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLIPART = Path("/usr/share/openclipart/png")
CLIPART_CLASSES = ("animals", "food", "people", "plants", "tools", "transportation")
FM_DIR = Path("/usr/share/datasets/fashion-mnist")
SETTINGS = {"scratch only": "scratch", "with backbone": "scratch,efficientnet_lite0"}


def clipart_folder(root: Path) -> Path:
    """Every PNG of the six classes, copied (the loader skips links that leave the folder)."""
    folder = root / "clipart"
    for name in CLIPART_CLASSES:
        (folder / name).mkdir(parents=True)
        for i, path in enumerate(sorted((CLIPART / name).rglob("*.png"))):
            shutil.copyfile(path, folder / name / f"{i:04d}_{path.name}")
    return folder


def search(case: str, data: Path | None, budget: int, backbones: str, work: Path) -> dict:
    work.mkdir(parents=True)
    command = [sys.executable, "-m", "automl.cli", "search", "--timeout", str(budget),
               "--backbones", backbones, "--storage", f"sqlite:///{work / 'automl.db'}"]  # fmt: skip
    if case == "clipart":
        command += ["--data", str(data)]
    else:
        command += ["--task", case] + (["--data-dir", str(data)] if data else [])
    started = time.monotonic()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    seconds = time.monotonic() - started
    out = done.stdout + done.stderr
    (work / "search.log").write_text(out)
    if done.returncode != 0:
        raise SystemExit(f"{case} {backbones}: exit {done.returncode}\n{out[-2000:]}")
    test = re.search(r"test accuracy (\d\.\d+)", out)
    screened = re.search(r": (\d+) complete, (\d+) pruned", out)
    features = re.search(r"backbone efficientnet_lite0: (\d+) images in ([\d.]+) s", out)
    resolution = re.search(r"features of \d+ images at (\d+) px", out)
    from storage import TrialStore

    store = TrialStore(f"sqlite:///{work / 'automl.db'}")
    (name,) = store.study_names()
    best = store.best_trial(name, with_artifact=True)
    store.close()
    return {
        "case": case,
        "budget_s": budget,
        "backbones": backbones,
        "test_accuracy": float(test.group(1)) if test else None,
        "trials": int(screened.group(1)) + int(screened.group(2)) if screened else None,
        "winner": (best.params or {}).get("backbone", "scratch") if best else None,
        "winner_val": best.value if best else None,
        "features_s": float(features.group(2)) if features else None,
        "features_images": int(features.group(1)) if features else None,
        "resolution": int(resolution.group(1)) if resolution else None,
        "seconds": round(seconds, 1),
        "no_time": "no time for backbone" in out,
    }


def feature_pace(images: int = 1024, side: int = 64) -> None:
    """Seconds to compute EfficientNet-Lite0's features of ``images`` images cached at
    ``side`` px, per resolution (what a search pays once per study and data set)."""
    import numpy as np

    from automl.backbones import feature_extractor, get_backbone
    from automl.data import evaluation_dataset

    backbone = get_backbone("efficientnet_lite0")
    state = backbone.verified_state()
    x = np.random.default_rng(0).integers(0, 256, (images, side, side, 3), dtype=np.uint8)
    print(f"{'resolution':>10}{'seconds':>9}{'images/s':>10}")
    for resolution in (96, 128, 160, 224):
        extractor = feature_extractor(backbone, state, x.shape[1:], resolution)
        extractor.predict(evaluation_dataset(x[:64], scale=1 / 255), verbose=0)  # traced once
        started = time.perf_counter()
        extractor.predict(evaluation_dataset(x, scale=1 / 255), verbose=0)
        seconds = time.perf_counter() - started
        print(f"{resolution:>10}{seconds:>9.1f}{images / seconds:>10.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--feature-pace", action="store_true", help="only time the features per resolution"
    )
    parser.add_argument("--cases", nargs="+", default=["clipart"])
    parser.add_argument("--budgets", nargs="+", type=int, default=[300, 600])
    parser.add_argument("--out", type=Path, default=Path("bench_backbones.json"))
    args = parser.parse_args()
    if args.feature_pace:
        feature_pace()
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-backbones-") as scratch:
        root = Path(scratch)
        for case in args.cases:
            data = {"clipart": clipart_folder, "fashion_mnist": lambda _: FM_DIR}.get(
                case, lambda _: None
            )(root)
            for budget in args.budgets:
                for label, backbones in SETTINGS.items():
                    row = search(case, data, budget, backbones, root / f"{case}-{budget}-{label}")
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"\n{'case':<14}{'budget':>7}  {'backbones':<28}{'test acc':>9}{'trials':>7}  "
          f"{'winner':<19}{'features':>16}")  # fmt: skip
    for r in rows:
        features = (
            f"{r['features_images']} in {r['features_s']:.0f} s @{r['resolution']}"
            if r["features_s"] is not None
            else ("no time" if r["no_time"] else "-")
        )
        print(
            f"{r['case']:<14}{r['budget_s']:>7}  {r['backbones']:<28}"
            f"{r['test_accuracy'] or float('nan'):>9.4f}{r['trials'] or 0:>7}  "
            f"{r['winner'] or '-':<19}{features:>16}"
        )


if __name__ == "__main__":
    main()
