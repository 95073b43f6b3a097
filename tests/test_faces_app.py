"""The app side of few-shot faces: the Few-shot page switching to a face model and back, webcam and
hand-drawn crop boxes, the Draw a digit page, and the Gradio few-shot default and sketch endpoint."""

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import dry_run_checkpoint, face_like
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import service
from core.upload import box_fractions, prepare_upload

ROOT = Path(__file__).resolve().parents[1]


def png(array, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).convert("RGB").save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def roots(tmp_path_factory, mnist_dir, yale_dir):
    """A checkpoints root with a tiny digit model ("mnist", the app's default) and a tiny face model ("yaleb")."""
    tmp = tmp_path_factory.mktemp("faces-app")
    dry_run_checkpoint(tmp / "ckpts", "mnist", "--data-dir", str(mnist_dir), "--steps", "3")
    dry_run_checkpoint(tmp / "ckpts", "yaleb", "--dataset", "yaleb", "--data-dir", str(yale_dir), "--z-dim", "4",
                       "--s-dim", "6", "--steps", "3")
    return tmp / "ckpts"


def config_stub(folder: Path, dataset: str, shape=(3, 64, 64), method: str = "ccvae") -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"format_version": 1, "model": {
        "dataset": dataset, "image_shape": list(shape), "method": method, "z_dim": 4, "s_dim": 3}}))
    return folder


# ------------------------------------------------------------------------------------------ core rules

def test_face_model_rule_prefers_celeba_then_yaleb_and_ignores_other_models(tmp_path):
    stubs = {"mnist": config_stub(tmp_path / "mnist", "mnist", (1, 28, 28)),
             "yaleb": config_stub(tmp_path / "yaleb", "yaleb", (1, 64, 64)),
             "yale-big": config_stub(tmp_path / "yale-big", "yaleb", (1, 128, 128)),
             "drgan": config_stub(tmp_path / "drgan", "yaleb", (1, 64, 64), method="drgan"),
             "broken": tmp_path / "nothing-here"}
    assert service.face_model_name(stubs) == "yaleb"
    stubs["my-celeba-run"] = config_stub(tmp_path / "run", "celeba", (3, 64, 64))
    assert service.face_model_name(stubs) == "my-celeba-run"
    stubs["celeba"] = config_stub(tmp_path / "celeba", "celeba", (3, 64, 64))
    assert service.face_model_name(stubs) == "celeba"  # the shipped one, named after its dataset
    assert service.face_model_name({"mnist": stubs["mnist"]}) is None


@pytest.mark.parametrize(("box", "size", "expected"), [
    ({"left": 100, "top": 50, "width": 200, "height": 200}, (400, 300), (0.5, 0.5, 200 / 300)),
    ({"left": 0, "top": 0, "width": 300, "height": 300}, (300, 600), (0.5, 0.25, 1.0)),
    ({"left": 10, "top": 20, "width": 40, "height": 30}, (100, 100), (0.3, 0.35, 0.4)),  # not square: the longer side
])
def test_a_dragged_box_becomes_the_manual_box_prepare_upload_crops(box, size, expected):
    assert box_fractions(box, size) == pytest.approx(expected)


def test_the_manual_box_crops_what_the_box_covered():
    image = np.zeros((300, 400, 3), np.uint8)
    image[100:200, 250:350] = 255  # a white square, drawn around by the user
    box = box_fractions({"left": 250, "top": 100, "width": 100, "height": 100}, (400, 300))
    prepared = prepare_upload(png(image), (1, 32, 32), manual_box=box)
    assert prepared.crop.min() > 200 and "cropped by hand" in prepared.notes


# ------------------------------------------------------------------------------------------ Streamlit

@pytest.fixture
def page(roots, monkeypatch):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(roots))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)

    def run(name: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120).run()
        assert not at.exception, at.exception
        return at
    return run


