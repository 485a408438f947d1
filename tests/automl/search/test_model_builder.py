"""A built model's size, counted by hand on a tiny net."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from automl.search._model_builder import (
    SparseSmoothedCrossentropy,
    activation_values,
    build_model,
    multiply_adds,
)
from automl.search._params import ModelParams


def test_a_nets_multiply_adds_and_activation_values_per_image() -> None:
    params = ModelParams(
        n_blocks=1,
        filters=(4,),
        convs_per_block=1,
        kernel_size=3,
        batch_norm=True,
        activation="relu",
        pooling="max",
        dropout=0.0,
        head="flatten",
        dense_units=0,
        head_dropout=0.0,
        optimizer="adam",
        learning_rate=1e-3,
        weight_decay=0.0,
        batch_size=32,
        augment=False,
    )
    model = build_model(params, (8, 8, 1), num_classes=10)
    # The 3x3 convolution: 8x8 positions x 9 x 4 filters; the output layer: 4x4x4 inputs x 10.
    assert multiply_adds(model) == 8 * 8 * 9 * 4 + 64 * 10
    # Convolution, batch norm and activation 8x8x4 each; pooled and flattened 4x4x4; 10 classes.
    assert activation_values(model) == 3 * 256 + 2 * 64 + 10


def test_smoothed_crossentropy_takes_integer_labels_as_keras_takes_one_hot_ones() -> None:
    labels = np.array([0, 2, 1])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]], np.float32)
    one_hot = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    expected = float(one_hot(np.eye(3)[labels], probabilities))
    assert float(SparseSmoothedCrossentropy(0.1)(labels, probabilities)) == pytest.approx(expected)
    plain = float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities))
    assert float(SparseSmoothedCrossentropy(0.0)(labels[:, None], probabilities)) == pytest.approx(
        plain
    )
    assert expected != pytest.approx(plain)
