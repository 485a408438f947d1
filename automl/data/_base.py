"""One interface for every data source: name, input shape, class names, load() -> splits."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl._errors import DataError


@dataclass(frozen=True)
class RawData:
    """Images as stored (any dtype, with or without a channel axis) and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


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
    """float32 images in [0, 1] with a channel axis, int32 labels; test is never searched on."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    cleaning: CleaningReport
    source: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        return (
            f"{len(self.x_train)} train / {len(self.x_val)} validation / {len(self.x_test)} test "
            f"images of {'x'.join(map(str, self.input_shape))} from {self.source}; "
            f"{self.cleaning.describe()}"
        )


class Task(abc.ABC):
    """A named image-classification problem."""

    name: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    #: Raw pixel values run from 0 to this; dividing by it gives the model's [0, 1] input.
    pixel_max: float = 255.0

    @abc.abstractmethod
    def load_builtin(self) -> RawData:
        """Read the data from the task's own source (a download, a bundled file)."""

    def expected_files(self) -> str:
        """What a user must put in --data-dir, for error messages."""
        return f"{self.name}.npz with x_train, y_train, x_test, y_test"

    def load_raw(self, data_dir: Path | None) -> RawData:
        """Read the data, from ``data_dir`` when given, else from the task's own source."""
        if data_dir is None:
            return self.load_builtin()
        from automl.data._files import load_local

        self.check_data_dir(data_dir)
        raw = load_local(data_dir, self.name)
        if raw is None:
            raise DataError(f"no {self.name} data in {data_dir}: expected {self.expected_files()}")
        return raw

    def load(
        self, data_dir: Path | None = None, validation_fraction: float = 0.1, seed: int = 42
    ) -> DataSplits:
        from automl.data._preprocess import prepare

        return prepare(self, self.load_raw(data_dir), validation_fraction, seed)

    def check_data_dir(self, data_dir: Path | None) -> None:
        if data_dir is not None and not data_dir.is_dir():
            raise DataError(f"--data-dir {data_dir} is not a directory")
