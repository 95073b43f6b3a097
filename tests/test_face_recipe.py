"""Issue 22's face recipe: the group forward cycle, z-dropout, the head on s, the identity-on-swaps term with a
project-trained classifier, the swap test, bf16 autocast on the CPU, the time budget and the decoder few-shot."""

import contextlib
import json

import pytest
import torch

from core import losses
from core.checkpoint import CheckpointError, load_classifier, save_classifier
from core.data import synthetic_faces
from core.evaluation import identity as identity_figures
from core.evaluation.swaps import one_per_class, swap_test
from core.fewshot import fine_tune
from core.models import ModelConfig, build_model
from core.models.classifier import ClassifierConfig, IdentityClassifier, adversarial_examples, augment
from core.training import PRESETS, TrainConfig, engine, make_trainer

torch.set_num_threads(1)


def faces():
    return synthetic_faces(identities=4, channels=3)


def face_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(image_shape=(3, 64, 64), z_dim=4, s_dim=8, dataset="celeba"))


def classifier(tmp_path, data, seed: int = 0):
    torch.manual_seed(seed)
    net = IdentityClassifier(ClassifierConfig(image_shape=data.image_shape, class_names=list(data.class_names), width=4))
    save_classifier(tmp_path / f"C{seed}", net, metrics={"held_out_top1": 0.0})
    return tmp_path / f"C{seed}"


def face_trainer(tmp_path=None, **options):
    data = faces()
    recipe = {k: v for k, v in PRESETS["faces"].items() if k not in ("dataset", "z_dim", "s_dim")}
    config = TrainConfig(**(recipe | {"z_dim": 4, "s_dim": 8, "steps": 4, "batch_size": 8, "device": "cpu"} | options))
    return make_trainer(config, data)


def test_group_s_is_the_mean_s_of_the_other_photos():
    model = face_model()
    data = faces()
    x, group = data.floats(torch.arange(4)), torch.stack([data.floats(torch.arange(4, 8)), data.floats(torch.arange(8, 12))])
    g = losses.group_cycle_loss(model, x, group, generator=torch.Generator().manual_seed(0))
    expected = (model.encode(group[0]).s + model.encode(group[1]).s) / 2
    torch.testing.assert_close(g.group_s, expected, atol=1e-5, rtol=1e-4)
    assert g.s.shape == (12, 8) and g.z.shape == (4, 4)


def test_z_dropout_replaces_z_by_prior_samples():
    model = face_model()
    x = faces().floats(torch.arange(48))
    kept = losses.group_cycle_loss(model, x, x[None], z_dropout=0.0, generator=torch.Generator().manual_seed(0)).z
    dropped = losses.group_cycle_loss(model, x, x[None], z_dropout=0.5, generator=torch.Generator().manual_seed(0)).z
    replaced = (kept - dropped).abs().sum(1) > 1e-6
    assert 12 <= int(replaced.sum()) <= 36  # about half, never all or none


