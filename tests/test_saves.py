"""core.saves: safe names, a folder reserved before the slow work, never an existing folder replaced, a quota."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from core import saves
from core.checkpoint import checkpoint_writer, load_model
from core.models import ModelConfig, build_model


def writer():
    torch.manual_seed(0)
    return checkpoint_writer(build_model(ModelConfig(image_shape=(1, 28, 28), z_dim=2, s_dim=2)))


@pytest.mark.parametrize("name", ["mnіst", "a/b", "..", ".hidden", "a.b", "", "a" * 41, "naïve", "a b", "Ｍnist"])
def test_names_are_plain_ascii(name):
    assert saves.name_problem(name)  # the first is "mnist" with a Cyrillic "і"
    with pytest.raises(saves.SaveError, match="cannot be a model name"):
        saves.reserve("/nonexistent", name)


@pytest.mark.parametrize("name", ["mnist2", "class_A-3", "x", "A" * 40])
def test_good_names(name):
    assert saves.name_problem(name) is None


def test_default_names_differ_per_session():
    assert len({saves.default_name() for _ in range(50)}) == 50
    assert all(saves.name_problem(saves.default_name()) is None for _ in range(5))


def test_two_saves_of_one_name_at_once_one_wins_the_other_is_told(tmp_path):
    results, barrier = [], threading.Barrier(2)

    def save(tag):
        barrier.wait()
        try:
            folder = saves.reserve(tmp_path, "classroom")
        except saves.SaveError as err:
            results.append(("refused", str(err)))
            return
        time.sleep(0.2)  # the slow part (latent statistics) happens after the reservation
        saves.write_reserved(folder, writer())
        results.append(("saved", tag))

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(r[0] for r in results) == ["refused", "saved"]
    assert "already exists" in next(r[1] for r in results if r[0] == "refused")
    assert load_model(tmp_path / "classroom").config.z_dim == 2
    assert [p.name for p in tmp_path.iterdir()] == ["classroom"]  # no temporary folder left


def test_an_existing_folder_is_never_replaced_or_written_into(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "config.json").write_text("the teacher's model")
    with pytest.raises(saves.SaveError, match="already exists"):
        saves.reserve(tmp_path, "mnist")
    assert (tmp_path / "mnist" / "config.json").read_text() == "the teacher's model"
    folder = saves.reserve(tmp_path, "mine")
    (folder / "intruder.txt").write_text("x")  # someone filled the reserved folder meanwhile
    with pytest.raises(saves.SaveError, match="not an empty folder"):
        saves.write_reserved(folder, writer())
    assert (folder / "intruder.txt").read_text() == "x"


def test_a_failed_save_gives_the_name_back(tmp_path):
    folder = saves.reserve(tmp_path, "mine")

    def broken(path):
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        saves.write_reserved(folder, broken)
    assert list(tmp_path.iterdir()) == []
    saves.write_reserved(saves.reserve(tmp_path, "mine"), writer())


def test_the_quota_counts_models_saved_through_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("CCVAE_SAVE_QUOTA", "2")
    (tmp_path / "shipped").mkdir()  # models not saved by the app do not count
    saves.write_reserved(saves.reserve(tmp_path, "one"), writer())
    saves.reserve(tmp_path, "two")  # a reservation counts too
    with pytest.raises(saves.SaveError, match="quota"):
        saves.reserve(tmp_path, "three")
