from pathlib import Path

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


# ------------------------------------------------------------------------------------------- one mean ± sd

def test_mean_sd_is_the_mean_and_the_sample_sd_or_the_one_value():
    from core.evaluation.result import MeanSd

    assert str(MeanSd.of([1.0, 2.0, 3.0])) == "2.00 ± 1.00" and MeanSd.of([4.2]).format() == "4.20"
    assert MeanSd.of([1.0, 2.0, 3.0], mean=2.004).format(1) == "2.0 ± 1.0"  # the recorded mean, taken before rounding
    assert MeanSd.of([4.0]).format_sd() == "" and MeanSd(1.0, 0.5).format_sd() == "± 0.50"
    with pytest.raises(ValueError):
        MeanSd.of([])


def test_a_probed_block_reads_its_recorded_mean_and_its_seeds_spread():
    """The recorded accuracy is the mean of the unrounded seeds; the seeds are stored rounded: the table shows the
    recorded mean (``train.evaluate --table`` once took the mean of the rounded seeds, 4.42 where the README said
    4.43)."""
    from core.evaluation.result import Evaluation

    block = {"accuracy": {c: {"train": 50.0, "test": 4.43} for c in ("z_sample", "z_mean", "s")},
             "probes": {"seeds": [0, 1, 2], "z_sample": {"test": [3.82, 4.44, 5.0], "epochs": [6, 7, 6]},
                        "z_mean": {"test": [4.43], "epochs": [6]}}}
    e = Evaluation.from_dict(block)
    assert str(e.mean_sd("z_sample")) == "4.43 ± 0.59" and str(e.mean_sd("z_mean")) == "4.43"
    assert str(e.mean_sd("s")) == "4.43" and e.probe_seeds == 3 and e.seed_runs("z_sample").epochs == [6, 7, 6]
    assert e.to_dict() == block


ROOT = Path(__file__).resolve().parents[1]


def _code_files() -> list[Path]:
    return [p for part in ("core", "train", "tools", "pages") for p in sorted((ROOT / part).rglob("*.py"))] + \
        [ROOT / "app_gradio.py"]


