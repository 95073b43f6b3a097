"""core.session and what it stands on: one model cache for both UIs, typed metrics that read the shipped
metrics.json unchanged, capability flags instead of method names, swap-grid sources, uploads and the
zero-shot grid written once."""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import checkpoint, service, session
from core.checkpoint import save_checkpoint, save_latents
from core.data import spec_for
from core.evaluation.result import Accuracy, Metrics
from core.explore import decode_grid
from core.fewshot import known_styles, mean_s
from core.gallery import class_columns, one_per_class, random_images, swap_sources
from core.models import METHOD_NAMES, METHODS, SPLIT_METHODS, ModelConfig, build_model, capabilities
from core.upload import CROP_MODES, prepare_for, prepare_upload

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.parent.name for p in (ROOT / "checkpoints").glob(f"*/{checkpoint.METRICS}"))


def tiny(folder: Path, **config) -> Path:
    torch.manual_seed(0)
    model = build_model(ModelConfig(image_shape=(1, 28, 28), z_dim=2, s_dim=2, class_names=list("ab"), dataset="toy",
                                    **config))
    save_checkpoint(folder, model)
    save_latents(folder, {"class_mean_s": torch.randn(2, 2), "bank_z_mu": torch.randn(6, 2),
                          "bank_s": torch.randn(6, 2), "bank_labels": torch.tensor([0, 1] * 3)})
    return folder


@pytest.fixture
def root(tmp_path, monkeypatch):
    tiny(tmp_path / "models" / "toy")
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("CCVAE_MODEL_ROOTS", raising=False)
    monkeypatch.delenv("CCVAE_SAVE_DIR", raising=False)
    service.STORE.clear()
    yield tmp_path / "models"
    service.STORE.clear()


# -------------------------------------------------------------------------------------- one cache

def test_both_front_ends_and_the_session_layer_share_one_cached_model(root):
    pytest.importorskip("gradio")
    import app_gradio

    by_name = session.open_model("toy")
    assert app_gradio.open_checkpoint("toy") is by_name  # the Gradio app
    assert session.open_path(root / "toy" / ".") is by_name  # the Streamlit pages open by resolved path
    assert service.STORE.cached("model", root / "toy")
    assert session.gallery(by_name) is session.gallery(session.open_model("toy"))


def test_a_rewritten_checkpoint_is_loaded_again(root):
    first = session.open_model("toy")
    tiny(root / "toy")
    weights = root / "toy" / checkpoint.WEIGHTS
    stat = weights.stat()
    import os

    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert session.open_model("toy") is not first


def test_an_unknown_name_is_refused_with_the_names_there_are(root):
    with pytest.raises(service.NotAllowed, match=r"unknown checkpoint '\.\./secret'; available: toy"):
        session.open_model("../secret", what="checkpoint")
    with pytest.raises(service.NotAllowed, match="unknown model"):
        session.open_model(None)


def test_the_weights_digest_follows_the_bytes_not_the_file_time(root):
    folder = root / "toy"
    digest = checkpoint.weights_digest(folder)
    weights = folder / checkpoint.WEIGHTS
    stat = weights.stat()
    import os

    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000))
    checkpoint._DIGESTS.clear()
    assert checkpoint.weights_digest(folder) == digest
    assert checkpoint.weights_digest(root / "missing") is None


# ------------------------------------------------------------------------------------ typed metrics

@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_metrics_round_trip_through_the_typed_result(name):
    data = json.loads((ROOT / "checkpoints" / name / checkpoint.METRICS).read_text())
    metrics = Metrics.from_dict(data)
    assert metrics.to_dict() == data
    assert metrics.unreadable() == []
    assert (metrics.evaluation is not None) == ("evaluation" in data)
    assert (metrics.feature_probe is not None) == ("feature_probe" in data)
    if metrics.evaluation is not None:
        acc = data["evaluation"]["accuracy"]
        assert metrics.evaluation.z_sample == Accuracy(acc["z_sample"]["train"], acc["z_sample"]["test"])
        assert metrics.evaluation.s.test == acc["s"]["test"]
        assert metrics.evaluation.chance == data["evaluation"]["chance_test"]


def test_the_mnist_numbers_are_the_ones_in_the_file():
    ev = Metrics.from_dict(json.loads((ROOT / "checkpoints" / "mnist" / checkpoint.METRICS).read_text())).evaluation
    assert (ev.z_sample.test, ev.z_mean.test, ev.s.test, ev.chance_test) == (13.06, 68.4, 98.38, 11.35)
    assert ev.silhouette_test.s == 0.5907 and ev.num_test == 10_000


@pytest.mark.parametrize("data", [
    {"evaluation": {"accuracy": {"s": {"test": 1.0}}}},  # a column missing
    {"evaluation": {"accuracy": {"s": {"train": 1, "test": "x"}, "z_sample": {}, "z_mean": {}}}},
    {"evaluation": "not a block"},
    {"feature_probe": {"identity": {"test": 1}}},
])
def test_a_block_in_another_layout_is_kept_and_not_typed(data):
    metrics = Metrics.from_dict(data)
    assert metrics.evaluation is None and metrics.feature_probe is None
    assert metrics.unreadable() == list(data)
    assert metrics.to_dict() == data


def test_no_metrics_file_is_an_empty_result():
    assert Metrics.from_dict({}) == Metrics() and Metrics.from_dict({}).to_dict() == {}


# ------------------------------------------------------------------------------------ capabilities

