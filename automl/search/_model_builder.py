"""Parameters -> an uncompiled ``keras.Model``. Imports no Optuna; knows nothing of training."""

from __future__ import annotations

import math

import keras
import numpy as np

from automl.backbones import feature_extractor, get_backbone
from automl.search._params import ModelParams


def build_model(
    params: ModelParams,
    input_shape: tuple[int, int, int],
    num_classes: int,
    backbone_state: dict[str, np.ndarray] | None = None,
) -> keras.Model:
    """The whole model a trial's parameters describe: a CNN, or a head on a frozen pretrained
    backbone (``backbone_state``: its weights, read and verified by the caller or here)."""
    if params.pretrained:
        backbone = get_backbone(params.backbone)
        assert params.resolution is not None
        extractor = feature_extractor(
            backbone, backbone_state or backbone.verified_state(), input_shape, params.resolution
        )
        return with_backbone(extractor, build_head(params, backbone.feature_size, num_classes))
    return build_cnn(params, input_shape, num_classes)


def build_head(params: ModelParams, feature_size: int, num_classes: int) -> keras.Model:
    """Pooled backbone features -> class probabilities: dropout, an optional hidden layer."""
    layers = keras.layers
    inputs = keras.Input(shape=(feature_size,), name="features")
    x = inputs
    if params.dropout > 0:
        x = layers.Dropout(params.dropout, name="features_dropout")(x)
    if params.dense_units:
        x = layers.Dense(params.dense_units, activation="relu", name="head_dense")(x)
        if params.head_dropout > 0:
            x = layers.Dropout(params.head_dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="head")


def with_backbone(extractor: keras.Model, head: keras.Model) -> keras.Model:
    """One flat model, image in and probabilities out, the backbone frozen: the head's own
    layers (weights and all) applied to the extractor's output."""
    extractor.trainable = False
    x = extractor.output
    for layer in head.layers[1:]:
        x = layer(x)
    return keras.Model(
        extractor.input, x, name=f"automl_{extractor.name.removesuffix('_features')}"
    )


def build_cnn(
    params: ModelParams, input_shape: tuple[int, int, int], num_classes: int
) -> keras.Model:
    """A plain conv-block CNN; augmentation is not part of it (it lives in the input pipeline)."""
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    height, width = input_shape[:2]
    for block, filters in enumerate(params.filters):
        for conv in range(params.convs_per_block):
            x = layers.Conv2D(
                filters,
                params.kernel_size,
                padding="same",
                use_bias=not params.batch_norm,
                name=f"block{block}_conv{conv}",
            )(x)
            if params.batch_norm:
                # momentum 0.9: moving statistics settle within a few dozen steps, which
                # small datasets (a few steps per epoch) need for sane validation scores.
                x = layers.BatchNormalization(momentum=0.9, name=f"block{block}_bn{conv}")(x)
            x = layers.Activation(params.activation, name=f"block{block}_act{conv}")(x)
        if min(height, width) >= 2:  # never pool a 1-pixel map away
            pool = layers.MaxPooling2D if params.pooling == "max" else layers.AveragePooling2D
            x = pool(pool_size=2, name=f"block{block}_pool")(x)
            height, width = height // 2, width // 2
        if params.dropout > 0:
            x = layers.Dropout(params.dropout, name=f"block{block}_dropout")(x)
    if params.head == "gap":
        x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    else:
        x = layers.Flatten(name="head_flatten")(x)
    if params.dense_units:
        x = layers.Dense(params.dense_units, activation=params.activation, name="head_dense")(x)
        if params.head_dropout > 0:
            x = layers.Dropout(params.head_dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="automl_cnn")


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds per image of the convolutions and dense layers: what their time grows
    with."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            height, width, filters = layer.output.shape[1:]
            kernel_height, kernel_width = layer.kernel_size
            total += height * width * kernel_height * kernel_width * layer.input.shape[-1] * filters
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


def activation_values(model: keras.Model) -> int:
    """Values per image that the layers output: what the time of the layers that do a few
    operations per value (batch norm, activations, pooling, dropout) grows with. On a 2-core
    host they took more of a small net's step than its convolutions (BENCHMARKS.md, "A
    candidate's pace, predicted before it trains")."""
    return sum(
        math.prod(layer.output.shape[1:])
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    )


def make_optimizer(params: ModelParams) -> keras.optimizers.Optimizer:
    """The sampled optimizer; its learning rate is then set each epoch by ``BudgetCosine``."""
    schedule = params.learning_rate
    if params.optimizer == "adam":
        return keras.optimizers.Adam(schedule, weight_decay=params.weight_decay)
    if params.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=params.weight_decay)
    if params.optimizer == "sgd":
        return keras.optimizers.SGD(
            schedule, momentum=0.9, nesterov=True, weight_decay=params.weight_decay
        )
    raise ValueError(f"unknown optimizer {params.optimizer!r}")


class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy against integer labels smoothed towards uniform (Keras smooths one-hot
    labels only)."""

    def __init__(self, smoothing: float, name: str = "sparse_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        targets = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(
            targets, y_pred, label_smoothing=self.smoothing
        )


def compile_model(model: keras.Model, params: ModelParams) -> None:
    model.compile(
        optimizer=make_optimizer(params),
        loss=(
            SparseSmoothedCrossentropy(params.label_smoothing)
            if params.label_smoothing
            else "sparse_categorical_crossentropy"
        ),
        metrics=["accuracy"],
    )


def compile_for_saving(model: keras.Model) -> None:
    """A trained model recompiled with Keras' own loss and its own optimizer (state and all),
    so that its saved file loads without this package: only training needs the smoothed
    loss."""
    model.compile(
        optimizer=model.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
