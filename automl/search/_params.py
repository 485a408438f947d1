"""The frozen parameter record a trial trains with; plain data, no Optuna."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from automl.backbones import SCRATCH

#: What only a CNN trained from scratch has; a pretrained backbone's head records none of it.
CNN_ONLY = {
    "n_blocks": 0,
    "filters": (),
    "convs_per_block": 0,
    "kernel_size": 0,
    "batch_norm": False,
    "activation": "relu",
    "pooling": "avg",
    "head": "gap",
    "augment": False,
}


@dataclass(frozen=True)
class ModelParams:
    n_blocks: int
    filters: tuple[int, ...]
    convs_per_block: int
    kernel_size: int
    batch_norm: bool
    activation: str
    pooling: str
    #: A CNN: dropout after each block. A backbone: dropout on its pooled features.
    dropout: float
    head: str
    dense_units: int
    head_dropout: float
    optimizer: str
    learning_rate: float
    weight_decay: float
    batch_size: int
    augment: bool
    #: Training targets smoothed towards uniform by this much (0: plain cross-entropy).
    label_smoothing: float = 0.0
    #: ``scratch``, or the pretrained network (``automl.backbones``) the head sits on.
    backbone: str = SCRATCH
    #: A backbone's input side (the images are resized to it inside the model); the study
    #: decides it once, from its budget.
    resolution: int | None = None

    def __post_init__(self) -> None:
        if len(self.filters) != self.n_blocks:
            raise ValueError(f"{self.n_blocks} blocks need {self.n_blocks} filter counts")
        if self.pretrained and self.resolution is None:
            raise ValueError(f"backbone {self.backbone!r} needs a resolution")

    @property
    def pretrained(self) -> bool:
        return self.backbone != SCRATCH

    @classmethod
    def head_on(cls, backbone: str, resolution: int, **head: Any) -> ModelParams:
        """A head on a pretrained backbone: the CNN-only fields at their neutral values."""
        return cls(**CNN_ONLY, backbone=backbone, resolution=resolution, **head)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filters"] = list(self.filters)
        if self.pretrained:
            data = {k: v for k, v in data.items() if k not in CNN_ONLY}
        else:
            del data["resolution"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelParams:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if values.get("backbone", SCRATCH) != SCRATCH:
            values = {**CNN_ONLY, **values}
        values["filters"] = tuple(int(f) for f in values["filters"])
        return cls(**values)
