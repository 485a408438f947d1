"""Cheap checks of each image and of the classes: near-constant images, images much darker or
brighter than the rest, images far from the rest of their class, and the count of every class
in every split.

"Far" is a robust z-score (distance from the median in median absolute deviations): of an
image's mean brightness among all images, and of its distance to its class's mean 8x8
greyscale thumbnail among its class. Robust, so that a few odd images cannot hide each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl.quality._view import SPLIT_NAMES, InspectedData

#: Pixels (0-255) of standard deviation below which an image is taken as blank.
BLANK_STD = 2.0
#: Robust z-scores beyond which an image is reported as odd.
OUTLIER_Z = 6.0


@dataclass(frozen=True)
class Outlier:
    row: int
    score: float
    why: str


def _robust_z(values: np.ndarray) -> np.ndarray:
    median = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - median))
    return (values - median) / max(float(spread), 1e-6)


def image_statistics(view: InspectedData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each image's mean and standard deviation of pixels, and its 8x8 greyscale thumbnail."""
    from PIL import Image

    means = np.empty(view.count, dtype=np.float32)
    stds = np.empty(view.count, dtype=np.float32)
    thumbs = np.empty((view.count, 64), dtype=np.float32)
    for start, batch in view.batches():
        flat = batch.reshape(len(batch), -1).astype(np.float32)
        means[start : start + len(batch)] = flat.mean(axis=1)
        stds[start : start + len(batch)] = flat.std(axis=1)
        for i, image in enumerate(batch):
            pixels = image[..., 0] if image.shape[-1] == 1 else image
            grey = Image.fromarray(pixels).convert("L").resize((8, 8), Image.Resampling.BOX)
            thumbs[start + i] = np.asarray(grey, dtype=np.float32).ravel()
    return means, stds, thumbs


def find_outliers(view: InspectedData) -> list[Outlier]:
    """Odd images, oddest first (blank ones first of all)."""
    means, stds, thumbs = image_statistics(view)
    found: dict[int, Outlier] = {}
    for row in np.flatnonzero(stds < BLANK_STD):
        found[int(row)] = Outlier(
            int(row), 1e6 - float(stds[row]), f"blank (pixel deviation {stds[row]:.1f})"
        )
    brightness = _robust_z(means)
    median = float(np.median(means))
    for row in np.flatnonzero(np.abs(brightness) > OUTLIER_Z):
        if int(row) not in found:
            side = "darker" if brightness[row] < 0 else "brighter"
            found[int(row)] = Outlier(
                int(row),
                float(abs(brightness[row])),
                f"much {side} than the others (mean {means[row]:.0f}, median {median:.0f})",
            )
    for label in np.unique(view.labels):
        members = np.flatnonzero(view.labels == label)
        if len(members) < 10:  # too few to say what the class looks like
            continue
        centre = np.median(thumbs[members], axis=0)
        distance = np.sqrt(((thumbs[members] - centre) ** 2).mean(axis=1))
        z = _robust_z(distance)
        for k in np.flatnonzero(z > OUTLIER_Z):
            row = int(members[k])
            if row not in found:
                found[row] = Outlier(
                    row,
                    float(z[k]),
                    f"unlike the rest of {view.class_names[label]!r} (z {z[k]:.1f})",
                )
    return sorted(found.values(), key=lambda o: -o.score)


def class_counts(view: InspectedData) -> dict[str, dict[str, int]]:
    """{class: {split: images}}."""
    counts = {
        name: {
            split: int(((view.labels == label) & (view.splits == s)).sum())
            for s, split in enumerate(SPLIT_NAMES)
        }
        for label, name in enumerate(view.class_names)
    }
    return counts


def imbalance(view: InspectedData) -> dict[str, object]:
    """The largest and smallest class, and how many times the one outnumbers the other."""
    counts = np.bincount(view.labels, minlength=len(view.class_names))
    largest, smallest = int(counts.argmax()), int(counts.argmin())
    return {
        "largest": view.class_names[largest],
        "smallest": view.class_names[smallest],
        "ratio": round(float(counts[largest]) / max(1, int(counts[smallest])), 2),
    }


__all__ = ["BLANK_STD", "OUTLIER_Z", "Outlier", "class_counts", "find_outliers", "imbalance"]
