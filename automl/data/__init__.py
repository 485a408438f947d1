"""Data: tasks, file loaders, cleaning and splits, training subsets, the tf.data pipeline."""

from typing import TYPE_CHECKING

from automl._lazy import lazy_getattr
from automl.data._base import Task
from automl.data._builtin import TASKS, DigitsTask, KerasDatasetTask, get_task
from automl.data._files import load_npz, read_idx
from automl.data._records import CleaningReport, DataSplits, RawData
from automl.data._subsets import nested_subsets

if TYPE_CHECKING:
    from automl.data._pipeline import EVAL_BATCH_SIZE, evaluation_dataset, training_dataset

__all__ = [
    "EVAL_BATCH_SIZE",
    "TASKS",
    "CleaningReport",
    "DataSplits",
    "DigitsTask",
    "KerasDatasetTask",
    "RawData",
    "Task",
    "evaluation_dataset",
    "get_task",
    "load_npz",
    "nested_subsets",
    "read_idx",
    "training_dataset",
]

# The pipeline imports TensorFlow: loaded on first use.
__getattr__ = lazy_getattr(
    __name__,
    {"automl.data._pipeline": ("EVAL_BATCH_SIZE", "evaluation_dataset", "training_dataset")},
)
