"""Score a trial's saved model on the held-out test split; optional K-fold cross-validation."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl._errors import AutoMLError
from automl.data import DataSplits, Overrides, write_uint8_images
from automl.search import (
    ModelParams,
    open_study_task,
    study_cache_dir,
    study_data_dir,
    verified_artifact,
)
from storage import CONFIDENCE_BINS, EvaluationRecord, StudyRecord, TestPrediction, TrialStore

LATENCY_REPEATS = 50
THROUGHPUT_BATCH = 256


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    macro_f1: float
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion: list[list[int]]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> Metrics:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(n_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return Metrics(
        accuracy=float(np.mean(y_true == y_pred)),
        macro_f1=float(np.mean(f1)),
        precision=[float(v) for v in precision],
        recall=[float(v) for v in recall],
        f1=[float(v) for v in f1],
        support=[int(v) for v in support],
        confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    )


def _test_images_file(study: StudyRecord, data: DataSplits, fixes: str | None) -> tuple[str, int]:
    """A uint8 file holding the test images from some row on, for the galleries: a folder's
    cache when the test split is its tail (no copy), else one written beside the caches."""
    x = data.x_test
    source = getattr(x, "filename", None)
    if isinstance(x, np.memmap) and x.dtype == np.uint8 and source and len(x):
        whole = np.load(source, mmap_mode="r")
        first = len(whole) - len(x)
        if whole.shape[1:] == x.shape[1:] and first >= 0 and np.array_equal(whole[first], x[0]):
            return str(source), first
    target = study_cache_dir(study.config) / f"test-{study.name}-{(fixes or 'as-is')[:16]}.npy"
    chunks = ((i, data.as_uint8(x[i : i + 4096])) for i in range(0, len(x), 4096))
    return str(write_uint8_images(target, x.shape, chunks)), 0


def load_study_data(
    study: StudyRecord, data_dir: Path | None, overrides: Overrides | None = None
) -> DataSplits:
    """The study's own splits: same task, data folder, seed and fixes as the search used
    (``overrides``: other fixes instead of the study's)."""
    config = study.config
    if overrides is not None:
        config = {**config, "overrides": overrides.to_json()}
    folder = study_data_dir(config, data_dir)
    return open_study_task(study.task, config, folder).load(
        folder,
        config.get("validation_fraction", 0.1),
        config.get("seed", 42),
    )


def measure_latency(model, sample: np.ndarray) -> tuple[float, float]:
    """Median ms for one image at batch 1, and images/s at batch 256."""
    single = sample[:1]
    for _ in range(5):
        model(single, training=False)
    times = []
    for _ in range(LATENCY_REPEATS):
        started = time.perf_counter()
        model(single, training=False)
        times.append(time.perf_counter() - started)
    batch = np.resize(sample, (THROUGHPUT_BATCH, *sample.shape[1:])).astype(np.float32)
    # The compiled graph, not an eager call: eagerly, a pretrained backbone's 256 images at
    # 224 px held 21.7 GB at once (its graph: 3.3 GB).
    model.predict_on_batch(batch)
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        model.predict_on_batch(batch)
        rates.append(THROUGHPUT_BATCH / (time.perf_counter() - started))
    return statistics.median(times) * 1000, statistics.median(rates)


def evaluate_trial(
    store: TrialStore,
    study_name: str,
    number: int,
    data_dir: Path | None = None,
    data: DataSplits | None = None,
    overrides: Overrides | None = None,
) -> EvaluationRecord:
    """Score a trial's saved model on the test split and store it. ``data``: the study's splits
    when the caller already holds them (the search that just ran), else they are loaded;
    ``overrides``: fixes other than the study's own (the record says which; the trial's test
    score stays the one on the study's data)."""
    import keras

    from automl.data import evaluation_dataset

    _, model_file = verified_artifact(store, study_name, number)
    study = store.get_study(study_name)
    own = (study.config.get("overrides") or {}).get("sha256")
    if data is None:
        data = load_study_data(study, data_dir, overrides)
    fixes = overrides.sha256 if overrides is not None else own
    model = keras.models.load_model(model_file)
    probabilities = model.predict(
        evaluation_dataset(data.x_test, scale=data.pixel_scale), verbose=0
    )
    metrics = classification_metrics(
        data.y_test, probabilities.argmax(axis=1), len(data.class_names)
    )
    latency_ms, throughput = measure_latency(
        model, data.model_input(data.x_test[:THROUGHPUT_BATCH])
    )
    keras.backend.clear_session()
    record = store.save_evaluation(
        study_name,
        number,
        accuracy=metrics.accuracy,
        macro_f1=metrics.macro_f1,
        class_names=list(data.class_names),
        precision=metrics.precision,
        recall=metrics.recall,
        f1=metrics.f1,
        support=metrics.support,
        confusion=metrics.confusion,
        latency_ms_batch1=latency_ms,
        throughput_batch256=throughput,
        # What a served model's answers look like on data like its training data: the
        # reference its live traffic is compared with (the predicted classes are the
        # confusion matrix's column sums).
        confidence_histogram=np.histogram(probabilities.max(axis=1), CONFIDENCE_BINS)[0].tolist(),
        overrides_sha256=fixes,
    )
    images_file, first_row = _test_images_file(study, data, fixes)
    ids = (
        data.ids_test
        if data.ids_test is not None
        else [f"test/{i}" for i in range(len(data.y_test))]
    )
    predicted = probabilities.argmax(axis=1)
    store.save_test_predictions(
        study_name,
        number,
        [
            TestPrediction(
                i,
                str(ids[i]),
                int(data.y_test[i]),
                int(predicted[i]),
                float(probabilities[i, predicted[i]]),
            )
            for i in range(len(data.y_test))
        ],
        images_file,
        first_row,
    )
    if fixes == own:
        picked = probabilities[np.arange(len(data.y_test)), data.y_test]
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
        store.set_test_score(study_name, number, metrics.accuracy, loss)
    return record


@dataclass(frozen=True)
class OutOfFold:
    """Each training and validation image's class probabilities from the one of K models that
    did not train on it; each fold's held-out accuracy and epochs run."""

    probabilities: np.ndarray
    scores: list[float]
    epochs: list[int]


def out_of_fold(
    data: DataSplits,
    params: ModelParams,
    epochs: int,
    folds: int,
    seed: int,
    deadline: float | None = None,
    log: Callable[[str], None] | None = None,
) -> OutOfFold:
    """Train ``params``' model from scratch on K-1 folds of train+validation, K times, and
    predict the fold left out. ``deadline`` (``time.time()``): each fold gets an equal share of
    the time left, its learning rate decaying to fit (``BudgetCosine``), so the whole ends by
    then with every fold trained."""
    import keras
    from sklearn.model_selection import StratifiedKFold

    from automl.data import EVAL_BATCH_SIZE, evaluation_dataset, training_dataset
    from automl.search import BudgetCosine, build_head, build_model, compile_model

    x = np.concatenate([data.x_train, data.x_val])  # stored pixels: uint8 for 8-bit images
    y = np.concatenate([data.y_train, data.y_val])
    probabilities = np.zeros((len(y), data.num_classes), dtype=np.float32)
    scores, epochs_run = [], []
    # A head on a frozen backbone trains on the backbone's features, computed once (as the
    # search trains it): images through the backbone at every epoch of every fold would take
    # the whole budget for a few epochs.
    features = _backbone_features(data, params, x) if params.pretrained else None
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    for fold, (fit_idx, held_idx) in enumerate(splits):
        started = time.time()
        fold_deadline = None
        if deadline is not None:
            fold_deadline = started + max(1.0, (deadline - started) / (folds - fold))
        keras.utils.set_random_seed(seed + fold)
        schedule = BudgetCosine(params.learning_rate, epochs, deadline=fold_deadline)
        if features is not None:
            model = build_head(params, features.shape[1], data.num_classes)
            compile_model(model, params)
            history = model.fit(
                features[fit_idx], y[fit_idx], batch_size=params.batch_size, epochs=epochs,
                verbose=0, callbacks=[schedule],
            )  # fmt: skip
            held = model.predict(features[held_idx], batch_size=EVAL_BATCH_SIZE, verbose=0)
        else:
            model = build_model(params, data.input_shape, data.num_classes)
            compile_model(model, params)
            history = model.fit(
                training_dataset(
                    x,
                    y,
                    params.batch_size,
                    augment=params.augment,
                    seed=seed + fold,
                    flip=data.horizontal_flip,
                    scale=data.pixel_scale,
                    indices=fit_idx,
                ),
                epochs=epochs,
                shuffle=False,
                verbose=0,
                callbacks=[schedule],
            )
            held = model.predict(
                evaluation_dataset(x, scale=data.pixel_scale, indices=held_idx), verbose=0
            )
        probabilities[held_idx] = held
        scores.append(float(np.mean(held.argmax(axis=1) == y[held_idx])))
        epochs_run.append(len(history.history.get("loss", [])))
        keras.backend.clear_session()
        if log:
            log(
                f"fold {fold + 1}/{folds}: {epochs_run[-1]} epochs in {time.time() - started:.0f} s, "
                f"held-out accuracy {scores[-1]:.4f}"
            )
    return OutOfFold(probabilities, scores, epochs_run)


def _backbone_features(data: DataSplits, params: ModelParams, x: np.ndarray) -> np.ndarray:
    """The pooled features of the frozen backbone ``params`` names, for every image of ``x``."""
    from automl.backbones import feature_extractor, get_backbone
    from automl.data import evaluation_dataset

    assert params.resolution is not None
    backbone = get_backbone(params.backbone)
    extractor = feature_extractor(
        backbone, backbone.verified_state(), data.input_shape, params.resolution
    )
    return extractor.predict(evaluation_dataset(x, scale=data.pixel_scale), verbose=0)


def cross_validate(
    store: TrialStore, study_name: str, number: int, folds: int, data_dir: Path | None = None
) -> EvaluationRecord:
    """Retrain the trial's configuration from scratch on each fold of train+validation."""
    if folds < 2:
        raise AutoMLError(f"--cv needs at least 2 folds, got {folds}")
    trial = store.trial(study_name, number)
    if not trial.params or trial.best_epoch is None:
        raise AutoMLError(f"trial {number} has no recorded configuration to retrain")
    if store.evaluation(study_name, number) is None:
        evaluate_trial(store, study_name, number, data_dir)
    study = store.get_study(study_name)
    data = load_study_data(study, data_dir)
    params = ModelParams.from_dict(trial.params)
    result = out_of_fold(data, params, trial.best_epoch, folds, study.config.get("seed", 42))
    return store.save_cross_validation(study_name, number, result.scores)
