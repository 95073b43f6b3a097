"""Expression datasets (JAFFE, Yale faces, their shared expressions), Yale B with light as s, the
render-every-expression function, and the shipped expression / yaleb-light checkpoints.

The loaders are tested on tiny fake JPEGs (dlib's crop replaced by a stand-in, since a fake photo has no face);
checks that need the real photos skip when ../shared/data (or $CCVAE_DATA_DIR) does not hold them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import REGISTRY, load_dataset, spec_for
from core.data import expressions as ex
from core.expressions import MAX_EXPRESSIONS, expression_renders
from core.limits import MAX_INTERPOLATION_STEPS, LimitError
from core.models import ModelConfig, build_model

ROOT = Path(__file__).resolve().parents[1]
JAFFE_PEOPLE = ("KA", "KM", "NA", "TM")  # KM and NA are held out
YALE_PEOPLE = ("subject01", "subject03", "subject04")  # subject03 is held out


def jpeg(path: Path, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((24, 20), value, dtype=np.uint8)).convert("RGB").save(path)


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """tmp_path/jaffe and tmp_path/yalefaces with a few well-named photos and some that must be ignored."""
    serial = 1
    for person in JAFFE_PEOPLE:
        for code in ("AN", "HA", "NE", "SA", "SU"):
            for repeat in (1, 2):
                jpeg(tmp_path / "jaffe" / f"{person}.{code}{repeat}.{serial}.jpg", serial % 250)
                serial += 1
    jpeg(tmp_path / "jaffe" / "README.jpg")
    jpeg(tmp_path / "jaffe" / "KA.XX1.999.jpg")  # not an expression code
    for person in YALE_PEOPLE:
        for condition in ("happy", "normal", "sad", "surprised", "sleepy", "wink", "leftlight", "glasses"):
            jpeg(tmp_path / "yalefaces" / f"{person}.{condition}.jpeg")
    (tmp_path / "yalefaces" / "Readme.txt").write_text("subject04.sad is a copy of subject04.normal")

    def fake_crops(files, size):  # every photo "has a face": a constant crop whose grey level names the file
        crops = np.stack([np.full((size, size, 1), i % 256, dtype=np.uint8) for i in range(len(files))])
        return crops, np.ones(len(files), dtype=bool)

    monkeypatch.setattr(ex, "aligned_grey", fake_crops)
    return tmp_path


def test_jaffe_names_parse_and_junk_is_ignored(fake_root):
    files = ex.jaffe_files(fake_root)
    assert len(files) == len(JAFFE_PEOPLE) * 5 * 2
    path, person, expression = files[0]
    assert (person, expression) == ("KA", "angry") and path.name.startswith("KA.AN")
    assert {e for _, _, e in files} == {"angry", "happy", "neutral", "sad", "surprise"}
    assert ex.jaffe_files(fake_root / "jaffe") == files  # the folder itself or its parent


def test_yale_names_parse_and_the_copied_photo_is_dropped(fake_root):
    files = ex.yalefaces_files(fake_root)
    names = {f"{p}.{c}" for _, p, c in files}
    assert "subject04.sad" not in names and "subject04.normal" in names and "subject01.sad" in names
    data = ex.load_yalefaces(fake_root, "all")
    assert data.class_names == list(ex.YALE_EXPRESSIONS)  # lighting and glasses conditions are left out
    assert len(data) == 3 * 6 - 1


@pytest.mark.parametrize("loader", [ex.load_jaffe, ex.load_yalefaces, ex.load_expressions])
def test_split_by_person_holds(fake_root, loader):
    train, test, whole = (loader(fake_root, split) for split in ("train", "test", "all"))
    people = whole.factor_names[ex.IDENTITY]
    train_people = {people[i] for i in train.factors[ex.IDENTITY].tolist()}
    test_people = {people[i] for i in test.factors[ex.IDENTITY].tolist()}
    assert train_people and test_people and not train_people & test_people
    assert test_people <= set(ex.HELDOUT_JAFFE + ex.HELDOUT_YALEFACES)
    assert len(train) + len(test) == len(whole)
    # the evaluator's guard: the same class list and the same person names in every split
    assert train.class_names == test.class_names == whole.class_names
    assert train.factor_names == test.factor_names == whole.factor_names
    with pytest.raises(ValueError, match="unknown split"):
        loader(fake_root, "unseen")


def test_combined_set_maps_the_shared_expressions_by_name(fake_root):
    data = ex.load_expressions(fake_root, "all")
    assert data.class_names == ["happy", "neutral", "sad", "surprise"]
    items = ex.shared_items(fake_root)
    by_file = {f.name: e for f, _, e in items}
    assert by_file["subject01.normal.jpeg"] == "neutral" and by_file["subject01.surprised.jpeg"] == "surprise"
    assert by_file["KA.NE1.5.jpg"] == "neutral" and by_file["KA.SU2.10.jpg"] == "surprise"
    assert not any(name.startswith(("KA.AN",)) or "sleepy" in name or "wink" in name for name in by_file)
    counts = torch.bincount(data.labels, minlength=4).tolist()
    # JAFFE: 4 people x 2 repeats per expression; Yale: 3 people, minus subject04.sad
    assert counts == [4 * 2 + 3, 4 * 2 + 3, 4 * 2 + 2, 4 * 2 + 3]


def test_missing_folders_are_refused_in_words(tmp_path):
    with pytest.raises(ValueError, match="no JAFFE photos"):
        ex.jaffe_files(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        ex.load_yalefaces(tmp_path / "nowhere")


def test_registry_entries(fake_root):
    for name in ("jaffe", "yalefaces", "expressions", "yaleb-light"):
        spec = REGISTRY[name]
        assert spec_for(name) is spec and not spec.is_face  # not identity models: the Few-shot page skips them
        assert spec.s_words and spec.z_words
    assert spec_for("expressions").landmarks and not spec_for("yaleb-light").landmarks
    data = load_dataset("expressions", fake_root, "test")
    assert data.name == "expressions:test" and set(data.factors) == {ex.IDENTITY}


def fake_yaleb(root: Path) -> Path:
    lights = ["A+000E+00", "A+050E-40", "A-035E+15", "A+110E+65", "A-070E+00", "A+020E+10"]
    for person in ("yaleB01", "yaleB02", "yaleB03"):
        for light in lights:
            path = root / "CroppedYale" / person / f"{person}_P00{light}.pgm"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((24, 21), 100, dtype=np.uint8)).save(path)
    return root


def test_yale_b_with_light_as_the_label(tmp_path):
    root = fake_yaleb(tmp_path)
    train, test = (load_dataset("yaleb-light", root, split) for split in ("train", "test"))
    assert train.class_names == ["lit from left", "frontal light", "lit from right"]
    assert train.factor_names["identity"] == test.factor_names["identity"] == ["yaleB01", "yaleB02"]
    same = load_dataset("yaleb", root, "train", factor="light_direction")
    assert torch.equal(same.labels, train.labels)
    assert load_dataset("yaleb", root, "train").class_names == ["yaleB01", "yaleB02"]  # identity stays the default
    with pytest.raises(ValueError, match="valid: identity, light_direction"):
        load_dataset("yaleb", root, "train", factor="pose")


@pytest.fixture
def expression_model():
    torch.manual_seed(0)
    return build_model(ModelConfig(image_shape=(1, 64, 64), z_dim=4, s_dim=3, dataset="expressions",
                                   class_names=["happy", "neutral", "sad", "surprise"]))


def test_renders_every_expression_and_a_strip_from_neutral(expression_model):
    means = torch.randn(4, 3)
    out = expression_renders(expression_model, torch.rand(1, 64, 64), means, steps=5)
    assert out.names == ["happy", "neutral", "sad", "surprise"] and out.start == "neutral"
    assert out.renders.shape == (4, 1, 64, 64) and out.strips.shape == (4, 5, 1, 64, 64)
    assert out.reconstruction.shape == (1, 64, 64)
    # each strip ends at its expression's render and starts at the neutral one
    assert torch.allclose(out.strips[:, -1], out.renders, atol=1e-5)
    assert torch.allclose(out.strips[:, 0], out.renders[1].expand(4, -1, -1, -1), atol=1e-5)
    uint8 = expression_renders(expression_model, torch.full((1, 64, 64), 128, dtype=torch.uint8), means)
    assert uint8.renders.shape == (4, 1, 64, 64)


def test_render_caps_and_bad_input(expression_model):
    face, means = torch.rand(1, 64, 64), torch.randn(4, 3)
    assert len(expression_renders(expression_model, face, means, max_expressions=2).names) == 2
    with pytest.raises(LimitError, match="limit"):
        expression_renders(expression_model, face, means, steps=MAX_INTERPOLATION_STEPS + 1)
    with pytest.raises(ValueError, match="at least 2"):
        expression_renders(expression_model, face, means, steps=1)
    with pytest.raises(ValueError, match="max_expressions"):
        expression_renders(expression_model, face, means, max_expressions=MAX_EXPRESSIONS + 1)
    with pytest.raises(ValueError, match="shape"):
        expression_renders(expression_model, torch.rand(3, 64, 64), means)
    with pytest.raises(ValueError, match="one mean s"):
        expression_renders(expression_model, face, torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expression_renders(expression_model, face * 3, means)
    many = [f"e{i}" for i in range(MAX_EXPRESSIONS + 3)]  # a model with more labels: the first MAX_EXPRESSIONS
    out = expression_renders(expression_model, face, torch.randn(len(many), 3), names=many)
    assert len(out.names) == MAX_EXPRESSIONS and out.start == "the face's own s"


# ------------------------------------------------------------------------------------------ shipped checkpoints

def _data_dir() -> Path | None:
    for candidate in (os.environ.get("CCVAE_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "jaffe").is_dir() and (Path(candidate) / "yalefaces").is_dir():
            return Path(candidate)
    return None


SHIPPED = ROOT / "checkpoints" / "expression"
needs_shipped = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(), reason="no checkpoints/expression")
needs_data = pytest.mark.skipif(_data_dir() is None, reason="JAFFE / Yale faces not on disk (set CCVAE_DATA_DIR); "
                                                           "data-heavy check")


@needs_shipped
def test_shipped_expression_checkpoint_is_small_and_whole():
    import json

    from core import load_latents, load_model

    model = load_model(SHIPPED)
    assert model.config.dataset == "expressions" and model.config.class_names == list(ex.SHARED_EXPRESSIONS)
    assert load_latents(SHIPPED)["class_mean_s"].shape == (4, model.config.s_dim)
    assert (SHIPPED / "model.safetensors").stat().st_size < 8 * 2**20
    assert not (SHIPPED / "train_state.safetensors").exists(), "ship weights only, not optimiser state"
    evaluation = json.loads((SHIPPED / "metrics.json").read_text())["evaluation"]
    assert evaluation["accuracy"]["s"]["test"] > evaluation["chance_test"]
    out = expression_renders(model, torch.rand(1, 64, 64), load_latents(SHIPPED)["class_mean_s"])
    assert out.renders.shape == (4, 1, 64, 64) and torch.isfinite(out.strips).all()


@needs_shipped
@needs_data
def test_shipped_expression_model_reads_strangers_expressions():
    from core import load_model
    from core.evaluation import classifier_accuracy
    from core.explore import encode_all

    model = load_model(SHIPPED)
    train, test = (load_dataset("expressions", _data_dir(), split) for split in ("train", "test"))
    etr, ete = encode_all(model, train.images), encode_all(model, test.images)
    s_acc = classifier_accuracy(etr.s, train.labels, ete.s, test.labels, num_classes=4, epochs=20)["test"]
    assert s_acc > 0.4, f"s names a held-out person's expression only {s_acc:.0%} of the time (chance 26%)"


@needs_data
def test_transfer_command_dry_run(tmp_path):
    from train.expression_transfer import main

    if not (SHIPPED / "model.safetensors").is_file():
        pytest.skip("no checkpoints/expression")
    assert main(["--checkpoint", str(SHIPPED), "--data-dir", str(_data_dir()), "--dry-run", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "transfer.json").is_file() and "Swap test" in (tmp_path / "transfer.md").read_text()


LIGHT = ROOT / "checkpoints" / "yaleb-light"


@pytest.mark.skipif(not (LIGHT / "model.safetensors").is_file(), reason="no checkpoints/yaleb-light")
def test_shipped_light_checkpoint():
    import json

    from core import load_model

    model = load_model(LIGHT)
    assert model.config.dataset == "yaleb-light" and len(model.config.class_names) == 3
    acc = json.loads((LIGHT / "metrics.json").read_text())["evaluation"]["accuracy"]
    assert acc["s"]["test"] >= 90 and acc["z_mean"]["test"] <= 50
