"""``automl inspect`` measured, as a user runs it (the commands, in a scratch folder):

1. the duplicate scan over Fashion-MNIST's 70,000 images (``--no-label-issues``): time, peak
   memory, copies across its own train and test splits;
2. a Fashion-MNIST folder with planted problems (4,000 images; 2 % of the training labels
   flipped, 30 training images re-encoded as JPEG into test/): a timed search, inspect, the
   label-error ranking's precision at the flip count and recall, the copies found, the
   suggested fixes, then for each of ``--repeats`` seeds a search on the data as it is and one
   on the fixed data with the same budget, both scored on the same fixed test split.

    .venv/bin/python bench/bench_inspect.py [--budget 120] [--repeats 3] [--work /tmp/bench-inspect]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from automl.data import read_idx

FASHION = Path("/usr/share/datasets/fashion-mnist")
NAMES = [
    "T-shirt",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Boot",
]
AUTOML = [sys.executable, "-m", "automl.cli"]


def automl(*args: str, cwd: Path) -> tuple[str, float, float]:
    """Run one command; (stdout + stderr, seconds, peak resident MB of the process tree)."""
    started = time.monotonic()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "peak_kb=%M", *AUTOML, *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"automl {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    peak = int(re.findall(r"peak_kb=(\d+)", result.stderr)[-1]) / 1024
    return result.stdout + result.stderr, seconds, peak


def planted_folder(root: Path, images: int = 4000, test: int = 600, flip_share: float = 0.02):
    x = read_idx(FASHION / "train-images-idx3-ubyte.gz")
    y = read_idx(FASHION / "train-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(x), images, replace=False)
    train, held = chosen[: images - test], chosen[images - test :]
    flips = set(rng.choice(len(train), round(flip_share * len(train)), replace=False).tolist())
    planted: dict[str, list[str]] = {"flips": [], "copies": []}
    for k, i in enumerate(train):
        label = int(y[i]) if k not in flips else (int(y[i]) + 1 + int(rng.integers(0, 9))) % 10
        path = root / "train" / NAMES[label] / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i]).save(path)
        if k in flips:
            planted["flips"].append(path.relative_to(root).as_posix())
    for i in held:
        path = root / "test" / NAMES[int(y[i])] / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i]).save(path)
    for i in train[:30]:
        path = root / "test" / NAMES[int(y[i])] / f"copy-{i}.jpg"
        Image.fromarray(x[i]).save(path, quality=90)
        planted["copies"].append(path.relative_to(root).as_posix())
    return planted


def accuracy_line(output: str) -> float:
    return float(re.findall(r"test accuracy (\d\.\d+)", output)[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-inspect"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    work = args.work

    output, seconds, peak = automl(
        "inspect", "--task", "fashion_mnist", "--data-dir", str(FASHION), "--no-label-issues",
        "--report", "fm.json", cwd=work,
    )  # fmt: skip
    report = json.loads((work / "fm.json").read_text())
    print(
        f"Fashion-MNIST 70,000 images: {report['counts']['exact']} exact groups, "
        f"{report['counts']['near']} near pairs ({report['across_splits']['near']} across "
        f"splits; {report['leakage']['with_near_copy_in_train']} test images with a copy in "
        f"train); scan {report['seconds']:.0f} s, command {seconds:.0f} s, peak {peak:.0f} MB"
    )

    planted = planted_folder(work / "clothes")
    budget = f"{args.budget:g}"
    search = ["--timeout", budget, "--backbones", "scratch"]
    automl("search", "--data-dir", "clothes", "--study", "before", *search, cwd=work)
    output, seconds, _ = automl(
        "inspect", "--study", "before", "--report", "issues.json", "--suggest", "fixes.csv",
        "--timeout", budget, cwd=work,
    )  # fmt: skip
    report = json.loads((work / "issues.json").read_text())
    flips, copies = set(planted["flips"]), set(planted["copies"])
    ranked = [issue["path"] for issue in report["label_issues"]]
    found_copies = {p for d in report["duplicates"] for p in d["paths"]} & copies
    print(
        f"planted set: {len(flips)} flips, {len(copies)} copies; inspect {seconds:.0f} s; "
        f"label issues {len(ranked)}: precision at {len(flips)} "
        f"{len(set(ranked[: len(flips)]) & flips) / len(flips):.3f}, recall "
        f"{len(set(ranked) & flips) / len(flips):.3f}; copies found {len(found_copies)}/"
        f"{len(copies)}; fold accuracy {report['label_model']['fold_accuracy']}"
    )
    fixes = (work / "fixes.csv").read_text().splitlines()[1:]
    relabeled = {row.split(",")[0] for row in fixes if ",relabel," in row}
    print(
        f"suggested fixes: {len(fixes)} rows, {len(relabeled)} relabels "
        f"({len(relabeled & flips) / max(1, len(relabeled)):.3f} of them planted flips)"
    )
    before, after = [], []
    for seed in range(1, args.repeats + 1):
        if seed > 1:
            automl(
                "search", "--data-dir", "clothes", "--study", f"before-{seed}", "--seed",
                str(seed), *search, cwd=work,
            )  # fmt: skip
        study = "before" if seed == 1 else f"before-{seed}"
        output, _, _ = automl("evaluate", "--study", study, "--overrides", "fixes.csv", cwd=work)
        before.append(accuracy_line(output))
        automl(
            "search", "--data-dir", "clothes", "--study", f"after-{seed}", "--seed", str(seed),
            "--overrides", "fixes.csv", *search, cwd=work,
        )  # fmt: skip
        output, _, _ = automl("evaluate", "--study", f"after-{seed}", cwd=work)
        after.append(accuracy_line(output))
        print(f"seed {seed}: before the fixes {before[-1]:.4f}, after {after[-1]:.4f}")
    print(
        f"test accuracy on the fixed test split (copies excluded), {budget} s searches, "
        f"{args.repeats} seeds: before the fixes median {np.median(before):.4f}, after "
        f"{np.median(after):.4f}"
    )


if __name__ == "__main__":
    main()
