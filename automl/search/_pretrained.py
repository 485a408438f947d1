"""Pretrained backbones in a search: the resolution its budget allows, their features computed
once per study and data set, and the whole model (backbone + head) that is kept and exported."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import optuna

from automl.backbones import (
    RESOLUTIONS,
    Features,
    cached_features,
    default_resolution,
    feature_extractor,
    get_backbone,
    seconds_per_image,
)
from automl.data import DataSplits
from automl.search._budget import BudgetPlan
from automl.search._config import SearchConfig
from automl.search._model_builder import with_backbone
from automl.search._params import ModelParams

#: Study attributes: the resolution a backbone's features were computed at (every worker and
#: trial of the study uses the same), or why the budget could not afford them.
RESOLUTION_ATTR = "backbone_resolution:{}"
UNAFFORDABLE_ATTR = "backbone_unaffordable:{}"
#: The share of the screening time left that computing a backbone's features may take:
#: the rest stays for the candidates, CNNs from scratch among them. (On 1,681 drawings and a
#: 300 s budget, a quarter of the 75 s of screening afforded 96 px: 0.794 test accuracy.)
FEATURES_SHARE = 0.5
#: Fine-tuning in the final phase: the backbone's last blocks (and its top convolution) train
#: too, at this share of the head's learning rate, on the images, augmented, in batches of
#: FINE_TUNE_BATCH (a 224 px batch holds every activation of the trained blocks).
FINE_TUNE_BLOCKS = 3
FINE_TUNE_LR_SCALE = 0.1
FINE_TUNE_BATCH = 32


class Pretrained:
    """Per worker process: each backbone's weights read and verified once, its features
    mapped from the study's cache."""

    def __init__(
        self,
        config: SearchConfig,
        data: DataSplits,
        plan: BudgetPlan | None,
        log: Callable[[str], None],
    ) -> None:
        self.config, self.data, self.plan, self.log = config, data, plan, log
        self._states: dict[str, dict[str, np.ndarray]] = {}
        self._features: dict[tuple[str, int], Features] = {}

    @property
    def cache_dir(self) -> Path:
        return self.config.work_dir.parent / "image-cache" / "features"

    def state(self, name: str) -> dict[str, np.ndarray]:
        if name not in self._states:
            self._states[name] = get_backbone(name).verified_state(self.config.weights_dir)
        return self._states[name]

    def extractor(self, name: str, resolution: int) -> keras.Model:
        backbone = get_backbone(name)
        return feature_extractor(backbone, self.state(name), self.data.input_shape, resolution)

    def resolution(self, name: str, study: optuna.Study, *, final: bool = False) -> int:
        """The study's resolution for ``name``, decided by the first trial that needs it:
        ``--backbone-resolution``, or without a budget the images upscaled up to 4 times,
        or with one the largest whose features fit FEATURES_SHARE of the screening time
        left, predicted from a measured pace. A budget that fits none prunes the trial (and
        every later screening trial of this backbone, at once). A ``final`` run (a head
        trained unscreened when no candidate finished a rung) measures against the final
        phase's time instead."""
        attrs = study.user_attrs
        why = attrs.get(UNAFFORDABLE_ATTR.format(name))
        if why and not final:
            raise optuna.TrialPruned(why)
        if RESOLUTION_ATTR.format(name) in attrs:
            return int(attrs[RESOLUTION_ATTR.format(name)])
        resolution = self.config.backbone_resolution or default_resolution(
            get_backbone(name), self.data.input_shape[0]
        )
        if self.config.backbone_resolution is None and self.plan is not None:
            resolution = self._affordable(name, resolution, study, final)
        study.set_user_attr(RESOLUTION_ATTR.format(name), resolution)
        return resolution

    def _affordable(self, name: str, largest: int, study: optuna.Study, final: bool) -> int:
        assert self.plan is not None
        images = len(self.data.x_train) + len(self.data.x_val)
        end = self.plan.deadline if final else self.plan.screening_deadline
        left = end - time.time()
        pace = seconds_per_image(self.extractor(name, largest), self.data)
        smallest = get_backbone(name).min_resolution
        candidates = [largest, *(r for r in RESOLUTIONS if smallest <= r < largest)]
        for resolution in candidates:
            # The network's work grows with its input's pixels.
            predicted = pace * (resolution / largest) ** 2 * images
            if predicted <= FEATURES_SHARE * left:
                return resolution
        why = (
            f"no time for backbone {name}: features of {images} images would take about "
            f"{predicted:.0f} s even at {resolution} px, over {FEATURES_SHARE:.0%} of "
            f"the {left:.0f} s of {'the final run' if final else 'screening'} left"
        )
        if not final:
            study.set_user_attr(UNAFFORDABLE_ATTR.format(name), why)
        self.log(why)
        raise optuna.TrialPruned(why)

    def features(self, params: ModelParams) -> Features:
        assert params.resolution is not None
        key = (params.backbone, params.resolution)
        if key not in self._features:
            self._features[key] = cached_features(
                get_backbone(params.backbone),
                self.extractor(*key),
                self.data,
                params.resolution,
                self.cache_dir,
                self.log,
            )
        return self._features[key]

    def whole_model(self, params: ModelParams, head: keras.Model) -> keras.Model:
        """Image in, probabilities out: the trained head on the frozen backbone, compiled
        with Keras' own loss so that the saved file loads without this package."""
        assert params.resolution is not None
        model = with_backbone(self.extractor(params.backbone, params.resolution), head)
        model.compile(
            optimizer=head.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return model

    def fine_tunable(self, params: ModelParams, head: keras.Model) -> keras.Model:
        """The whole model with the backbone's last FINE_TUNE_BLOCKS blocks and its top
        convolution trainable (their batch norms stay frozen: statistics of a few thousand
        images would replace ImageNet's), compiled for a low learning rate."""
        from automl.backbones import BLOCKS

        model = self.whole_model(params, head)
        first = BLOCKS - FINE_TUNE_BLOCKS
        for layer in model.layers:
            name = layer.name
            block = name.split("_", 1)[0]
            tuned = name.startswith("top") or (
                block.startswith("block") and block[5:].isdigit() and int(block[5:]) >= first
            )
            if tuned and not isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = True
        model.compile(
            optimizer=keras.optimizers.AdamW(
                params.learning_rate * FINE_TUNE_LR_SCALE, weight_decay=params.weight_decay
            ),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def parameter_count(self, name: str) -> int:
        """The backbone's own parameters (its ImageNet classifier left out)."""
        return sum(
            int(array.size)
            for key, array in self.state(name).items()
            if not key.startswith("_fc.") and not key.endswith("num_batches_tracked")
        )


__all__ = [
    "FEATURES_SHARE",
    "FINE_TUNE_BATCH",
    "FINE_TUNE_BLOCKS",
    "FINE_TUNE_LR_SCALE",
    "RESOLUTION_ATTR",
    "UNAFFORDABLE_ATTR",
    "Pretrained",
]
