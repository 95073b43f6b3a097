"""A checkpoint's ``metrics.json`` as typed values, so no caller reads numbers by string keys.

    metrics = Metrics.from_dict(core.load_metrics(folder))
    metrics.evaluation.z_sample.test, metrics.evaluation.s.test, metrics.evaluation.chance_test
    str(metrics.evaluation.mean_sd("s"))      # "98.40 ± 0.12": the mean over probe seeds and their sd
    metrics.evaluation.factors["lighting"].mean_sd("z_mean"), metrics.evaluation.unseen.s.test

``MeanSd`` is the one "mean ± sd" every table prints (the report, ``train.evaluate --table``, the sweep, the app).

``from_dict`` reads the layout the evaluators write (``core.evaluation.evaluate_model`` under
"evaluation", DR-GAN's feature probe under "feature_probe", training's summary under "training");
every key it does not type is kept in ``extra``, so ``Metrics.from_dict(d).to_dict() == d`` for the
shipped files. A block it cannot read (an older or foreign layout) is kept as it is and typed as None.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
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


def _stored(value):
    """A typed field as JSON: blocks by their ``to_dict``, a dict of blocks key by key, anything else as it is."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict) and value and all(hasattr(v, "to_dict") for v in value.values()):
        return {k: v.to_dict() for k, v in value.items()}
    return value


@dataclass(frozen=True)
class MeanSd:
    """A mean and the sample standard deviation of the values behind it (None for one value): the one
    "mean ± sd" of every table, printed ``f"{mean:.2f} ± {sd:.2f}"``, or just the mean for one value."""

    mean: float
    sd: float | None = None

    @classmethod
    def of(cls, values: Iterable[float], *, mean: float | None = None) -> MeanSd:
        """Over ``values``; ``mean``: the recorded mean of them, where it was taken before rounding (the probes')."""
        values = list(values)
        if not values:
            raise ValueError("no values to take the mean of")
        return cls(statistics.mean(values) if mean is None else mean,
                   statistics.stdev(values) if len(values) > 1 else None)

    def format(self, places: int = 2) -> str:
        mean = f"{self.mean:.{places}f}"
        return mean if self.sd is None else f"{mean} {self.format_sd(places)}"

    def format_sd(self, places: int = 2) -> str:
        """The spread alone, "± 0.38" ("" for one value)."""
        return "" if self.sd is None else f"± {self.sd:.{places}f}"

    def __str__(self) -> str:
        return self.format()


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
class SeedRuns:
    """One code's probe over the probe seeds: each seed's test accuracy (%) and the epochs each trained."""

    test: list[float]
    epochs: list[int] | None = None
    extra: dict = field(default_factory=dict)  # best_epoch, ... as stored

    @classmethod
    def from_dict(cls, data: dict) -> SeedRuns:
        if not isinstance(data, dict) or not isinstance(data.get("test"), list):
            raise MetricsError("a probe without its seeds' test accuracies")
        typed, extra = _split(data, ("test", "epochs"))
        return cls(typed["test"], typed.get("epochs"), extra)

    def to_dict(self) -> dict:
        return {"test": self.test} | ({"epochs": self.epochs} if self.epochs is not None else {}) | self.extra


@dataclass
class Probes:
    """Each probe seed's reading (``core.evaluation._probes``): the seeds, and per code its ``SeedRuns``."""

    seeds: list[int]
    codes: dict[str, SeedRuns]

    @classmethod
    def from_dict(cls, data: dict) -> Probes:
        if not isinstance(data, dict) or not isinstance(data.get("seeds", []), list):
            raise MetricsError("not a probes block")
        return cls(list(data.get("seeds", [])), {k: SeedRuns.from_dict(v) for k, v in data.items() if k != "seeds"})

    def to_dict(self) -> dict:
        return {"seeds": self.seeds} | {k: v.to_dict() for k, v in self.codes.items()}


