import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from core.checkpoint import CheckpointError, load_latents, load_model, save_checkpoint, write_folder_atomic


@pytest.fixture
def saved(tmp_path, tiny_model):
    latents = {"class_mean_s": torch.randn(10, 3)}
    return save_checkpoint(tmp_path / "ckpt", tiny_model, metrics={"a": 1}, latents=latents)


def test_round_trip_is_bit_exact(saved, tiny_model):
    loaded = load_model(saved)
    assert loaded.config == tiny_model.config
    for (k, a), (k2, b) in zip(tiny_model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert not loaded.training
    x = torch.rand(2, 1, 28, 28)
    tiny_model.eval()
    for a, b in zip(tiny_model.encode(x), loaded.encode(x)):
        assert torch.equal(a, b)
    assert load_latents(saved)["class_mean_s"].shape == (10, 3)


def test_a_pickle_renamed_to_safetensors_is_refused_not_executed(saved, tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (saved / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_model(saved)
    assert not marker.exists()


def test_truncated_weights_are_refused(saved):
    blob = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_model(saved)


def _edit_weights(folder, edit):
    state = load_file(str(folder / "model.safetensors"))
    edit(state)
    save_file(state, str(folder / "model.safetensors"))


def test_missing_and_extra_tensors_are_named(saved):
    _edit_weights(saved, lambda s: s.pop("decoder.z_in.bias"))
    with pytest.raises(CheckpointError, match=r"missing tensors \['decoder.z_in.bias'\]"):
        load_model(saved)
    _edit_weights(saved, lambda s: s.update({"decoder.z_in.bias": torch.zeros(256), "surprise": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match=r"unexpected tensors \['surprise'\]"):
        load_model(saved)


def test_wrong_shape_is_named(saved):
    _edit_weights(saved, lambda s: s.update({"encoder.s.weight": torch.zeros(5, 256)}))
    with pytest.raises(CheckpointError, match=r"encoder.s.weight has shape \(5, 256\)"):
        load_model(saved)


def test_nan_weights_are_refused(saved):
    def poison(state):
        state["encoder.z_mu.bias"][0] = float("nan")
    _edit_weights(saved, poison)
    with pytest.raises(CheckpointError, match="encoder.z_mu.bias contains NaN"):
        load_model(saved)


def _edit_config(folder, edit):
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["model"].update(z_dim="16"), "z_dim should be a positive integer"),
    (lambda c: c["model"].update(image_shape=[1, 28]), "image_shape should be 3 positive integers"),
    (lambda c: c["model"].update(colour="red"), r"unknown model keys \['colour'\]"),
    (lambda c: c["model"].update(method="gan"), "unknown method 'gan'"),
    (lambda c: c.update(format_version=99), "format 99, newer than this code reads"),
    (lambda c: c.pop("format_version"), "format_version missing"),
    (lambda c: c.pop("model"), "no 'model' section"),
])
def test_bad_configs_are_refused_with_the_reason(saved, edit, message):
    _edit_config(saved, edit)
    with pytest.raises(CheckpointError, match=message):
        load_model(saved)


def test_config_that_is_not_json(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(saved)


def test_folder_without_config_and_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="has no config.json"):
        load_model(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "file.pt").write_bytes(b"\x80\x04")
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        load_model(tmp_path / "file.pt")


def test_non_finite_weights_are_never_saved(tmp_path, tiny_model):
    with torch.no_grad():
        tiny_model.decoder.s_in.bias[0] = float("inf")
    with pytest.raises(CheckpointError, match="non-finite"):
        save_checkpoint(tmp_path / "bad", tiny_model)
    assert not (tmp_path / "bad").exists()


def test_atomic_write_keeps_the_old_folder_when_writing_fails(saved):
    before = (saved / "model.safetensors").read_bytes()

    def fail(folder):
        (folder / "model.safetensors").write_bytes(b"partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_folder_atomic(saved, fail)
    assert (saved / "model.safetensors").read_bytes() == before
    load_model(saved)
