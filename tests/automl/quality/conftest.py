"""A small folder of smooth, distinct images with planted copies across its splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ("circle", "square", "stripe")


def smooth_image(seed: int, label: int, side: int = 48) -> Image.Image:
    """A distinct picture per seed: a random low-frequency colour field with the class's
    shape drawn on it (a model can learn the classes; no two seeds look alike)."""
    rng = np.random.default_rng(seed)
    field = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize(
        (side, side), Image.Resampling.BICUBIC
    )
    pixels = np.asarray(field).astype(np.int16)
    yy, xx = np.mgrid[:side, :side]
    cx, cy = rng.integers(side // 3, 2 * side // 3, 2)
    if label == 0:
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < (side // 5) ** 2
    elif label == 1:
        mask = (abs(xx - cx) < side // 6) & (abs(yy - cy) < side // 6)
    else:
        mask = (xx // 6) % 2 == 0
    pixels[mask] = 255 - pixels[mask]
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


@pytest.fixture
def planted(tmp_path: Path) -> dict:
    """train/val/test folders of 3 classes, and the copies planted in them:
    an exact file copy from train to test, a JPEG re-encoding from train to validation, a
    90 % resized copy from train to test, and an exact copy within train."""
    root = tmp_path / "shapes"
    seed = 0
    counts = {"train": 14, "val": 4, "test": 4}
    for split, count in counts.items():
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                smooth_image(seed, label).save(folder / f"{i}.png")
                seed += 1
    shutil.copy(root / "train/circle/0.png", root / "test/circle/copy-of-train-0.png")
    Image.open(root / "train/square/1.png").save(root / "val/square/reencoded.jpg", quality=80)
    Image.open(root / "train/stripe/2.png").resize((43, 43), Image.Resampling.BILINEAR).save(
        root / "test/stripe/resized.png"
    )
    shutil.copy(root / "train/square/3.png", root / "train/square/twin.png")
    return {
        "root": root,
        "exact_across": {"train/circle/0.png", "test/circle/copy-of-train-0.png"},
        "exact_within": {"train/square/3.png", "train/square/twin.png"},
        "near": [
            {"train/square/1.png", "val/square/reencoded.jpg"},
            {"train/stripe/2.png", "test/stripe/resized.png"},
        ],
    }
