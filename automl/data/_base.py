"""One interface for every data source: name, input shape, class names, load() -> splits."""

from __future__ import annotations

import abc
from pathlib import Path

from automl._errors import DataError
from automl.data._files import load_local
from automl.data._images import ImageOptions
from automl.data._preprocess import prepare
from automl.data._records import DataSplits, RawData


class Task(abc.ABC):
    """A named image-classification problem."""

    name: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    #: Raw pixel values run from 0 to this; dividing by it gives the model's [0, 1] input.
    pixel_max: float = 255.0
    #: A mirrored image keeps its class: augmentation may flip it left-right.
    horizontal_flip: bool = False

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
        self.check_data_dir(data_dir)
        raw = load_local(data_dir, self.name)
        if raw is None:
            raise DataError(f"no {self.name} data in {data_dir}: expected {self.expected_files()}")
        return raw

    def load(
        self, data_dir: Path | None = None, validation_fraction: float = 0.1, seed: int = 42
    ) -> DataSplits:
        return prepare(self, self.load_raw(data_dir), validation_fraction, seed)

    def image_options(self) -> ImageOptions:
        """How an image file becomes this task's model input (``automl predict``, the card)."""
        height, _, channels = self.input_shape
        return ImageOptions.stretched_to(height, channels)

    def check_data_dir(self, data_dir: Path | None) -> None:
        if data_dir is not None and not data_dir.is_dir():
            raise DataError(f"--data-dir {data_dir} is not a directory")