def sidebar_model(at) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_fewshot_page_opens_the_face_model_and_switches_back(page):
    at = page("7_Few_shot.py")
    assert at.sidebar.selectbox[0].value == "mnist"  # the sidebar keeps the user's choice for the other pages
    assert "so this page uses **yaleb** instead of **mnist**" in at.info[0].value
    assert "yaleb" in sidebar_model(at) and "Upload 1 to 10 photos" in at.info[1].value
    [b for b in at.button if b.key == "fewshot_use_selected"][0].click().run()
    assert not at.exception, at.exception
    assert "mnist ·" in sidebar_model(at) and "Using the sidebar's model, **mnist**" in at.caption[0].value
    assert not any("face model" in i.value for i in at.info)
    [b for b in at.button if b.key == "fewshot_use_face"][0].click().run()
    assert not at.exception and "yaleb" in sidebar_model(at)


def test_fewshot_page_keeps_a_face_model_picked_in_the_sidebar(page):
    at = page("7_Few_shot.py")
    at.sidebar.selectbox[0].set_value("yaleb").run()
    assert not at.exception and not any("face model" in i.value for i in at.info)
    assert not [b for b in at.button if b.key in ("fewshot_use_selected", "fewshot_use_face")]


def test_webcam_photos_go_through_the_same_preparation(page):
    at = page("7_Few_shot.py")
    at.radio(key="fewshot_source").set_value("Webcam").run()
    at.camera_input[0].set_value(("shot.jpg", png(face_like(50, 1, 128), "JPEG"), "image/jpeg")).run()
    assert not at.exception, at.exception
    assert [name for name, _ in at.session_state["fewshot_shots"].photos] == ["webcam-1.jpg"]
    assert "What the model sees" in [h.value for h in at.subheader]
    at.camera_input[0].set_value(("shot.jpg", png(face_like(50, 2, 128), "JPEG"), "image/jpeg")).run()
    assert len(at.session_state["fewshot_shots"].photos) == 2
    assert "webcam-1.jpg, webcam-2.jpg" in [i.caption for el in at.get("image") for i in el.proto.imgs]
    [b for b in at.button if b.key == "fewshot_forget_shots"][0].click().run()
    assert not at.exception and not at.session_state["fewshot_shots"].photos


def test_crop_by_hand_uses_the_dragged_box(page):
    at = page("7_Few_shot.py")
    at.file_uploader[0].set_value(("me.png", png(face_like(50, 1, 128)), "image/png")).run()
    at.radio(key="fewshot_crop_mode").set_value("Crop by hand").run()
    assert not at.exception, at.exception
    assert any("me.png: cropped by hand" in c.value for c in at.caption)
    assert any("drag the square" in c.value for c in at.caption)


def test_draw_a_digit_page_reads_a_photo_of_a_digit_and_opens_a_digit_model(page):
    at = page("10_Draw_a_digit.py")
    assert "Draw a digit on the black canvas" in at.info[-1].value
    canvas = np.zeros((280, 280), np.uint8)
    canvas[40:240, 130:154] = 255
    at.file_uploader(key="sketch_photo").set_value(("one.png", png(canvas), "image/png")).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value.startswith("Looks like: ")
    assert "Your hand, as every digit" in " ".join(i.caption for el in at.get("image") for i in el.proto.imgs)
    at.file_uploader(key="sketch_photo").set_value(("blank.png", png(np.zeros((50, 50), np.uint8)), "image/png")).run()
    assert not at.exception and "blank: draw a digit first" in at.warning[0].value
    at.sidebar.selectbox[0].set_value("yaleb").run()  # a face model in the sidebar: the page keeps a digit model
    assert not at.exception and "uses **mnist** instead of **yaleb**" in at.info[0].value


# ------------------------------------------------------------------------------------------ Gradio