@pytest.mark.parametrize("method", list(METHODS))
def test_capability_flags_per_method(method):
    shape = (1, 64, 64)
    config = ModelConfig(image_shape=shape, method=method, class_names=list("ab"),
                         factor_names={"light": ["left", "right"]} if method == "drgan" else {})
    model = build_model(config)
    flags = capabilities(config)
    assert flags == model.capabilities
    assert (model.has_split, model.takes_pose) == ((True, False) if method in SPLIT_METHODS else (False, True))
    assert model.stochastic == (method in ("ccvae", "mathieu"))
    assert not model.autoregressive
    assert METHOD_NAMES[method]


def test_the_pixelcnn_decoder_is_autoregressive():
    config = ModelConfig(decoder="pixelcnn")
    assert capabilities(config).autoregressive and build_model(config).autoregressive


def test_summary_says_what_the_codes_are():
    assert session.summary(ModelConfig(training_steps=3000)) == "CC-VAE · mnist · z 16 / s 16 · 3,000 steps"
    drgan = ModelConfig(image_shape=(1, 64, 64), method="drgan", z_dim=8, s_dim=32)
    assert "DR-GAN" in session.summary(drgan) and "noise 8 / f 32" in session.summary(drgan)


FRONT_ENDS = [p for p in [ROOT / "app.py", ROOT / "app_gradio.py", *sorted((ROOT / "pages").rglob("*.py"))]
              if p.name != "8_Train_live.py"]  # Train live belongs to the training engine


@pytest.mark.parametrize("file", FRONT_ENDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_front_end_compares_method_names_or_imports_train(file):
    text = file.read_text()
    assert not re.search(r"method\s*(==|!=|in\b|not in\b)", text), "ask the model's flags, not its method"
    assert '"drgan"' not in text and "METHOD_NAMES = " not in text
    imports = [n for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = [n.module or "" for n in imports if isinstance(n, ast.ImportFrom)] + \
        [a.name for n in imports if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m == "train" or m.startswith("train.")]


OWNED = [*FRONT_ENDS, *(ROOT / "core" / "models").glob("*.py"), *(ROOT / "core" / "evaluation").glob("*.py"),
         *(ROOT / "core" / n for n in ("service.py", "session.py", "gallery.py", "upload.py", "likeness.py", "explore.py"))]
FILE_NAMES = [checkpoint.CONFIG, checkpoint.WEIGHTS, checkpoint.METRICS, checkpoint.LATENTS, checkpoint.TRAIN_STATE,
              checkpoint.TRAIN_STATE_JSON, checkpoint.MAPS_STAMP, checkpoint.TSNE_FIGURE]


@pytest.mark.parametrize("file", OWNED, ids=lambda p: str(p.relative_to(ROOT)))
def test_checkpoint_file_names_are_spelt_only_in_core_checkpoint(file):
    strings = [n.value for n in ast.walk(ast.parse(file.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in strings if s in FILE_NAMES or s == checkpoint.MAPS]


# ----------------------------------------------------------------------------- images and uploads

def test_swap_sources_are_the_seeded_random_rows_and_one_image_per_class(root):
    images = session.gallery(session.open_model("toy"))
    rows, cols = swap_sources(images, 4, 5, seed=3)
    assert torch.equal(rows, torch.randperm(len(images), generator=torch.Generator().manual_seed(3))[:4])
    per_class = one_per_class(images, seed=3)
    assert torch.equal(cols, per_class.repeat(3)[:5])  # two classes, cycled
    assert torch.equal(class_columns(images, 5, seed=3, cycle=False), per_class)
    assert torch.equal(random_images(images, 4, seed=3), rows)
    assert [int(images.labels[i]) for i in cols] == [0, 1, 0, 1, 0]


def photo(size: int = 120) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size + 40, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("crop", CROP_MODES)
def test_uploads_are_prepared_with_the_models_framing_and_pixel_statistics(crop):
    config = ModelConfig(image_shape=(1, 64, 64), dataset="yaleb")
    latents = {"pixel_stats": torch.tensor([0.4, 0.2])}
    box = (0.5, 0.5, 0.6)
    got = prepare_for(config, latents, photo(), name="p.png", crop=crop, manual_box=box)
    want = prepare_upload(photo(), (1, 64, 64), name="p.png", framing=spec_for("yaleb").framing, pixel_stats=(0.4, 0.2),
                          manual_box=box if crop == CROP_MODES[2] else None, detect=crop == CROP_MODES[0])
    assert torch.equal(got.tensor, want.tensor) and got.notes == want.notes
    with pytest.raises(ValueError, match="unknown crop mode"):
        prepare_for(config, latents, photo(), crop="sideways")


def test_zero_shot_is_the_uploads_mean_s_with_every_stored_z(root):
    loaded = session.open_model("toy")
    x = torch.rand(3, 1, 28, 28)
    result = session.zero_shot(loaded, x)
    styles, names = known_styles(loaded.model, loaded.latents)
    assert torch.equal(result.styles, styles) and result.style_names == names
    assert torch.equal(result.images, decode_grid(loaded.model, styles, mean_s(loaded.model, x)[None])[:, 0])
    photos = [("a.png", photo()), ("b.png", photo(80))]
    prepared = session.prepare_photos(loaded, photos, CROP_MODES[1])
    assert [tuple(p.tensor.shape) for p in prepared] == [(1, 28, 28)] * 2


def test_prior_rows_and_digit_models(root):
    loaded = session.open_model("toy")
    assert torch.equal(session.prior_rows(loaded), loaded.latents["class_mean_s"])
    assert session.digit_models() == ["toy"]
