"""Duplicates: planted copies across and within splits are found, distinct images are not
paired, and the multi-index search finds what an all-pairs scan finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automl.data import ImageOptions, open_task
from automl.quality import InspectedData, find_duplicates
from automl.quality._duplicates import near_pairs

OPTIONS = ImageOptions(image_size=32, color_mode="rgb", resize="stretch").to_json()


def test_multi_index_search_finds_every_pair_an_all_pairs_scan_finds() -> None:
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, 400, dtype=np.int64).astype(np.uint64)
    for k in range(40):  # close relatives: a few bits flipped
        bits = rng.choice(64, rng.integers(0, 11), replace=False)
        hashes[200 + k] = hashes[k] ^ np.bitwise_or.reduce(np.uint64(1) << bits.astype(np.uint64))
    distance = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    i, j = np.nonzero(np.triu(distance <= 8, k=1))
    expected = {(int(a), int(b), int(distance[a, b])) for a, b in zip(i, j)}
    assert len(expected) >= 20
    assert {tuple(map(int, p)) for p in near_pairs(hashes, 8)} == expected


def test_planted_copies_are_found_and_nothing_else(planted: dict, tmp_path: Path) -> None:
    root = planted["root"]
    data = open_task("images", root, OPTIONS, tmp_path / "cache").load(root)
    view = InspectedData(data)
    found = find_duplicates(view)
    exact = [{str(view.ids[r]) for r in group} for group in found.exact]
    assert sorted(exact, key=sorted) == sorted(
        [planted["exact_across"], planted["exact_within"]], key=sorted
    )
    near = [{str(view.ids[i]), str(view.ids[j])} for i, j, _ in found.near]
    assert sorted(near, key=sorted) == sorted(planted["near"], key=sorted)
    assert all(0 <= distance <= 0.15 for _, _, distance in found.near)
