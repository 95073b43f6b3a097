"""Face loaders on tiny synthetic copies of each dataset's real layout."""

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import UNSEEN_YALE, DataError, load_dataset, load_multipie, load_orl, load_utkface, load_yale
from core.training import TrainConfig, make_trainer

LIGHTS = ["A+000E+00", "A-035E+15", "A+050E-40", "A+110E+65", "A-005E-10"]


def save(path, value, size=(42, 48), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value,) * 3).save(path)


@pytest.fixture
def yale_dir(tmp_path):
    root = tmp_path / "CroppedYale"
    for k, ident in enumerate(["yaleB01", "yaleB02", UNSEEN_YALE[0], "yaleB04", UNSEEN_YALE[1]]):
        for j, light in enumerate(LIGHTS):
            save(root / ident / f"{ident}_P00{light}.pgm", 10 * k + j)
        save(root / ident / f"{ident}_P00_Ambient.pgm", 0)
        (root / ident / f"{ident}_P00{LIGHTS[0]}.bad").write_bytes(b"junk")
        (root / ident / f"{ident}_P00.info").write_text("list\n")
    return tmp_path


def test_yale_splits_seen_unseen_and_lighting(yale_dir):
    train, test, unseen = (load_yale(yale_dir, split, size=16) for split in ("train", "test", "unseen"))
    assert train.class_names == test.class_names == ["yaleB01", "yaleB02", "yaleB04"]
    assert unseen.class_names == list(UNSEEN_YALE[:2])
    assert len(train) + len(test) == 15 and len(test) == 3 and len(unseen) == 10  # 20% of 5 per identity
    assert train.images.shape[1:] == (1, 16, 16)
    assert train.factor_names["lighting"][0] == "A-035E+15"  # sorted by azimuth, then elevation
    assert len(train.factor_names["lighting"]) == 5
    # the pixel value encodes identity and lighting: check labels and lighting factor line up
    value = train.images[:, 0, 8, 8].long()
    ident = torch.tensor([int(train.class_names[i][-2:]) for i in train.labels])
    light = torch.tensor([LIGHTS.index(train.factor_names["lighting"][i]) for i in train.factors["lighting"]])
    assert torch.equal(value, 10 * torch.tensor([{1: 0, 2: 1, 4: 3}[int(i)] for i in ident]) + light)
    sub = train.subset(torch.tensor([0, 1]))
    assert torch.equal(sub.factors["lighting"], train.factors["lighting"][:2])


def test_yale_through_load_dataset_and_environment(yale_dir, monkeypatch):
    monkeypatch.setenv("CCVAE_DATA_DIR", str(yale_dir))
    assert len(load_dataset("yaleb", None, "unseen", image_size=16)) == 10
    with pytest.raises(ValueError, match="valid: train, test, unseen"):
        load_dataset("yaleb", None, "val")


def test_yale_empty_folder(tmp_path):
    (tmp_path / "CroppedYale").mkdir()
    with pytest.raises(DataError, match="no yaleBNN"):
        load_yale(tmp_path)


def test_orl_layout(tmp_path):
    for k in (1, 2, 10):
        for j in range(1, 4):
            save(tmp_path / "orl_faces" / f"s{k}" / f"{j}.pgm", 20 * k + j, size=(92, 112))
    data = load_orl(tmp_path, size=32)
    assert data.class_names == ["s1", "s2", "s10"] and data.images.shape == (9, 1, 32, 32)
    assert load_dataset("orl", tmp_path, "test", image_size=32).images.shape[0] == 3


def test_celeba_torchvision_layout(tmp_path, monkeypatch):
    """Faces are aligned by dlib's landmarks (core.align); here its detector is replaced by fixed eye points."""
    from core import align
    from core.data import cache

    monkeypatch.setattr(align, "available", lambda: True)
    monkeypatch.setattr(align, "find_faces", lambda image, upsample=None: [align.Landmarks((70.0, 110.0), (108.0, 110.0),
                                                                                           (40, 60, 140, 180))])
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    root = tmp_path / "celeba"
    lines = []
    for i in range(1, 9):
        name = f"{i:06d}.jpg"
        save(root / "img_align_celeba" / name, 30 * i, size=(178, 218), mode="RGB")
        lines.append(f"{name} {[5, 5, 7, 7, 7, 9, 9, 12][i - 1]}")
    (root / "identity_CelebA.txt").write_text("\n".join(lines) + "\n")
    data = load_dataset("celeba", tmp_path, "train", image_size=16, channels=3)
    assert data.class_names == ["5", "7", "9"] and data.images.shape[1:] == (3, 16, 16)  # 12 has one image
    (root / "identity_CelebA.txt").write_text("000001.jpg\n")
    with pytest.raises(DataError, match="identity_CelebA.txt:1"):
        load_dataset("celeba", tmp_path, "train")