def test_group_size_zero_is_a_plain_autoencoder():
    model = face_model()
    x = faces().floats(torch.arange(8))
    g = losses.group_cycle_loss(model, x, x.new_zeros((0, *x.shape)), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(g.group_s, model.encode(x).s)


def test_faces_recipe_trains_its_head_and_identity_term_and_resumes(tmp_path):
    C = classifier(tmp_path, faces())
    options = {"identity_weight": 0.1, "identity_classifier": str(C)}
    t = face_trainer(**options)
    frozen = {k: v.clone() for k, v in t.identity_classifier.state_dict().items()}
    terms = t.step()
    assert {"reconstruction", "kl", "s_head", "identity_swap", "reverse_cycle"} <= set(terms)
    assert all(torch.equal(frozen[k], v) for k, v in t.identity_classifier.state_dict().items())  # C stays frozen
    t.save(tmp_path / "ckpt")
    again = face_trainer(**options)
    again.resume(tmp_path / "ckpt")
    for a, b in ((t.model, again.model), (t.s_head, again.s_head)):
        for name, tensor in a.state_dict().items():
            assert torch.equal(b.state_dict()[name], tensor), name


LAPLACIAN = identity_figures.LAPLACIAN.view(1, 1, 3, 3).repeat(3, 1, 1, 1)  # per channel


def identity_gradient(net, x: torch.Tensor, labels: torch.Tensor, **options) -> torch.Tensor:
    """The identity term's gradient on fixed pictures ``x``: a decoder whose pictures are leaves, so it can be read."""
    pictures = x.clone().requires_grad_()

    class Drawn:
        def decode_mean(self, z, s):
            return pictures

    loss, _ = losses.identity_swap_loss(Drawn(), net, torch.zeros(len(x), 4), torch.zeros(len(x), 8), labels,
                                        torch.Generator().manual_seed(0), **options)
    assert torch.isfinite(loss)
    (grad,) = torch.autograd.grad(loss, pictures)
    return grad


def fine_energy(t: torch.Tensor) -> float:
    """The energy of a (B, 3, H, W) tensor's per-channel 3x3 Laplacian (its fine part)."""
    return float(torch.nn.functional.conv2d(t, LAPLACIAN, groups=3).pow(2).sum())


def test_a_blurred_identity_term_gives_the_decoder_no_fine_pattern_to_draw(tmp_path):
    """With identity_blur, the classifier's gradient reaches the render through a Gaussian blur: its fine part (what
    a 3x3 Laplacian passes) is a small share of what it is without, so the decoder is not pushed to draw speckle."""
    data = faces()
    net = load_classifier(classifier(tmp_path, data))
    x, labels = data.floats(torch.arange(8)), data.labels[:8]
    fine_share = {}
    for blur in (0.0, 1.5):
        grad = identity_gradient(net, x, labels, blur=blur)
        fine_share[blur] = fine_energy(grad) / float(grad.pow(2).sum())
    assert fine_share[1.5] < 0.2 * fine_share[0.0]
    with pytest.raises(ValueError, match="identity_blur"):
        TrainConfig(identity_blur=-1).validate()


def test_a_colour_blurred_identity_term_moves_fine_brightness_but_no_fine_colour(tmp_path):
    """With identity_colour_blur, the classifier sees the render's grey level as drawn and its colour blurred: the fine
    part (what a 3x3 Laplacian passes) of the gradient's colour (each pixel's channels minus their mean) is a small
    share of what it is without, while the grey level itself passes unchanged."""
    data = faces()
    net = load_classifier(classifier(tmp_path, data))
    x, labels = 0.25 + 0.5 * data.floats(torch.arange(8)), data.labels[:8]
    assert torch.allclose(losses.blur_colour(x, 3.0).mean(1), x.mean(1), atol=1e-6)
    fine_colour = {}
    for sigma in (0.0, 3.0):
        grad = identity_gradient(net, x, labels, colour_blur=sigma)
        fine_colour[sigma] = fine_energy(grad - grad.mean(1, keepdim=True)) / float(grad.pow(2).sum())
    assert fine_colour[3.0] < 0.2 * fine_colour[0.0]
    with pytest.raises(ValueError, match="identity_colour_blur"):
        TrainConfig(identity_colour_blur=-1).validate()


def test_identity_classifier_must_know_the_same_classes(tmp_path):
    data = faces()
    net = IdentityClassifier(ClassifierConfig(image_shape=data.image_shape, class_names=["a", "b"], width=4))
    save_classifier(tmp_path / "C", net)
    with pytest.raises(ValueError, match="other classes"):
        face_trainer(identity_weight=0.1, identity_classifier=str(tmp_path / "C"))
    with pytest.raises(ValueError, match="go together"):
        face_trainer(identity_weight=0.1)


def test_classifier_folder_round_trips_and_refuses_junk(tmp_path):
    data = faces()
    folder = classifier(tmp_path, data, seed=3)
    net = load_classifier(folder)
    x = data.floats(torch.arange(4))
    torch.manual_seed(3)
    fresh = IdentityClassifier(ClassifierConfig(image_shape=data.image_shape, class_names=list(data.class_names), width=4))
    torch.testing.assert_close(net(x), fresh.eval()(x))
    assert not any(p.requires_grad for p in net.parameters())
    (folder / "classifier.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_classifier(folder)
    with pytest.raises(CheckpointError, match="train one"):
        load_classifier(tmp_path / "missing")


def test_augment_keeps_range_and_shape():
    x = torch.rand(6, 3, 64, 64)
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1 and not torch.equal(x, y)


def test_adversarial_examples_stay_within_the_radius_and_raise_the_loss(tmp_path):
    """The robust classifier's training inputs: each pixel moved by at most eps, inside [0, 1], and the classifier's
    loss on them above its loss on the photos (a random move of the same size barely changes it)."""
    data = faces()
    net = load_classifier(classifier(tmp_path, data)).eval()
    x, labels = data.floats(torch.arange(16)), data.labels[:16]
    eps = 8 / 255
    moved = adversarial_examples(net, x, labels, eps, torch.Generator().manual_seed(0))
    assert float((moved - x).abs().max()) <= eps + 1e-6 and 0 <= float(moved.min()) and float(moved.max()) <= 1
    loss = lambda images: float(torch.nn.functional.cross_entropy(net(images), labels))
    noise = (x + eps * torch.randn(x.shape, generator=torch.Generator().manual_seed(1)).sign()).clamp(0, 1)
    assert loss(moved) - loss(x) > 2 * abs(loss(noise) - loss(x))


def test_swap_test_tells_a_decoder_that_ignores_s_from_one_that_ignores_z(tmp_path):
    data = faces()
    C = load_classifier(classifier(tmp_path, data))
    index = one_per_class(data.labels, 4)
    assert len(set(data.labels[index].tolist())) == 4
    model = face_model()
    with torch.no_grad():
        model.decoder.s_in.weight.zero_()
        model.decoder.s_in.bias.zero_()
    ignores_s = swap_test(model, C, data.images[index], data.labels[index])
    assert ignores_s["swap_s_effect"] == 0 and ignores_s["swap_ratio"] == 0
    model = face_model()
    with torch.no_grad():
        model.decoder.z_in.weight.zero_()
        model.decoder.z_in.bias.zero_()
    ignores_z = swap_test(model, C, data.images[index], data.labels[index])
    assert ignores_z["swap_z_effect"] == 0 and ignores_z["swap_ratio"] > 1e6
    assert set(ignores_z) >= {"swap_as_s_person", "swap_as_z_person", "reconstruction_mse"}


def test_bf16_autocast_is_an_option_on_the_cpu():
    with pytest.warns() if not engine.native_bf16() else contextlib.nullcontext():
        assert face_trainer(bf16="on").autocast.fast_dtype == torch.bfloat16
    assert not hasattr(face_trainer(bf16="off").autocast, "fast_dtype")  # a null context
    with pytest.warns() if not engine.native_bf16() else contextlib.nullcontext():
        assert face_trainer(bf16="on").step()["reconstruction"].dtype == torch.float32


def test_time_budget_stops_a_run(tmp_path):
    from train import ccvae

    out = tmp_path / "run"
    assert ccvae.main(["--dry-run", "--out", str(out), "--steps", "100000", "--cpu-minutes", "0.001",
                       "--data-dir", str(tmp_path / "none")]) == 0
    steps = json.loads((out / "checkpoint" / "config.json").read_text())["model"]["training_steps"]
    assert 1 <= steps < 100000


def test_decoder_few_shot_learns_the_person_and_keeps_the_rest():
    model = face_model()
    data = faces()
    person, others = data.floats(torch.arange(3)), data.floats(torch.arange(12, 44))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuned = fine_tune(model, person, others, torch.zeros(32, dtype=torch.long), steps=30, lr=1e-3, part="decoder")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the caller's model is untouched
    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(tuned.encoder.state_dict()[name], tensor), name  # the encoder is frozen
    with torch.no_grad():
        def error(m):
            enc = m.encode(person)
            return float((m.decode(enc.z_mu, enc.s.mean(0, keepdim=True).expand(3, -1)) - person).pow(2).mean())
        assert error(tuned) < 0.7 * error(model)


def test_bf16_check_dry_run_compares_both_precisions(tmp_path, capsys):
    from tools import bf16_check

    out = tmp_path / "bf16.json"
    assert bf16_check.main(["--dry-run", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["precisions"]) == {"float32", "bf16"} and result["speed_ratio_bf16"] > 0
    assert "bf16 / float32 speed" in capsys.readouterr().out


def test_classifier_gradients_tells_pixel_noise_from_a_smooth_change(tmp_path, capsys):
    """tools.classifier_gradients: its fine share is 1 for pixel noise and near 0 for a smooth change; the dry run
    writes the picture and the JSON; a count over the cap is refused with a message."""
    from tools import classifier_gradients as tool

    noise = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.interpolate(noise[..., :8, :8], size=64, mode="bilinear")
    assert 0.9 < tool.fine_share(noise) < 1.1 and tool.fine_share(smooth) < 0.05
    assert tool.main(["--dry-run", "--out", str(tmp_path / "g")]) == 0
    result = json.loads((tmp_path / "g.json").read_text())
    assert (tmp_path / "g.png").exists() and 0 <= result["classifiers"]["untrained"]["fine_share_of_change"] <= 1.5
    assert tool.main(["--dry-run", "--count", "1000", "--out", str(tmp_path / "h")]) == 2
    assert "--count is 1 to" in capsys.readouterr().err


def test_classifier_training_uses_bf16_only_where_the_cpu_has_it(tmp_path, monkeypatch, capsys):
    """train.classifier's --bf16 is auto by default, as training's is: float32 on a CPU without native bf16 (it was
    always on, 14x slower on an AVX2 CPU); --bf16 on there warns with the measured slowdown."""
    from core.training import engine
    from train import classifier as command

    monkeypatch.setattr(engine, "native_bf16", lambda: False)
    assert command.main(["--dry-run", "--batch-size", "4", "--out", str(tmp_path / "C")]) == 0
    assert json.loads((tmp_path / "C" / "classifier.json").read_text())["metrics"]["bf16"] is False
    assert "classifier in float32 (--bf16 auto, " in capsys.readouterr().err
    with pytest.warns(UserWarning, match="0.07x"):
        assert command.main(["--dry-run", "--batch-size", "4", "--bf16", "on", "--out", str(tmp_path / "C-on")]) == 0
    monkeypatch.setattr(engine, "native_bf16", lambda: True)
    assert command.main(["--dry-run", "--batch-size", "4", "--out", str(tmp_path / "C-auto")]) == 0
    assert json.loads((tmp_path / "C-auto" / "classifier.json").read_text())["metrics"]["bf16"] is True
    err = capsys.readouterr().err  # the words training prints too, from one helper (core.training.precision)
    assert "classifier in bf16 autocast (--bf16 auto, " in err and ", native bf16)" in err


def test_robust_classifier_training_records_its_radius_and_refuses_a_wild_one(tmp_path, capsys):
    from train import classifier as command

    assert command.main(["--dry-run", "--batch-size", "4", "--robust-eps", "0.0157", "--out", str(tmp_path / "C")]) == 0
    assert json.loads((tmp_path / "C" / "classifier.json").read_text())["metrics"]["robust_eps"] == 0.0157
    assert command.main(["--dry-run", "--robust-eps", "0.5", "--out", str(tmp_path / "C-wild")]) == 2
    assert "--robust-eps is an L-inf radius" in capsys.readouterr().err and not (tmp_path / "C-wild").exists()


def test_the_app_fine_tunes_the_part_a_checkpoint_was_measured_with():
    from core.fewshot import recommended_part

    assert recommended_part({"identity": {"fine_tune_part": "decoder"}}) == "decoder"
    assert recommended_part({}) == recommended_part({"identity": {"fine_tune_part": "junk"}}) == "all"
    assert recommended_part(None) == "all"
