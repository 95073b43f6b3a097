"""The issue-16 training switches: the pair adversary on z, the relative reverse distance, KL warm-up,
flip augmentation, the swap-effect probe and the degenerate-split stop."""

import pytest
import torch

from core import losses
from core.data import synthetic_digits
from core.explore import swap_effects
from core.models import ModelConfig, ZPairDiscriminator, build_model
from core.training import DegenerateSplit, TrainConfig, make_trainer

torch.set_num_threads(1)


def trainer(**options) -> make_trainer:
    return make_trainer(TrainConfig(steps=6, batch_size=8, seed=0, device="cpu", **options), synthetic_digits(64, classes=4))


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_z_adversary_resumes_exactly_with_its_discriminator(tmp_path):
    options = {"z_adversary_weight": 1.0}
    straight = trainer(**options)
    for _ in range(4):
        straight.step()
    first = trainer(**options)
    for _ in range(2):
        first.step()
    first.save(tmp_path / "ckpt")
    second = trainer(**options)
    second.resume(tmp_path / "ckpt")
    for _ in range(2):
        second.step()
    for a, b in ((straight.model, second.model), (straight.z_discriminator, second.z_discriminator)):
        for name, tensor in a.state_dict().items():
            assert torch.equal(b.state_dict()[name], tensor), name


def test_z_adversary_updates_the_encoder_and_its_discriminator_only():
    t = trainer(z_adversary_weight=1.0)
    enc, dec, disc = snapshot(t.model.encoder), snapshot(t.model.decoder), snapshot(t.z_discriminator)
    terms = t.z_adversary(t.same_label_batch(), t.different_label_batch())
    assert {"z_disc_loss", "z_disc_accuracy", "z_confusion"} <= set(terms)
    assert any(not torch.equal(enc[k], v) for k, v in t.model.encoder.state_dict().items())
    assert any(not torch.equal(disc[k], v) for k, v in t.z_discriminator.state_dict().items())
    assert all(torch.equal(dec[k], v) for k, v in t.model.decoder.state_dict().items())


def test_z_adversary_cannot_be_fooled_by_shrinking_z():
    """Standardised codes: scaling every z by 0.001 leaves both losses unchanged (unstandardised, the encoder
    collapsed z to a constant to fool the discriminator)."""
    torch.manual_seed(0)
    disc = ZPairDiscriminator(4)
    same = (torch.randn(16, 4), torch.randn(16, 4))
    different = (torch.randn(16, 4), torch.randn(16, 4))
    small = tuple((a * 1e-3, b * 1e-3) for a, b in (same, different))
    torch.testing.assert_close(losses.z_confusion_loss(disc, same, different), losses.z_confusion_loss(disc, *small))
    torch.testing.assert_close(losses.z_discriminator_loss(disc, same, different).total,
                               losses.z_discriminator_loss(disc, *small).total)


