"""`automl predict`: load any exported model, feed it image files prepared as its card says."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl._errors import AutoMLError
from automl.release._export import card_paths, detect_format, predict_with


@dataclass(frozen=True)
class Prediction:
    image: Path
    label: str
    index: int
    probability: float


def _input_spec(model_path: Path, fmt: str) -> tuple[tuple[int, int, int], list[str] | None]:
    """Input shape and class names: from the model card, else from the model itself."""
    card_json, _ = card_paths(model_path)
    if card_json.is_file():
        try:
            card = json.loads(card_json.read_text())
            _, height, width, channels = card["input"]["shape"]
            return (int(height), int(width), int(channels)), list(card["class_names"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AutoMLError(f"model card {card_json} is unreadable: {exc}") from None
    if fmt == "keras":
        import keras

        shape = keras.models.load_model(model_path).input_shape
        return tuple(int(d) for d in shape[1:]), None  # type: ignore[return-value]
    raise AutoMLError(f"no model card {card_json} next to {model_path}: cannot tell the input size")


def load_image(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Any PNG/JPEG, any size or colour -> float32 HxWxC in [0, 1], as in training."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = shape
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise AutoMLError(f"no such image: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise AutoMLError(f"{path} is not an image ({exc})") from None
    return array.reshape(height, width, channels)


def predict_images(model_path: Path, images: list[Path]) -> list[Prediction]:
    if not model_path.exists():
        raise AutoMLError(f"no model at {model_path}")
    fmt = detect_format(model_path)
    shape, class_names = _input_spec(model_path, fmt)
    batch = np.stack([load_image(path, shape) for path in images])
    probabilities = predict_with(model_path, fmt, batch)
    results = []
    for path, row in zip(images, probabilities):
        index = int(np.argmax(row))
        label = class_names[index] if class_names else str(index)
        results.append(Prediction(path, label, index, float(row[index])))
    return results
