"""Evaluation: pure functions over codes and labels, plus ``evaluate_model`` that encodes first."""

from __future__ import annotations

import torch

from core.data import ImageSet
from core.evaluation.classifier import chance_accuracy, classifier_accuracy, mlp_classifier
from core.evaluation.paper import PAPER_RESULTS, PAPER_VARIANTS
from core.evaluation.projection import cached_projection, project_2d, silhouette
from core.explore import encode_all, swap_effects


def evaluate_model(model, train: ImageSet, test: ImageSet, *, epochs: int = 50, seed: int = 0) -> dict:
    """Table 4.1 accuracies (in %) for z sampled, z mean and s, plus chance and silhouettes."""
    model.eval()
    tr, te = encode_all(model, train.images), encode_all(model, test.images)
    k = max(len(train.class_names), len(test.class_names))
    common = dict(num_classes=k, epochs=epochs, seed=seed)
    runs = {
        "z_sample": classifier_accuracy(tr.z_mu, train.labels, te.z_mu, test.labels,
                                        train_logvar=tr.z_logvar, test_logvar=te.z_logvar, **common),
        "z_mean": classifier_accuracy(tr.z_mu, train.labels, te.z_mu, test.labels, **common),
        "s": classifier_accuracy(tr.s, train.labels, te.s, test.labels, **common),
    }
    labels = test.labels.numpy()
    effects = swap_effects(model, test.images[torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:256]])
    return {
        "accuracy": {name: {split: round(100 * acc, 2) for split, acc in r.items()} for name, r in runs.items()},
        "chance_test": round(100 * chance_accuracy(test.labels), 2),
        "silhouette_test": {"z_mean": round(silhouette(te.z_mu.numpy(), labels, seed=seed), 4),
                            "s": round(silhouette(te.s.numpy(), labels, seed=seed), 4)},
        # does z still change the picture? A z that carries nothing leaks nothing: read z accuracy beside this
        "swap_effect": {k: round(v, 5) for k, v in effects.items()} | {
            "z_over_s": round(effects["z_effect"] / max(effects["s_effect"], 1e-12), 4)},
        "num_train": len(train), "num_test": len(test), "classifier_epochs": epochs, "seed": seed,
    }


def evaluate_factor(model, train: ImageSet, test: ImageSet, factor: str, *, epochs: int = 50, seed: int = 0) -> dict:
    """How well z (mean) and s predict another labelled factor (e.g. Yale B lighting), in %.

    For a good split the roles reverse: z should predict the unspecified factor, s should not.
    """
    model.eval()
    tr, te = encode_all(model, train.images), encode_all(model, test.images)
    y_tr, y_te = train.factors[factor], test.factors[factor]
    k = len(train.factor_names[factor])
    common = dict(num_classes=k, epochs=epochs, seed=seed)
    runs = {"z_mean": classifier_accuracy(tr.z_mu, y_tr, te.z_mu, y_te, **common),
            "s": classifier_accuracy(tr.s, y_tr, te.s, y_te, **common)}
    return {"accuracy": {name: {split: round(100 * acc, 2) for split, acc in r.items()} for name, r in runs.items()},
            "chance_test": round(100 * chance_accuracy(y_te), 2), "num_values": k}


__all__ = ["PAPER_RESULTS", "PAPER_VARIANTS",
           "cached_projection", "evaluate_factor", "chance_accuracy", "classifier_accuracy", "evaluate_model",
           "mlp_classifier", "project_2d", "silhouette"]
