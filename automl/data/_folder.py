"""Users' own images as a task: a folder of class folders, or a CSV/JSONL manifest.

Listed once (``_listing``), checked before anything is stored, decoded once into the uint8
cache (``_cache``) that every trial, worker and later command maps without decoding again.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from automl._errors import DataError
from automl.data._base import Task
from automl.data._cache import ImageDataset, build_dataset, fixed_dataset
from automl.data._images import ImageOptions
from automl.data._listing import SPLITS
from automl.data._overrides import Overrides
from automl.data._records import RawData

IMAGES_TASK = "images"


class ImageFolderTask(Task):
    """A folder of class folders or a manifest; class names are the folder names or labels,
    sorted."""

    name = IMAGES_TASK

    def __init__(
        self,
        source: Path,
        options: ImageOptions,
        cache_dir: Path,
        validation_fraction: float = 0.1,
        seed: int = 42,
        progress: bool = True,
        class_names: tuple[str, ...] | None = None,
    ) -> None:
        self.source = Path(source).expanduser()
        self._class_names = tuple(class_names) if class_names else None
        self._options = options
        self._cache_dir = cache_dir
        self._validation_fraction = validation_fraction
        self._seed = seed
        self._progress = progress

    @cached_property
    def dataset(self) -> ImageDataset:
        """The cache of the files as they are, with the overrides applied when given."""
        dataset = build_dataset(
            self.source,
            self._options,
            self._cache_dir,
            self._validation_fraction,
            self._seed,
            self._progress,
        )
        if not self.overrides:
            return dataset
        return fixed_dataset(dataset, dataset.relative_paths(self.source), self.overrides)

    def with_overrides(self, overrides: Overrides | None) -> ImageFolderTask:
        task = super().with_overrides(overrides)
        for cached in ("dataset", "ids"):  # made before the fixes
            task.__dict__.pop(cached, None)
        return task

    @cached_property
    def ids(self) -> np.ndarray:
        """Each cached image's path relative to the data folder, in the cache's order."""
        return self.dataset.relative_paths(self.source)

    @property
    def options(self) -> ImageOptions:
        """Resolved: as given when they are, else as the images decided (a scan)."""
        return self._options if self._options.resolved else self.dataset.options

    @property
    def input_shape(self) -> tuple[int, int, int]:  # type: ignore[override]
        size = self.options.image_size
        assert size is not None
        return (size, size, self.options.channels)

    @property
    def class_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """As the study recorded them, else as the scan found them."""
        return self._class_names or self.dataset.class_names

    def expected_files(self) -> str:
        return "a folder of class folders, or a .csv/.jsonl manifest of path,label[,split]"

    def check_data_dir(self, data_dir: Path | None) -> None:
        if data_dir is None:
            raise DataError(f"your own images need --data-dir: {self.expected_files()}")
        if not Path(data_dir).expanduser().exists():
            raise DataError(f"no such folder or manifest: {data_dir}")

    def load_builtin(self) -> RawData:
        raise DataError(f"your own images need --data-dir: {self.expected_files()}")

    def load_raw(self, data_dir: Path | None) -> RawData:
        data = self.dataset
        if self._class_names and data.class_names != self._class_names:
            raise DataError(
                f"the classes in {self.source} changed since the study was searched: "
                f"now {', '.join(data.class_names)}; then {', '.join(self._class_names)}"
            )
        # The cache is stored split by split: each split is a slice, still on disk.
        bounds = np.searchsorted(data.splits, np.arange(len(SPLITS) + 1))
        part = {name: slice(bounds[i], bounds[i + 1]) for i, name in enumerate(SPLITS)}
        images, labels, ids = data.images, data.labels, self.ids
        has_val = bounds[2] > bounds[1]
        fixes = f"; {self.overrides.describe()}" if self.overrides else ""
        return RawData(
            x_train=images[part["train"]],
            y_train=labels[part["train"]],
            x_test=images[part["test"]],
            y_test=labels[part["test"]],
            source=f"{self.source} ({data.describe_skipped()}{fixes})",
            x_val=images[part["validation"]] if has_val else None,
            y_val=labels[part["validation"]] if has_val else None,
            ids_train=ids[part["train"]],
            ids_test=ids[part["test"]],
            ids_val=ids[part["validation"]] if has_val else None,
        )

    @property
    def horizontal_flip(self) -> bool:  # type: ignore[override]
        return self._options.horizontal_flip

    def image_options(self) -> ImageOptions:
        return self.options


__all__ = ["IMAGES_TASK", "ImageFolderTask"]
