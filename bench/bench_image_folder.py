"""Your own images vs the IDX path: Fashion-MNIST written out as 70,000 PNG files.

Writes the IDX files as ``<out>/{train,test}/<class>/<n>.png`` (once; the train/test folders fix
the same test split as the IDX path), then times, in fresh processes so nothing is shared:
  - the first scan (list, check headers, decode in parallel into the cache), images per second;
  - the second open (a cache hit: list, stat, map);
  - the IDX path's load, for reference;
with each process's peak resident memory, and the memory it owns (RssAnon: not the cache's
file pages, which the kernel can drop) after loading and after one pass of the training pipeline. The 10-minute search on each path is a separate
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
kind, source, cache, size = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
if kind == "idx":
    splits = open_task("fashion_mnist").load(source)
else:
    images = {"image_size": size} if size else None
    splits = open_task("images", source, images, cache, 0.1, 42, progress=False).load(source)
seconds = time.perf_counter() - started

def anon_mb():  # memory the process owns (file-backed cache pages are the kernel's to drop)
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(l.split()[1]) for l in status if l.startswith("RssAnon:")) / 1024

loaded_mb = anon_mb()
from automl.data import training_dataset
kwargs = {"scale": splits.pixel_scale} if hasattr(splits, "pixel_scale") else {}
for _ in training_dataset(splits.x_train, splits.y_train, 256, augment=False, seed=0, **kwargs):
    pass
print(json.dumps({
    "seconds": seconds,
    "anon_after_load_mb": loaded_mb,
    "anon_after_epoch_mb": anon_mb(),
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


def step(kind: str, source: Path, cache: Path, size: int = 0) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", STEP, kind, str(source), str(cache), str(size)],
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
        # 5.2x the pixels: what the images cost in memory shows as the difference.
        "first scan, as 64x64": step("images", args.out, cache, 64),
        "second open, as 64x64": step("images", args.out, cache, 64),
    }
    for name, row in rows.items():
        rate = row["images"] / row["seconds"]
        print(
            f"{name:32s} {row['seconds']:7.1f} s  {rate:8.0f} img/s  shape {row['shape']}  "
            f"peak RSS {row['peak_rss_mb']:.0f} MB (decode workers {row['children_peak_rss_mb']:.0f} MB)"
            f"  own memory after loading {row['anon_after_load_mb']:.0f} MB, after one pass of the "
            f"training pipeline {row['anon_after_epoch_mb']:.0f} MB"
        )
    print(
        "\n10-minute searches, one after the other:\n"
        f"  make search TASK=fashion_mnist DATA_DIR={FM_DIR} STUDY=fm-idx\n"
        f"  make search DATA_DIR={args.out} STUDY=fm-png"
    )


if __name__ == "__main__":
    main()
