"""The model a server serves: loaded once, verified, run with one runtime. Knows nothing of HTTP.

A study's champion is exported once per model (by hash) to the serving runtime with
``export_model``, which checks the converted file against the Keras model before it is used.
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl._errors import AutoMLError
from automl._quiet import quiet_logs
from automl.data import MAX_DECODED_PIXELS, ImageOptions, Unreadable, decode_image
from automl.release import (
    SUFFIXES,
    Runtime,
    card_paths,
    detect_format,
    export_model,
    input_spec,
    load_runtime,
    path_sha256,
)
from automl.search import model_cache_dir, verified_artifact
from storage import TrialStore

RUNTIMES = ("onnx", "onnx-int8", "tflite", "tflite-int8", "keras")
#: An image a server decodes may have this many pixels per model input pixel (as decoded: a
#: JPEG at its reduced scale), and never fewer than SERVE_MIN_PIXELS: past 32 times the
#: model's side a resize only averages more pixels into each one it keeps. Decoding costs up
#: to 8 bytes a pixel (RGBA composited on the background), so a request's images stay small.
SERVE_PIXELS_PER_INPUT_PIXEL = 32 * 32
#: Enough for a 4K screenshot (3840x2160) and, at its JPEG decoding scale, any camera photo.
SERVE_MIN_PIXELS = 9_000_000
#: Images decoded at once across every request: half the cores (at least one), the rest wait
#: their turn. The model needs cores too, and memory stays bounded: 16 clients sending the
#: largest images at once raised the server's memory by 130-140 MB (with one per core, 160-230;
#: BENCHMARKS.md, "Serving hostile images").
_DECODES = threading.BoundedSemaphore(max(1, (os.cpu_count() or 1) // 2))


class BadInput(AutoMLError):
    """A request the model cannot answer: wrong shape or type, not an image."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str  # the trial number for a study's model, "1" for a file
    sha256: str
    format: str
    height: int
    width: int
    channels: int
    class_names: tuple[str, ...]
    options: ImageOptions
    study: str | None = None
    trial: int | None = None

    @property
    def input_shape(self) -> list[int]:
        return [-1, self.height, self.width, self.channels]


class ServedModel:
    """One loaded model. ``predict`` is safe to call from several threads at once."""

    def __init__(self, info: ModelInfo, path: Path, run: Runtime | None = None) -> None:
        """``run``: the model already loaded with its runtime, else it is loaded here."""
        self.info = info
        self.path = path
        self._lock = threading.Lock()  # TFLite interpreters and Keras models are not re-entrant
        self._run = run or load_runtime(path, info.format)

    # ------------------------------------------------------------------- loading
    @classmethod
    def from_file(cls, path: Path, name: str | None = None) -> ServedModel:
        """An exported file with its model card; refused if it no longer matches the card."""
        if not path.exists():
            raise AutoMLError(f"no model at {path}")
        fmt = detect_format(path)
        options, class_names, run = input_spec(path, fmt)
        digest = path_sha256(path)
        card_json, _ = card_paths(path)
        card = json.loads(card_json.read_text()) if card_json.is_file() else {}
        recorded = card.get("model", {}).get("sha256")
        if recorded and recorded != digest:
            raise AutoMLError(
                f"{path} does not match its model card's sha256: refusing to serve it"
            )
        size, channels = options.image_size, 1 if options.color_mode == "grayscale" else 3
        assert size is not None
        info = ModelInfo(
            name=name or card.get("study") or path.stem,
            version=str(card.get("trial", 1)),
            sha256=digest,
            format=fmt,
            height=size,
            width=size,
            channels=channels,
            class_names=tuple(class_names),
            options=options,
            study=card.get("study"),
            trial=card.get("trial"),
        )
        return cls(info, path, run)

    @classmethod
    def from_study(cls, store: TrialStore, study: str, runtime: str = "onnx") -> ServedModel:
        """The study's champion (else its best saved model), verified against the store and
        converted to ``runtime`` once (kept by hash in the model cache)."""
        from automl.release import resolve_trial

        if runtime not in RUNTIMES:
            raise AutoMLError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
        trial, _ = resolve_trial(store, study, None, prefer_champion=True)
        artifact, _ = verified_artifact(store, study, trial.number)
        target = model_cache_dir() / "serving" / f"{artifact.sha256}{SUFFIXES[runtime]}"
        if not (target.exists() and card_paths(target)[0].is_file()):
            # Converting needs TensorFlow: started here, its start-up lines hidden, the first
            # time only (with a server running, what else it writes to stderr meanwhile is lost
            # too: a few seconds, once).
            quiet_logs()
            target.parent.mkdir(parents=True, exist_ok=True)
            export_model(
                store, study, runtime, target, number=trial.number, force=True,
                record_as=f"automl serve cache ({runtime})",
            )  # fmt: skip
        return cls.from_file(target, name=study)

    # ------------------------------------------------------------------- running
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for a float32 NHWC batch in [0, 1]."""
        return self.run(self.prepare(batch))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch already checked by ``prepare``."""
        with self._lock:
            return np.asarray(self._run(batch), dtype=np.float32)

    def prepare(self, batch: np.ndarray) -> np.ndarray:
        """The batch as the runtime takes it; BadInput when it cannot be."""
        info = self.info
        expected = (info.height, info.width, info.channels)
        if batch.ndim == 3 and info.channels == 1 and batch.shape[1:] == expected[:2]:
            batch = batch[..., None]  # grayscale images sent without their channel axis
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise BadInput(
                f"expected inputs of shape [N, {info.height}, {info.width}, {info.channels}], "
                f"got {list(batch.shape)}"
            )
        if len(batch) == 0:
            raise BadInput("no inputs")
        # Their sum is finite when all of them are (in float64 no sum of a batch's float32
        # values overflows): a fifth of the time of checking each one, on a small batch.
        if not math.isfinite(float(batch.sum(dtype=np.float64))):
            raise BadInput("inputs must be finite numbers")
        return np.ascontiguousarray(batch, dtype=np.float32)

    def decode(self, data: bytes) -> np.ndarray:
        """An image file's bytes -> HxWxC float32 in [0, 1], prepared as in training."""
        info = self.info
        limit = min(
            MAX_DECODED_PIXELS,
            max(SERVE_MIN_PIXELS, SERVE_PIXELS_PER_INPUT_PIXEL * info.height * info.width),
        )
        try:  # past the limit it is refused from its header, never decoded
            with _DECODES:
                pixels = decode_image(io.BytesIO(data), info.options, limit)  # type: ignore[arg-type]
        except Unreadable as exc:
            raise BadInput(
                f"not a usable image (PNG, JPEG, GIF, BMP, TIFF or WebP): {exc}"
            ) from None
        return pixels.astype(np.float32) / 255.0


__all__ = ["RUNTIMES", "BadInput", "ModelInfo", "ServedModel"]