def test_only_core_evaluation_result_computes_or_prints_a_mean_sd():
    """One "mean ± sd" for every table: no other module takes a standard deviation with ``statistics`` or writes
    "± {...}" itself (tensor ``.std()`` in losses and pictures is not a table)."""
    import ast
    import re

    owner = "core/evaluation/result.py"
    hits = []
    for file in _code_files():
        rel, text = file.relative_to(ROOT).as_posix(), file.read_text()
        if rel == owner:
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and node.attr in ("stdev", "pstdev", "variance") and \
                    isinstance(node.value, ast.Name) and node.value.id == "statistics":
                hits.append(f"{rel}:{node.lineno}: statistics.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "statistics":
                hits.append(f"{rel}:{node.lineno}: from statistics import")
        hits += [f"{rel}:{i}: formats ± itself" for i, line in enumerate(text.splitlines(), 1)
                 if re.search(r"±\s*\{", line)]
    assert not hits, hits


# ------------------------------------------------------------------------------------------- evaluate_checkpoint

def _toy_sets():
    """Digits with a factor shared by train and test, one the test split never shares, and unseen 'identities'."""
    from core.data import ImageSet
    from core.data.synthetic import synthetic_digits

    def with_factors(data, seed, side_offset):
        g = torch.Generator().manual_seed(seed)
        n = len(data)
        factors = {"thick": torch.randint(3, (n,), generator=g), "side": torch.randint(2, (n,), generator=g) + side_offset}
        names = {"thick": ["thin", "mid", "thick"], "side": ["a", "b", "c", "d"]}
        return ImageSet(data.images, data.labels, [str(k) for k in range(10)], data.name, factors, names)
    train = with_factors(synthetic_digits(240, seed=0), 0, 0)
    test = with_factors(synthetic_digits(120, seed=1), 1, 2)  # "side" takes values training never saw
    unseen = with_factors(synthetic_digits(160, seed=2), 2, 0)
    return train, test, unseen


def _old_cli_path(model, train, test, unseen, *, protocol, seed, seeds, max_train, max_test):
    """What ``train.evaluate`` did before evaluate_checkpoint (its main's subsets, then its ``score``), verbatim."""
    from core.data import holdout_split
    from core.evaluation import evaluate_factor, evaluate_model, within_test

    g = torch.Generator().manual_seed(seed)
    if 0 < max_train < len(train):
        train = train.subset(torch.randperm(len(train), generator=g)[:max_train])
    if 0 < max_test < len(test):
        test = test.subset(torch.randperm(len(test), generator=g)[:max_test])
    metrics = evaluate_model(model, train, test, protocol=protocol, seed=seed, seeds=seeds)
    for factor in train.factors:
        shared = set(train.factors[factor].tolist()) & set(test.factors[factor].tolist())
        if shared:
            block = evaluate_factor(model, train, test, factor, protocol=protocol, seed=seed, seeds=seeds)
        else:
            block = evaluate_factor(model, *within_test(test, factor, seed), factor, protocol=protocol, seed=seed,
                                    seeds=seeds)
            block["split"] = (f"the test split's {factor} values never occur in the training split: the probe is "
                              f"trained on half of each value's test images and tested on the other half")
        metrics.setdefault("factors", {})[factor] = block
    halves = [holdout_split(unseen, split, fraction=0.5, seed=seed) for split in ("train", "test")]
    halves = [h.subset(torch.randperm(len(h), generator=g)[:n]) if 0 < n < len(h) else h
              for h, n in zip(halves, (protocol.max_train, protocol.max_test))]
    metrics["unseen"] = evaluate_model(model, *halves, protocol=protocol, seed=seed, seeds=seeds)
    metrics["unseen"]["split"] = ("classifier trained on codes of half of each unseen identity's images, "
                                  "tested on the other half; the encoder never saw these identities")
    return metrics


def test_evaluate_checkpoint_gives_the_numbers_the_cli_gave(tiny_model):
    from core.evaluation import Protocol, evaluate_checkpoint

    train, test, unseen = _toy_sets()
    protocol = Protocol.fixed(1).with_sizes(200, 60)
    common = dict(protocol=protocol, seed=3, seeds=[3, 4])
    old = _old_cli_path(tiny_model, train, test, unseen, max_train=200, max_test=60, **common)
    new = evaluate_checkpoint(tiny_model, train, test, max_train=200, max_test=60, unseen=unseen, **common)
    assert new == old
    assert set(new["factors"]) == {"thick", "side"} and "split" in new["factors"]["side"]
    assert new["num_train"] == 200 and new["num_test"] == 60 and new["unseen"]["num_test"] == 60
    # the CLI draws its subsets first (it keeps them for t-SNE and the latents) and hands on its generator
    g = torch.Generator().manual_seed(3)
    kept = train.random_subset(200, g), test.random_subset(60, g)
    assert evaluate_checkpoint(tiny_model, *kept, max_train=200, max_test=60, unseen=unseen, generator=g, **common) == old


def test_a_random_subset_is_seeded_chains_draws_and_keeps_a_small_set_as_it_is():
    from core.data.synthetic import synthetic_digits

    data = synthetic_digits(50)
    g = torch.Generator().manual_seed(7)
    first, second = torch.randperm(50, generator=g)[:10], torch.randperm(50, generator=g)[:5]
    g = torch.Generator().manual_seed(7)
    assert torch.equal(data.random_subset(10, g).images, data.images[first])
    assert torch.equal(data.random_subset(5, g).images, data.images[second])
    assert torch.equal(data.random_subset(10, 7).images, data.images[first])
    state = g.get_state()
    assert data.random_subset(0, g) is data and data.random_subset(50, g) is data and data.random_subset(99, g) is data
    assert torch.equal(g.get_state(), state)  # no draw for a set already that small
