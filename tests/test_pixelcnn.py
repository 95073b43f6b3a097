"""The PixelCNN decoder option (PixelVAE): causality, the loss seam, sampling, checkpoints, the compare script, a page."""

import json
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

import core
from core import losses
from core.checkpoint import CheckpointError, save_checkpoint
from core.data import synthetic_digits
from core.evaluation.likelihood import fit_sigma, gaussian_nll, reconstruction_likelihood
from core.explore import sample_prior
from core.models import ModelConfig, build_model, reparameterize
from core.models.ccvae import MEAN_IMAGE_SIGMA
from core.models.pixelcnn import LEVELS, PixelCNN, gaussian_level_logits
from core.training import TrainConfig, make_trainer

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(decoder="pixelcnn", pixelcnn_width=4, pixelcnn_layers=2)


def pixel_model(**kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(z_dim=4, s_dim=3, class_names=list("0123456789"), **(TINY | kw)))


def test_logits_depend_only_on_earlier_pixels_and_there_is_no_blind_spot():
    torch.manual_seed(0)
    rows, cols = 10, 9
    net = PixelCNN(image_shape=(1, rows, cols), code_dim=5, width=4, layers=3)  # sees 5 rows up, 5 columns left
    x = torch.rand(2, 1, rows, cols, requires_grad=True)
    logits = net.logits(x, torch.rand(2, 1, rows, cols), torch.randn(2, 5))
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        grad, = torch.autograd.grad(logits[0, r, c].sum(), x, retain_graph=True)
        seen = grad[0, 0].flatten() != 0
        assert not seen[i:].any(), f"pixel {i} depends on pixels at or after it: {torch.nonzero(seen[i:]).flatten() + i}"
        if r >= 1:  # the row above is seen in full within reach, right of c included (no blind spot)
            assert seen.view(rows, cols)[r - 1, max(0, c - 5):min(cols, c + 6)].all()
        if c >= 1:
            assert seen[i - 1]
    assert not torch.autograd.grad(logits[1].sum(), x)[0][0].any()  # images in a batch stay independent


def test_changing_a_pixel_changes_no_earlier_logit():
    torch.manual_seed(1)
    net = PixelCNN(image_shape=(1, 28, 28), code_dim=3, width=16, layers=2)
    x, mean, code = torch.rand(1, 1, 28, 28), torch.rand(1, 1, 28, 28), torch.randn(1, 3)
    before = net.logits(x, mean, code).flatten(1, 2)  # (1, 784, 256)
    for i in (0, 300, 783):
        y = x.clone()
        y.view(-1)[i] = 1 - y.view(-1)[i]
        after = net.logits(y, mean, code).flatten(1, 2)
        assert torch.equal(before[:, :i + 1], after[:, :i + 1])
        if i < 783:
            assert not torch.equal(before[:, i + 1:], after[:, i + 1:])


def test_sampling_uses_exactly_the_teacher_forced_logits():
    """The cached, cropped sampling path computes what one teacher-forced pass computes on the sample."""
    torch.manual_seed(2)
    net = PixelCNN(image_shape=(1, 12, 11), code_dim=3, width=4, layers=3)  # reach 5 < 12: crops are exercised
    mean, code = torch.rand(3, 1, 12, 11), torch.randn(3, 3)
    seen, output = [], net.output
    net.output = lambda h, m: seen.append(output(h, m)) or seen[-1]
    x = net.sample(mean, code, generator=torch.Generator().manual_seed(0))
    del net.output
    steps = torch.stack([o[:, 0, 0] for o in seen], 1).view(3, 12, 11, LEVELS)
    torch.testing.assert_close(steps, net.logits(x, mean, code), rtol=1e-5, atol=1e-4)


def test_base_logits_are_a_discretised_gaussian_around_the_mean():
    mean = torch.tensor([0.2, 0.7]).view(2, 1, 1, 1)
    p = gaussian_level_logits(mean, 0.05).softmax(-1).view(2, LEVELS)
    values = torch.arange(LEVELS) / 255
    torch.testing.assert_close((p * values).sum(1), torch.tensor([0.2, 0.7]), atol=1e-4, rtol=0)
    torch.testing.assert_close((p * (values - mean.view(2, 1)).pow(2)).sum(1).sqrt(), torch.tensor([0.05, 0.05]), atol=1e-3, rtol=0)
    assert p.argmax(1).tolist() == [51, 179]


