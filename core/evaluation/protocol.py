"""The evaluation protocol: one named, versioned way to turn frozen codes into a Table 4.1 accuracy.

A reading of "how much of the label is in z" depends on how long the probe trains (ours on the posterior
mean: 66% after 15 epochs, 72% after 50), so the probe trains until it stops improving on a validation
split held out of the training codes (early stopping with a maximum), and every metrics file records
the protocol it was scored with. Rows scored on different protocols never share a table
(``check_one_protocol``).

    PROTOCOL                       # the protocol of every results table: see its fields
    probe_accuracy(train_codes, train_labels, test_codes, test_labels, seed=0)   # -> ProbeResult
    Protocol.fixed(15)             # the old fixed-epoch reading, named as such (Train live's quick check)

The probe is the authors' classifier (``core.evaluation.classifier.mlp_classifier``: 256-256, BatchNorm,
LeakyReLU 0.2), Adam, batch 256. For z it reads a reparameterised sample (a fresh one per training batch,
one fixed sample for the validation and test codes), as the paper's protocol does.

The probe refuses NaN or infinite codes and a probe that did not train (``core.evaluation.guards``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields

import torch

from core.evaluation.classifier import mlp_classifier, sample_codes, top1, train_epoch
from core.evaluation.guards import ProbeDidNotTrain, check_finite_codes


@dataclass(frozen=True)
class Protocol:
    """How a probe is trained and scored. Two readings are comparable iff their ``to_dict()`` are equal."""

    name: str = "probe-early-stop"
    version: int = 1
    probe: str = "MLP 256-256, BatchNorm, LeakyReLU 0.2"
    optimiser: str = "Adam"
    lr: float = 1e-3
    batch_size: int = 256
    val_fraction: float = 0.1  # of the training codes, held out to decide when to stop (0: no early stopping)
    max_epochs: int = 50  # the authors' fixed length is the most it trains
    patience: int = 5  # epochs without a better validation accuracy before it stops (0: train max_epochs)
    min_delta: float = 0.001  # an improvement smaller than this (fraction, i.e. 0.1 points) does not count
    split_seed: int = 0  # which training codes are the validation split (fixed: probe seeds vary the rest)
    max_train: int = 0  # training images encoded (0: the whole training split)
    max_test: int = 0  # test images (0: the whole test split)

    @property
    def key(self) -> str:
        return f"{self.name}/v{self.version}"

    @property
    def early_stopping(self) -> bool:
        return self.val_fraction > 0 and self.patience > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Protocol:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown protocol fields {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def fixed(cls, epochs: int, **changes) -> Protocol:
        """A fixed number of epochs on all training codes, no validation split (the pre-protocol reading)."""
        return cls(name=f"fixed-{epochs}-epochs", version=1, val_fraction=0.0, max_epochs=epochs, patience=0,
                   min_delta=0.0, **changes)

    def with_sizes(self, max_train: int, max_test: int) -> Protocol:
        return Protocol(**self.to_dict() | {"max_train": max_train, "max_test": max_test})

    def describe(self) -> str:
        stop = (f"until the accuracy on {self.val_fraction:.0%} of the training codes held out stops improving "
                f"({self.patience} epochs' patience, at most {self.max_epochs})" if self.early_stopping
                else f"{self.max_epochs} epochs")
        sizes = "" if not (self.max_train or self.max_test) else \
            f"; at most {self.max_train or 'all':,} training and {self.max_test or 'all':,} test images"
        return (f"protocol `{self.key}`: {self.probe} probe, {self.optimiser} {self.lr:g}, batch {self.batch_size}, "
                f"trained {stop}{sizes}")


PROTOCOL = Protocol()
MIN_CODES_TO_JUDGE = 1000  # below this many training codes (smoke runs), "at chance" is not told from noise: no check


# ------------------------------------------------------------------------------------------- guards

class ProtocolMismatch(ValueError):
    """Rows scored on different protocols were about to share a table."""


def protocol_of(evaluation) -> dict | None:
    """The protocol an evaluation block was scored with (its ``protocol`` entry with the data sizes it used),
    or, for a block written before protocols existed, the fixed-epoch reading it describes. ``evaluation``: the
    block as stored, or typed (``core.evaluation.result``)."""
    if hasattr(evaluation, "to_dict"):
        evaluation = evaluation.to_dict()
    if "protocol" in evaluation and isinstance(evaluation["protocol"], dict):
        recorded = dict(evaluation["protocol"])
    elif "classifier_epochs" in evaluation:
        recorded = Protocol.fixed(int(evaluation["classifier_epochs"])).to_dict()
    else:
        return None
    # the sizes actually used decide (max_train / max_test only say how they were chosen)
    recorded = {k: v for k, v in recorded.items() if k not in ("max_train", "max_test")}
    return recorded | {"num_train": evaluation.get("num_train"), "num_test": evaluation.get("num_test")}


def check_one_protocol(rows: dict[str, dict]) -> dict:
    """Refuse rows (name -> evaluation block) scored on different protocols or data sizes; the shared protocol.

    The message names the rows of each protocol and the fields in which they differ."""
    if not rows:
        raise ProtocolMismatch("no rows to compare")
    found = {name: protocol_of(block) for name, block in rows.items()}
    missing = [name for name, p in found.items() if p is None]
    if missing:
        raise ProtocolMismatch(f"no protocol recorded for {missing}: re-evaluate them with python -m train.evaluate")
    groups: list[tuple[dict, list[str]]] = []
    for name, p in found.items():
        for proto, names in groups:
            if proto == p:
                names.append(name)
                break
        else:
            groups.append((p, [name]))
    if len(groups) == 1:
        return groups[0][0]
    (first, first_names), rest = groups[0], groups[1:]
    lines = [f"rows scored on {len(groups)} different protocols cannot share a table:"]
    for proto, names in rest:
        diff = {k: (first.get(k), proto.get(k)) for k in sorted(set(first) | set(proto)) if first.get(k) != proto.get(k)}
        lines.append(f"  {names} differ from {first_names} in " +
                     ", ".join(f"{k} ({a!r} vs {b!r})" for k, (a, b) in diff.items()))
    lines.append("re-evaluate them on one protocol (python -m train.evaluate) or put them in separate tables")
    raise ProtocolMismatch("\n".join(lines))


# ------------------------------------------------------------------------------------------- the probe

@dataclass(frozen=True)
class ProbeResult:
    """Accuracies in [0, 1] on the probe's own training codes, the validation codes and the test codes."""

    train: float
    val: float | None
    test: float
    epochs: int  # epochs trained (early stopping: the best epoch plus the patience, or max_epochs)
    best_epoch: int  # the epoch whose weights were kept (1-based)