def test_celeba_splits_name_the_same_identities(tmp_path, monkeypatch):
    """Two identities with two photos each (too few for a test photo) come before a third: train and test must
    agree label for label (the splits once indexed classes separately, so test label 0 named train's class 2)."""
    from core import align
    from core.data import cache

    monkeypatch.setattr(align, "available", lambda: True)
    monkeypatch.setattr(align, "find_faces", lambda image, upsample=None: [align.Landmarks((70.0, 110.0), (108.0, 110.0),
                                                                                           (40, 60, 140, 180))])
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    root = tmp_path / "celeba"
    identities = ["3"] * 2 + ["4"] * 2 + ["5"] * 8 + ["6"] * 7
    lines = []
    for i, ident in enumerate(identities, 1):
        name = f"{i:06d}.jpg"
        save(root / "img_align_celeba" / name, 40 * int(ident) - 100, size=(178, 218), mode="RGB")  # colour = identity
        lines.append(f"{name} {ident}")
    (root / "identity_CelebA.txt").write_text("\n".join(lines) + "\n")
    train, test = (load_dataset("celeba", tmp_path, split, image_size=16, channels=3) for split in ("train", "test"))
    assert train.class_names == test.class_names == ["3", "4", "5", "6"]
    assert sorted(set(test.labels.tolist())) == [2, 3]  # identities 3 and 4 have no test photo, yet keep labels 0, 1
    for data in (train, test):
        true = [str(round((float(img.float().mean()) + 100) / 40)) for img in data.images]
        assert [data.class_names[k] for k in data.labels.tolist()] == true


def test_utkface_factors_from_file_names(tmp_path):
    names = ["25_0_2_20170116174525125.jpg", "31_1_2_20170116174525126.jpg", "8_0_0_20170110224238891.jpg",
             "67_1_3_20170110224238892.jpg", "22_1_0_2017.jpg", "45_0_1_2017.jpg", "61_1_4_x.jpg",
             "39_0_4_y.jpg", "badname.jpg"]
    for i, name in enumerate(names):
        save(tmp_path / "UTKFace" / name, 20 * i, size=(200, 200), mode="RGB")
    with pytest.warns(UserWarning, match="skipped 1 file"):
        gender = load_utkface(tmp_path / "UTKFace", factor="gender", size=16)
    assert gender.class_names == ["male", "female"] and set(gender.factors) == {"age", "race"}
    source = (gender.images[:, 0, 8, 8].float() / 20).round().long()  # pixel value = 20 * file index
    for i, k in enumerate(source.tolist()):
        age, sex, race = (int(v) for v in names[k].split("_")[:3])
        assert (gender.labels[i], gender.factors["race"][i], gender.factors["age"][i]) == (sex, race, min(age // 10, 7))
    with pytest.warns(UserWarning):
        race = load_utkface(tmp_path / "UTKFace", factor="race", size=16)
    assert race.class_names[0] == "White" and set(race.factor_names) == {"age", "gender"}
    with pytest.raises(ValueError, match="valid: gender, race, age"):
        load_utkface(tmp_path, factor="mood")


def test_multipie_folder_layout(tmp_path):
    for ident in ("001", "002"):
        for pose in ("05_1", "08_0", "19_0"):
            for expr in ("neutral", "smile"):
                save(tmp_path / ident / pose / expr / "img.png", 7)
    data = load_multipie(tmp_path, factor="pose", size=16)
    assert data.class_names == ["05_1", "08_0", "19_0"] and len(data) == 12
    assert data.factor_names == {"identity": ["001", "002"], "expression": ["neutral", "smile"]}
    assert np.bincount(data.factors["identity"].numpy()).tolist() == [6, 6]


@pytest.mark.parametrize("counts, message", [({"s1": 3, "s2": 1}, "at least 2 samples per label"),
                                             ({"s1": 3}, "at least 2 labels")])
def test_unusable_labels_are_refused_before_training(tmp_path, counts, message):
    for k, count in counts.items():
        for j in range(count):
            save(tmp_path / k / f"{j}.pgm", 5)
    data = load_orl(tmp_path, size=64)
    with pytest.raises(ValueError, match=message):
        make_trainer(TrainConfig(steps=1), data)
