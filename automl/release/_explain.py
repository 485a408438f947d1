"""Why a model answered as it did for one image: a saliency map beside its class probabilities.

Grad-CAM (Selvaraju et al.) on the last layer with a spatial output (a CNN's last convolution
block, a backbone's last stage): the gradient of the explained class's probability, averaged
over the map, weighs the layer's channels. Where a model has no such layer, or its gradients
vanish, occlusion: the drop in that class's log-odds when a grey patch hides each part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storage import TrialStore

#: Occlusion: the patch's side as a share of the image's, and its stride as a share of that.
OCCLUSION_PATCH = 1 / 7
OCCLUSION_STRIDE = 1 / 2


@dataclass(frozen=True)
class Explanation:
    probabilities: np.ndarray
    #: The explained class (the predicted one unless another was asked for).
    target: int
    #: (height, width) in [0, 1], the image's size: 1 where the map says the answer comes from.
    heatmap: np.ndarray
    method: str


def _last_spatial_layer(model):
    """The last layer whose output is a map (batch, height, width, channels) bigger than 1x1."""
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) == 4 and (shape[1] or 0) > 1 and (shape[2] or 0) > 1:
            return layer
    return None


def _resized(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    picture = Image.fromarray(heatmap.astype(np.float32), mode="F")
    return np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR))


def _normalised(heatmap: np.ndarray) -> np.ndarray | None:
    heatmap = np.maximum(heatmap, 0)
    top = float(heatmap.max())
    return heatmap / top if top > 1e-12 and np.isfinite(top) else None


def grad_cam(model, image: np.ndarray, target: int) -> tuple[np.ndarray, str] | None:
    """Grad-CAM's map for ``target`` on ``image`` (model input, no batch axis), or None."""
    import keras
    import tensorflow as tf

    layer = _last_spatial_layer(model)
    if layer is None:
        return None
    probe = keras.Model(model.inputs, [layer.output, model.output])
    batch = tf.convert_to_tensor(image[np.newaxis].astype(np.float32))
    with tf.GradientTape() as tape:
        maps, probabilities = probe(batch, training=False)
        score = probabilities[:, target]
    gradients = tape.gradient(score, maps)
    if gradients is None:
        return None
    weights = tf.reduce_mean(gradients, axis=(1, 2))
    heatmap = tf.reduce_sum(maps * weights[:, tf.newaxis, tf.newaxis, :], axis=-1)[0].numpy()
    normalised = _normalised(heatmap)
    if normalised is None:
        return None
    resized = _normalised(_resized(normalised, *image.shape[:2]))
    return (resized, f"Grad-CAM on layer {layer.name!r}") if resized is not None else None


def occlusion(model, image: np.ndarray, target: int) -> tuple[np.ndarray, str]:
    """How much hiding each part of the image lowers ``target``'s probability."""
    height, width = image.shape[:2]
    patch = max(2, round(min(height, width) * OCCLUSION_PATCH))
    stride = max(1, round(patch * OCCLUSION_STRIDE))

    # Log-odds, the other classes summed apart: a confident answer (float32 rounds it to 1.0)
    # still shows what lowers it.
    def log_odds(batch: np.ndarray) -> np.ndarray:
        probabilities = np.asarray(model.predict_on_batch(batch), dtype=np.float64)
        others = np.delete(probabilities, target, axis=1).sum(axis=1)
        chosen = probabilities[:, target]
        return np.log(np.clip(chosen, 1e-300, None)) - np.log(np.clip(others, 1e-300, None))

    base = float(log_odds(image[np.newaxis].astype(np.float32))[0])
    spots = [(y, x) for y in range(0, height, stride) for x in range(0, width, stride)]
    heat = np.zeros((height, width), np.float32)
    counts = np.zeros((height, width), np.float32)
    for start in range(0, len(spots), 256):
        chunk = spots[start : start + 256]
        hidden = np.repeat(image[np.newaxis].astype(np.float32), len(chunk), axis=0)
        for k, (y, x) in enumerate(chunk):
            hidden[k, y : y + patch, x : x + patch] = 0.5
        dropped = base - log_odds(hidden)
        for (y, x), drop in zip(chunk, dropped):
            heat[y : y + patch, x : x + patch] += drop
            counts[y : y + patch, x : x + patch] += 1
    heatmap = _normalised(heat / np.maximum(counts, 1))
    if heatmap is None:
        heatmap = np.zeros((height, width), np.float32)
    return heatmap, f"occlusion ({patch} px grey patch, stride {stride} px)"


def explain(model, image: np.ndarray, target: int | None = None) -> Explanation:
    """The model's class probabilities for ``image`` (model input: float in [0, 1], no batch
    axis) and a saliency map for ``target`` (default: the predicted class)."""
    probabilities = np.asarray(model.predict_on_batch(image[np.newaxis].astype(np.float32))[0])
    target = int(probabilities.argmax()) if target is None else int(target)
    found = grad_cam(model, image, target)
    heatmap, method = found if found is not None else occlusion(model, image, target)
    return Explanation(probabilities, target, heatmap, method)


#: Models kept loaded for the next explanation (a dashboard explains image after image).
_MODELS: dict[tuple, object] = {}
KEPT_MODELS = 4


def explain_trial(
    store: TrialStore, study_name: str, number: int, image: np.ndarray
) -> Explanation:
    """``explain`` with a trial's saved model (verified, then kept loaded for the next call) on
    a stored uint8 image."""
    import keras

    from automl.search import verified_artifact

    artifact, model_file = verified_artifact(store, study_name, number)
    key = (store.url, study_name, number, artifact.sha256)
    if key not in _MODELS:
        while len(_MODELS) >= KEPT_MODELS:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = keras.models.load_model(model_file)
    return explain(_MODELS[key], np.asarray(image, dtype=np.float32) / 255.0)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image (uint8, any channels) with the heatmap over it in a dark-to-yellow scale."""
    anchors = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]])
    positions = np.linspace(0, 1, len(anchors))
    colours = np.stack([np.interp(heatmap, positions, anchors[:, c]) for c in range(3)], axis=-1)
    base = image if image.shape[-1] == 3 else np.repeat(image[..., :1], 3, axis=-1)
    return np.clip((1 - alpha) * base + alpha * colours, 0, 255).astype(np.uint8)


__all__ = ["Explanation", "explain", "explain_trial", "grad_cam", "occlusion", "overlay"]
