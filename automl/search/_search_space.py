"""The search space: the only module that calls ``trial.suggest_*``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna

from automl.backbones import SCRATCH
from automl.search._params import ModelParams

#: Bump when the space changes, so studies record which space their trials came from.
#: 2: "gelu" replaced by "leaky_relu" (TensorFlow's exact GELU uses Erfc, which ONNX lacks).
#: 3: ``augment`` means whole-pixel shifts (and flips where the task allows), not rotation/zoom.
#: 4: those shifts go up to 4 % of the side (1 pixel on 28x28), not 10 %.
#: 5: weight decay up to 0.1, not 0.01 (Keras' decay is decoupled: each step shrinks the weights
#: by decay x learning rate, so 0.01 barely acts; the small-data default uses 0.05).
#: 6: ``label_smoothing`` (0 or 0.1).
#: 7: ``backbone``: a CNN from scratch, or a head on a pretrained network's features.
SEARCH_SPACE_VERSION = 7

FILTER_CHOICES = (16, 32, 48, 64, 96, 128)
DENSE_CHOICES = (0, 64, 128, 256)
BATCH_CHOICES = (64, 128, 256)
#: Only activations every export format converts (see tests/automl/test_export.py).
ACTIVATIONS = ("relu", "leaky_relu", "silu", "elu")
OPTIMIZERS = ("adam", "adamw", "sgd")
LABEL_SMOOTHING_CHOICES = (0.0, 0.1)


def max_blocks(input_shape: tuple[int, int, int]) -> int:
    """Each block halves the image: stop while at least one pixel is left."""
    return max(1, min(4, int(math.log2(min(input_shape[:2])))))


def suggest_params(
    trial: optuna.Trial,
    input_shape: tuple[int, int, int],
    backbones: tuple[str, ...] = (SCRATCH,),
    resolution: Callable[[str], int] | None = None,
) -> ModelParams:
    """``backbones``: what the study may start from (``backbone`` is a parameter only when
    there is a choice); ``resolution``: a pretrained backbone's input side, decided by the
    study."""
    backbone = (
        trial.suggest_categorical("backbone", backbones) if len(backbones) > 1 else backbones[0]
    )
    if backbone != SCRATCH:
        assert resolution is not None
        return ModelParams.head_on(
            backbone,
            resolution(backbone),
            dropout=trial.suggest_float("dropout", 0.0, 0.5),
            dense_units=trial.suggest_categorical("dense_units", DENSE_CHOICES),
            head_dropout=trial.suggest_float("head_dropout", 0.0, 0.6),
            **_training(trial),
        )
    n_blocks = trial.suggest_int("n_blocks", 1, max_blocks(input_shape))
    filters = tuple(
        trial.suggest_categorical(f"filters_{i}", FILTER_CHOICES) for i in range(n_blocks)
    )
    return ModelParams(
        n_blocks=n_blocks,
        filters=filters,
        convs_per_block=trial.suggest_int("convs_per_block", 1, 3),
        kernel_size=trial.suggest_categorical("kernel_size", (3, 5)),
        batch_norm=trial.suggest_categorical("batch_norm", (True, False)),
        activation=trial.suggest_categorical("activation", ACTIVATIONS),
        pooling=trial.suggest_categorical("pooling", ("max", "avg")),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        head=trial.suggest_categorical("head", ("flatten", "gap")),
        dense_units=trial.suggest_categorical("dense_units", DENSE_CHOICES),
        head_dropout=trial.suggest_float("head_dropout", 0.0, 0.6),
        augment=trial.suggest_categorical("augment", (False, True)),
        **_training(trial),
    )


def _training(trial: optuna.Trial) -> dict[str, Any]:
    """How any candidate trains, CNN or head."""
    return {
        "optimizer": trial.suggest_categorical("optimizer", OPTIMIZERS),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
        "batch_size": trial.suggest_categorical("batch_size", BATCH_CHOICES),
        "label_smoothing": trial.suggest_categorical("label_smoothing", LABEL_SMOOTHING_CHOICES),
    }


def strong_default(input_shape: tuple[int, int, int]) -> dict[str, Any]:
    """A known-good small CNN, tried first: under a short budget the first trial decides.

    Three single-conv blocks (32, 64, 128) with batch norm, a 128-unit head and Adam with a
    cosine decay: about 93% validation accuracy on Fashion-MNIST after ten epochs of 25-40 s
    on 2 CPU cores; measured here as better per second than two convs per block (BENCHMARKS.md).
    """
    n_blocks = min(3, max_blocks(input_shape))
    params: dict[str, Any] = {"n_blocks": n_blocks}
    params.update({f"filters_{i}": (32, 64, 128)[i] for i in range(n_blocks)})
    params.update(
        convs_per_block=1,
        kernel_size=3,
        batch_norm=True,
        activation="relu",
        pooling="max",
        dropout=0.25,
        head="flatten",
        dense_units=128,
        head_dropout=0.4,
        optimizer="adam",
        learning_rate=3e-3,
        weight_decay=1e-5,
        batch_size=128,
        augment=False,
        label_smoothing=0.0,
    )
    return params


#: Below this many training images a full-data epoch is cheap, so the final phase trains for
#: many epochs (3,600 Fashion-MNIST images: 50-200 in 150 s on 2 cores), and then a deeper net
#: with a pooled head beats the strong default (BENCHMARKS.md, "The small-data net").
SMALL_DATA_IMAGES = 10_000


def small_data_default(input_shape: tuple[int, int, int]) -> dict[str, Any]:
    """The strong default with two convolutions per block, a global-average-pooled head,
    one-pixel shifts and AdamW's weight decay 0.05: about twice the cost per image, and about a
    point better at equal time once it trains for dozens of epochs (3,600 Fashion-MNIST images,
    150 s: 0.895 against 0.884 on 10,000 other images; the shifts added 0.4 and 0.0 points with
    two seeds, the decay 0.3 and 0.2 at 225 s: BENCHMARKS.md, "The small-data net")."""
    params = strong_default(input_shape)
    params.update(
        convs_per_block=2,
        dropout=0.3,
        head="gap",
        dense_units=0,
        augment=True,
        optimizer="adamw",
        weight_decay=0.05,
    )
    return params


def _without_filters(params: dict[str, Any]) -> dict[str, Any]:
    """A configuration without its per-block filter counts, to give it another block count."""
    return {k: v for k, v in params.items() if not k.startswith("filters_")}


#: Larger images would leave one block's flattened maps too large for its dense head (64x64:
#: 4.2 M weights, over the default cap of 2 M).
ONE_BLOCK_MAX_SIDE = 32


def one_block_default(input_shape: tuple[int, int, int]) -> dict[str, Any]:
    """One block of two 32-filter convolutions, average pooling and a 128-unit head, Adam at
    1e-3, batch 64: the sampler's winner (seeded: its trial 7) of most 10-minute Fashion-MNIST
    searches on hosts where it trains 9-13 final epochs (0.925-0.933 test; 0.920 after 5 on a
    slow host), at 0.67-0.73 times the strong default's time per image (0.40-0.58 ms against
    0.60-0.80 on a 2-core host). Its screening scores undersell
    it: at the 1/2-data rung it scored 0.880 where a one-convolution net scored 0.885 and a
    64-filter one 0.893; trained for the final's 300 s, it reached 0.925 test, they 0.918 and
    0.913. Trained with label smoothing 0.1: for the final's 300 s it scored 0.5
    and 0.8 points higher on the test split than without, with two seeds (BENCHMARKS.md,
    "Training recipes on the final run")."""
    params = _without_filters(strong_default(input_shape))
    params.update(
        n_blocks=1,
        filters_0=32,
        convs_per_block=2,
        batch_norm=False,
        pooling="avg",
        dropout=0.15,
        head_dropout=0.2,
        learning_rate=1e-3,
        weight_decay=7.5e-4,
        batch_size=64,
        label_smoothing=0.1,
    )
    return params


def head_default(backbone: str) -> dict[str, Any]:
    """A linear head on a pretrained backbone's features: AdamW at 1e-3, light dropout, label
    smoothing: the usual transfer-learning start, screened in seconds once features exist."""
    return {
        "backbone": backbone,
        "dropout": 0.2,
        "dense_units": 0,
        "head_dropout": 0.0,
        "optimizer": "adamw",
        "learning_rate": 1e-3,
        "weight_decay": 1e-4,
        "batch_size": 64,
        "label_smoothing": 0.1,
    }


def portfolio(
    input_shape: tuple[int, int, int],
    training_images: int | None = None,
    backbones: tuple[str, ...] = (SCRATCH,),
) -> list[dict[str, Any]]:
    """Known-good configurations screened before the sampler's own, the first of them the one
    to beat: on small data sets the small-data default, on larger ones of small images the
    one-block net (the first candidate is promoted through every rung unopposed, so a cheap,
    strong one goes first); then the strong default, a cheaper two-block variant for
    small budgets, and a wider one with two convolutions per block and augmentation for larger
    ones. With pretrained backbones, a linear head on each: on small data sets first (once the
    features exist it screens in seconds, and the features are computed while most of the
    screening time is left, so the budget affords them a larger resolution: 1,681 drawings,
    300 s: 160 px behind a CNN's first 50 s, 224 px ahead of it), on larger ones second, after
    the CNN to beat (Fashion-MNIST's features took 119 s of its 300 s of screening)."""
    heads = [head_default(b) for b in backbones if b != SCRATCH]
    if SCRATCH not in backbones:  # one choice is no parameter
        return heads if len(heads) > 1 else [{k: v for k, v in heads[0].items() if k != "backbone"}]
    cnns = _cnn_portfolio(input_shape, training_images)
    if len(backbones) > 1:
        cnns = [{"backbone": SCRATCH, **config} for config in cnns]
    if training_images is not None and training_images < SMALL_DATA_IMAGES:
        return [*heads, *cnns]
    return [*cnns[:1], *heads, *cnns[1:]]


def _cnn_portfolio(
    input_shape: tuple[int, int, int], training_images: int | None
) -> list[dict[str, Any]]:
    default = strong_default(input_shape)
    configs = [default]
    if training_images is not None and training_images < SMALL_DATA_IMAGES:
        configs.insert(0, small_data_default(input_shape))
    elif max(input_shape[:2]) <= ONE_BLOCK_MAX_SIDE:
        configs.insert(0, one_block_default(input_shape))
    if max_blocks(input_shape) >= 2:
        small = _without_filters(default)
        small.update(n_blocks=2, filters_0=32, filters_1=64, batch_size=64)
        configs.append(small)
    wide = dict(default)
    wide.update(
        convs_per_block=2,
        optimizer="adamw",
        learning_rate=2e-3,
        weight_decay=5e-4,
        augment=True,
        dropout=0.2,
    )
    configs.append(wide)
    return configs
