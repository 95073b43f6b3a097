"""The evaluation protocol: early stopping on held-out training codes, recorded; one protocol per table; the guards."""

from __future__ import annotations

import json

import pytest
import torch

from core.data import ImageSet
from core.evaluation import (
    PROTOCOL,
    ClassMismatch,
    NonFiniteCodes,
    ProbeDidNotTrain,
    Protocol,
    ProtocolMismatch,
    check_one_protocol,
    check_same_classes,
    evaluate_model,
    probe_accuracy,
)
from core.evaluation.protocol import protocol_of
from core.evaluation.result import Metrics

QUICK = Protocol(max_epochs=30, patience=3)


def _labels(n, seed, k=10):
    return torch.randint(k, (n,), generator=torch.Generator().manual_seed(seed))


def _onehot(y, k=10, noise=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.eye(k)[y] + noise * torch.randn(len(y), k, generator=g)


def test_a_perfect_code_scores_near_100_and_stops_early():
    ytr, yte = _labels(2000, 0), _labels(500, 1)
    r = probe_accuracy(_onehot(ytr), ytr, _onehot(yte), yte, protocol=QUICK)
    assert r.train > 0.99 and r.test > 0.99 and r.val > 0.99
    # nothing left to gain after the first epochs: it stops at best epoch + patience, well before the maximum
    assert r.epochs == r.best_epoch + QUICK.patience < QUICK.max_epochs


def test_noise_scores_near_chance_and_a_fixed_protocol_trains_every_epoch():
    ytr, yte = _labels(2000, 0), _labels(1000, 1)
    g = torch.Generator().manual_seed(2)
    r = probe_accuracy(torch.randn(2000, 16, generator=g), ytr, torch.randn(1000, 16, generator=g), yte,
                       protocol=Protocol.fixed(4))
    assert r.test < 0.16 and r.epochs == r.best_epoch == 4 and r.val is None


def test_the_same_seed_gives_the_same_reading_and_another_seed_another():
    ytr, yte = _labels(1500, 0), _labels(500, 1)
    a, b = _onehot(ytr, noise=1.5), _onehot(yte, noise=1.5, seed=1)
    first, again = (probe_accuracy(a, ytr, b, yte, protocol=QUICK, seed=0) for _ in range(2))
    other = probe_accuracy(a, ytr, b, yte, protocol=QUICK, seed=1)
    assert first == again and other != first


def test_nan_codes_are_refused_with_the_rows_named():
    y = _labels(200, 0)
    codes = _onehot(y)
    codes[7, 3] = float("nan")
    with pytest.raises(NonFiniteCodes, match=r"s \(training\).*first rows: \[7\]"):
        probe_accuracy(codes, y, _onehot(y), y, name="s")


def test_a_code_that_must_carry_the_label_at_chance_is_refused():
    """s whose codes say nothing about the label (a probe that could not learn): refused, not read as a number."""
    ytr, yte = _labels(2000, 0), _labels(500, 1)
    g = torch.Generator().manual_seed(3)
    noise, test_noise = torch.randn(2000, 16, generator=g), torch.randn(500, 16, generator=g)
    with pytest.raises(ProbeDidNotTrain, match="at chance on held-out training codes"):
        probe_accuracy(noise, ytr, test_noise, yte, protocol=QUICK, must_learn=True, name="s")
    # the same codes as z: "carries no label" is a legitimate reading
    assert probe_accuracy(noise, ytr, test_noise, yte, protocol=QUICK).test < 0.16


def test_a_probe_that_takes_no_step_is_refused():
    y = _labels(3, 0)
    with pytest.raises(ProbeDidNotTrain, match="no training step"):
        probe_accuracy(_onehot(y), y, _onehot(y), y, protocol=Protocol(val_fraction=0.5))


def _set(classes, n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageSet(torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g),
                    torch.randint(len(classes), (n,), generator=g), list(classes), "toy")


def test_sets_with_different_class_names_are_refused_with_the_difference():
    check_same_classes(_set("abc"), _set("abc", seed=1))
    with pytest.raises(ClassMismatch, match=r"only in the test set: \['d'\]"):
        check_same_classes(_set("abc"), _set("abcd"))
    with pytest.raises(ClassMismatch, match="another order"):
        check_same_classes(_set("abc"), _set("acb"))
    assert issubclass(ClassMismatch, ValueError)


def test_evaluate_model_refuses_differing_classes(tiny_model):
    with pytest.raises(ClassMismatch):
        evaluate_model(tiny_model, _set("0123456789"), _set("0123456789"[::-1]))


def test_evaluate_model_records_the_protocol_and_each_probe_seed(tiny_model):
    train, test = _set("0123456789", 300), _set("0123456789", 100, seed=1)
    quick = Protocol(max_epochs=2, patience=1)
    block = evaluate_model(tiny_model, train, test, protocol=quick, seeds=[0, 1])
    assert block["protocol"] == quick.to_dict()
    assert block["probes"]["seeds"] == [0, 1]
    for code in ("z_sample", "z_mean", "s"):
        per_seed = block["probes"][code]
        assert len(per_seed["test"]) == 2 and all(1 <= e <= 2 for e in per_seed["epochs"])
        assert block["accuracy"][code]["test"] == pytest.approx(sum(per_seed["test"]) / 2, abs=0.011)
    assert protocol_of(block)["name"] == quick.name and protocol_of(block)["num_train"] == 300
    # the typed reader keeps the new entries, so metrics.json round-trips
    assert Metrics.from_dict({"evaluation": block}).to_dict() == {"evaluation": block}
    with pytest.raises(ValueError, match="not both"):
        evaluate_model(tiny_model, train, test, protocol=quick, epochs=3)


def _block(protocol: Protocol | None, num_train=60000, **extra):
    block = {"accuracy": {c: {"train": 1.0, "test": 1.0} for c in ("z_sample", "z_mean", "s")},
             "num_train": num_train, "num_test": 10000} | extra
    if protocol is not None:
        block["protocol"] = protocol.to_dict()
    return block


def test_rows_of_one_protocol_pass_and_a_mix_is_refused_naming_rows_and_fields():
    assert check_one_protocol({"a": _block(PROTOCOL), "b": _block(PROTOCOL)})["name"] == PROTOCOL.name
    with pytest.raises(ProtocolMismatch) as err:
        check_one_protocol({"ours": _block(Protocol.fixed(15)), "authors": _block(Protocol.fixed(50))})
    assert "['authors'] differ from ['ours']" in str(err.value) and "max_epochs (15 vs 50)" in str(err.value)
    with pytest.raises(ProtocolMismatch, match="num_train"):
        check_one_protocol({"a": _block(PROTOCOL), "b": _block(PROTOCOL, num_train=20000)})


def test_a_block_from_before_protocols_reads_as_its_fixed_epoch_count():
    old = _block(None, classifier_epochs=15)
    assert protocol_of(old)["name"] == "fixed-15-epochs"
    check_one_protocol({"a": old, "b": _block(Protocol.fixed(15))})
    with pytest.raises(ProtocolMismatch):
        check_one_protocol({"a": old, "b": _block(PROTOCOL)})
    with pytest.raises(ProtocolMismatch, match="no protocol recorded"):
        check_one_protocol({"a": _block(None)})


def test_train_evaluate_table_refuses_mixed_protocols(tmp_path, capsys):
    from train.evaluate import main

    for name, protocol in (("a", PROTOCOL), ("b", PROTOCOL), ("c", Protocol.fixed(15))):
        (tmp_path / f"{name}.json").write_text(json.dumps({"evaluation": _block(protocol)}))
    assert main(["--table", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    assert "probe-early-stop/v1" in capsys.readouterr().out
    assert main(["--table", str(tmp_path / "a.json"), str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert "different protocols" in err and "c.json" in err and "patience" in err


def test_a_protocol_round_trips_and_unknown_fields_are_named():
    assert Protocol.from_dict(PROTOCOL.to_dict()) == PROTOCOL
    with pytest.raises(ValueError, match="unknown protocol fields \\['epochz'\\]"):
        Protocol.from_dict(PROTOCOL.to_dict() | {"epochz": 3})
