"""Evaluation: pure functions over codes and labels, plus ``evaluate_model`` that encodes first and
``evaluate_checkpoint``, the whole reading of a checkpoint that ``python -m train.evaluate`` records."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch

from core.data import ImageSet, holdout_split
from core.evaluation.classifier import chance_accuracy, classifier_accuracy, mlp_classifier
from core.evaluation.guards import ClassMismatch, NonFiniteCodes, ProbeDidNotTrain, check_finite_codes, check_same_classes
from core.evaluation.paper import PAPER_RESULTS, PAPER_VARIANTS
from core.evaluation.projection import cached_projection, project_2d, silhouette
from core.evaluation.protocol import PROTOCOL, Protocol, ProtocolMismatch, check_one_protocol, probe_accuracy
from core.explore import encode_all, swap_effects


def _protocol(protocol: Protocol | None, epochs: int | None) -> Protocol:
    if protocol is not None and epochs is not None:
        raise ValueError("give a protocol or a fixed number of epochs, not both")
    return protocol or (PROTOCOL if epochs is None else Protocol.fixed(epochs))


def _probes(named: dict, labels: tuple, protocol: Protocol, seeds: Sequence[int], num_classes: int) -> dict:
    """Each named probe (name -> (train codes, test codes, train logvar, test logvar, must_learn)) over the seeds:
    the accuracy block (mean over seeds, %), and each seed's test accuracy and epochs."""
    y_tr, y_te = labels
    accuracy, per_seed = {}, {}
    for name, (a, b, lv_a, lv_b, must_learn) in named.items():
        runs = [probe_accuracy(a, y_tr, b, y_te, protocol=protocol, train_logvar=lv_a, test_logvar=lv_b,
                               num_classes=num_classes, seed=seed, must_learn=must_learn, name=name) for seed in seeds]
        accuracy[name] = {"train": round(100 * statistics.mean(r.train for r in runs), 2),
                          "test": round(100 * statistics.mean(r.test for r in runs), 2)}
        per_seed[name] = {"test": [round(100 * r.test, 2) for r in runs], "epochs": [r.epochs for r in runs],
                          "best_epoch": [r.best_epoch for r in runs]}
    return {"accuracy": accuracy, "probes": {"seeds": list(seeds)} | per_seed}


def evaluate_model(model, train: ImageSet, test: ImageSet, *, protocol: Protocol | None = None,
                   epochs: int | None = None, seed: int = 0, seeds: Sequence[int] | None = None) -> dict:
    """Table 4.1 accuracies (in %) for z sampled, z mean and s, plus chance and silhouettes.

    Scored on ``protocol`` (default ``PROTOCOL``; ``epochs=N`` is ``Protocol.fixed(N)``, the quick reading),
    averaged over the probe ``seeds`` (default: ``seed``); the block records the protocol, each seed's test
    accuracy and how many epochs each probe trained. Refuses sets whose class names differ and NaN codes.
    """
    protocol = _protocol(protocol, epochs)
    seeds = list(seeds) if seeds is not None else [seed]
    check_same_classes(train, test)
    model.eval()
    tr, te = encode_all(model, train.images), encode_all(model, test.images)
    k = max(len(train.class_names), len(test.class_names))
    named = {"z_sample": (tr.z_mu, te.z_mu, tr.z_logvar, te.z_logvar, False),
             "z_mean": (tr.z_mu, te.z_mu, None, None, False),
             "s": (tr.s, te.s, None, None, True)}
    probes = _probes(named, (train.labels, test.labels), protocol, seeds, k)
    labels = test.labels.numpy()
    effects = swap_effects(model, test.images[torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:256]])
    return {
        "accuracy": probes["accuracy"],
        "chance_test": round(100 * chance_accuracy(test.labels), 2),
        "silhouette_test": {"z_mean": round(silhouette(te.z_mu.numpy(), labels, seed=seed), 4),
                            "s": round(silhouette(te.s.numpy(), labels, seed=seed), 4)},
        # does z still change the picture? A z that carries nothing leaks nothing: read z accuracy beside this
        "swap_effect": {k: round(v, 5) for k, v in effects.items()} | {
            "z_over_s": round(effects["z_effect"] / max(effects["s_effect"], 1e-12), 4)},
        "num_train": len(train), "num_test": len(test), "num_classes": k,
        "classifier_epochs": max(max(p["epochs"]) for name, p in probes["probes"].items() if name != "seeds"),
        "seed": seed, "protocol": protocol.to_dict(), "probes": probes["probes"],
    }


