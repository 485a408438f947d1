"""The data ``automl inspect`` looks at: a study's three splits as one list of images, each
with its name, split and label, read a batch at a time as uint8 (never a float copy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from automl.data import DataSplits

SPLIT_NAMES = ("train", "validation", "test")
BATCH = 4096


@dataclass(frozen=True)
class InspectedData:
    """Rows 0..n-1: the training images, then validation, then test (a folder's cache has
    this order too, so a row is also the image's place in its cache)."""

    data: DataSplits

    @property
    def parts(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        d = self.data
        return [
            (d.x_train, d.y_train, d.ids_train),
            (d.x_val, d.y_val, d.ids_val),
            (d.x_test, d.y_test, d.ids_test),
        ]

    @cached_property
    def sizes(self) -> list[int]:
        return [len(y) for _, y, _ in self.parts]

    @property
    def count(self) -> int:
        return sum(self.sizes)

    @cached_property
    def labels(self) -> np.ndarray:
        return np.concatenate([y for _, y, _ in self.parts]).astype(np.int64)

    @cached_property
    def splits(self) -> np.ndarray:
        """Each row's split: 0 train, 1 validation, 2 test."""
        return np.repeat(np.arange(3, dtype=np.int8), self.sizes)

    @cached_property
    def ids(self) -> np.ndarray:
        names = []
        for (_, y, ids), split in zip(self.parts, SPLIT_NAMES):
            names.append(
                ids if ids is not None else np.array([f"{split}/{i}" for i in range(len(y))])
            )
        return np.concatenate(names)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.data.class_names

    def batches(self, size: int = BATCH) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, uint8 images) over every row, in order."""
        start = 0
        for x, _, _ in self.parts:
            for offset in range(0, len(x), size):
                batch = self.data.as_uint8(x[offset : offset + size])
                yield start + offset, batch
            start += len(x)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """These rows' images as uint8."""
        bounds = np.cumsum([0, *self.sizes])
        out = []
        for row in rows:
            part = int(np.searchsorted(bounds, row, side="right") - 1)
            out.append(self.data.as_uint8(self.parts[part][0][row - bounds[part]]))
        return np.stack(out) if out else np.zeros((0, *self.data.input_shape), np.uint8)


__all__ = ["SPLIT_NAMES", "InspectedData"]
