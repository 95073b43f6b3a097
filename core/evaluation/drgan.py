"""What a DR-GAN's identity feature f knows (report 4.0.3.1): the Table 4.1 classifier on f.

DR-GAN has one code, f = G_enc(x); the pose is an input of the decoder, never inferred. The same
2-layer MLP that measures z and s (``core.evaluation.classifier``) is trained on f of the training
images to predict (a) the identity and (b) the pose, and tested on held-out images. High identity
accuracy says f carries identity; the pose accuracy says how much pose f carries as well, i.e.
what would have to be a separate style code but has nowhere else to go.
"""

from __future__ import annotations

import torch

from core.data import ImageSet
from core.evaluation.classifier import chance_accuracy, classifier_accuracy


@torch.no_grad()
def features_all(model, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """f of uint8 (N, C, H, W) images, in batches; (N, feature_dim) on the CPU."""
    device = next(model.parameters()).device
    model.eval()
    return torch.cat([model.features(images[i:i + batch_size].to(device).float().div(255)).float().cpu()
                      for i in range(0, images.shape[0], batch_size)])


def _probe(train_codes: torch.Tensor, train_labels: torch.Tensor, test_codes: torch.Tensor,
           test_labels: torch.Tensor, *, num_classes: int, epochs: int, seed: int) -> dict:
    acc = classifier_accuracy(train_codes, train_labels, test_codes, test_labels, num_classes=num_classes,
                              epochs=epochs, seed=seed)
    return {"train": round(100 * acc["train"], 2), "test": round(100 * acc["test"], 2),
            "chance_test": round(100 * chance_accuracy(test_labels), 2), "num_classes": num_classes}


def evaluate_features(model, train: ImageSet, test: ImageSet, *, epochs: int = 50, seed: int = 0) -> dict:
    """Accuracies (in %) of the MLP on f for identity and for the model's pose factor, with chance levels.

    ``train`` and ``test`` must share identities (class names) and carry the model's pose factor.
    """
    factor = model.pose_factor
    if train.class_names != test.class_names:
        raise ValueError("train and test sets must share identities to measure identity in f; "
                         f"got {len(train.class_names)} and {len(test.class_names)} different class lists")
    for data in (train, test):
        if factor not in data.factors:
            raise ValueError(f"{data.name} has no factor {factor!r}, the model's pose factor")
    tr, te = features_all(model, train.images), features_all(model, test.images)
    common = dict(epochs=epochs, seed=seed)
    return {
        "identity": _probe(tr, train.labels, te, test.labels, num_classes=len(train.class_names), **common),
        "pose": _probe(tr, train.factors[factor], te, test.factors[factor],
                       num_classes=len(train.factor_names[factor]), **common) | {"factor": factor},
        "feature_dim": tr.shape[1], "num_train": len(train), "num_test": len(test),
        "classifier_epochs": epochs, "seed": seed,
    }
