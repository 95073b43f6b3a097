"""Baselines (Mathieu et al., Szabó et al.) and the CC-VAE loss variants: they train, round-trip through
checkpoints, resume exactly, and each adversarial update changes exactly the networks it should."""

import pytest
import torch

from core import load_model
from core.data import synthetic_digits
from core.losses import reverse_cycle_loss
from core.models import METHODS, ModelConfig, build_model
from core.models.nets import DETERMINISTIC_LOGVAR
from core.training import GANCollapse, TrainConfig, make_trainer

torch.set_num_threads(1)

CASES = {
    "ccvae": {},
    "mathieu": {"method": "mathieu"},
    "szabo": {"method": "szabo"},
    "reverse-reconstruction": {"reverse_reconstruction_weight": 2.0},
    "adversarial-decoder": {"adversarial": "decoder"},
    "adversarial-both": {"adversarial": "both"},
    "wasserstein": {"reverse_distance": "wasserstein"},
    "relative": {"reverse_distance": "relative"},
    "z-adversary": {"z_adversary_weight": 1.0, "kl_warmup": 10, "flip": True},
}


def tiny_trainer(**options) -> make_trainer:
    config = TrainConfig(steps=4, batch_size=8, seed=0, device="cpu", **options)
    return make_trainer(config, synthetic_digits(64, classes=4))


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


@pytest.mark.parametrize("case", CASES)
def test_trains_and_round_trips_through_a_checkpoint(case, tmp_path):
    trainer = tiny_trainer(**CASES[case])
    for _ in range(3):
        terms = trainer.step()
    assert all(torch.isfinite(v) for v in terms.values()), terms
    if trainer.config.uses_discriminator:
        assert 0.0 <= float(terms["disc_accuracy"]) <= 1.0
    trainer.save(tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    assert type(loaded) is METHODS[trainer.config.method]
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    x = torch.rand(3, 1, 28, 28)
    trainer.model.eval()
    torch.testing.assert_close(loaded.reconstruct(x), trainer.model.reconstruct(x), rtol=0, atol=0)


@pytest.mark.parametrize("case", ["mathieu", "szabo", "adversarial-both"])
def test_resume_continues_exactly_with_the_discriminator(case, tmp_path):
    straight = tiny_trainer(**CASES[case])
    for _ in range(4):
        straight.step()
    first = tiny_trainer(**CASES[case])
    for _ in range(2):
        first.step()
    first.save(tmp_path / "ckpt")
    second = tiny_trainer(**CASES[case])
    second.resume(tmp_path / "ckpt")
    for _ in range(2):
        second.step()
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[name], tensor), name
    for name, tensor in straight.discriminator.state_dict().items():
        assert torch.equal(second.discriminator.state_dict()[name], tensor), name


def test_resume_refuses_a_run_with_other_variants(tmp_path):
    first = tiny_trainer()
    first.step()
    first.save(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="optimisers"):
        tiny_trainer(adversarial="decoder").resume(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="'ccvae' model"):
        tiny_trainer(method="szabo").resume(tmp_path / "ckpt")


@pytest.mark.parametrize("mode, encoder_changes", [("decoder", False), ("both", True)])
def test_adversarial_variant_trains_only_what_it_says(mode, encoder_changes):
    trainer = tiny_trainer(adversarial=mode, discriminator_limit=1.01)  # the discriminator always updates
    enc, dec, disc = snapshot(trainer.model.encoder), snapshot(trainer.model.decoder), snapshot(trainer.discriminator)
    terms = trainer.adversarial_reverse_cycle()
    assert {"generator", "disc_loss", "disc_accuracy"} <= set(terms)
    assert changed(dec, trainer.model.decoder)
    assert changed(disc, trainer.discriminator)
    assert changed(enc, trainer.model.encoder) == encoder_changes


def test_a_discriminator_update_changes_the_discriminator_only():
    trainer = tiny_trainer(method="mathieu", discriminator_limit=1.01)
    model, disc = snapshot(trainer.model), snapshot(trainer.discriminator)
    x1, x2 = trainer.same_label_batch()
    trainer.discriminator_update((x1, x2), (x1, trainer.model.decode(*trainer.model.encode(x2)[::2])))
    assert changed(disc, trainer.discriminator)
    assert not changed(model, trainer.model)


def test_discriminator_is_not_updated_once_it_is_accurate_enough():
    trainer = tiny_trainer(method="szabo", discriminator_limit=0.0)  # every accuracy is >= 0: never update
    disc = snapshot(trainer.discriminator)
    trainer.step()
    assert not changed(disc, trainer.discriminator)


def test_baseline_generator_update_leaves_the_discriminator_alone():
    trainer = tiny_trainer(method="szabo", discriminator_limit=0.0)
    model, disc = snapshot(trainer.model), snapshot(trainer.discriminator)
    x1, x3 = trainer.random_batch(), trainer.random_batch()
    from core.losses import generator_loss
    loss = generator_loss(trainer.discriminator, x1, trainer.model.decode(trainer.model.encode(x3).z_mu,
                                                                            trainer.model.encode(x1).s))
    trainer._update("generator", loss, {"generator": loss})
    assert changed(model, trainer.model) and not changed(disc, trainer.discriminator)


def test_collapse_is_reported_with_a_clear_message():
    trainer = tiny_trainer(method="mathieu", collapse_window=3)
    trainer._watch_discriminator(torch.tensor(1.0))
    trainer._watch_discriminator(torch.tensor(0.5))  # a batch in the window where the generator won: no collapse
    trainer._watch_discriminator(torch.tensor(1.0))
    trainer._watch_discriminator(torch.tensor(1.0))
    with pytest.raises(GANCollapse, match="discriminator has classified at least 99% of every batch"):
        trainer._watch_discriminator(torch.tensor(1.0))


def test_szabo_is_deterministic_and_reports_a_constant_logvar():
    model = build_model(ModelConfig(method="szabo"))
    enc = model.encode(torch.rand(4, 1, 28, 28))
    assert torch.all(enc.z_logvar == DETERMINISTIC_LOGVAR)
    assert not any("z_logvar" in k for k in model.state_dict())


def test_wasserstein_and_reconstruction_variants_of_the_reverse_cycle():
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        same = reverse_cycle_loss(model, x, x, distance="wasserstein")
    assert same.distance.item() == 0.0  # same s twice: the two generations, hence their posteriors, agree
    other = reverse_cycle_loss(model, x, torch.rand(4, 1, 28, 28), distance="wasserstein", reconstruction_weight=2.0)
    assert other.distance > 0 and other.reconstruction > 0
    torch.testing.assert_close(other.total, 10 * other.distance + 2 * other.reconstruction)
    with pytest.raises(ValueError, match="valid: l1, wasserstein"):
        reverse_cycle_loss(model, x, x, distance="l2")


@pytest.mark.parametrize("options, message", [
    ({"method": "vae"}, "valid: ccvae, mathieu, szabo"),
    ({"adversarial": "encoder"}, "valid: none, decoder, both"),
    ({"method": "mathieu", "adversarial": "decoder"}, "CC-VAE options"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options).validate()
