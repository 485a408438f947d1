"""Pretrained backbones: the catalog and its weights (no TensorFlow), the Keras networks and
their features cached per data set (TensorFlow, loaded on first use)."""

from typing import TYPE_CHECKING

from automl._lazy import lazy_getattr
from automl.backbones._catalog import (
    BACKBONES,
    SCRATCH,
    Backbone,
    BackboneError,
    get_backbone,
)
from automl.backbones._torch_file import UnsafeFile, read_state_dict

if TYPE_CHECKING:
    from automl.backbones._efficientnet_lite import BLOCKS, classifier
    from automl.backbones._features import (
        RESOLUTIONS,
        Features,
        cached_features,
        default_resolution,
        feature_extractor,
        seconds_per_image,
    )

__all__ = [
    "BACKBONES",
    "BLOCKS",
    "RESOLUTIONS",
    "SCRATCH",
    "Backbone",
    "BackboneError",
    "Features",
    "UnsafeFile",
    "cached_features",
    "classifier",
    "default_resolution",
    "feature_extractor",
    "get_backbone",
    "read_state_dict",
    "seconds_per_image",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        "automl.backbones._efficientnet_lite": ("BLOCKS", "classifier"),
        "automl.backbones._features": (
            "RESOLUTIONS",
            "Features",
            "cached_features",
            "default_resolution",
            "feature_extractor",
            "seconds_per_image",
        ),
    },
)
