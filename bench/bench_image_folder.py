"""Your own images vs the IDX path: Fashion-MNIST written out as 70,000 PNG files.

Writes the IDX files as ``<out>/{train,test}/<class>/<n>.png`` (once; the train/test folders fix
the same test split as the IDX path), then times, in fresh processes so nothing is shared:
  - the first scan (list, check headers, decode in parallel into the cache), images per second;
  - the second open (a cache hit: list, stat, map);
  - the IDX path's load, for reference;
with each process's peak resident memory. The 10-minute search on each path is a separate
`make search` run (the command lines are printed at the end).

    .venv/bin/python bench/bench_image_folder.py --out /tmp/fm-png
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

FM_DIR = Path("/usr/share/datasets/fashion-mnist")

STEP = """
import json, resource, sys, time
from pathlib import Path
started = time.perf_counter()
from automl.data import open_task
kind, source, cache = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if kind == "idx":
    splits = open_task("fashion_mnist").load(source)
else:
    splits = open_task("images", source, None, cache, 0.1, 42, progress=False).load(source)
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "images": len(splits.x_train) + len(splits.x_val) + len(splits.x_test),
    "shape": list(splits.input_shape),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def write_pngs(out: Path) -> float:
    from PIL import Image

    from automl.data import get_task

    task = get_task("fashion_mnist")
    raw = task.load_raw(FM_DIR)
    started = time.perf_counter()
    for split, images, labels in (
        ("train", raw.x_train, raw.y_train),
        ("test", raw.x_test, raw.y_test),
    ):
        for name in task.class_names:
            (out / split / name.replace("/", "-")).mkdir(parents=True, exist_ok=True)
        for n, (image, label) in enumerate(zip(images, labels)):
            folder = out / split / task.class_names[label].replace("/", "-")
            Image.fromarray(image).save(folder / f"{n:05d}.png")
    return time.perf_counter() - started


def step(kind: str, source: Path, cache: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", STEP, kind, str(source), str(cache)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/fm-png"))
    args = parser.parse_args()
    if not (args.out / "test").is_dir():
        print(f"writing 70,000 PNGs to {args.out}: {write_pngs(args.out):.0f} s", flush=True)
    cache = args.out.parent / (args.out.name + "-cache")
    shutil.rmtree(cache, ignore_errors=True)
    rows = {
        "first scan (folder)": step("images", args.out, cache),
        "second open (folder, cache hit)": step("images", args.out, cache),
        "IDX files": step("idx", FM_DIR, cache),
    }
    for name, row in rows.items():
        rate = row["images"] / row["seconds"]
        print(
            f"{name:32s} {row['seconds']:7.1f} s  {rate:8.0f} img/s  shape {row['shape']}  "
            f"peak RSS {row['peak_rss_mb']:.0f} MB (decode workers {row['children_peak_rss_mb']:.0f} MB)"
        )
    print(
        "\n10-minute searches, one after the other:\n"
        f"  make search TASK=fashion_mnist DATA_DIR={FM_DIR} STUDY=fm-idx\n"
        f"  make search DATA_DIR={args.out} STUDY=fm-png"
    )


if __name__ == "__main__":
    main()
