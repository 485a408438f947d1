"""Backbone features: computed once per data set, mapped afterwards, recomputed when an image
changes; grey images go through the RGB network."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from automl.backbones import get_backbone
from automl.data import CleaningReport, DataSplits

RESOLUTION = 32


def _splits(channels: int, seed: int = 0) -> DataSplits:
    rng = np.random.default_rng(seed)

    def images(n: int) -> np.ndarray:
        return rng.integers(0, 256, (n, 16, 16, channels), dtype=np.uint8)

    labels = np.zeros(6, dtype=np.int32)
    return DataSplits(
        images(6), labels, images(4), labels[:4], images(4), labels[:4],
        ("a", "b"), CleaningReport(), "test", pixel_scale=1 / 255,
    )  # fmt: skip


@pytest.fixture(scope="module")
def backbone_state():
    backbone = get_backbone("efficientnet_lite0")
    return backbone, backbone.verified_state()


def _extractor(backbone_state, data: DataSplits):
    from automl.backbones import feature_extractor

    backbone, state = backbone_state
    return feature_extractor(backbone, state, data.input_shape, RESOLUTION)


def test_features_are_computed_once_and_mapped_after(backbone_state, tmp_path) -> None:
    from automl.backbones import cached_features

    data = _splits(3)
    backbone = backbone_state[0]
    extractor = _extractor(backbone_state, data)
    lines: list[str] = []
    first = cached_features(backbone, extractor, data, RESOLUTION, tmp_path, lines.append)
    assert first.x_train.shape == (6, 1280) and first.x_val.shape == (4, 1280)
    assert first.seconds > 0 and "features of 10 images at 32 px" in lines[0]
    expected = extractor.predict(data.model_input(data.x_val), verbose=0)
    np.testing.assert_allclose(first.x_val, expected, atol=1e-5)

    lines.clear()
    again = cached_features(backbone, extractor, data, RESOLUTION, tmp_path, lines.append)
    assert again.seconds == 0 and not lines
    assert isinstance(again.x_train, np.memmap)
    np.testing.assert_array_equal(again.x_train, first.x_train)
    assert len(list(tmp_path.iterdir())) == 1


def test_a_changed_image_gets_new_features(backbone_state, tmp_path) -> None:
    from automl.backbones import cached_features

    data = _splits(3)
    backbone = backbone_state[0]
    extractor = _extractor(backbone_state, data)
    before = cached_features(backbone, extractor, data, RESOLUTION, tmp_path, print)
    changed = data.x_train.copy()
    changed[0] = 255 - changed[0]
    after = cached_features(
        backbone, extractor, dataclasses.replace(data, x_train=changed), RESOLUTION, tmp_path, print
    )
    assert after.seconds > 0 and len(list(tmp_path.iterdir())) == 2
    assert not np.allclose(after.x_train[0], before.x_train[0])
    np.testing.assert_allclose(after.x_train[1:], before.x_train[1:], atol=1e-5)


def test_grey_images_are_repeated_to_rgb_inside_the_model(backbone_state) -> None:
    grey = _splits(1)
    extractor = _extractor(backbone_state, grey)
    rgb = np.repeat(grey.model_input(grey.x_train), 3, axis=-1)
    rgb_extractor = _extractor(backbone_state, dataclasses.replace(grey, x_train=rgb))
    np.testing.assert_allclose(
        extractor.predict(grey.model_input(grey.x_train), verbose=0),
        rgb_extractor.predict(rgb, verbose=0),
        atol=1e-5,
    )


@pytest.mark.parametrize(("side", "expected"), [(8, 32), (28, 128), (64, 224), (300, 224)])
def test_without_a_budget_images_are_upscaled_at_most_four_times(side, expected) -> None:
    from automl.backbones import default_resolution

    assert default_resolution(get_backbone("efficientnet_lite0"), side) == expected
