"""A checkpoint's ``metrics.json`` as typed values, so no caller reads numbers by string keys.

    metrics = Metrics.from_dict(core.load_metrics(folder))
    metrics.evaluation.z_sample.test, metrics.evaluation.s.test, metrics.evaluation.chance_test

``from_dict`` reads the layout the evaluators write (``core.evaluation.evaluate_model`` under
"evaluation", DR-GAN's feature probe under "feature_probe", training's summary under "training");
every key it does not type is kept in ``extra``, so ``Metrics.from_dict(d).to_dict() == d`` for the
shipped files. A block it cannot read (an older or foreign layout) is kept as it is and typed as None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields


class MetricsError(ValueError):
    """A metrics block whose layout is not the one the evaluators write."""


def _number(block: dict, key: str) -> float:
    try:
        value = block[key]
    except (KeyError, TypeError) as err:
        raise MetricsError(f"missing {key!r}") from err
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetricsError(f"{key!r} is not a number: {value!r}")
    return value


def _split(data: dict, known: tuple[str, ...]) -> tuple[dict, dict]:
    """The keys of ``data`` in ``known`` and the others."""
    return {k: v for k, v in data.items() if k in known}, {k: v for k, v in data.items() if k not in known}


def _optional(cls) -> list[str]:
    """The names of a block's optional fields (default None): stored only when set."""
    return [f.name for f in fields(cls) if f.name != "extra" and f.default is None]


@dataclass(frozen=True)
class Numbers:
    """A block of named numbers, stored as a JSON object with the fields' names as keys."""

    @classmethod
    def from_dict(cls, data: dict):
        return cls(*(_number(data, f.name) for f in fields(cls)))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Accuracy(Numbers):
    """A classifier's accuracy in % on the training and the test codes."""

    train: float
    test: float


@dataclass(frozen=True)
class Silhouette(Numbers):
    """Silhouette scores by label of the test codes, in [-1, 1]: z's posterior mean and s."""

    z_mean: float
    s: float


CODES = ("z_sample", "z_mean", "s")  # Table 4.1's columns: z after reparameterisation, z's posterior mean, s


@dataclass
class Evaluation:
    """Table 4.1 (``core.evaluation.evaluate_model``): how well an MLP predicts the label from each code."""

    z_sample: Accuracy
    z_mean: Accuracy
    s: Accuracy
    chance_test: float | None = None  # % of the most frequent test label
    silhouette_test: Silhouette | None = None
    num_train: int | None = None
    num_test: int | None = None
    classifier_epochs: int | None = None
    hardware: str | None = None
    date: str | None = None
    extra: dict = field(default_factory=dict)  # swap_effect, factors, unseen, seed, ... as stored

    @property
    def chance(self) -> float:
        return math.nan if self.chance_test is None else self.chance_test

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        if not isinstance(data, dict) or not isinstance(data.get("accuracy"), dict):
            raise MetricsError("no 'accuracy' block")
        acc = data["accuracy"]
        if set(acc) != set(CODES):
            raise MetricsError(f"accuracy is over {sorted(acc)}, expected {list(CODES)}")
        typed, extra = _split(data, _optional(cls))
        del extra["accuracy"]
        if "chance_test" in typed:
            _number(typed, "chance_test")
        if "silhouette_test" in typed:
            typed["silhouette_test"] = Silhouette.from_dict(typed["silhouette_test"])
        return cls(*(Accuracy.from_dict(acc[c]) for c in CODES), **typed, extra=extra)

    def to_dict(self) -> dict:
        out = {"accuracy": {c: getattr(self, c).to_dict() for c in CODES}}
        for k in _optional(type(self)):
            value = getattr(self, k)
            if value is not None:
                out[k] = value.to_dict() if isinstance(value, Numbers) else value
        return out | self.extra


@dataclass
class Probe:
    """One label's classifier on DR-GAN's feature f: accuracies in % and chance."""

    train: float
    test: float
    chance_test: float
    num_classes: int | None = None
    factor: str | None = None  # the pose probe: which factor
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Probe:
        typed, extra = _split(data, ("train", "test", "chance_test", *_optional(cls)))
        return cls(*(_number(data, k) for k in ("train", "test", "chance_test")),
                   **{k: v for k, v in typed.items() if k in _optional(cls)}, extra=extra)

    def to_dict(self) -> dict:
        out = {"train": self.train, "test": self.test, "chance_test": self.chance_test}
        return out | {k: getattr(self, k) for k in _optional(type(self)) if getattr(self, k) is not None} | self.extra


@dataclass
class FeatureProbe:
    """DR-GAN (``core.evaluation.drgan``): what its identity feature f knows about identity and pose."""

    identity: Probe
    pose: Probe
    feature_dim: int | None = None
    num_test: int | None = None
    untrained_encoder: FeatureProbe | None = None  # the same probe on an untrained encoder of the same shape
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureProbe:
        if not isinstance(data, dict):
            raise MetricsError("not a block")
        typed, extra = _split(data, ("identity", "pose", "feature_dim", "num_test", "untrained_encoder"))
        try:
            identity, pose = Probe.from_dict(typed["identity"]), Probe.from_dict(typed["pose"])
        except (KeyError, TypeError, AttributeError) as err:
            raise MetricsError("no identity and pose probes") from err
        untrained = typed.get("untrained_encoder")
        return cls(identity, pose, typed.get("feature_dim"), typed.get("num_test"),
                   None if untrained is None else cls.from_dict(untrained), extra)

    def to_dict(self) -> dict:
        out = {"identity": self.identity.to_dict(), "pose": self.pose.to_dict()}
        out |= {k: v for k, v in (("feature_dim", self.feature_dim), ("num_test", self.num_test)) if v is not None}
        if self.untrained_encoder is not None:
            out["untrained_encoder"] = self.untrained_encoder.to_dict()
        return out | self.extra


@dataclass
class Training:
    """What training wrote: steps, wall-clock seconds, the machine."""

    steps: int
    seconds: float
    hardware: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Training:
        if not isinstance(data, dict) or not isinstance(data.get("hardware", ""), str):
            raise MetricsError("not a training block")
        typed, extra = _split(data, ("steps", "seconds", "hardware"))
        return cls(_number(data, "steps"), _number(data, "seconds"), typed.get("hardware", ""), extra)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "seconds": self.seconds} | ({"hardware": self.hardware} if self.hardware else {}) \
            | self.extra


BLOCKS = {"training": Training, "evaluation": Evaluation, "feature_probe": FeatureProbe}


@dataclass
class Metrics:
    """The whole metrics.json: each block typed when present and readable, else None (and kept in ``extra``)."""

    training: Training | None = None
    evaluation: Evaluation | None = None
    feature_probe: FeatureProbe | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict | None) -> Metrics:
        typed, extra = {}, {}
        for key, value in (data or {}).items():
            try:
                typed[key] = BLOCKS[key].from_dict(value)
            except KeyError:
                extra[key] = value  # a block this module does not type
            except (MetricsError, TypeError, ValueError, AttributeError):
                extra[key] = value  # a layout it cannot read: kept as it is, not shown as numbers
        return cls(**typed, extra=extra)

    def to_dict(self) -> dict:
        out = {name: block.to_dict() for name in BLOCKS if (block := getattr(self, name)) is not None}
        return out | self.extra

    def unreadable(self) -> list[str]:
        """The blocks present in the file that are not in the layout this module reads."""
        return [name for name in BLOCKS if name in self.extra]
