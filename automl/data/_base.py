"""One interface for every data source: name, input shape, class names, load() -> splits."""

from __future__ import annotations

import abc
import copy
from pathlib import Path

import numpy as np

from automl._errors import DataError
from automl.data._files import load_local
from automl.data._images import ImageOptions
from automl.data._overrides import Overrides
from automl.data._preprocess import prepare
from automl.data._records import DataSplits, RawData, default_ids


class Task(abc.ABC):
    """A named image-classification problem."""

    name: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    #: Raw pixel values run from 0 to this; dividing by it gives the model's [0, 1] input.
    pixel_max: float = 255.0
    #: A mirrored image keeps its class: augmentation may flip it left-right.
    horizontal_flip: bool = False
    #: The user's fixes (``--overrides``), applied whenever the data is loaded.
    overrides: Overrides | None = None

    def with_overrides(self, overrides: Overrides | None) -> Task:
        """This task with the user's fixes applied to its data (a copy: tasks are shared)."""
        task = copy.copy(self)
        task.overrides = overrides
        return task

    @abc.abstractmethod
    def load_builtin(self) -> RawData:
        """Read the data from the task's own source (a download, a bundled file)."""

    def expected_files(self) -> str:
        """What a user must put in --data-dir, for error messages."""
        return f"{self.name}.npz with x_train, y_train, x_test, y_test"

    def load_raw(self, data_dir: Path | None) -> RawData:
        """Read the data, from ``data_dir`` when given, else from the task's own source, with
        the overrides applied."""
        if data_dir is None:
            raw = self.load_builtin()
        else:
            self.check_data_dir(data_dir)
            found = load_local(data_dir, self.name)
            if found is None:
                raise DataError(
                    f"no {self.name} data in {data_dir}: expected {self.expected_files()}"
                )
            raw = found
        return self._overridden(raw) if self.overrides else raw

    def _overridden(self, raw: RawData) -> RawData:
        """The arrays without the excluded images, with the relabeled ones' new labels."""
        assert self.overrides is not None
        parts = [("train", raw.x_train, raw.y_train), ("test", raw.x_test, raw.y_test)]
        if raw.x_val is not None and raw.y_val is not None:
            parts.append(("validation", raw.x_val, raw.y_val))
        ids = [default_ids(name, len(x)) for name, x, _ in parts]
        labels = [np.asarray(y).reshape(-1) for _, _, y in parts]
        applied = self.overrides.apply(
            np.concatenate(ids), np.concatenate(labels), self.class_names
        )
        out: dict[str, np.ndarray | None] = {}
        start = 0
        for (name, x, _), part_ids in zip(parts, ids):
            keep = applied.keep[start : start + len(x)]
            key = {"validation": "val"}.get(name, name)
            out[f"x_{key}"] = x[keep]
            out[f"y_{key}"] = applied.labels[start : start + len(x)][keep]
            out[f"ids_{key}"] = part_ids[keep]
            start += len(x)
        return RawData(source=f"{raw.source}; {self.overrides.describe()}", **out)  # type: ignore[arg-type]

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
