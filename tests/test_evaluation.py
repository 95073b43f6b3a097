import numpy as np
import pytest
import torch

from core.evaluation import chance_accuracy, classifier_accuracy, project_2d, silhouette


def _labels(n, seed):
    return torch.randint(10, (n,), generator=torch.Generator().manual_seed(seed))


def test_one_hot_labels_score_near_100():
    ytr, yte = _labels(2000, 0), _labels(500, 1)
    eye = torch.eye(16)
    acc = classifier_accuracy(eye[ytr], ytr, eye[yte], yte, num_classes=10, epochs=5)
    assert acc["train"] > 0.99 and acc["test"] > 0.99


def test_noise_scores_near_chance():
    ytr, yte = _labels(2000, 0), _labels(1000, 1)
    g = torch.Generator().manual_seed(2)
    acc = classifier_accuracy(torch.randn(2000, 16, generator=g), ytr, torch.randn(1000, 16, generator=g), yte,
                              num_classes=10, epochs=5)
    assert acc["test"] < 0.16  # chance is about 0.10


def test_sampling_noise_hides_a_weak_signal():
    """A label code drowned in a large posterior variance: the mean reveals it, a sample does not."""
    ytr, yte = _labels(2000, 0), _labels(1000, 1)
    eye = torch.eye(10)
    big = torch.full((1, 10), 4.0)  # logvar 4: sigma ~ 7.4 against a signal of 1
    mean = classifier_accuracy(eye[ytr], ytr, eye[yte], yte, epochs=3)
    sampled = classifier_accuracy(eye[ytr], ytr, eye[yte], yte, train_logvar=big.expand(2000, 10),
                                  test_logvar=big.expand(1000, 10), epochs=3)
    assert mean["test"] > 0.99 and sampled["test"] < 0.5


def test_chance_is_the_most_frequent_label():
    assert chance_accuracy(torch.tensor([1, 1, 1, 2])) == 0.75


def test_silhouette_separates_clusters_from_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 500)
    clustered = np.eye(5)[labels] * 10 + rng.normal(size=(500, 5))
    assert silhouette(clustered, labels) > 0.5
    assert abs(silhouette(rng.normal(size=(500, 5)), labels)) < 0.1


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_projections_keep_clusters_apart(method):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    codes = rng.normal(size=(80, 8)) + labels[:, None] * 20
    xy = project_2d(codes, method)
    assert xy.shape == (80, 2)
    assert silhouette(xy, labels) > 0.5


def test_unknown_projection_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: tsne, umap, pca"):
        project_2d(np.zeros((5, 2)), "lda")
