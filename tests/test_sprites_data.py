"""Sprites loader on a tiny synthetic copy of the real files (same names, fields and layout), plus a
check of the real data when it is on disk."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from core import load_model
from core.data import DataError, ImageSet, load_dataset, load_sprites
from core.data.sprites import ACTIONS, ATTRIBUTES, SEQ_LENS, TEST_SEQUENCES, VIEWS, read_layout, read_splits
from core.training import TrainConfig, make_trainer

ROOT = Path(__file__).resolve().parents[1]
CHARACTERS = 8
SPLIT_ROWS = {"trainidx": [5, 1, 3, 8], "validx": [2], "testidx": [4, 6, 7]}  # 1-based and unsorted, as the real file
SEQ_ID = np.repeat(np.arange(len(SEQ_LENS)), SEQ_LENS)


def attribute_labels(n: int) -> np.ndarray:
    return np.array([[r % len(v) if j < 6 else (r // 2) % 2 for j, v in enumerate(ATTRIBUTES.values())]
                     for r in range(n)], dtype=np.int16)


def write_sprites(root: Path, *, seq_lens=SEQ_LENS, splits=SPLIT_ROWS) -> Path:
    """sprites_uint8.npz + sprites_splits.mat. Pixel values encode the source: red = 10 x (character row + 1),
    green = frame number, blue = 255 everywhere (so the 2-pixel padding is the only black)."""
    root.mkdir(parents=True, exist_ok=True)
    frames = sum(SEQ_LENS)
    sprites = np.empty((CHARACTERS, frames, 60, 60, 3), np.uint8)
    sprites[..., 0] = (10 * (np.arange(CHARACTERS) + 1))[:, None, None, None]
    sprites[..., 1] = np.arange(frames)[None, :, None, None]
    sprites[..., 2] = 255
    np.savez_compressed(root / "sprites_uint8.npz", sprites=sprites, masks=np.zeros(sprites.shape[:-1], np.uint8),
                        labels=attribute_labels(CHARACTERS), seq_id=SEQ_ID,
                        frame_idx=np.concatenate([np.arange(n) for n in SEQ_LENS]), seq_lens=np.array(seq_lens))
    savemat(root / "sprites_splits.mat", {k: np.array([v], dtype=np.uint16) for k, v in splits.items()})
    return root


@pytest.fixture(scope="module")
def sprites_dir(tmp_path_factory) -> Path:
    return write_sprites(tmp_path_factory.mktemp("data") / "sprites")


def source(data: ImageSet) -> tuple[torch.Tensor, torch.Tensor]:
    """(character row, frame number) of each image, read back from its pixels."""
    return data.images[:, 0, 30, 30].long() // 10 - 1, data.images[:, 1, 30, 30].long()


def test_splits_padding_and_identity_labels(sprites_dir):
    train, test, unseen, val = (load_sprites(sprites_dir, split) for split in ("train", "test", "unseen", "val"))
    assert train.images.shape[1:] == (3, 64, 64) and train.images.dtype == torch.uint8
    assert train.class_names == test.class_names == ["sprite0", "sprite2", "sprite4", "sprite7"]
    assert unseen.class_names == ["sprite3", "sprite5", "sprite6"] and val.class_names == ["sprite1"]
    assert len(unseen) == 3 * 178 and len(val) == 178
    for data in (train, unseen):  # zeros in the 2-pixel frame only; the 60x60 inside is the source frame
        assert data.images[:, 2].sum(dim=0).eq(0).sum() == 64 * 64 - 60 * 60
        assert (data.images[:, 2, 2:62, 2:62] == 255).all()
    rows, frames = source(train)
    assert torch.equal(rows, torch.tensor([0, 2, 4, 7])[train.labels])
    test_rows, test_frames = source(test)
    for k in range(4):  # train and test split each character's 178 frames into whole sequences
        seen, held = frames[train.labels == k], test_frames[test.labels == k]
        assert sorted(seen.tolist() + held.tolist()) == list(range(178))
        assert len(np.unique(SEQ_ID[held.numpy()])) == TEST_SEQUENCES
        assert not set(SEQ_ID[held.numpy()]) & set(SEQ_ID[seen.numpy()])
    splits = [set(source(d)[0].tolist()) for d in (train, unseen, val)]
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])


def test_factors_follow_the_frame_layout(sprites_dir):
    data = load_sprites(sprites_dir, "unseen")
    assert set(data.factors) == {"action", "view", *ATTRIBUTES}
    assert data.factor_names["action"] == list(ACTIONS) and data.factor_names["view"] == list(VIEWS)
    rows, frames = source(data)
    seq = torch.from_numpy(SEQ_ID)[frames]
    assert torch.equal(data.factors["action"], seq // 4)  # hurt, sequence 20, is action 5
    front = VIEWS.index("front")
    assert torch.equal(data.factors["view"], torch.where(seq == 20, front, seq % 4))
    labels = torch.from_numpy(attribute_labels(CHARACTERS)).long()
    for j, name in enumerate(ATTRIBUTES):
        assert torch.equal(data.factors[name], labels[rows, j])
    sub = data.subset(torch.tensor([0, 177]))
    assert sub.factors["action"].tolist() == [0, 5] and sub.factors["view"].tolist() == [0, front]


@pytest.mark.parametrize("factor", ["action", "view", "hair", "weapon"])
def test_another_factor_as_the_label_keeps_identity_as_a_factor(sprites_dir, factor):
    by_identity = load_sprites(sprites_dir, "val")
    data = load_sprites(sprites_dir, "val", factor=factor)
    assert torch.equal(data.labels, by_identity.factors[factor]) and data.class_names == by_identity.factor_names[factor]
    assert factor not in data.factors and data.factor_names["identity"] == ["sprite1"]
    assert torch.equal(data.factors["identity"], by_identity.labels)


def test_seed_and_frames_per_sequence(sprites_dir):
    a, b, c = (load_sprites(sprites_dir, "test", seed=s) for s in (0, 0, 1))
    assert torch.equal(a.images, b.images) and not torch.equal(source(a)[1], source(c)[1])
    few = load_sprites(sprites_dir, "unseen", frames_per_sequence=2)
    frames = source(few)[1][:42]  # the first character: first and last frame of each of the 21 sequences
    starts = np.cumsum((0, *SEQ_LENS[:-1]))
    assert len(few) == 3 * 42 and frames.tolist() == sorted([*starts, *(starts + np.array(SEQ_LENS) - 1)])


def test_through_load_dataset_and_the_environment(sprites_dir, monkeypatch):
    monkeypatch.setenv("CCVAE_DATA_DIR", str(sprites_dir.parent))  # finds the sprites/ sub-folder
    assert len(load_dataset("sprites", None, "val")) == 178
    assert load_dataset("sprites", sprites_dir, "val", factor="view").class_names == list(VIEWS)
    with pytest.raises(ValueError, match="valid: train, test, unseen, val"):
        load_dataset("sprites", sprites_dir, "all")
    with pytest.raises(ValueError, match="image_size must be 64"):
        load_dataset("sprites", sprites_dir, "val", image_size=28)
    with pytest.raises(ValueError, match="valid: identity, action, view, sex, body, armor, hair, arms, greaves, weapon"):
        load_sprites(sprites_dir, factor="colour")


def test_missing_and_corrupt_files_are_named(tmp_path, sprites_dir):
    with pytest.raises(DataError, match="does not exist.*sprites_uint8.npz.*nips2015-analogy-data"):
        load_sprites(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"sprites_uint8.npz not found"):
        load_sprites(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "sprites_splits.mat").write_bytes((sprites_dir / "sprites_splits.mat").read_bytes())
    (bad / "sprites_uint8.npz").write_bytes(b"not a zip archive" * 10)
    with pytest.raises(DataError, match="cannot read .*sprites_uint8.npz"):
        load_sprites(bad)
    blob = (sprites_dir / "sprites_uint8.npz").read_bytes()
    (bad / "sprites_uint8.npz").write_bytes(blob[: len(blob) // 2])  # cut: the zip directory is gone
    with pytest.raises(DataError, match="cannot read"):
        load_sprites(bad)
    (bad / "sprites_splits.mat").write_bytes(b"MATLAB? no")
    (bad / "sprites_uint8.npz").write_bytes(blob)
    with pytest.raises(DataError, match="sprites_splits.mat"):
        load_sprites(bad)


def test_a_truncated_sprites_array_is_refused(tmp_path, sprites_dir):
    """A zip whose sprites.npy member is cut short inside the data (the archive itself is valid)."""
    root = write_sprites(tmp_path / "cut")
    with zipfile.ZipFile(sprites_dir / "sprites_uint8.npz") as src:
        members = {name: src.read(name) for name in src.namelist()}
    members["sprites.npy"] = members["sprites.npy"][: 200 + 5 * 178 * 60 * 60 * 3]  # header + 5 characters
    with zipfile.ZipFile(root / "sprites_uint8.npz", "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    with pytest.raises(DataError, match="truncated"):
        load_sprites(root, "unseen")  # needs rows 3, 5 and 6


@pytest.mark.parametrize("change, message", [
    (dict(seq_lens=(7,) * 21), "seq_lens"),
    (dict(splits=SPLIT_ROWS | {"validx": [5]}), "overlap"),
    (dict(splits=SPLIT_ROWS | {"testidx": [4, 6, 9]}), r"indices in 1..8"),
    (dict(splits={k: v for k, v in SPLIT_ROWS.items() if k != "validx"}), "has no validx"),
])
def test_layouts_this_loader_does_not_know_are_refused(tmp_path, change, message):
    with pytest.raises(DataError, match=message):
        load_sprites(write_sprites(tmp_path / "odd", **change))


def test_trainer_runs_and_its_checkpoint_loads(sprites_dir, tmp_path):
    data = load_dataset("sprites", sprites_dir, "train")
    trainer = make_trainer(TrainConfig(dataset="sprites", steps=2, batch_size=4, z_dim=8, s_dim=4, threads=1), data,
                      dataset_name="sprites")
    for _ in range(2):
        trainer.step()
    model = load_model(trainer.save(tmp_path / "checkpoint"))
    assert (model.config.dataset, model.config.image_shape, model.config.training_steps) == ("sprites", (3, 64, 64), 2)
    assert model.config.class_names == data.class_names and model.config.factor_names["view"] == list(VIEWS)
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_dry_run_subset_keeps_only_labels_with_a_pair(monkeypatch):
    """Sprites has 500 identities: 256 random images leave many with one image, which pairs cannot use."""
    import core.training.runner as cli  # python -m train loads its data through core.training.train_run

    g = torch.Generator().manual_seed(0)
    many = ImageSet(torch.zeros(600, 3, 64, 64, dtype=torch.uint8), torch.randint(500, (600,), generator=g),
                    [str(i) for i in range(500)], "many")
    monkeypatch.setattr(cli, "load_dataset", lambda *a, **k: many)
    data = cli.load_training_data(TrainConfig(dataset="sprites"), dry_run=True)
    assert 0 < len(data) < 256 and torch.bincount(data.labels)[data.labels].min() >= 2


def _real_sprites() -> Path | None:
    for candidate in (os.environ.get("CCVAE_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "sprites" / "sprites_uint8.npz").is_file():
            return Path(candidate) / "sprites"
    return None


@pytest.mark.skipif(_real_sprites() is None, reason="Sprites not on disk (set CCVAE_DATA_DIR)")
def test_real_sprites_layout_splits_and_labels(tmp_path):
    real = _real_sprites()
    layout = read_layout(real / "sprites_uint8.npz")
    text = np.loadtxt(real / "sprite_large_labels.txt", delimiter=",", dtype=np.int64)
    assert layout["labels"].shape == (672, 7) and np.array_equal(layout["labels"], text)
    splits = read_splits(real / "sprites_splits.mat", 672)
    assert [len(splits[k]) for k in ("trainidx", "validx", "testidx")] == [500, 72, 100]
    assert np.array_equal(np.sort(np.concatenate(list(splits.values()))), np.arange(672))
    # the first 3 characters only (the stream stops there): real pixels, padded, with their label rows
    (tmp_path / "sprites_uint8.npz").symlink_to(real / "sprites_uint8.npz")
    savemat(tmp_path / "sprites_splits.mat", {"trainidx": [[1, 2]], "validx": [[4]], "testidx": [[3]]})
    data = load_sprites(tmp_path, "unseen")
    assert data.images.shape == (178, 3, 64, 64) and data.images[:, :, 2:62, 2:62].float().mean() > 5
    assert data.images[:, :, :2].sum() == 0 and data.images[:, :, :, 62:].sum() == 0
    for j, name in enumerate(ATTRIBUTES):
        assert (data.factors[name] == int(text[2, j])).all()
