"""`automl predict`: load any exported model, feed it image files prepared as its card says."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl._errors import AutoMLError
from automl.data import ImageOptions, Unreadable, decode_image
from automl.release._card import card_paths
from automl.release._champion import resolve_trial
from automl.release._export import (
    Runtime,
    detect_format,
    keras_runtime,
    load_runtime,
    predict_with,
)
from automl.search import open_study_task, verified_artifact
from storage import TrialStore


@dataclass(frozen=True)
class Prediction:
    image: Path
    label: str
    index: int
    probability: float


def input_spec(model_path: Path, fmt: str) -> tuple[ImageOptions, list[str], Runtime | None]:
    """How to prepare images and the class names, from the model card; without one, from the
    Keras model itself, which is then returned loaded, as its runtime, not to be loaded twice
    (None when the card told)."""
    card_json, _ = card_paths(model_path)
    if card_json.is_file():
        try:
            card = json.loads(card_json.read_text())
            _, height, _, channels = card["input"]["shape"]
            image = card["preprocessing"].get("image")  # cards before your own images: none
            options = (
                ImageOptions.from_json(image)
                if image
                else ImageOptions.stretched_to(height, channels)
            )
            class_names = list(card["class_names"])
        except (ValueError, KeyError, TypeError, AutoMLError) as exc:
            raise AutoMLError(f"model card {card_json} is unreadable: {exc}") from None
        return options, class_names, None
    if fmt == "keras":
        import keras

        model = keras.models.load_model(model_path)
        _, height, _, channels = model.input_shape
        class_names = [str(index) for index in range(model.output_shape[-1])]
        return ImageOptions.stretched_to(height, channels), class_names, keras_runtime(model)
    raise AutoMLError(f"no model card {card_json} next to {model_path}: cannot tell the input size")


def load_image(path: Path, options: ImageOptions) -> np.ndarray:
    """Any image file -> float32 HxWxC in [0, 1], prepared exactly as in training."""
    if not path.is_file():
        raise AutoMLError(f"no such image: {path}")
    try:
        return decode_image(path, options).astype(np.float32) / 255.0
    except Unreadable as exc:
        raise AutoMLError(f"{path}: {exc}") from None


def predict_images(model_path: Path, images: list[Path]) -> list[Prediction]:
    """Classify ``images`` with an exported model, prepared as its model card says."""
    if not model_path.exists():
        raise AutoMLError(f"no model at {model_path}")
    fmt = detect_format(model_path)
    options, class_names, run = input_spec(model_path, fmt)
    batch = _stack(images, options)  # a missing or broken image is refused before the load
    return _label(images, (run or load_runtime(model_path, fmt))(batch), class_names)


def predict_study_images(
    store: TrialStore, study_name: str, number: int | None, images: list[Path]
) -> tuple[list[Prediction], str]:
    """Classify ``images`` with a study's champion (else best, or trial ``number``), prepared
    as the study's data was. Returns the predictions and which trial answered."""
    trial, why = resolve_trial(store, study_name, number, prefer_champion=True)
    _, model_file = verified_artifact(store, study_name, trial.number)
    study = store.get_study(study_name)
    task = open_study_task(study.task, study.config)
    options, names = task.image_options(), list(task.class_names)
    probabilities = predict_with(model_file, "keras", _stack(images, options))
    return _label(images, probabilities, names), why


def _stack(images: list[Path], options: ImageOptions) -> np.ndarray:
    return np.stack([load_image(path, options) for path in images])


def _label(
    images: list[Path], probabilities: np.ndarray, class_names: list[str]
) -> list[Prediction]:
    results = []
    for path, row in zip(images, probabilities):
        index = int(np.argmax(row))
        results.append(Prediction(path, class_names[index], index, float(row[index])))
    return results
