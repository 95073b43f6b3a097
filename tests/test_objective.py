"""The CC-VAE's one forward objective (core.training.objective): the total is the weighted sum of the named terms
it returns, pair and group cycles share the same terms, and the trainer logs what the objective returns."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path

import pytest
import torch

from core import losses
from core.data import synthetic_digits
from core.training import make_trainer, preset_config
from core.training.objective import TITLES, Cycle, Parts, forward_objective

ROOT = Path(__file__).resolve().parents[1]


def pair_cycle(model, labels=None):
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.rand(6, 1, 28, 28, generator=g), torch.rand(6, 1, 28, 28, generator=g)
    fwd = losses.forward_cycle_loss(model, x1, x2, generator=torch.Generator().manual_seed(1))
    return Cycle.of_pairs(fwd, x1, x2, labels), (x1, x2)


def test_the_total_is_the_weighted_sum_of_the_named_terms(tiny_model):
    config = preset_config("fast", z_dim=4, s_dim=3, reconstruction_weight=1.5, kl_weight=0.7, z_independence_weight=0.4,
                           s_contrast_weight=0.25, s_classifier_weight=0.5)
    labels = torch.arange(6) % 3
    cycle, (x1, x2) = pair_cycle(tiny_model, labels)
    head = torch.nn.Linear(3, 10)
    different = (x1.flip(0), x2)
    o = forward_objective(tiny_model, cycle, config, Parts(s_head=head), kl_weight=0.7, autocast=contextlib.nullcontext(),
                          different=different)
    assert list(o.terms) == ["reconstruction", "kl", "z_dependence", "s_contrast", "s_head", "s_head_accuracy"]
    weights = {"reconstruction": 1.5, "kl": 0.7, "z_dependence": 0.4, "s_contrast": 0.25, "s_head": 0.5}
    expected = sum(w * o.terms[k] for k, w in weights.items())
    assert torch.allclose(o.total, expected)
    # each term is the pure function of core.losses on the cycle's parts
    fwd = losses.forward_cycle_loss(tiny_model, x1, x2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(o.terms["reconstruction"], fwd.reconstruction) and torch.equal(o.terms["kl"], fwd.kl)
    assert torch.allclose(o.terms["z_dependence"], losses.pair_dependence(fwd.z_mu[:6], fwd.z_mu[6:]))


def test_a_weight_of_zero_leaves_its_term_out(tiny_model):
    cycle, _ = pair_cycle(tiny_model)
    o = forward_objective(tiny_model, cycle, preset_config("fast", z_dim=4, s_dim=3), Parts(), kl_weight=3.0,
                          autocast=contextlib.nullcontext())
    assert list(o.terms) == ["reconstruction", "kl"]
    assert torch.allclose(o.total, 2.0 * cycle.reconstruction + 3.0 * cycle.kl)


@pytest.mark.parametrize("source", ["pair", "group"])
def test_pair_and_group_cycles_train_the_same_terms(source):
    """The s head and the s contrast work on both cycles (before the one objective, the pair cycle ignored the
    head and the group cycle ignored the contrast and the z-independence term), and the step logs them."""
    data = synthetic_digits(96, classes=6)
    extra = {"s_source": "group", "group_size": 2, "z_dropout": 0.3} if source == "group" else {}
    config = preset_config("fast", z_dim=4, s_dim=6, steps=3, batch_size=8, s_classifier_weight=0.3,
                           s_contrast_weight=0.2, z_independence_weight=0.1, pixel_l1_weight=0.5, **extra)
    trainer = make_trainer(config, data)
    terms = trainer.step()
    for name in ("reconstruction", "kl", "pixel_l1", "z_dependence", "s_contrast", "s_head", "s_head_accuracy", "reverse_cycle"):
        assert name in terms and torch.isfinite(terms[name]), name
    assert trainer.s_head.weight.grad is not None and trainer.s_head.weight.grad.abs().sum() > 0


def test_every_weighted_term_has_a_title_for_the_train_live_chart():
    tree = ast.parse((ROOT / "core/training/objective.py").read_text())
    added = {node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "add" and node.args
             and isinstance(node.args[0], ast.Constant)}
    assert added and added <= set(TITLES), added - set(TITLES)


def test_the_trainer_sums_no_term_itself():
    """The one place the forward terms are weighted and summed: no `total = total + ...` left in the trainer."""
    source = (ROOT / "core/training/ccvae.py").read_text()
    assert "total = total +" not in source and "forward_objective" in source


def test_train_live_charts_the_terms_the_objective_returned():
    from core.features.live import MAX_CHARTS, charted_terms

    history = [{"step": 1, "reconstruction": 0.1, "kl": 0.01, "reverse_cycle": 0.2, "s_head_accuracy": 0.5},
               {"step": 2, "reconstruction": 0.1, "kl": 0.01, "reverse_cycle": 0.2, "pixel_l1": 0.3}]
    names = [name for name, _ in charted_terms(history)]
    assert names == ["reconstruction", "kl", "reverse_cycle", "pixel_l1"]  # monitors are not charted
    assert len(charted_terms([{k: 0.0 for k in TITLES}])) == MAX_CHARTS and charted_terms([]) == []