def test_plain_reconstruction_error_is_the_old_mse(tiny_model):
    z, s, x = torch.randn(5, 4), torch.randn(5, 3), torch.rand(5, 1, 28, 28)
    old = (tiny_model.decode(z, s).float() - x.float()).pow(2).flatten(1).mean(1)
    assert torch.equal(tiny_model.reconstruction_error(z, s, x), old)
    # and the forward cycle still computes exactly the formula it always did
    x1, x2 = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    terms = losses.forward_cycle_loss(tiny_model, x1, x2, generator=torch.Generator().manual_seed(4))
    enc = tiny_model.encode(torch.cat([x1, x2]))
    z = reparameterize(enc.z_mu, enc.z_logvar, torch.Generator().manual_seed(4))
    out = tiny_model.decode(z, torch.cat([enc.s[3:], enc.s[:3]])).float()
    assert torch.equal(terms.reconstruction, (out - torch.cat([x1, x2])).pow(2).flatten(1).mean(1).sum() / 3)


def test_pixelcnn_reconstruction_error_is_the_nll_per_pixel_plus_the_mean_images_gaussian_nll():
    model = pixel_model()
    z, s = torch.randn(2, 4), torch.randn(2, 3)
    x = torch.randint(0, 256, (2, 1, 28, 28)).float() / 255
    err = model.reconstruction_error(z, s, x)
    mean = model.decode_mean(z, s)
    logp = model.pixelcnn.logits(x, mean, torch.cat([z, s], 1)).log_softmax(-1)
    nll = -logp.gather(-1, (x[:, 0] * 255).round().long()[..., None]).flatten(1).mean(1)
    mse = (mean - x).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(err, nll + mse / (2 * MEAN_IMAGE_SIGMA ** 2))
    assert err.shape == (2,) and (nll > 0).all()


def test_the_mean_image_is_trained_by_its_mse_alone():
    """The PixelCNN's NLL reaches the encoder (through [z, s]) and the PixelCNN, never the conditioning network."""
    model = pixel_model()
    z, s = torch.randn(2, 4, requires_grad=True), torch.randn(2, 3)
    x = torch.randint(0, 256, (2, 1, 28, 28)).float() / 255
    model.reconstruction_error(z, s, x).sum().backward()
    from_both = [p.grad.clone() for p in model.decoder.parameters()]
    z_grad = z.grad.clone()
    model.zero_grad()
    z.grad = None
    ((model.decode_mean(z, s) - x).pow(2).flatten(1).mean(1) / (2 * MEAN_IMAGE_SIGMA ** 2)).sum().backward()
    for a, b in zip(from_both, (p.grad for p in model.decoder.parameters())):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(z_grad, z.grad)  # the NLL adds to the gradient of z
    assert all(p.grad is None or not p.grad.any() for p in model.pixelcnn.parameters())


def test_decode_samples_in_eval_mode_and_gives_the_mean_image_in_train_mode():
    model = pixel_model()
    z, s = torch.randn(3, 4), torch.randn(3, 3)
    calls = []
    mean = model.train().decode(z, s)
    assert torch.equal(mean, model.decode_mean(z, s))  # what the reverse cycle decodes: one pass
    model.eval()
    x = model.decode(z, s, progress=lambda done, total: calls.append((done, total)))
    assert x.shape == (3, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x * 255, (x * 255).round())  # 8-bit values
    assert calls == [((r + 1) * 28, 784) for r in range(28)]
    assert torch.equal(model.decode(z, s), x)  # repeatable: seeded by default
    assert not torch.equal(model.decode(z, s, generator=torch.Generator().manual_seed(9)), x)


def test_explore_passes_progress_through():
    model = pixel_model().eval()
    calls = []
    grid = sample_prior(model, torch.randn(2, 3), n=3, progress=lambda done, total: calls.append(done))
    assert grid.shape == (2, 3, 1, 28, 28) and calls[-1] == 784


def test_config_validates_the_decoder_and_plain_config_json_is_unchanged():
    with pytest.raises(ValueError, match="unknown decoder 'pixel'; valid: plain, pixelcnn"):
        ModelConfig(decoder="pixel")
    assert "decoder" not in ModelConfig().to_dict()  # old code keeps reading plain checkpoints
    assert ModelConfig(**TINY).to_dict()["pixelcnn_width"] == 4
    with pytest.raises(ValueError, match="1-channel images"):
        build_model(ModelConfig(image_shape=(3, 64, 64), decoder="pixelcnn"))


def test_a_checkpoint_without_decoder_loads_as_plain_and_a_bad_decoder_is_named(tmp_path, tiny_model):
    folder = save_checkpoint(tmp_path / "old", tiny_model)
    config = json.loads((folder / "config.json").read_text())
    assert "decoder" not in config["model"]
    assert core.load_model(folder).config.decoder == "plain"
    config["model"]["decoder"] = "wavenet"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="unknown decoder 'wavenet'"):
        core.load_model(folder)