def test_relative_reverse_distance_ignores_the_scale_of_z():
    model = build_model(ModelConfig(z_dim=4, s_dim=3))
    x1, x2 = torch.rand(6, 1, 28, 28), torch.rand(6, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    base = losses.reverse_cycle_loss(model, x1, x2, distance="relative", generator=g).distance
    with torch.no_grad():
        model.encoder.z_mu.weight.mul_(1e-3)
        model.encoder.z_mu.bias.mul_(1e-3)
    g = torch.Generator().manual_seed(0)
    shrunk = losses.reverse_cycle_loss(model, x1, x2, distance="relative", generator=g).distance
    torch.testing.assert_close(base, shrunk, rtol=1e-3, atol=1e-6)


def test_kl_warmup_scales_the_kl_term_from_zero():
    t = trainer(kl_warmup=100, kl_weight=3.0)
    assert t.kl_weight_at(0) == pytest.approx(0.03)
    assert t.kl_weight_at(49) == pytest.approx(1.5)
    assert t.kl_weight_at(99) == t.kl_weight_at(5000) == 3.0
    assert trainer(kl_weight=3.0).kl_weight_at(0) == 3.0
    cool = trainer(kl_warmup=10, kl_start=300.0, kl_weight=25.0)  # a cool-down: z starts shut
    assert cool.kl_weight_at(0) == pytest.approx(272.5) and cool.kl_weight_at(9) == cool.kl_weight_at(99) == 25.0


def test_flip_mirrors_about_half_of_a_batch():
    t = trainer(flip=True)
    index = torch.arange(32) % 64
    plain = t.images[index].float() / 255
    flipped = t.batch(index)
    mirrored = [bool(torch.equal(flipped[i], plain[i].flip(-1))) and not torch.equal(plain[i], plain[i].flip(-1))
                for i in range(32)]
    kept = [bool(torch.equal(flipped[i], plain[i])) for i in range(32)]
    assert all(m or k for m, k in zip(mirrored, kept))
    assert 4 <= sum(mirrored) <= 28


class IgnoresS(torch.nn.Module):
    """A decoder that reads z only: the degenerate split."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, z, s):
        return self.inner(z, torch.zeros_like(s))


def test_swap_effects_see_a_decoder_that_ignores_s():
    model = build_model(ModelConfig(z_dim=4, s_dim=3)).eval()
    x = torch.rand(8, 1, 28, 28)
    healthy = swap_effects(model, x)
    assert healthy["s_effect"] > 0 and healthy["z_effect"] > 0
    model.decoder = IgnoresS(model.decoder)
    broken = swap_effects(model, x)
    assert broken["s_effect"] == 0.0 and broken["z_effect"] > 0


def test_training_stops_on_a_degenerate_split():
    t = trainer(split_floor=0.5, split_check_after=0)
    t.model.decoder = IgnoresS(t.model.decoder)
    with pytest.raises(DegenerateSplit, match="ignores s"):
        t.split_effects(t.images[:16])
    fine = trainer(split_floor=0.0)
    fine.model.decoder = IgnoresS(fine.model.decoder)
    assert fine.split_effects(fine.images[:16])["s_effect"] == 0.0  # logged, not stopped


def test_new_switches_are_validated():
    with pytest.raises(ValueError, match="z_adversary_weight"):
        TrainConfig(method="szabo", z_adversary_weight=1.0).validate()
    with pytest.raises(ValueError, match="kl_warmup"):
        TrainConfig(kl_warmup=-1).validate()
    with pytest.raises(ValueError, match="reverse_distance"):
        TrainConfig(reverse_distance="l2").validate()


def test_pair_dependence_sees_a_shared_label_and_not_the_scale():
    g = torch.Generator().manual_seed(0)
    label = torch.randint(10, (64,), generator=g)
    prototypes = torch.randn(10, 8, generator=g)
    style_a, style_b = torch.randn(64, 8, generator=g), torch.randn(64, 8, generator=g)
    independent = losses.pair_dependence(style_a, style_b)
    leaky = losses.pair_dependence(style_a + 2 * prototypes[label], style_b + 2 * prototypes[label])
    assert leaky > 3 * independent
    torch.testing.assert_close(losses.pair_dependence(1e-3 * style_a, 1e-3 * style_b), independent)


def test_z_independence_term_is_logged_and_trains():
    t = trainer(z_independence_weight=1.0)
    terms = t.step()
    assert "z_dependence" in terms and 0.0 <= float(terms["z_dependence"]) <= 1.0


def test_s_contrast_pulls_same_pairs_and_pushes_different_ones():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    perfect = losses.s_pair_contrast((a, 2 * a), (a, a.flip(0)))  # same pairs aligned, different pairs orthogonal
    assert float(perfect) == pytest.approx(0.0, abs=1e-6)
    bad = losses.s_pair_contrast((a, a.flip(0)), (a, a))  # same pairs orthogonal, different pairs identical
    assert float(bad) == pytest.approx(1.0 + 0.5)


def test_s_contrast_switch_trains_and_is_logged():
    t = trainer(s_contrast_weight=1.0)
    terms = t.step()
    assert "s_contrast" in terms and float(terms["s_contrast"]) >= 0