def _chance(labels: torch.Tensor) -> float:
    return torch.bincount(labels).max().item() / labels.numel()


def probe_accuracy(train_codes: torch.Tensor, train_labels: torch.Tensor,
                   test_codes: torch.Tensor, test_labels: torch.Tensor, *,
                   protocol: Protocol = PROTOCOL, train_logvar: torch.Tensor | None = None,
                   test_logvar: torch.Tensor | None = None, num_classes: int | None = None, seed: int = 0,
                   must_learn: bool = False, name: str = "codes") -> ProbeResult:
    """Train the protocol's probe on (codes, labels), stopping on the validation split; score it.

    ``ProbeDidNotTrain`` when the probe took no step or its loss is not finite, and, with ``must_learn`` (a code
    that must carry the label: s), when it is at chance on the held-out part of its training codes (on all of them
    for a protocol without a validation split), within 3 standard errors: the probe or the model failed (judged
    from ``MIN_CODES_TO_JUDGE`` training codes up). z near chance is a legitimate reading ("z
    carries no label"), so z probes are not held to it.
    """
    for codes, what in ((train_codes, "training"), (test_codes, "test"), (train_logvar, "training log-variance"),
                        (test_logvar, "test log-variance")):
        if codes is not None:
            check_finite_codes(codes, f"{name} ({what})")
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    n = train_codes.shape[0]
    split = torch.randperm(n, generator=torch.Generator().manual_seed(protocol.split_seed))
    n_val = int(round(n * protocol.val_fraction)) if protocol.early_stopping else 0
    val_idx, fit_idx = split[:n_val], split[n_val:]
    x_fit, y_fit = train_codes[fit_idx], train_labels[fit_idx]
    lv_fit = None if train_logvar is None else train_logvar[fit_idx]
    fixed_g = torch.Generator().manual_seed(seed + 1)  # one fixed sample of z for validation, test and train scores
    x_val = sample_codes(train_codes[val_idx], None if train_logvar is None else train_logvar[val_idx], fixed_g)
    y_val = train_labels[val_idx]

    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = mlp_classifier(train_codes.shape[1], num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=protocol.lr)
    best, best_state, best_epoch, best_loss, steps = -1.0, None, 0, math.inf, 0
    epoch = 0
    for epoch in range(1, protocol.max_epochs + 1):
        losses = train_epoch(net, opt, x_fit, lv_fit, y_fit, protocol.batch_size, g)
        steps += len(losses)
        epoch_loss = sum(losses) / max(len(losses), 1)
        if not protocol.early_stopping:
            best_epoch, best_loss = epoch, epoch_loss
            continue
        acc = top1(net, x_val, y_val)
        if acc > best + protocol.min_delta:
            best, best_epoch, best_loss = acc, epoch, epoch_loss
            best_state = copy.deepcopy(net.state_dict())
        elif epoch - best_epoch >= protocol.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    if steps == 0:
        raise ProbeDidNotTrain(f"{name}: the probe took no training step ({x_fit.shape[0]} training codes after the "
                               f"validation split, batch {protocol.batch_size}): no reading; evaluate on more images")
    if not math.isfinite(best_loss):
        raise ProbeDidNotTrain(f"{name}: the probe's training loss is {best_loss} (epoch {best_epoch}): no reading; "
                               "check the codes' scale and the learning rate")
    train_acc = top1(net, sample_codes(x_fit, lv_fit, fixed_g), y_fit)
    if must_learn and x_fit.shape[0] >= MIN_CODES_TO_JUDGE:
        # judged on the training codes it did not fit (the validation split), where memorising cannot help
        acc, ref = (best, y_val) if n_val else (train_acc, y_fit)
        p = _chance(ref)
        if acc <= p + max(0.01, 3 * math.sqrt(p * (1 - p) / ref.numel())):
            raise ProbeDidNotTrain(f"{name}: the probe is at chance on {'held-out' if n_val else 'its own'} training "
                                   f"codes ({100 * acc:.2f}% against {100 * p:.2f}%): either the probe did not train or "
                                   "these codes carry nothing of the label (a collapsed model); no reading")
    test_acc = top1(net, sample_codes(test_codes, test_logvar, fixed_g), test_labels)
    return ProbeResult(train=train_acc, val=None if n_val == 0 else best, test=test_acc, epochs=epoch,
                       best_epoch=best_epoch)
