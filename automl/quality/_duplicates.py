"""Exact and near-duplicate images, within and across splits.

Exact: the same decoded pixels after the study's preprocessing (a BLAKE2 digest per image).
Near, in two steps: perceptual hashes (``imagehash.phash``: the sign of each of an image's 64
lowest DCT frequencies against their median) pick candidates within ``NEAR_BITS`` bits of each
other, by multi-index hashing (split the hash into ``NEAR_BITS + 1`` chunks: two hashes that
close agree exactly on one chunk at least, so only images sharing a chunk are compared); a
candidate pair is a near copy when the images' standardised 16x16 greyscale signatures lie
within ``NEAR_PIXELS`` of each other. Hashes alone pair many distinct but similar small
images (852,071 pairs within 6 bits in Fashion-MNIST's training split); the signatures tell
those apart. Both thresholds come from ``bench/bench_near_duplicates.py`` (BENCHMARKS.md)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from automl.quality._view import InspectedData

#: Candidates: phashes (64 bits) at most this many bits apart. On 3,000 Fashion-MNIST
#: images, JPEG at quality 60, +15 % brightness and faint noise keep 95 % of copies within 4.
NEAR_BITS = 8
#: Near copies: candidates whose signatures are at most this far apart (root-mean-square of
#: standardised pixels). Measured: 98.5 % of JPEG copies, 99.8 % of recoloured and noisy
#: ones, 40 % of copies shrunk to 80 % and enlarged again; 4 of the 5,937 distinct candidate
#: pairs of those 3,000 images (0.07 %).
NEAR_PIXELS = 0.15
#: Rows compared at once inside one bucket of images sharing a chunk (bounds memory).
BLOCK = 1024
#: Candidate pairs whose signatures are compared at once.
PAIR_BLOCK = 16384


@dataclass(frozen=True)
class DuplicateGroups:
    #: Groups of rows with identical pixels (each sorted, two or more).
    exact: list[np.ndarray]
    #: (row, row, signature distance) near pairs, exact copies left out, most alike first.
    near: list[tuple[int, int, float]]


def exact_groups(view: InspectedData) -> list[np.ndarray]:
    digests = np.empty(view.count, dtype="S16")
    for start, batch in view.batches():
        for i, image in enumerate(batch):
            digests[start + i] = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
    order = np.argsort(digests, kind="stable")
    ordered = digests[order]
    breaks = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    return [np.sort(group) for group in np.split(order, breaks) if len(group) > 1]


_WEIGHTS = np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)


def phash_of(image: np.ndarray) -> int:
    """One uint8 image's (height, width, channels) phash as a 64-bit integer."""
    import imagehash
    from PIL import Image

    pixels = image[..., 0] if image.shape[-1] == 1 else image
    bits = imagehash.phash(Image.fromarray(pixels)).hash.reshape(-1)
    return int(np.bitwise_or.reduce(_WEIGHTS[bits]))


def hashes_and_signatures(
    view: InspectedData, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's 64-bit phash and 16x16 signature (256 float32: 72 MB for 70,000 images)."""
    hashes = np.empty(view.count, dtype=np.uint64)
    signatures = np.empty((view.count, 256), dtype=np.float32)
    for start, batch in view.batches():
        hashes[start : start + len(batch)] = [phash_of(image) for image in batch]
        signatures[start : start + len(batch)] = [_signature(image).ravel() for image in batch]
        if progress:
            progress(start + len(batch))
    return hashes, signatures


def _signature(image: np.ndarray) -> np.ndarray:
    """A 16x16 greyscale copy, standardised (mean 0, deviation 1): what pixel distance
    compares, so that recolouring and re-encoding count for little."""
    from PIL import Image

    pixels = image[..., 0] if image.shape[-1] == 1 else image
    grey = Image.fromarray(pixels).convert("L").resize((16, 16), Image.Resampling.BOX)
    values = np.asarray(grey, dtype=np.float32)
    return (values - values.mean()) / (values.std() + 1.0)


def pixel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The root-mean-square difference of two images' signatures (0: alike)."""
    return float(np.sqrt(np.mean((_signature(a) - _signature(b)) ** 2)))


def _popcount(values: np.ndarray) -> np.ndarray:
    return (
        np.bitwise_count(values)
        if hasattr(np, "bitwise_count")
        else np.array([bin(int(v)).count("1") for v in values], dtype=np.uint8)
    )


def near_pairs(hashes: np.ndarray, max_distance: int = NEAR_BITS) -> np.ndarray:
    """(i, j, distance) rows, i < j, for every pair of hashes within ``max_distance`` bits."""
    n = len(hashes)
    chunks = max_distance + 1
    edges = np.linspace(0, 64, chunks + 1).astype(int)
    found: list[np.ndarray] = []
    for low, high in itertools.pairwise(edges):
        mask = np.uint64((1 << int(high - low)) - 1)
        keys = (hashes >> np.uint64(low)) & mask
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        breaks = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        starts = np.concatenate([[0], breaks])
        ends = np.concatenate([breaks, [n]])
        for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
            bucket = np.sort(order[start:end])
            for block in range(0, len(bucket), BLOCK):
                rows = bucket[block : block + BLOCK]
                others = bucket[block:]
                distance = _popcount(hashes[rows][:, None] ^ hashes[others][None, :])
                i, j = np.nonzero(distance <= max_distance)
                keep = rows[i] < others[j]
                if keep.any():
                    found.append(
                        np.stack([rows[i][keep], others[j][keep], distance[i, j][keep]], axis=1)
                    )
    if not found:
        return np.zeros((0, 3), dtype=np.int64)
    pairs = np.unique(np.concatenate(found).astype(np.int64), axis=0)
    return pairs


def find_duplicates(
    view: InspectedData, progress: Callable[[int], None] | None = None
) -> DuplicateGroups:
    exact = exact_groups(view)
    hashes, signatures = hashes_and_signatures(view, progress)
    pairs = near_pairs(hashes)
    copy_of = np.arange(view.count)
    for group in exact:
        copy_of[group] = group[0]
    # Exact copies are reported as such: a near pair joins two different exact groups, and
    # stands for them by their first images.
    keep = (copy_of[pairs[:, 0]] != copy_of[pairs[:, 1]]) & (copy_of[pairs[:, 0]] == pairs[:, 0])
    keep &= copy_of[pairs[:, 1]] == pairs[:, 1]
    pairs = pairs[keep]
    distances = np.empty(len(pairs), dtype=np.float32)
    for start in range(0, len(pairs), PAIR_BLOCK):
        block = pairs[start : start + PAIR_BLOCK]
        difference = signatures[block[:, 0]] - signatures[block[:, 1]]
        distances[start : start + len(block)] = np.sqrt(np.mean(difference**2, axis=1))
    near = distances <= NEAR_PIXELS
    pairs, distances = pairs[near], distances[near]
    order = np.lexsort((pairs[:, 1], pairs[:, 0], distances))
    return DuplicateGroups(
        exact, [(int(pairs[k, 0]), int(pairs[k, 1]), float(distances[k])) for k in order]
    )


__all__ = [
    "NEAR_BITS",
    "NEAR_PIXELS",
    "DuplicateGroups",
    "exact_groups",
    "find_duplicates",
    "hashes_and_signatures",
    "near_pairs",
    "phash_of",
    "pixel_distance",
]
