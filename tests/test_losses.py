import torch

from core import losses
from core.models import reparameterize


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    mu, logvar = torch.zeros(3, 5), torch.zeros(3, 5)
    assert torch.allclose(losses.kl_to_standard_normal(mu, logvar), torch.zeros(3))
    assert (losses.kl_to_standard_normal(mu + 1, logvar) > 0).all()


def test_forward_cycle_decodes_with_the_swapped_s(tiny_model):
    x1, x2 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    g = torch.Generator().manual_seed(3)
    terms = losses.forward_cycle_loss(tiny_model, x1, x2, generator=g)

    # recompute by hand, with the same noise, both with and without the swap
    enc = tiny_model.encode(torch.cat([x1, x2]))
    z = reparameterize(enc.z_mu, enc.z_logvar, torch.Generator().manual_seed(3))
    x = torch.cat([x1, x2])

    def recon(s):
        return (tiny_model.decode(z, s) - x).pow(2).flatten(1).mean(1).sum() / 4

    swapped = recon(torch.cat([enc.s[4:], enc.s[:4]]))
    unswapped = recon(enc.s)
    torch.testing.assert_close(terms.reconstruction, swapped)
    assert not torch.allclose(terms.reconstruction, unswapped)
    kl = losses.kl_to_standard_normal(enc.z_mu, enc.z_logvar).sum() / (4 * 784)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.total, 2 * swapped + 3 * kl)


def test_forward_cycle_weights_are_configurable(tiny_model):
    x1, x2 = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    t = losses.forward_cycle_loss(tiny_model, x1, x2, reconstruction_weight=0.5, kl_weight=7.0,
                                  generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(t.total, 0.5 * t.reconstruction + 7.0 * t.kl)


def test_reverse_cycle_reaches_the_encoder_only(tiny_model):
    x1, x2 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    tiny_model.zero_grad(set_to_none=True)
    rev = losses.reverse_cycle_loss(tiny_model, x1, x2, generator=torch.Generator().manual_seed(0))
    rev.total.backward()
    assert rev.distance > 0
    torch.testing.assert_close(rev.total, 10 * rev.distance)
    for name, p in tiny_model.decoder.named_parameters():
        assert p.grad is None, f"decoder parameter {name} received a gradient"
    grads = [p.grad for p in tiny_model.encoder.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # s is a constant of this term: the s head gets no gradient
    assert tiny_model.encoder.s.weight.grad is None or tiny_model.encoder.s.weight.grad.abs().sum() == 0


def test_reverse_cycle_is_zero_when_both_s_are_equal(tiny_model):
    x = torch.rand(4, 1, 28, 28)
    rev = losses.reverse_cycle_loss(tiny_model, x, x.clone(), generator=torch.Generator().manual_seed(0))
    assert rev.total.item() == 0.0
