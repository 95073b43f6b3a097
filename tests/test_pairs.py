import pytest
import torch

from core.pairs import PairSampler


@pytest.fixture
def labels():
    g = torch.Generator().manual_seed(0)
    return torch.tensor([3, 7, 11, 42])[torch.randint(4, (500,), generator=g)]


def test_same_pairs_share_a_label_and_differ_in_index(labels):
    sampler = PairSampler(labels)
    a, b = sampler.same_pairs(2000, torch.Generator().manual_seed(1))
    assert torch.equal(labels[a], labels[b])
    assert (a != b).all()


def test_different_pairs_never_share_a_label(labels):
    sampler = PairSampler(labels)
    a, b = sampler.different_pairs(2000, torch.Generator().manual_seed(1))
    assert (labels[a] != labels[b]).all()


def test_different_pairs_cover_all_other_samples_uniformly():
    labels = torch.tensor([0] * 2 + [1] * 3 + [2] * 5)
    sampler = PairSampler(labels)
    anchors = torch.zeros(20000, dtype=torch.long)  # label 0; the 8 others should be equally likely
    partners = sampler.different(anchors, torch.Generator().manual_seed(0))
    counts = torch.bincount(partners, minlength=10).float()
    assert counts[:2].sum() == 0
    assert (counts[2:] / counts[2:].mean() - 1).abs().max() < 0.1


def test_same_label_partner_is_uniform_over_the_others():
    labels = torch.tensor([5] * 4 + [9] * 2)
    sampler = PairSampler(labels)
    partners = sampler.same(torch.full((12000,), 2), torch.Generator().manual_seed(0))
    counts = torch.bincount(partners, minlength=6).float()
    assert counts[2] == 0 and counts[4:].sum() == 0
    assert (counts[[0, 1, 3]] / 4000 - 1).abs().max() < 0.1


def test_deterministic_under_a_seed(labels):
    sampler = PairSampler(labels)
    first = sampler.same_pairs(64, torch.Generator().manual_seed(5))
    second = sampler.same_pairs(64, torch.Generator().manual_seed(5))
    third = sampler.same_pairs(64, torch.Generator().manual_seed(6))
    assert all(torch.equal(x, y) for x, y in zip(first, second))
    assert not torch.equal(first[0], third[0])


def test_a_label_with_one_sample_is_refused_up_front():
    with pytest.raises(ValueError, match=r"at least 2 samples per label; labels with fewer: \[8\]"):
        PairSampler(torch.tensor([1, 1, 8, 2, 2]))


def test_one_label_only_cannot_give_different_pairs():
    sampler = PairSampler(torch.tensor([4, 4, 4]))
    with pytest.raises(ValueError, match="at least 2 labels"):
        sampler.different_pairs(3)
