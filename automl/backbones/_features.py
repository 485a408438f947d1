"""A backbone as a feature extractor over the search's own inputs, and its features computed
once per data set, cached on disk beside the image cache and memory-mapped by every trial."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from automl.backbones._catalog import Backbone
from automl.backbones._efficientnet_lite import PIXEL_MEAN, PIXEL_STD, features, load_state_dict
from automl.data import DataSplits, evaluation_dataset, write_folder_atomically

#: Bump when what a cached file holds changes.
FEATURES_FORMAT = 1
#: Resolutions tried, largest first, when the budget decides (multiples of 32: every stride-2
#: stage halves the map evenly).
RESOLUTIONS = (224, 192, 160, 128, 96, 64)
#: Without a budget: the image upscaled at most this many times (a 28-pixel image at 112).
MAX_UPSCALE = 4
#: Images timed to predict how long the whole set takes at a resolution.
PACE_SAMPLE = 32


def feature_extractor(
    backbone: Backbone,
    state: dict[str, np.ndarray],
    input_shape: tuple[int, int, int],
    resolution: int,
) -> keras.Model:
    """The search's input ([0, 1], grey or RGB, at the cached size) -> the backbone's pooled
    features: channels repeated to RGB, resized to ``resolution``, scaled as the weights were
    trained, all inside the model, so exports and the server need no preprocessing of their
    own."""
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if input_shape[-1] == 1:
        x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    if tuple(input_shape[:2]) != (resolution, resolution):
        x = layers.Resizing(resolution, resolution, name="backbone_resize")(x)
    x = layers.Rescaling(255.0 / PIXEL_STD, -PIXEL_MEAN / PIXEL_STD, name="backbone_scaling")(x)
    x = layers.GlobalAveragePooling2D(name="backbone_pool")(features(x))
    model = keras.Model(inputs, x, name=f"{backbone.name}_features")
    load_state_dict(model, state)
    return model


def default_resolution(backbone: Backbone, side: int) -> int:
    """Without a budget: the cached side upscaled up to MAX_UPSCALE times, within the
    backbone's range, on the 32-pixel grid."""
    wanted = min(backbone.native_resolution, MAX_UPSCALE * side)
    return max(backbone.min_resolution, 32 * math.ceil(wanted / 32))


def seconds_per_image(extractor: keras.Model, data: DataSplits) -> float:
    """Measured on PACE_SAMPLE training images, after a warm-up call of the same shape (the
    first call of a shape traces the graph: seconds)."""
    sample = data.model_input(data.x_train[:PACE_SAMPLE])
    extractor.predict_on_batch(sample)
    started = time.perf_counter()
    extractor.predict_on_batch(sample)
    return (time.perf_counter() - started) / len(sample)


@dataclass(frozen=True)
class Features:
    """Pooled backbone features of the training and validation splits (float32, mapped)."""

    x_train: np.ndarray
    x_val: np.ndarray
    resolution: int
    #: Seconds spent computing them in this call (0 when they came from the cache).
    seconds: float


def _digest(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype, part.shape)).encode())
            for start in range(0, len(part), 4096):  # a mapped cache is read in chunks
                digest.update(np.ascontiguousarray(part[start : start + 4096]).tobytes())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()[:24]


def cached_features(
    backbone: Backbone,
    extractor: keras.Model,
    data: DataSplits,
    resolution: int,
    cache_dir: Path,
    log: Callable[[str], None] = print,
) -> Features:
    """The features of ``data``'s training and validation images, computed once: the file is
    keyed by the images' bytes, the weights' hash and the resolution, so a changed image
    makes a new one and every later trial and worker maps the same."""
    key = _digest(
        FEATURES_FORMAT, backbone.sha256, resolution, data.pixel_scale, data.x_train, data.x_val
    )
    folder = Path(cache_dir) / f"features-{backbone.name}-{resolution}-{key}"
    spent = 0.0
    if not (folder / "val.npy").is_file():
        started = time.perf_counter()
        images = len(data.x_train) + len(data.x_val)
        log(f"backbone {backbone.name}: features of {images} images at {resolution} px")
        arrays = {
            split: extractor.predict(
                evaluation_dataset(x, scale=data.pixel_scale), verbose=0
            ).astype(np.float32)
            for split, x in (("train", data.x_train), ("val", data.x_val))
        }

        def save(scratch: Path) -> None:
            for split, array in arrays.items():
                np.save(scratch / f"{split}.npy", array)

        write_folder_atomically(folder, save)  # another worker's copy, if first, is as good
        spent = time.perf_counter() - started
        log(f"backbone {backbone.name}: {images} images in {spent:.1f} s, cached in {folder}")
    train, val = (np.load(folder / f"{split}.npy", mmap_mode="r") for split in ("train", "val"))
    return Features(train, val, resolution, spent)


__all__ = [
    "RESOLUTIONS",
    "Features",
    "cached_features",
    "default_resolution",
    "feature_extractor",
    "seconds_per_image",
]
