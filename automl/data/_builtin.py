"""The built-in tasks: three Keras datasets (downloaded once, cached) and scikit-learn's digits."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from automl._errors import DataError
from automl._quiet import silenced_native_stderr
from automl.data._base import Task
from automl.data._files import IDX_FILES
from automl.data._folder import IMAGES_TASK, ImageFolderTask
from automl.data._images import ImageOptions
from automl.data._overrides import Overrides
from automl.data._records import RawData


class KerasDatasetTask(Task):
    """A ``keras.datasets`` dataset, or the same data from local files given with --data-dir."""

    def __init__(
        self,
        name: str,
        module: str,
        input_shape: tuple[int, int, int],
        class_names: tuple[str, ...],
        idx_format: bool,
        horizontal_flip: bool = False,
    ) -> None:
        self.name = name
        self.horizontal_flip = horizontal_flip
        self._module = module
        self.input_shape = input_shape
        self.class_names = class_names
        self._idx_format = idx_format

    def load_builtin(self) -> RawData:
        try:
            with silenced_native_stderr():  # TensorFlow's start-up lines
                datasets = importlib.import_module(f"keras.datasets.{self._module}")
            (x_train, y_train), (x_test, y_test) = datasets.load_data()
        except Exception as exc:  # urllib, SSL, HTTP and corrupt-cache errors all end here
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(
                f"could not download {self.name} ({reason}); place {self.expected_files()} "
                "in a folder and pass --data-dir DIR (or set AUTOML_DATA_DIR)"
            ) from None
        return RawData(x_train, y_train, x_test, y_test, source=f"keras.datasets.{self._module}")

    def expected_files(self) -> str:
        npz = super().expected_files()
        if not self._idx_format:
            return npz
        return f"the IDX files {', '.join(s + '.gz' for s in IDX_FILES.values())} or {npz}"


class DigitsTask(Task):
    """scikit-learn's bundled 8x8 digits: offline, trains in seconds (demo and test task)."""

    name = "digits"
    input_shape = (8, 8, 1)
    class_names = tuple(str(d) for d in range(10))
    pixel_max = 16.0
    TEST_FRACTION = 0.2

    def load_builtin(self) -> RawData:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        # A fixed split (seed 0), whatever the search seed: the test set never moves.
        x_train, x_test, y_train, y_test = train_test_split(
            digits.images.astype(np.float32),
            digits.target,
            test_size=self.TEST_FRACTION,
            stratify=digits.target,
            random_state=0,
        )
        return RawData(x_train, y_train, x_test, y_test, source="sklearn.datasets.load_digits")


_FASHION = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_CIFAR10 = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        KerasDatasetTask("mnist", "mnist", (28, 28, 1), tuple(str(d) for d in range(10)), True),
        # No flips: Fashion-MNIST's shoes all point one way (a mirrored ankle boot matches the
        # class's mean image at r = 0.05, an unmirrored one at 0.80), so mirrored training
        # images never occur in testing; they cost the small-data net 0.2-0.9 points.
        KerasDatasetTask("fashion_mnist", "fashion_mnist", (28, 28, 1), _FASHION, True),
        KerasDatasetTask("cifar10", "cifar10", (32, 32, 3), _CIFAR10, False, True),
        DigitsTask(),
    )
}


def get_task(name: str) -> Task:
    """A built-in task by name."""
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join([*TASKS, IMAGES_TASK])
        raise DataError(f"unknown task {name!r}; known tasks: {known}") from None


def open_task(
    name: str,
    data_dir: Path | None = None,
    images: dict | None = None,
    cache_dir: Path | None = None,
    validation_fraction: float = 0.1,
    seed: int = 42,
    progress: bool = False,
    class_names: tuple[str, ...] | None = None,
    overrides: Overrides | None = None,
) -> Task:
    """Any task: a built-in one, or ``images`` (your own folder or manifest at ``data_dir``,
    prepared as ``images`` says, decoded once into ``cache_dir``); ``overrides``: the user's
    fixes, applied whenever it loads."""
    if name != IMAGES_TASK:
        return get_task(name).with_overrides(overrides) if overrides else get_task(name)
    if data_dir is None:
        raise DataError(
            "your own images need --data-dir: a folder of class folders or a .csv/.jsonl manifest"
        )
    task = ImageFolderTask(
        Path(data_dir),
        ImageOptions.from_json(images),
        cache_dir or Path("image-cache"),
        validation_fraction,
        seed,
        progress,
        class_names,
    )
    return task.with_overrides(overrides) if overrides else task
