"""The plain data records every stage passes along: raw arrays, cleaning counts, splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class TaskShape(Protocol):
    """What cleaning and splitting need to know of a task (``Task`` has all of it)."""

    name: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    pixel_max: float
    horizontal_flip: bool


@dataclass(frozen=True)
class RawData:
    """Images as stored (any dtype, with or without a channel axis) and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    #: A validation split fixed by the source (a val/ folder, a manifest's split column);
    #: without one, it is drawn from the training split.
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    #: Each image's name in reports and overrides: its path relative to the data folder, or
    #: ``<split>/<index>`` in a built-in task's arrays (``default_ids``).
    ids_train: np.ndarray | None = None
    ids_test: np.ndarray | None = None
    ids_val: np.ndarray | None = None


def default_ids(split: str, count: int) -> np.ndarray:
    """``<split>/<index>``: the names of a built-in task's images, by their place in its arrays."""
    return np.array([f"{split}/{i}" for i in range(count)])


@dataclass(frozen=True)
class CleaningReport:
    """How many samples were dropped, and why (the user should know their data was changed)."""

    non_finite: int = 0
    wrong_shape: int = 0
    bad_label: int = 0

    @property
    def dropped(self) -> int:
        return self.non_finite + self.wrong_shape + self.bad_label

    def __add__(self, other: CleaningReport) -> CleaningReport:
        return CleaningReport(
            self.non_finite + other.non_finite,
            self.wrong_shape + other.wrong_shape,
            self.bad_label + other.bad_label,
        )

    def describe(self) -> str:
        if not self.dropped:
            return "no samples dropped"
        return (
            f"dropped {self.dropped} samples ({self.non_finite} with NaN/inf, "
            f"{self.wrong_shape} of the wrong shape, {self.bad_label} with a label out of range)"
        )


@dataclass(frozen=True)
class DataSplits:
    """Images with a channel axis, int32 labels; test is never searched on.

    Images stay as stored: uint8 pixels (often a memory-mapped cache) with ``pixel_scale``
    1/255, or float32 already in [0, 1] with ``pixel_scale`` 1. The input pipelines and
    ``model_input`` scale a batch at a time, so no float copy of the whole set is made.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    cleaning: CleaningReport
    source: str
    #: Whether a left-right mirror image is still the same class (clothes yes, digits no).
    horizontal_flip: bool = False
    #: Multiplying the stored pixels by this gives the model's [0, 1] input.
    pixel_scale: float = 1.0
    #: Each image's name (``RawData``'s ids), split by split.
    ids_train: np.ndarray | None = None
    ids_val: np.ndarray | None = None
    ids_test: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def model_input(self, x: np.ndarray) -> np.ndarray:
        """A few stored images (a slice of a split) as the model's float32 input."""
        return np.asarray(x, dtype=np.float32) * np.float32(self.pixel_scale)

    def as_uint8(self, x: np.ndarray) -> np.ndarray:
        """A few stored images as 8-bit pixels (what thumbnails and hashes read)."""
        if x.dtype == np.uint8:
            return np.asarray(x)
        return np.clip(np.rint(self.model_input(x) * 255), 0, 255).astype(np.uint8)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        return (
            f"{len(self.x_train)} train / {len(self.x_val)} validation / {len(self.x_test)} test "
            f"images of {'x'.join(map(str, self.input_shape))} from {self.source}; "
            f"{self.cleaning.describe()}"
        )
