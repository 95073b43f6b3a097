"""The shipped Yale B face checkpoint: statistics instead of images, faces a detector can find,
the README's numbers, and (data-heavy, where Yale B is on disk) its identity split on real images."""

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import load_latents, load_model
from core.upload import detect_faces, prepare_upload

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "yaleb"


@pytest.fixture(scope="module")
def model():
    return load_model(SHIPPED)


def generated_faces(model, count: int = 6) -> torch.Tensor:
    """The model's own faces: identities' mean s under frontal light (no dataset image involved)."""
    latents = load_latents(SHIPPED)
    lights = model.config.factor_names["lighting"]
    z = latents["factor_lighting_z_mu"][lights.index("A+000E+00")]
    s = latents["class_mean_s"][:count]
    with torch.no_grad():
        return model.decode(z.expand(count, -1), s)


def as_photo(face: torch.Tensor, side: int) -> Image.Image:
    """A generated face enlarged and set in a wider frame, as a photo would show it."""
    a = (face[0].numpy() * 255).astype(np.uint8)
    big = np.asarray(Image.fromarray(a).resize((side, side), Image.BICUBIC))
    return Image.fromarray(np.pad(big, side // 2, mode="edge")).convert("RGB")


def test_checkpoint_carries_identity_and_lighting_statistics(model):
    cfg = model.config
    assert (cfg.image_shape, cfg.dataset) == ((1, 64, 64), "yaleb") and len(cfg.class_names) == 30
    assert len(cfg.factor_names["lighting"]) == 64
    latents = load_latents(SHIPPED)
    assert latents["class_mean_s"].shape == (30, cfg.s_dim)
    assert latents["factor_lighting_z_mu"].shape == (64, cfg.z_dim)
    assert latents["pixel_stats"].shape == (2,)
    assert not (SHIPPED / "train_state.safetensors").exists(), "ship weights only, not optimiser state"


def test_detector_finds_the_models_own_faces_and_picks_the_largest(model):
    faces = generated_faces(model)
    found = sum(bool(detect_faces(as_photo(f, 192))) for f in faces)
    assert found >= len(faces) // 2, f"faces found in only {found} of {len(faces)} generated faces"
    detected = [f for f in faces if detect_faces(as_photo(f, 192))]
    big, small = as_photo(detected[0], 240), as_photo(detected[-1], 160)
    scene = Image.new("RGB", (big.width + small.width, big.height), (128, 128, 128))
    scene.paste(big, (0, 0))
    scene.paste(small, (big.width, 0))
    buf = io.BytesIO()
    scene.save(buf, format="JPEG")
    boxes = detect_faces(scene)
    assert len(boxes) >= 2, f"expected both faces, found {len(boxes)}"
    prepared = prepare_upload(buf.getvalue(), model.config.image_shape)
    assert prepared.face_found and "using the largest" in prepared.notes[0]
    assert boxes[0].box[2] >= boxes[1].box[2]
    assert boxes[0].box[0] < big.width  # the larger face is the left one


def test_readme_reports_the_face_numbers():
    ev = json.loads((SHIPPED / "metrics.json").read_text())["evaluation"]
    row = re.search(r"^\| \*\*ours, `checkpoints/yaleb`\*\*.*$", (ROOT / "docs/RESULTS.md").read_text(), re.M)
    assert row, "docs/RESULTS.md lost the face checkpoint's row"
    # the results tables are generated (train.report): a row reads "mean ± sd" when it averages probe seeds
    numbers = [float(x) for x in re.findall(r"\d+\.\d+", re.sub(r"± \d+\.\d+", "", row.group(0)))]
    acc = ev["accuracy"]
    assert numbers[:3] == [acc["z_sample"]["test"], acc["z_mean"]["test"], acc["s"]["test"]]


def _yale_dir() -> Path | None:
    for candidate in (os.environ.get("CCVAE_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "CroppedYale").is_dir():
            return Path(candidate)
    return None


@pytest.mark.skipif(_yale_dir() is None, reason="Yale B not on disk (set CCVAE_DATA_DIR); data-heavy check")
def test_shipped_face_model_on_real_held_out_images(model):
    from core.data import load_yale
    from core.evaluation import classifier_accuracy
    from core.explore import encode_all

    train, test = load_yale(_yale_dir(), "train"), load_yale(_yale_dir(), "test")
    etr, ete = encode_all(model, train.images), encode_all(model, test.images)
    s_acc = classifier_accuracy(etr.s, train.labels, ete.s, test.labels, num_classes=30, epochs=20)["test"]
    light = classifier_accuracy(etr.z_mu, train.factors["lighting"], ete.z_mu, test.factors["lighting"],
                                num_classes=64, epochs=20)["test"]
    assert s_acc > 0.8, f"s identifies held-out images of seen identities only {s_acc:.0%} of the time"
    assert light > 0.3, f"z predicts lighting only {light:.0%} of the time (chance 1.6%)"
