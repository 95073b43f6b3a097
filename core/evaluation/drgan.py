"""What a DR-GAN's identity feature f knows (report 4.0.3.1): the Table 4.1 classifier on f.

DR-GAN has one code, f = G_enc(x); the pose is an input of the decoder, never inferred. The same
2-layer MLP that measures z and s (``core.evaluation.classifier``) is trained on f of the training
images to predict (a) the identity and (b) the pose, and tested on held-out images, on the one protocol
(``core.evaluation.PROTOCOL``). High identity
accuracy says f carries identity; the pose accuracy says how much pose f carries as well, i.e.
what would have to be a separate style code but has nowhere else to go.
"""

from __future__ import annotations

import torch

from core.data import ImageSet
from core.evaluation.classifier import chance_accuracy
from core.evaluation.guards import check_same_classes
from core.evaluation.protocol import PROTOCOL, Protocol, probe_accuracy


@torch.no_grad()
def features_all(model, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """f of uint8 (N, C, H, W) images, in batches; (N, feature_dim) on the CPU."""
    device = next(model.parameters()).device
    model.eval()
    return torch.cat([model.features(images[i:i + batch_size].to(device).float().div(255)).float().cpu()
                      for i in range(0, images.shape[0], batch_size)])


def _probe(train_codes: torch.Tensor, train_labels: torch.Tensor, test_codes: torch.Tensor,
           test_labels: torch.Tensor, *, num_classes: int, protocol: Protocol, seed: int, name: str) -> dict:
    r = probe_accuracy(train_codes, train_labels, test_codes, test_labels, protocol=protocol, num_classes=num_classes,
                       seed=seed, name=name)
    return {"train": round(100 * r.train, 2), "test": round(100 * r.test, 2),
            "chance_test": round(100 * chance_accuracy(test_labels), 2), "num_classes": num_classes, "epochs": r.epochs}


def evaluate_features(model, train: ImageSet, test: ImageSet, *, protocol: Protocol | None = None,
                      epochs: int | None = None, seed: int = 0) -> dict:
    """Accuracies (in %) of the probe on f for identity and for the model's pose factor, with chance levels.

    Scored on ``protocol`` (default ``PROTOCOL``; ``epochs=N``: ``Protocol.fixed(N)``). ``train`` and ``test``
    must share identities (class names; ``ClassMismatch`` otherwise) and carry the model's pose factor.
    """
    if protocol is not None and epochs is not None:
        raise ValueError("give a protocol or a fixed number of epochs, not both")
    protocol = protocol or (PROTOCOL if epochs is None else Protocol.fixed(epochs))
    factor = model.pose_factor
    check_same_classes(train, test)
    for data in (train, test):
        if factor not in data.factors:
            raise ValueError(f"{data.name} has no factor {factor!r}, the model's pose factor")
    tr, te = features_all(model, train.images), features_all(model, test.images)
    common = dict(protocol=protocol, seed=seed)
    identity = _probe(tr, train.labels, te, test.labels, num_classes=len(train.class_names), name="f (identity)",
                      **common)
    pose = _probe(tr, train.factors[factor], te, test.factors[factor], num_classes=len(train.factor_names[factor]),
                  name=f"f ({factor})", **common) | {"factor": factor}
    return {
        "identity": identity, "pose": pose, "feature_dim": tr.shape[1], "num_train": len(train), "num_test": len(test),
        "classifier_epochs": max(identity["epochs"], pose["epochs"]), "seed": seed, "protocol": protocol.to_dict(),
    }
