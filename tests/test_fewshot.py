"""Few-shot fine-tuning in core, and the few-shot page with an uploaded image."""

import io
from pathlib import Path

import pytest
import torch
from conftest import face_like
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.fewshot import fine_tune, known_styles, mean_s, reference_images

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def face_checkpoints(tmp_path_factory, yale_dir):
    """A few-step Yale B checkpoint on synthetic faces (with lighting statistics), named yaleb."""
    from train.ccvae import main as train_main

    tmp = tmp_path_factory.mktemp("faces")
    assert train_main(["--dry-run", "--dataset", "yaleb", "--data-dir", str(yale_dir), "--out", str(tmp / "run"),
                       "--z-dim", "4", "--s-dim", "6", "--steps", "3"]) == 0
    (tmp / "ckpts").mkdir()
    (tmp / "run" / "checkpoint").rename(tmp / "ckpts" / "yaleb")
    return tmp / "ckpts"


def test_checkpoint_stores_lighting_codes_and_pixel_statistics(face_checkpoints):
    import core

    model = core.load_model(face_checkpoints / "yaleb")
    latents = core.load_latents(face_checkpoints / "yaleb")
    assert model.config.factor_names["lighting"][0] == "A-070E+00"
    assert latents["factor_lighting_z_mu"].shape == (6, 4) and latents["pixel_stats"].shape == (2,)
    z, names = known_styles(model, latents)
    assert z.shape == (6, 4) and names[0] == "lighting A-070E+00"


def test_fine_tune_changes_a_copy_only(face_checkpoints):
    import core

    model = core.load_model(face_checkpoints / "yaleb")
    latents = core.load_latents(face_checkpoints / "yaleb")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new = torch.from_numpy(face_like(40, 2)).float().div(255)[None, None].repeat(3, 1, 1, 1)
    refs, labels = reference_images(model, latents, count=16)
    assert refs.shape == (16, 1, 64, 64) and labels.shape == (16,)
    calls = []
    tuned = fine_tune(model, new, refs, labels, steps=4, batch_size=4, callback=lambda step, terms: calls.append(step))
    assert calls == [1, 2, 3, 4]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the shared model changed"
    assert any(not torch.equal(before[k], v) for k, v in tuned.state_dict().items())
    assert mean_s(tuned, new).shape == (6,) and not tuned.training
    with pytest.raises(ValueError, match="at least 1"):
        fine_tune(model, new, refs, labels, steps=0)


def png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def fewshot_page(face_checkpoints, monkeypatch):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(face_checkpoints))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / "pages" / "7_Few_shot.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def test_page_without_uploads_shows_stored_identities(fewshot_page):
    at = fewshot_page
    assert "Upload 1 to 10 photos" in at.info[0].value
    assert len(at.get("imgs")) + len(at.get("image")) >= 1


def test_page_with_upload_crops_renders_and_fine_tunes(fewshot_page, face_checkpoints):
    import core

    at = fewshot_page
    shared_before = core.load_model(face_checkpoints / "yaleb").state_dict()
    at.file_uploader[0].set_value([("me.png", png(face_like(50, 1, 128)), "image/png"),
                                   ("broken.png", b"not an image", "image/png")]).run()
    assert not at.exception, at.exception
    assert any("broken.png is not an image" in e.value for e in at.error)
    subheaders = [h.value for h in at.subheader]
    assert "What the model sees" in subheaders and "Mixed with known identities" in subheaders
    at.slider(key="fewshot_steps").set_value(10).run()  # fewest steps
    fine = [b for b in at.button if b.label == "Fine-tune"][0]
    fine.click().run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert any("private copy" in c for c in captions) or "fewshot_model" in at.session_state
    assert "fewshot_model" in at.session_state
    for k, v in core.load_model(face_checkpoints / "yaleb").state_dict().items():
        assert torch.equal(shared_before[k], v)


def test_fewshot_experiment_script(tmp_path, mnist_dir, yale_dir, face_checkpoints):
    """The experiment CLI end to end on tiny data: MNIST withheld digit, unseen Yale B identities, ORL."""
    import json
    import shutil

    from train.fewshot import main as fewshot_main

    data = tmp_path / "data"
    shutil.copytree(mnist_dir / "MNIST", data / "MNIST")
    shutil.copytree(yale_dir / "CroppedYale", data / "CroppedYale")
    for k in range(1, 4):
        for j in range(1, 5):
            (data / "orl_faces" / f"s{k}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(face_like(60 + k, j % 3, 112)).resize((92, 112)).save(data / "orl_faces" / f"s{k}" / f"{j}.pgm")
    out = tmp_path / "out"
    assert fewshot_main(["--data-dir", str(data), "--out", str(out), "--face-checkpoint", str(face_checkpoints / "yaleb"),
                         "--mnist-steps", "3", "--fewshot-steps", "2", "--epochs", "1", "--classifier-images", "200"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["shots"] for r in results["mnist"]["rows"]] == [0, 1, 10]
    assert [r["shots"] for r in results["faces"]["yaleb_unseen"]["rows"]] == [0, 1, 10]
    assert [r["shots"] for r in results["faces"]["orl"]["rows"]] == [0, 1, 4]
    assert all(0 <= r["s"] <= 100 for r in results["faces"]["orl"]["rows"])
    assert (out / "mnist_withheld7_10shot.png").is_file() and (out / "yaleb_unseen_1shot.png").is_file()
    assert "| shots of 7 |" in (out / "results.md").read_text()


def test_sessions_are_isolated_and_the_shared_model_is_untouched(face_checkpoints, monkeypatch):
    """Session A uploads and fine-tunes; session B, open at the same time, sees none of it, and the
    shared cached model renders exactly as before."""
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(face_checkpoints))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)

    def page(name):
        at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120).run()
        assert not at.exception, at.exception
        return at

    b_before = [img.url for el in page("1_Swap_grid.py").get("image") for img in el.proto.imgs]
    a, b = page("7_Few_shot.py"), page("7_Few_shot.py")
    a.file_uploader[0].set_value(("a.png", png(face_like(70, 3, 128)), "image/png")).run()
    a.slider(key="fewshot_steps").set_value(10).run()  # fewest fine-tuning steps
    [x for x in a.button if x.label == "Fine-tune"][0].click().run()
    assert "fewshot_model" in a.session_state and a.session_state["fewshot_prepared"]
    b.run()
    assert "fewshot_model" not in b.session_state
    assert "fewshot_prepared" not in b.session_state or not b.session_state["fewshot_prepared"]
    assert "What the model sees" not in [h.value for h in b.subheader]
    b_after = [img.url for el in page("1_Swap_grid.py").get("image") for img in el.proto.imgs]
    assert b_before == b_after  # media ids hash the image bytes: same pictures from the shared model
