"""Guards of the evaluator: inputs and outcomes that would give a number that is no reading.

Each raises a ``ValueError`` subclass whose message says what is wrong and what to do:

- ``check_same_classes(train, test)``: a probe trained on one list of classes and tested on another
  scores label indices that mean different things (``ClassMismatch``);
- ``check_finite_codes(codes, name)``: NaN or infinite codes (``NonFiniteCodes``);
- ``ProbeDidNotTrain``: raised by ``core.evaluation.protocol.probe_accuracy`` when the probe's training loss
  never went down, or when a code that must carry the label is at chance on the probe's own training codes.
"""

from __future__ import annotations

import torch


class ClassMismatch(ValueError):
    """The training and test sets of a probe have different class lists."""


class NonFiniteCodes(ValueError):
    """An encoder produced NaN or infinite codes: no probe can score them."""


class ProbeDidNotTrain(ValueError):
    """The probe's training failed, so its test accuracy would read as 'no information' when it is no reading."""


def check_same_classes(train, test, factor: str | None = None) -> None:
    """Refuse two sets (``ImageSet``-like: ``class_names``, ``factor_names``) whose class names differ.

    With ``factor``, the names of that labelled factor are compared instead of the classes."""
    if factor is None:
        a, b, what = list(train.class_names), list(test.class_names), "class names"
    else:
        a, b, what = list(train.factor_names[factor]), list(test.factor_names[factor]), f"values of {factor!r}"
    if a == b:
        return
    only_train, only_test = [c for c in a if c not in b], [c for c in b if c not in a]
    detail = []
    if only_train:
        detail.append(f"only in the training set: {only_train[:5]}{' ...' if len(only_train) > 5 else ''}")
    if only_test:
        detail.append(f"only in the test set: {only_test[:5]}{' ...' if len(only_test) > 5 else ''}")
    if not detail:
        first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        detail.append(f"same names in another order (first difference at label {first}: {a[first]!r} vs {b[first]!r})")
    raise ClassMismatch(f"the training set ({len(a)} {what}) and the test set ({len(b)}) do not label the same "
                        "classes, so the probe's label numbers would mean different things in each: " + "; ".join(detail) +
                        ". Load both splits of one dataset (the same unseen/seen partition) and evaluate again")


def check_finite_codes(codes: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(codes)
    if bad.any():
        rows = bad.any(dim=1).nonzero().flatten()
        raise NonFiniteCodes(f"{name}: {int(bad.sum())} NaN or infinite values in {rows.numel()} of {codes.shape[0]} "
                             f"codes (first rows: {rows[:5].tolist()}); the encoder produced them, so the model is "
                             "broken (a diverged training run?) and cannot be evaluated")
