"""The training and evaluation command lines, run in-process on tiny data."""

import json

import pytest
import torch

from core import load_model
from core.data import load_mnist
from core.training import NonFiniteLoss, TrainConfig, make_trainer
from train.ccvae import main as train_main
from train.evaluate import main as evaluate_main


def _weights(folder):
    return load_model(folder).state_dict()


def test_dry_run_makes_a_loadable_checkpoint_and_resume_continues(tmp_path, mnist_dir):
    out = tmp_path / "run"
    assert train_main(["--dry-run", "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    model = load_model(out / "checkpoint")
    assert model.config.training_steps == 5 and model.config.dataset == "mnist"
    assert json.loads((out / "train_config.json").read_text())["steps"] == 5
    metrics = json.loads((out / "checkpoint" / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 5
    # starting again over an existing run is refused; --resume continues it
    assert train_main(["--out", str(out), "--data-dir", str(mnist_dir)]) == 2
    assert train_main(["--resume", "--out", str(out), "--steps", "8"]) == 0
    assert load_model(out / "checkpoint").config.training_steps == 8


def test_resume_is_exact(tmp_path, mnist_dir):
    """3 steps + resume 3 steps gives bit-identical weights to 6 steps in one go."""
    common = ["--data-dir", str(mnist_dir), "--batch-size", "8", "--checkpoint-every", "3", "--log-every", "1"]
    assert train_main(["--out", str(tmp_path / "straight"), "--steps", "6", *common]) == 0
    assert train_main(["--out", str(tmp_path / "split"), "--steps", "3", *common]) == 0
    assert train_main(["--resume", "--out", str(tmp_path / "split"), "--steps", "6"]) == 0
    a, b = _weights(tmp_path / "straight" / "checkpoint"), _weights(tmp_path / "split" / "checkpoint")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_training_learns_on_toy_data(mnist_dir):
    """200 steps on the toy bars: the forward-cycle reconstruction falls well below its start."""
    data = load_mnist(mnist_dir, "train")
    trainer = make_trainer(TrainConfig(steps=200, batch_size=32, lr=1e-3, z_dim=4, s_dim=4), data)
    first = trainer.step()["reconstruction"].item()
    for _ in range(199):
        last = trainer.step()["reconstruction"].item()
    assert last < 0.5 * first


def test_nan_loss_stops_with_step_and_terms_and_keeps_last_checkpoint(tmp_path, mnist_dir, monkeypatch):
    out = tmp_path / "run"
    common = ["--out", str(out), "--data-dir", str(mnist_dir), "--batch-size", "8", "--checkpoint-every", "2"]
    assert train_main([*common, "--steps", "4"]) == 0
    good = _weights(out / "checkpoint")

    from core import losses
    real = losses.forward_cycle_loss

    def poisoned(*args, **kwargs):
        t = real(*args, **kwargs)
        return t._replace(total=t.total * float("nan"), kl=t.kl * float("nan"))

    monkeypatch.setattr(losses, "forward_cycle_loss", poisoned)
    with pytest.raises(NonFiniteLoss, match=r"step 5: reconstruction=[\d.]+, kl=nan"):
        _step_once(out, mnist_dir)
    assert train_main(["--resume", "--out", str(out), "--steps", "10"]) == 3
    after = _weights(out / "checkpoint")
    assert all(torch.equal(good[k], after[k]) for k in good)
    assert load_model(out / "checkpoint").config.training_steps == 4


def _step_once(out, mnist_dir):
    import json

    saved = TrainConfig.from_dict(json.loads((out / "train_config.json").read_text()))
    trainer = make_trainer(saved, load_mnist(mnist_dir))
    trainer.resume(out / "checkpoint")
    trainer.step()


def test_bad_options_and_missing_data_are_clear_errors(tmp_path, capsys):
    assert train_main(["--out", str(tmp_path / "a"), "--data-dir", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert train_main(["--out", str(tmp_path / "b"), "--dry-run", "--batch-size", "0"]) == 2
    assert "batch_size must be at least 1" in capsys.readouterr().err
    assert train_main(["--resume", "--out", str(tmp_path / "c")]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_evaluate_writes_metrics_and_tsne(tmp_path, mnist_dir, capsys):
    out = tmp_path / "run"
    assert train_main(["--dry-run", "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    ckpt = out / "checkpoint"
    assert evaluate_main(["--checkpoint", str(ckpt), "--data-dir", str(mnist_dir), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "| this checkpoint (16/16) |" in printed and "CC-VAE (ECCV 2018) | 17.56" in printed
    metrics = json.loads((ckpt / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 5  # training metrics kept
    acc = metrics["evaluation"]["accuracy"]
    assert set(acc) == {"z_sample", "z_mean", "s"} and 0 <= acc["s"]["test"] <= 100
    assert (ckpt / "tsne.png").stat().st_size > 10_000
    load_model(ckpt)  # still a valid checkpoint


def test_evaluate_refuses_a_broken_checkpoint(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    assert evaluate_main(["--checkpoint", str(tmp_path / "x"), "--data-dir", str(tmp_path)]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_authors_init_option(mnist_dir):
    data = load_mnist(mnist_dir, "train")
    trainer = make_trainer(TrainConfig(init="authors"), data)
    w = trainer.model.encoder.trunk[0].weight
    assert abs(w.std().item() - 0.05) < 0.01
    assert trainer.model.encoder.z_mu.bias.abs().sum() == 0
    with pytest.raises(ValueError, match="valid: default, authors"):
        make_trainer(TrainConfig(init="xavier"), data)
