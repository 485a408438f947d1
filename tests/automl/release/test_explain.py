"""Saliency maps: Grad-CAM follows the evidence a convolution sees, occlusion the part whose
hiding changes the answer; both at the image's size, in [0, 1]."""

from __future__ import annotations

import keras
import numpy as np

from automl.release import explain, overlay
from automl.release._explain import occlusion


def _bright_corner(side: int = 16) -> np.ndarray:
    image = np.zeros((side, side, 1), np.float32)
    image[: side // 4, : side // 4] = 1.0
    return image


def _conv_model(side: int = 16) -> keras.Model:
    """Class 0's evidence is brightness: a 1x1 convolution passes it, pooling sums it."""
    inputs = keras.Input((side, side, 1))
    maps = keras.layers.Conv2D(1, 1, activation="relu", name="evidence")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(maps)
    outputs = keras.layers.Dense(2, activation="softmax")(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("evidence").set_weights([np.ones((1, 1, 1, 1)), np.zeros(1)])
    model.layers[-1].set_weights([np.array([[8.0, -8.0]]), np.zeros(2)])
    return model


def _hot_share(heatmap: np.ndarray, side: int = 16) -> float:
    return float(heatmap[: side // 4, : side // 4].sum() / max(heatmap.sum(), 1e-9))


def test_grad_cam_points_at_the_evidence_of_a_convolution() -> None:
    found = explain(_conv_model(), _bright_corner())
    assert found.method == "Grad-CAM on layer 'evidence'" and found.target == 0
    assert found.heatmap.shape == (16, 16) and 0 <= found.heatmap.min() <= found.heatmap.max() <= 1
    assert _hot_share(found.heatmap) > 0.8
    assert np.isclose(found.probabilities.sum(), 1.0)


def test_without_a_convolution_occlusion_finds_the_part_that_matters() -> None:
    inputs = keras.Input((16, 16, 1))
    corner = keras.layers.Cropping2D(((0, 12), (0, 12)))(inputs)  # only the corner counts
    flat = keras.layers.Flatten()(corner)
    outputs = keras.layers.Dense(2, activation="softmax")(flat)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.tile([[1.0, -1.0]], (16, 1)), np.zeros(2)])
    found = explain(model, _bright_corner())
    assert found.method.startswith("occlusion") or found.method.startswith("Grad-CAM")
    heatmap, method = occlusion(model, _bright_corner(), 0)
    assert method.startswith("occlusion") and _hot_share(heatmap) > 0.6


def test_the_overlay_is_the_image_in_colour_with_the_map_over_it() -> None:
    image = (np.arange(64, dtype=np.uint8).reshape(8, 8, 1)) * 4
    heatmap = np.zeros((8, 8), np.float32)
    heatmap[0, 0] = 1.0
    shown = overlay(image, heatmap)
    assert shown.shape == (8, 8, 3) and shown.dtype == np.uint8
    assert shown[0, 0, 0] > shown[0, 0, 2]  # hot: yellow over the pixel
