"""Data sources behind one interface; ``get_task(name).load(data_dir)`` gives the splits."""

from automl.tasks._base import CleaningReport, DataSplits, RawData, Task
from automl.tasks._builtin import TASKS, DigitsTask, KerasDatasetTask, get_task
from automl.tasks._files import load_npz, read_idx

__all__ = [
    "TASKS",
    "CleaningReport",
    "DataSplits",
    "DigitsTask",
    "KerasDatasetTask",
    "RawData",
    "Task",
    "get_task",
    "load_npz",
    "read_idx",
]