def evaluate_factor(model, train: ImageSet, test: ImageSet, factor: str, *, protocol: Protocol | None = None,
                    epochs: int | None = None, seed: int = 0, seeds: Sequence[int] | None = None) -> dict:
    """How well z (mean) and s predict another labelled factor (e.g. Yale B lighting), in %.

    For a good split the roles reverse: z should predict the unspecified factor, s should not.
    """
    protocol = _protocol(protocol, epochs)
    check_same_classes(train, test, factor)
    model.eval()
    tr, te = encode_all(model, train.images), encode_all(model, test.images)
    k = len(train.factor_names[factor])
    named = {"z_mean": (tr.z_mu, te.z_mu, None, None, False), "s": (tr.s, te.s, None, None, False)}
    probes = _probes(named, (train.factors[factor], test.factors[factor]), protocol,
                     list(seeds) if seeds is not None else [seed], k)
    return {"accuracy": probes["accuracy"], "chance_test": round(100 * chance_accuracy(test.factors[factor]), 2),
            "num_values": k, "protocol": protocol.to_dict(), "probes": probes["probes"]}


def within_test(test: ImageSet, factor: str, seed: int) -> list[ImageSet]:
    """The two halves (per value of ``factor``) of the test split, for a factor whose values training never saw."""
    keyed = ImageSet(test.images, test.factors[factor], test.factor_names[factor], test.name,
                     {"index": torch.arange(len(test))}, {})  # labelled by the factor, each image's place kept
    return [test.subset(holdout_split(keyed, split, fraction=0.5, seed=seed).factors["index"]) for split in ("train", "test")]


UNSEEN_SPLIT = ("classifier trained on codes of half of each unseen identity's images, tested on the other half; the "
                "encoder never saw these identities")


def evaluate_checkpoint(model, train: ImageSet, test: ImageSet, *, protocol: Protocol | None = None,
                        epochs: int | None = None, seed: int = 0, seeds: Sequence[int] | None = None,
                        max_train: int = 0, max_test: int = 0, unseen: ImageSet | None = None,
                        generator: torch.Generator | None = None) -> dict:
    """A whole checkpoint's evaluation, the block ``python -m train.evaluate`` records: Table 4.1 on the test split
    (``evaluate_model``), every other labelled factor of the data (``evaluate_factor``: z should predict some, s
    others), and, given ``unseen`` (identities the encoder never saw), Table 4.1 on the halves of each one's images.

    ``max_train`` / ``max_test`` (0: all): random subsets (``ImageSet.random_subset``) of ``train``, then of
    ``test``, then of each unseen half, all drawn in that order from ``generator`` (default: seeded with ``seed``);
    sets already that small are kept as they are, without a draw. ``protocol``, ``epochs``, ``seed`` and ``seeds``
    are ``evaluate_model``'s.
    """
    protocol = _protocol(protocol, epochs)
    g = torch.Generator().manual_seed(seed) if generator is None else generator
    train, test = train.random_subset(max_train, g), test.random_subset(max_test, g)
    common = dict(protocol=protocol, seed=seed, seeds=seeds)
    metrics = evaluate_model(model, train, test, **common)
    for factor in train.factors:  # e.g. Yale B lighting: z should predict it, s should not
        shared = set(train.factors[factor].tolist()) & set(test.factors[factor].tolist())
        if shared:
            block = evaluate_factor(model, train, test, factor, **common)
        else:  # the test split's values never occur in training (expression sets: split by person): within test
            block = evaluate_factor(model, *within_test(test, factor, seed), factor, **common)
            block["split"] = (f"the test split's {factor} values never occur in the training split: the probe is "
                              f"trained on half of each value's test images and tested on the other half")
        metrics.setdefault("factors", {})[factor] = block
    if unseen is not None:  # does s still tell identities apart that training never saw?
        halves = [holdout_split(unseen, split, fraction=0.5, seed=seed).random_subset(n, g)  # Sprites: 8,900 each
                  for split, n in (("train", max_train), ("test", max_test))]
        metrics["unseen"] = evaluate_model(model, *halves, **common) | {"split": UNSEEN_SPLIT}
    return metrics


__all__ = ["PAPER_RESULTS", "PAPER_VARIANTS", "PROTOCOL", "ClassMismatch", "NonFiniteCodes", "ProbeDidNotTrain",
           "Protocol", "ProtocolMismatch", "check_finite_codes", "check_one_protocol", "check_same_classes",
           "probe_accuracy",
           "cached_projection", "evaluate_checkpoint", "evaluate_factor", "chance_accuracy", "classifier_accuracy",
           "evaluate_model", "mlp_classifier", "project_2d", "silhouette", "within_test"]
