"""Cleaning, scaling and the stratified validation split."""

from __future__ import annotations

import numpy as np

from automl._errors import DataError
from automl.data._records import CleaningReport, DataSplits, RawData, TaskShape, default_ids


def clean(
    x: np.ndarray, y: np.ndarray, task: TaskShape, split: str, ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, CleaningReport, np.ndarray]:
    """Drop samples with NaN/inf pixels, the wrong shape, or a label out of range; ``ids``
    (the images' names, ``<split>/<index>`` when not given) follow what is kept."""
    ids = default_ids(split, len(x)) if ids is None else np.asarray(ids)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # CIFAR stores labels as a column
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(
            f"{split}: {len(x)} images but labels of shape {y.shape}; expected one label per image"
        )
    height, width, channels = task.input_shape
    accepted = {(height, width, channels)} | ({(height, width)} if channels == 1 else set())
    if x.dtype == object:  # ragged input: check each sample
        shape_ok = np.array([np.shape(s) in accepted for s in x], dtype=bool)
        x = np.stack([np.asarray(s, dtype=np.float32) for s, ok in zip(x, shape_ok) if ok])
        y, ids = y[shape_ok], ids[shape_ok]
        wrong_shape = int((~shape_ok).sum())
    elif tuple(x.shape[1:]) in accepted:
        wrong_shape = 0
    else:
        raise DataError(
            f"{split}: images have shape {tuple(x.shape[1:])}, task {task.name} expects "
            f"{height}x{width}x{channels}"
        )
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    else:
        finite = np.ones(len(x), dtype=bool)
    label_ok = np.zeros(len(y), dtype=bool)
    if np.issubdtype(y.dtype, np.number):
        y_float = y.astype(np.float64)
        label_ok = (
            np.isfinite(y_float)
            & (y_float == np.round(y_float))
            & (y_float >= 0)
            & (y_float < len(task.class_names))
        )
    keep = finite & label_ok
    if keep.all():  # no copy: a memory-mapped cache stays on disk
        return x, y.astype(np.int32), CleaningReport(wrong_shape=wrong_shape), ids
    report = CleaningReport(
        non_finite=int((~finite).sum()),
        wrong_shape=wrong_shape,
        bad_label=int((finite & ~label_ok).sum()),
    )
    return x[keep], y[keep].astype(np.int32), report, ids[keep]


def scale(x: np.ndarray, pixel_max: float) -> np.ndarray:
    """To float32 in [0, 1]. Float data already in [0, 1] is taken as scaled."""
    x = x.astype(np.float32, copy=False)
    if x.size and (x.max() > 1.0 or pixel_max <= 1.0):
        x = x / np.float32(pixel_max)
    return np.clip(x, 0.0, 1.0)


def prepare(task: TaskShape, raw: RawData, validation_fraction: float, seed: int) -> DataSplits:
    from sklearn.model_selection import train_test_split  # slow to import: only when loading

    x_train, y_train, train_report, ids_train = clean(
        raw.x_train, raw.y_train, task, "train", raw.ids_train
    )
    x_test, y_test, test_report, ids_test = clean(
        raw.x_test, raw.y_test, task, "test", raw.ids_test
    )
    if len(x_train) < 2 * len(task.class_names) or len(x_test) == 0:
        raise DataError(
            f"too little usable data for {task.name}: {len(x_train)} train and "
            f"{len(x_test)} test images after cleaning"
        )
    if raw.x_val is not None and raw.y_val is not None and len(raw.y_val):
        x_fit, y_fit, ids_fit = x_train, y_train, ids_train
        x_val, y_val, val_report, ids_val = clean(
            raw.x_val, raw.y_val, task, "validation", raw.ids_val
        )
        test_report = test_report + val_report
    else:
        counts = np.bincount(y_train)
        present = counts[counts > 0]
        n_val = int(np.ceil(validation_fraction * len(y_train)))
        # Stratify whenever it is possible: every class twice, and room for each in validation.
        can_stratify = present.min() >= 2 and len(present) <= min(n_val, len(y_train) - n_val)
        x_fit, x_val, y_fit, y_val, ids_fit, ids_val = train_test_split(
            x_train,
            y_train,
            ids_train,
            test_size=validation_fraction,
            stratify=y_train if can_stratify else None,
            random_state=seed,
        )
    # 8-bit pixels stay uint8 (a quarter of float32's memory, and a memory-mapped cache stays
    # on disk): the pipelines scale each batch. Anything else becomes float32 in [0, 1] now.
    pixel_scale = 1.0 / 255
    if task.pixel_max != 255 or any(x.dtype != np.uint8 for x in (x_fit, x_val, x_test)):
        x_fit, x_val, x_test = (scale(x, task.pixel_max) for x in (x_fit, x_val, x_test))
        pixel_scale = 1.0
    return DataSplits(
        x_train=x_fit,
        y_train=y_fit,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        pixel_scale=pixel_scale,
        class_names=task.class_names,
        cleaning=train_report + test_report,
        source=raw.source,
        horizontal_flip=task.horizontal_flip,
        ids_train=ids_fit,
        ids_val=ids_val,
        ids_test=ids_test,
    )


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """scikit-learn's "balanced" weights, ``n_samples / (n_classes * count)``, per present class."""
    counts = np.bincount(labels, minlength=num_classes)
    present = int((counts > 0).sum())
    return {int(c): float(len(labels) / (present * counts[c])) for c in np.flatnonzero(counts)}