@pytest.fixture(scope="module")
def gradio_client(roots, tmp_path_factory):
    from gradio_client import Client

    from tools.browser import free_port, serving

    port = free_port()
    env = os.environ | {"OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, str(ROOT / "app_gradio.py"), "--checkpoint-dir", str(roots), "--port", str(port)]
    with serving(command, port, health="/gradio_api/info", env=env) as url:
        yield Client(url, verbose=False)


def test_gradio_fewshot_tab_opens_on_the_face_model(gradio_client):
    components = {c.get("props", {}).get("elem_id"): c for c in gradio_client.config["components"]}
    assert components["fewshot-model"]["props"]["value"] == "yaleb"


def test_gradio_sketch_endpoint(gradio_client, tmp_path):
    from gradio_client import handle_file

    canvas = np.full((300, 300, 3), 255, np.uint8)  # Gradio's sketchpad: black ink on white
    canvas[50:250, 140:165] = 0
    Image.fromarray(canvas).save(tmp_path / "one.png")
    drawing = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "one.png"))}
    seen, every, text = gradio_client.predict(drawing, "mnist", api_name="/sketch")
    assert np.asarray(Image.open(seen)).shape == (28, 28)
    assert np.asarray(Image.open(every)).shape == (28, 10 * 28) and text.startswith("**Looks like: ")
    Image.fromarray(np.full((300, 300, 3), 255, np.uint8)).save(tmp_path / "blank.png")
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="blank: draw a digit first"):
        gradio_client.predict({"background": None, "layers": [], "composite": handle_file(str(tmp_path / "blank.png"))},
                              "mnist", api_name="/sketch")
    with pytest.raises(AppError, match="yaleb is not in the list of choices"):  # only digit models are offered
        gradio_client.predict(drawing, "yaleb", api_name="/sketch")


def test_likeness_is_measured_in_a_worker_process(monkeypatch):
    """dlib holds the interpreter while it embeds faces: the measurement runs in a worker, the server's threads free."""
    import os

    from core import align, session, workers
    from core.explore import decode
    from core.features.photos import FewShot, LikenessReport, Photos

    if not align.available():
        pytest.skip("dlib is not installed")
    loaded = session.open_path(ROOT / "checkpoints" / "celeba")
    few = FewShot(loaded)
    face = decode(loaded.model, few.styles[:1], few.prototypes[:1])  # the model's own face stands in for a photo
    photos = Photos(face, [], ["generated.png"], [], [])
    pids = []
    real_run = workers.run
    monkeypatch.setattr(workers, "run", lambda fn, *a, **k: pids.append(real_run(os.getpid)) or real_run(fn, *a, **k))
    result = few.likeness(photos, few.zero_shot(photos)[1])
    assert pids and pids[0] != os.getpid()
    assert isinstance(result, LikenessReport) or result.startswith("Likeness not measured"), result
    if isinstance(result, LikenessReport):
        assert 0 <= result.closest <= result.mean < 2
    workers.shutdown()


def test_a_person_the_model_never_saw_comes_from_the_local_dataset(page, yale_dir):
    """With a local Yale B copy, the unseen identities (never trained on) can be picked instead of uploading photos."""
    from core.data import UNSEEN_YALE

    at = page("7_Few_shot.py")
    at.sidebar.text_input(key="_data_dir").set_value(str(yale_dir)).run()
    assert not at.exception, at.exception
    at.selectbox(key="fewshot_unseen").set_value(UNSEEN_YALE[0]).run()
    assert not at.exception, at.exception
    assert "What the model sees" in [h.value for h in at.subheader]
    assert any(f"{UNSEEN_YALE[0]} #" in i.caption for el in at.get("image") for i in el.proto.imgs)
    with pytest.raises(ValueError, match="not an unseen identity"):
        from core import session
        from core.features.photos import FewShot

        FewShot(session.open_model("yaleb"), str(yale_dir)).unseen("yaleB01", 2)  # a person it trained on


def test_the_likeness_tiles_show_every_number_with_closer_than_strangers_last():
    """All of a likeness report's numbers reach the page: the Few-shot page once drew its tiles in 4 columns and so
    dropped the fifth, "Closer than strangers", the one that says whether a render is more than an average face."""
    from streamlit.testing.v1 import AppTest

    def page():
        from core.features.photos import LikenessReport
        from pages.widgets import tiles

        report = LikenessReport(mean=0.55, closest=0.5, within=0.6, between_photos=0.45, same_person=0.6,
                                strangers=0.6, beats_strangers=0.7)
        tiles(report.tiles("zero-shot"))
        tiles(report.tiles("fine-tuned"), [1, 1])  # widths shorter than the row: padded, nothing dropped

    at = AppTest.from_function(page).run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert len(labels) == 10 and labels[4] == labels[9] == "Closer than strangers"
    assert at.metric[4].value == "70%" and all(not m.delta for m in at.metric)
