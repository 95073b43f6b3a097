"""core.service: public mode, the allow-listed model roots, messages without paths, one cache per resolved path;
and the checkpoint-reading errors a visitor could trigger (non-UTF-8 JSON, unreadable folders)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import core
from core import service, settings
from core.checkpoint import CheckpointError, load_metrics, read_config, save_checkpoint
from core.models import ModelConfig, build_model


def tiny(folder: Path) -> Path:
    torch.manual_seed(0)
    save_checkpoint(folder, build_model(ModelConfig(image_shape=(1, 28, 28), z_dim=2, s_dim=2, class_names=list("ab"))))
    return folder


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """A shipped root with model "m", an operator root with a run folder, and a private folder outside both."""
    shipped, extra, private = tmp_path / "shipped", tmp_path / "class", tmp_path / "private"
    tiny(shipped / "m")
    tiny(extra / "run1" / "checkpoint")
    tiny(extra / "m")  # the same name as a shipped model
    tiny(private / "secret")
    (shipped / "escape").symlink_to(private / "secret")  # a symlink out of the roots
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(shipped))
    monkeypatch.setenv("CCVAE_MODEL_ROOTS", str(extra))
    monkeypatch.delenv("CCVAE_SAVE_DIR", raising=False)
    monkeypatch.setenv("CCVAE_PUBLIC", "1")
    return shipped, extra, private


def test_models_are_listed_by_name_from_the_roots_only(roots):
    shipped, extra, private = roots
    models = service.list_models()
    assert list(models) == ["m", "class/m", "run1"]
    assert models["m"] == (shipped / "m").resolve() and models["run1"] == (extra / "run1" / "checkpoint").resolve()
    assert all(not str(p).startswith(str(private)) for p in models.values())  # the symlink out is not listed


@pytest.mark.parametrize("name", ["../private/secret", "escape", "/etc", "m/..", "", "x" * 500])
def test_public_mode_opens_names_from_the_list_and_nothing_else(roots, name):
    shipped, _, private = roots
    with pytest.raises(service.NotAllowed) as err:
        service.resolve_model(name)
    assert str(shipped) not in str(err.value) and str(private) not in str(err.value)
    with pytest.raises(service.NotAllowed):  # nor by path: resolved, then checked against the roots
        service.STORE.load(shipped / "escape")
    with pytest.raises(service.NotAllowed):
        service.STORE.load(shipped / ".." / "private" / "secret")


def test_messages_in_public_mode_name_no_path(roots, tmp_path):
    shipped, _, _ = roots
    (shipped / "broken").mkdir()
    (shipped / "broken" / "config.json").write_text('{"format_version": 1, "model": {"secret_key_name": 1}}')
    with pytest.raises(CheckpointError) as err:
        service.STORE.load(shipped / "broken")
    assert "secret_key_name" in str(err.value)  # the details exist (for the server log)...
    shown = service.user_message(err.value, "This model")
    assert "secret_key_name" not in shown and str(tmp_path) not in shown and "cannot be opened" in shown  # ...not for users


def test_local_mode_keeps_the_details_and_any_folder(roots, monkeypatch):
    _, _, private = roots
    monkeypatch.setenv("CCVAE_PUBLIC", "0")
    assert service.STORE.load(private / "secret").model.config.z_dim == 2
    err = CheckpointError("x in /some/path")
    assert service.user_message(err) == "x in /some/path"


def test_the_cache_key_is_the_resolved_path(roots, monkeypatch):
    shipped, _, _ = roots
    calls = []
    real = service.load_model
    monkeypatch.setattr(service, "load_model", lambda path, **kw: calls.append(path) or real(path, **kw))
    store = service.ModelStore()
    a = store.load(shipped / "m")
    b = store.load(f"{shipped}/m/.")
    c = store.load(f"{shipped}/../shipped/m/")
    assert a is b is c and len(calls) == 1  # one entry, so variants never evict other sessions' models


def test_two_sessions_asking_at_once_load_a_model_once(roots, monkeypatch):
    import threading
    import time

    shipped, _, _ = roots
    calls = []
    real = service.load_model

    def slow(path, **kw):
        calls.append(path)
        time.sleep(0.2)
        return real(path, **kw)
    monkeypatch.setattr(service, "load_model", slow)
    store = service.ModelStore()
    out = []
    threads = [threading.Thread(target=lambda: out.append(store.load(shipped / "m"))) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and all(o is out[0] for o in out)


def test_a_non_utf8_metrics_file_is_a_checkpoint_error(tmp_path):
    folder = tiny(tmp_path / "m")
    (folder / "metrics.json").write_bytes(b'{"evaluation": "\xff\xfe"}')
    with pytest.raises(CheckpointError, match="not valid JSON"):  # was an uncaught UnicodeDecodeError
        load_metrics(folder)
    (folder / "config.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_config(folder)


def test_an_unreadable_folder_is_a_checkpoint_error(tmp_path, monkeypatch):
    folder = tiny(tmp_path / "m")
    real_stat = Path.stat

    def denied(self, *args, **kwargs):
        if str(self).startswith(str(folder)):
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)
    monkeypatch.setattr(Path, "stat", denied)
    with pytest.raises(CheckpointError, match="cannot be read"):  # was an uncaught PermissionError
        read_config(folder)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_metrics(folder)
    assert core.find_checkpoints(tmp_path) == []


def test_serving_flags_become_settings(tmp_path, monkeypatch):
    import argparse

    for key in ("CCVAE_PUBLIC", "CCVAE_MODEL_ROOTS", "CCVAE_SAVE_DIR"):
        monkeypatch.setenv(key, "")  # recorded, so what apply_flags sets is undone after the test
        monkeypatch.delenv(key)
    assert not service.public_mode()
    parser = argparse.ArgumentParser()
    settings.add_flags(parser)
    settings.apply_flags(parser.parse_args(["--public", "--model-root", str(tmp_path), "--save-dir", str(tmp_path)]))
    assert service.public_mode() and os.environ["CCVAE_MODEL_ROOTS"] == str(tmp_path.resolve())
    assert service.save_dir() == tmp_path.resolve() and tmp_path.resolve() in service.model_roots()


def test_building_a_trainer_leaves_the_global_generator_alone(mnist_dir):
    """Train live builds Trainers inside a server: it must not reseed the generator every session shares."""
    from core.data import load_dataset
    from core.training import TrainConfig, make_trainer

    data = load_dataset("mnist", str(mnist_dir), "train")
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    a = make_trainer(TrainConfig(z_dim=4, s_dim=3, steps=1, device="cpu", seed=7), data)
    assert torch.equal(torch.get_rng_state(), before)  # was reseeded with 7
    b = make_trainer(TrainConfig(z_dim=4, s_dim=3, steps=1, device="cpu", seed=7), data)
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name  # the initial weights still follow the seed