def test_a_pixelcnn_ccvae_trains_and_round_trips_through_a_checkpoint(tmp_path):
    config = TrainConfig(decoder="pixelcnn", batch_size=8, steps=30, device="cpu", lr=1e-3)
    trainer = make_trainer(config, synthetic_digits(64, classes=4))
    assert trainer.model.config.decoder == "pixelcnn"
    recon = [trainer.step()["reconstruction"].item() for _ in range(30)]
    assert all(torch.isfinite(torch.tensor(recon)))
    assert sum(recon[-5:]) < sum(recon[:5])  # NLL per pixel goes down
    saved = trainer.save(tmp_path / "ckpt")
    loaded = core.load_model(saved)
    assert loaded.config == trainer.model.config
    for (k, a), (k2, b) in zip(trainer.model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    assert any(k.startswith("pixelcnn.") for k in loaded.state_dict())
    model = trainer.model.eval()
    z, s = torch.randn(2, 16), torch.randn(2, 16)
    assert torch.equal(model.decode(z, s), loaded.decode(z, s))
    resumed = make_trainer(config, synthetic_digits(64, classes=4))
    resumed.resume(saved)
    assert resumed.step_count == 30


def test_likelihood_of_the_plain_decoder_uses_a_fitted_sigma(tiny_model):
    images = (torch.rand(6, 1, 28, 28) * 255).round().to(torch.uint8)
    x = images.float() / 255
    mean = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    sigma = fit_sigma(mean, x)
    assert 0.03 < sigma < 0.07
    assert gaussian_nll(mean, x, sigma).mean() <= gaussian_nll(mean, x, 2 * sigma).mean()
    with pytest.raises(ValueError, match="fitted sigma"):
        reconstruction_likelihood(tiny_model, images)
    plain = reconstruction_likelihood(tiny_model, images, sigma=0.3)
    pixel = reconstruction_likelihood(pixel_model(), images)
    assert plain["nll_bits_per_pixel"] > 0 and pixel["nll_bits_per_pixel"] > 0 and "base_nll_bits_per_pixel" in pixel
    assert plain["nelbo_bits_per_pixel"] > plain["nll_bits_per_pixel"]  # + KL
    model = pixel_model().eval()
    enc = model.encode(x)
    z = reparameterize(enc.z_mu, enc.z_logvar, torch.Generator().manual_seed(0))  # batch 0's noise
    nll = model.pixelcnn.nll(x, model.decode_mean(z, enc.s), torch.cat([z, enc.s], 1)).mean().item()
    assert pixel["nll_nats_per_pixel"] == pytest.approx(nll, abs=1e-4)


@pytest.fixture(scope="module")
def pixel_checkpoints(tmp_path_factory):
    """A tiny pixelcnn model named "mnist" (so pages use the bundled real digits) and a plain one."""
    folder = tmp_path_factory.mktemp("pixel_ckpts")
    torch.manual_seed(0)
    model = build_model(ModelConfig(dataset="mnist", class_names=[str(d) for d in range(10)], **TINY))
    save_checkpoint(folder / "mnist", model, latents={"class_mean_s": torch.randn(10, 16)})
    save_checkpoint(folder / "plain", build_model(ModelConfig(dataset="mnist", class_names=[str(d) for d in range(10)])))
    return folder


@pytest.mark.parametrize("page", ["app.py", "pages/1_Swap_grid.py", "pages/2_Interpolation.py", "pages/3_Latent_sliders.py",
                                  "pages/4_Random_sampling.py"])
def test_pages_that_decode_render_a_pixelcnn_model(pixel_checkpoints, monkeypatch, page):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(pixel_checkpoints))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / page), default_timeout=120).run()
    assert not at.exception, at.exception
    assert any("PixelCNN decoder" in el.value for el in at.sidebar.info)
    assert at.get("image")  # sampled and shown; the progress bars are gone once done
    assert not at.get("progress")


def test_the_compare_script_writes_figures_and_json(pixel_checkpoints, mnist_dir, tmp_path):
    from tools.pixelvae_compare import main

    out = tmp_path / "compare"
    args = ["--plain", str(pixel_checkpoints / "plain"), "--pixel", str(pixel_checkpoints / "mnist"), "--data-dir",
            str(mnist_dir), "--out", str(out), "--dry-run", "--images", "4", "--samples", "2"]
    assert main(args) == 0
    results = json.loads((out / "compare.json").read_text())
    for name in ("plain", "pixelcnn"):
        assert {"z_sample", "z_mean", "s"} <= set(results[name]["evaluation"]["accuracy"])
        assert results[name]["likelihood"]["nll_bits_per_pixel"] > 0
    assert results["sampling_seconds_64"] > 0 and results["pixelcnn_config"]["decoder"] == "pixelcnn"
    assert (out / "reconstructions.png").stat().st_size > 0 and (out / "samples.png").stat().st_size > 0
    swapped = args.copy()
    swapped[1], swapped[3] = swapped[3], swapped[1]
    assert main(swapped) == 2
