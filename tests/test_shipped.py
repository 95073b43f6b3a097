"""The shipped default checkpoint: it loads, carries its statistics, and the README reports its numbers.

The last test is data-heavy: it re-measures s accuracy on real MNIST test images, and runs only where
MNIST is on disk ($CCVAE_DATA_DIR, or ../shared/data/MNIST beside the repo, as on our CI machines).
"""

import json
import os
import re
from pathlib import Path

import pytest
import torch

from core import load_latents, load_model
from core.evaluation import classifier_accuracy
from core.explore import encode_all
from core.training import PRESETS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "mnist"


def test_shipped_checkpoint_loads_with_its_statistics():
    model = load_model(SHIPPED)
    cfg = model.config
    assert (cfg.image_shape, cfg.z_dim, cfg.s_dim, cfg.dataset) == ((1, 28, 28), 16, 16, "mnist")
    assert cfg.training_steps >= PRESETS["fast"]["steps"]  # trained with the fast recipe, not a smoke test
    latents = load_latents(SHIPPED)
    assert latents["class_mean_s"].shape == (10, 16)
    assert latents["bank_z_mu"].shape[1] == 16 and latents["bank_labels"].unique().numel() == 10
    assert not (SHIPPED / "train_state.safetensors").exists(), "ship weights only, not optimiser state"
    # class prototypes decode to ten different images
    with torch.no_grad():
        protos = model.decode(torch.zeros(10, 16), latents["class_mean_s"])
    assert torch.cdist(protos.flatten(1), protos.flatten(1)).add(torch.eye(10) * 1e3).min() > 1.0


def test_readme_reports_the_measured_numbers():
    metrics = json.loads((SHIPPED / "metrics.json").read_text())
    acc = metrics["evaluation"]["accuracy"]
    assert metrics["evaluation"]["num_test"] == 10_000 and not metrics["evaluation"]["dry_run"]
    readme = (ROOT / "docs/RESULTS.md").read_text()
    row = re.search(r"^\| \*\*ours, `checkpoints/mnist`\*\*.*$", readme, re.M)
    assert row, "docs/RESULTS.md's results table lost the shipped checkpoint's row"
    # the results tables are generated (train.report): a row reads "mean ± sd" when it averages probe seeds
    numbers = [float(x) for x in re.findall(r"\d+\.\d+", re.sub(r"± \d+\.\d+", "", row.group(0)))]
    assert numbers[:3] == [acc["z_sample"]["test"], acc["z_mean"]["test"], acc["s"]["test"]]


def _mnist_dir() -> Path | None:
    for candidate in (os.environ.get("CCVAE_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "MNIST").is_dir():
            return Path(candidate) / "MNIST"
    return None


@pytest.mark.skipif(_mnist_dir() is None, reason="MNIST not on disk (set CCVAE_DATA_DIR); data-heavy check")
def test_shipped_model_separates_digits_in_s_on_real_mnist():
    from core.data import load_mnist

    model = load_model(SHIPPED)
    train, test = load_mnist(_mnist_dir(), "train"), load_mnist(_mnist_dir(), "test")
    g = torch.Generator().manual_seed(0)
    tr = train.subset(torch.randperm(len(train), generator=g)[:10_000])
    te = test.subset(torch.randperm(len(test), generator=g)[:2_000])
    etr, ete = encode_all(model, tr.images), encode_all(model, te.images)
    s_acc = classifier_accuracy(etr.s, tr.labels, ete.s, te.labels, num_classes=10, epochs=8)["test"]
    z_acc = classifier_accuracy(etr.z_mu, tr.labels, ete.z_mu, te.labels, num_classes=10, epochs=8,
                                train_logvar=etr.z_logvar, test_logvar=ete.z_logvar)["test"]
    assert s_acc > 0.95
    assert z_acc < 0.35
