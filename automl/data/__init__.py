"""Data: tasks, file loaders, cleaning and splits, training subsets, the tf.data pipeline."""

from typing import TYPE_CHECKING

from automl._lazy import lazy_getattr
from automl.data._base import Task
from automl.data._builtin import TASKS, DigitsTask, KerasDatasetTask, get_task, open_task
from automl.data._cache import (
    assign_splits,
    build_dataset,
    write_folder_atomically,
    write_uint8_images,
)
from automl.data._files import load_npz, read_idx
from automl.data._folder import IMAGES_TASK, ImageFolderTask
from automl.data._images import (
    COLOR_MODES,
    MAX_DECODED_PIXELS,
    RESIZE_POLICIES,
    ImageOptions,
    Unreadable,
    decode_image,
    parse_background,
)
from automl.data._overrides import ACTIONS, EXCLUDE, KEEP, RELABEL, Override, Overrides
from automl.data._preprocess import balanced_class_weights
from automl.data._records import CleaningReport, DataSplits, RawData
from automl.data._subsets import nested_subsets

if TYPE_CHECKING:
    from automl.data._pipeline import EVAL_BATCH_SIZE, evaluation_dataset, training_dataset

__all__ = [
    "ACTIONS",
    "COLOR_MODES",
    "EVAL_BATCH_SIZE",
    "EXCLUDE",
    "IMAGES_TASK",
    "KEEP",
    "MAX_DECODED_PIXELS",
    "RELABEL",
    "RESIZE_POLICIES",
    "TASKS",
    "CleaningReport",
    "DataSplits",
    "DigitsTask",
    "ImageFolderTask",
    "ImageOptions",
    "KerasDatasetTask",
    "Override",
    "Overrides",
    "RawData",
    "Task",
    "Unreadable",
    "assign_splits",
    "balanced_class_weights",
    "build_dataset",
    "decode_image",
    "evaluation_dataset",
    "get_task",
    "load_npz",
    "nested_subsets",
    "open_task",
    "parse_background",
    "read_idx",
    "training_dataset",
    "write_folder_atomically",
    "write_uint8_images",
]

# The pipeline imports TensorFlow: loaded on first use.
__getattr__ = lazy_getattr(
    __name__,
    {"automl.data._pipeline": ("EVAL_BATCH_SIZE", "evaluation_dataset", "training_dataset")},
)