class Scored:
    """What a probed block (Table 4.1's, a factor's) says over its probe seeds; read by every table. A block stores
    an accuracy per code of ``CODES`` and its optional fields (default None) when set; ``read`` and ``to_dict``
    are that format, both ways."""

    CODES: tuple[str, ...] = ()

    @classmethod
    def read(cls, data: dict, what: str = "accuracy") -> tuple[list[Accuracy], dict, dict]:
        """(the accuracies in ``CODES`` order, the optional fields present, the rest as stored) of a stored block,
        its probes typed; ``MetricsError`` without an accuracy block over exactly ``CODES`` (``what`` names it)."""
        if not isinstance(data, dict) or not isinstance(data.get("accuracy"), dict):
            raise MetricsError("no 'accuracy' block")
        acc = data["accuracy"]
        if set(acc) != set(cls.CODES):
            raise MetricsError(f"{what} is over {sorted(acc)}, expected {list(cls.CODES)}")
        typed, extra = _split(data, _optional(cls))
        del extra["accuracy"]
        if "probes" in typed:
            typed["probes"] = Probes.from_dict(typed["probes"])
        return [Accuracy.from_dict(acc[c]) for c in cls.CODES], typed, extra

    def to_dict(self) -> dict:
        out = {"accuracy": {c: getattr(self, c).to_dict() for c in self.CODES}}
        return out | {k: _stored(v) for k in _optional(type(self)) if (v := getattr(self, k)) is not None} | self.extra

    def accuracy(self, code: str) -> Accuracy:
        return getattr(self, code)

    def seed_runs(self, code: str) -> SeedRuns | None:
        return None if self.probes is None else self.probes.codes.get(code)

    def mean_sd(self, code: str) -> MeanSd:
        """The test accuracy of ``code``: the recorded mean over probe seeds, with the sd of the seeds' accuracies
        when there are several (the one "mean ± sd" of every table)."""
        runs = self.seed_runs(code)
        mean = self.accuracy(code).test
        return MeanSd.of(runs.test, mean=mean) if runs is not None and len(runs.test) > 1 else MeanSd(mean)

    @property
    def probe_seeds(self) -> int:
        """How many probe seeds the accuracies are the mean of (1 for a block recorded before there were several)."""
        return len(self.probes.seeds) if self.probes is not None and self.probes.seeds else 1


@dataclass
class FactorEvaluation(Scored):
    """Another labelled factor (``core.evaluation.evaluate_factor``, e.g. Yale B lighting) read from z's mean and s."""

    z_mean: Accuracy
    s: Accuracy
    chance_test: float | None = None
    num_values: int | None = None
    protocol: dict | None = None
    probes: Probes | None = None
    hardware: str | None = None
    eval_seconds: float | None = None
    extra: dict = field(default_factory=dict)  # split, ... as stored

    CODES = ("z_mean", "s")

    @classmethod
    def from_dict(cls, data: dict) -> FactorEvaluation:
        accuracies, typed, extra = cls.read(data, "a factor's accuracy")
        return cls(*accuracies, **typed, extra=extra)


@dataclass
class Evaluation(Scored):
    """Table 4.1 (``core.evaluation.evaluate_model``): how well an MLP predicts the label from each code; a whole
    checkpoint's (``core.evaluation.evaluate_checkpoint``) adds other labelled factors and unseen identities."""

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
    num_classes: int | None = None
    seed: int | None = None
    eval_seconds: float | None = None
    protocol: dict | None = None
    probes: Probes | None = None  # each probe seed's test accuracy
    factors: dict[str, FactorEvaluation] | None = None  # other labelled factors: z should predict some, s others
    unseen: Evaluation | None = None  # identities the encoder never saw
    extra: dict = field(default_factory=dict)  # swap_effect, split, ... as stored

    CODES = CODES

    @property
    def chance(self) -> float:
        return math.nan if self.chance_test is None else self.chance_test

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        accuracies, typed, extra = cls.read(data)
        if "chance_test" in typed:
            _number(typed, "chance_test")
        if "silhouette_test" in typed:
            typed["silhouette_test"] = Silhouette.from_dict(typed["silhouette_test"])
        if "factors" in typed:
            if not isinstance(typed["factors"], dict):
                raise MetricsError("'factors' is not a block")
            typed["factors"] = {k: FactorEvaluation.from_dict(v) for k, v in typed["factors"].items()}
        if "unseen" in typed:
            typed["unseen"] = cls.from_dict(typed["unseen"])
        return cls(*accuracies, **typed, extra=extra)


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
    hardware: str | None = None
    extra: dict = field(default_factory=dict)  # protocol, seed, num_train, ... as stored

    probe_seeds = 1  # one probe seed per feature probe
    eval_seconds = None  # not recorded

    @classmethod
    def from_dict(cls, data: dict) -> FeatureProbe:
        if not isinstance(data, dict):
            raise MetricsError("not a block")
        typed, extra = _split(data, ("identity", "pose", "feature_dim", "num_test", "untrained_encoder", "hardware"))
        try:
            identity, pose = Probe.from_dict(typed["identity"]), Probe.from_dict(typed["pose"])
        except (KeyError, TypeError, AttributeError) as err:
            raise MetricsError("no identity and pose probes") from err
        untrained = typed.get("untrained_encoder")
        return cls(identity, pose, typed.get("feature_dim"), typed.get("num_test"),
                   None if untrained is None else cls.from_dict(untrained), typed.get("hardware"), extra)

    def to_dict(self) -> dict:
        out = {"identity": self.identity.to_dict(), "pose": self.pose.to_dict()}
        out |= {k: v for k, v in (("feature_dim", self.feature_dim), ("num_test", self.num_test)) if v is not None}
        if self.untrained_encoder is not None:
            out["untrained_encoder"] = self.untrained_encoder.to_dict()
        return out | ({"hardware": self.hardware} if self.hardware is not None else {}) | self.extra


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
