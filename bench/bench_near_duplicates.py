"""How far apart copies are, and how far apart distinct images are: the numbers behind
``automl.quality``'s near-duplicate thresholds.

Takes N Fashion-MNIST test images, makes an altered copy of each (JPEG at quality 60, a
one-pixel shift, resized to 80 % and back, recoloured +15 % brightness, faint noise), and
prints the distribution of (a) the phash distance and (b) the pixel distance between each
image and its copy, against distinct images that phash alone would pair.

    .venv/bin/python bench/bench_near_duplicates.py [--images 3000]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from automl.data import read_idx
from automl.quality._duplicates import near_pairs, pixel_distance
from automl.quality._duplicates import phash_of as phash

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def altered(image: np.ndarray, how: str, rng: np.random.Generator) -> np.ndarray:
    picture = Image.fromarray(image)
    if how == "jpeg q60":
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=60)
        return np.asarray(Image.open(buffer).convert("L"))
    if how == "shift 1 px":
        return np.roll(image, 1, axis=1)
    if how == "resize 80%":
        side = image.shape[0]
        small = picture.resize((int(side * 0.8),) * 2, Image.Resampling.BILINEAR)
        return np.asarray(small.resize((side, side), Image.Resampling.BILINEAR))
    if how == "brightness +15%":
        return np.asarray(ImageEnhance.Brightness(picture).enhance(1.15))
    if how == "noise sd 4":
        return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    raise ValueError(how)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = read_idx(FASHION)[: args.images]
    hashes = np.array([phash(x[..., None]) for x in images], dtype=np.uint64)
    print(f"{len(images)} Fashion-MNIST test images")
    print(f"{'alteration':<18} phash bits p50/p95/max   pixel distance p50/p95/max")
    for how in ("jpeg q60", "shift 1 px", "resize 80%", "brightness +15%", "noise sd 4"):
        copies = [altered(x, how, rng) for x in images]
        bits = [
            int(np.bitwise_count(h ^ np.uint64(phash(c[..., None]))))
            for h, c in zip(hashes, copies)
        ]
        pixels = [pixel_distance(x[..., None], c[..., None]) for x, c in zip(images, copies)]
        print(
            f"{how:<18} {np.percentile(bits, 50):4.0f} {np.percentile(bits, 95):4.0f} "
            f"{max(bits):4d}             {np.percentile(pixels, 50):.3f} "
            f"{np.percentile(pixels, 95):.3f} {max(pixels):.3f}"
        )
    pairs = near_pairs(hashes, 10)
    for bits in (0, 2, 4, 6, 8, 10):
        chosen = pairs[pairs[:, 2] <= bits]
        distances = np.array(
            [pixel_distance(images[i][..., None], images[j][..., None]) for i, j, _ in chosen]
        )
        low = np.percentile(distances, [1, 5, 50]) if len(distances) else [np.nan] * 3
        print(
            f"distinct images within {bits:2d} phash bits: {len(chosen):6d} pairs; pixel distance "
            f"p1 {low[0]:.3f} p5 {low[1]:.3f} p50 {low[2]:.3f}"
        )


if __name__ == "__main__":
    main()
