"""The frozen parameter record a trial trains with; plain data, no Optuna."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ModelParams:
    n_blocks: int
    filters: tuple[int, ...]
    convs_per_block: int
    kernel_size: int
    batch_norm: bool
    activation: str
    pooling: str
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

    def __post_init__(self) -> None:
        if len(self.filters) != self.n_blocks:
            raise ValueError(f"{self.n_blocks} blocks need {self.n_blocks} filter counts")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filters"] = list(self.filters)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelParams:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["filters"] = tuple(int(f) for f in values["filters"])
        return cls(**values)
