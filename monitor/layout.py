"""The column layout of a model: which monitored columns are numeric and which categorical.

Prediction drift reuses the feature machinery: the score is a numeric column named ``score``
and the prediction a column named ``prediction`` of the configured kind.

>>> from monitor.config import ModelConfig
>>> cfg = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"},
...                                                "c": {"kind": "categorical"}}})
>>> Layout.from_model(cfg)
Layout(numeric=('x', 'score'), categorical=('c', 'prediction'))
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import ModelConfig

__all__ = ["PREDICTION", "SCORE", "Layout"]

PREDICTION = "prediction"
SCORE = "score"


@dataclass(frozen=True)
class Layout:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @classmethod
    def from_model(cls, cfg: ModelConfig) -> Layout:
        numeric = [name for name, f in cfg.features.items() if f.kind == "numeric"]
        categorical = [name for name, f in cfg.features.items() if f.kind == "categorical"]
        if cfg.score:
            numeric.append(SCORE)
        if cfg.prediction == "numeric":
            numeric.append(PREDICTION)
        elif cfg.prediction == "categorical":
            categorical.append(PREDICTION)
        return cls(tuple(numeric), tuple(categorical))

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numeric + self.categorical
