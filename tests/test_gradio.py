"""The Gradio front end: `python app_gradio.py` in a subprocess on a tiny checkpoint, every endpoint called with gradio_client."""

import os
import shutil
import sys

import numpy as np
import pytest
import torch
from conftest import dry_run_checkpoint, face_like, toy_digits
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from safetensors.torch import load_file, save_file

from tools.browser import ROOT, free_port, serving


@pytest.fixture(scope="module")
def client(tmp_path_factory, mnist_dir):
    """A dry-run checkpoint on toy digits, named "toy", served by app_gradio.py."""
    tmp = tmp_path_factory.mktemp("gradio")
    dry_run_checkpoint(tmp / "ckpts", "toy", "--data-dir", str(mnist_dir), "--z-dim", "6", "--s-dim", "4")
    (tmp / "ckpts" / "broken").mkdir()
    (tmp / "ckpts" / "broken" / "config.json").write_text("{oops")
    shutil.copytree(tmp / "ckpts" / "toy", tmp / "ckpts" / "many")  # statistics of 120 classes, as sprites lists 500
    latents = load_file(str(tmp / "ckpts" / "many" / "latents.safetensors"))
    latents["class_mean_s"] = torch.randn(120, 4, generator=torch.Generator().manual_seed(0))
    save_file(latents, str(tmp / "ckpts" / "many" / "latents.safetensors"))
    port = free_port()
    env = os.environ | {"OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, str(ROOT / "app_gradio.py"), "--checkpoint-dir", str(tmp / "ckpts"), "--port", str(port)]
    with serving(command, port, health="/gradio_api/info", env=env) as url:
        yield Client(url, verbose=False)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> list[str]:
    """Two toy digits of different classes as PNG files."""
    images, labels = toy_digits(20, seed=3)
    folder = tmp_path_factory.mktemp("digits")
    paths = []
    for i in (0, int(np.nonzero(labels != labels[0])[0][0])):
        paths.append(str(folder / f"digit{i}.png"))
        Image.fromarray(images[i]).save(paths[-1])
    return paths


def read(path: str) -> np.ndarray:
    return np.asarray(Image.open(path))


def call(client, *args, api: str):
    return client.predict(*[handle_file(a) if isinstance(a, str) and a.endswith(".png") else a for a in args],
                          api_name=f"/{api}")


def test_api_lists_the_named_endpoints(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/encode", "/decode", "/swap", "/interpolate", "/swap_grid", "/sample", "/fewshot", "/expressions"} <= names


def test_encode_decode_and_swap_agree(client, digits):
    a, b = digits
    codes = call(client, a, "toy", api="encode")
    assert {k: len(v) for k, v in codes.items()} == {"z_mu": 6, "z_logvar": 6, "s": 4}
    recon = read(call(client, codes["z_mu"], codes["s"], "toy", api="decode"))
    assert recon.shape == (28, 28) and recon.dtype == np.uint8
    same = read(call(client, a, a, "toy", api="swap"))
    assert np.abs(same.astype(int) - recon.astype(int)).max() <= 1  # swap(x, x) is x's reconstruction
    other = read(call(client, a, b, "toy", api="swap"))
    assert other.shape == (28, 28) and not np.array_equal(other, same)


@pytest.mark.parametrize("mode", ["z", "s", "both"])
def test_interpolate_returns_a_strip(client, digits, mode):
    strip = read(call(client, *digits, 5, mode, "toy", api="interpolate"))
    assert strip.shape == (28, 5 * 28)


def test_gallery_views(client):
    grid = read(call(client, 3, 4, 0, "toy", api="swap_grid"))
    assert grid.shape == ((3 + 1) * 30 + 2, (4 + 1) * 30 + 2, 3)  # 28-pixel cells, 2-pixel padding, sources framed
    sampled = read(call(client, 5, 1, "toy", api="sample"))
    assert sampled.shape == (10 * 30 + 2, 5 * 30 + 2, 3)  # a row per class


def test_fewshot_renders_an_upload_with_every_stored_style(client, tmp_path):
    photo = tmp_path / "me.png"
    Image.fromarray(face_like(5, 0, 96)).save(photo)
    crops, identity, notes = call(client, [handle_file(str(photo))], "Whole image (centre square)", "toy",
                                  api="fewshot")
    assert read(crops).shape == (28, 28)
    assert read(identity).shape[2] == 3 and "me.png: whole image" in notes


@pytest.mark.parametrize(("args", "api", "message"), [
    ((None, "toy"), "encode", "no image: upload an image first"),
    (("A", "nope"), "encode", "unknown checkpoint 'nope'; available: broken, many, toy"),
    (("A", "broken"), "encode", "Cannot open checkpoint 'broken'"),
    (([0.0] * 6, [0.0] * 3, "toy"), "decode", "s must be a list of 4 finite numbers"),
    ((["x"] * 6, [0.0] * 4, "toy"), "decode", "z must be a list of 6 finite numbers"),
    (("A", None, "toy"), "swap", "no s image"),
    (("A", "A", 1, "z", "toy"), "interpolate", "Value 1 is less than minimum value 2"),  # Gradio's own check
    (("A", "A", 4, "sideways", "toy"), "interpolate", "'sideways' .* is not in the list of choices"),
    ((None, "Detect the face", "toy"), "fewshot", "no photos"),
])
def test_bad_input_gives_a_clear_error(client, digits, args, api, message):
    args = [digits[0] if a == "A" else a for a in args]
    with pytest.raises(AppError, match=message):
        call(client, *args, api=api)


# ------------------------------------------------------------------------------------ serving limits

def test_sampling_a_model_with_many_classes_is_capped(client):
    """Gradio's sample decoded classes x n in one batch: 500 x 32 on sprites, about 4.7 GB. Rows are capped at
    50 (evenly spread classes) and large decodes go through core's pool, in batches."""
    sampled = read(call(client, 32, 0, "many", api="sample"))
    assert sampled.shape == (50 * 30 + 2, 32 * 30 + 2, 3)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(client, tmp_path):
    from test_upload import bomb_png

    big = tmp_path / "big.png"
    big.write_bytes(bomb_png(5000, 5000))  # 25 MP declared, a few bytes on disk; Gradio used to accept ~179 MP
    with pytest.raises(AppError, match=r"25 MP\); the limit is 12 MP"):
        call(client, str(big), "toy", api="encode")


def test_a_file_over_20_mb_is_refused(client, tmp_path):
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG" + b"\0" * (21 * 2**20))
    with pytest.raises(Exception, match="(?i)file size|too large|exceeds|413"):
        call(client, str(huge), "toy", api="encode")


@pytest.mark.parametrize("name", ["../ckpts/toy", "/etc", "toy/.", "x" * 300])
def test_checkpoints_are_names_from_the_list_never_paths(client, digits, name):
    with pytest.raises(AppError, match="unknown checkpoint"):
        call(client, digits[0], name, api="encode")


def test_the_app_is_built_with_a_bounded_queue_and_cache_cleanup(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT))
    import app_gradio

    (tmp_path / "ckpts").mkdir()
    shutil.copytree(ROOT / "checkpoints" / "mnist", tmp_path / "ckpts" / "mnist")
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(tmp_path / "ckpts"))
    demo = app_gradio.build_app()
    assert demo._queue.max_size == app_gradio.QUEUE_SIZE and demo.delete_cache == app_gradio.DELETE_CACHE
    assert 1 <= app_gradio.concurrency() <= 2


@pytest.fixture(scope="module")
def public_client(tmp_path_factory, mnist_dir):
    tmp = tmp_path_factory.mktemp("gradio_public")
    dry_run_checkpoint(tmp / "ckpts", "toy", "--data-dir", str(mnist_dir))
    (tmp / "ckpts" / "broken").mkdir()
    (tmp / "ckpts" / "broken" / "config.json").write_text('{"format_version": 1, "model": {"private_key": 1}}')
    port = free_port()
    env = os.environ | {"OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, str(ROOT / "app_gradio.py"), "--checkpoint-dir", str(tmp / "ckpts"), "--port", str(port),
               "--public"]
    with serving(command, port, health="/gradio_api/info", env=env) as url:
        yield Client(url, verbose=False), tmp


def test_public_mode_messages_name_no_path_or_file_contents(public_client, digits):
    client, tmp = public_client
    with pytest.raises(AppError) as err:
        call(client, digits[0], "broken", api="encode")
    message = str(err.value)
    assert "Checkpoint 'broken' cannot be opened" in message  # the Streamlit pages' words
    assert "private_key" not in message and str(tmp) not in message
    assert len(call(client, digits[0], "toy", api="encode")["s"]) > 0  # the --checkpoint-dir folder is allow-listed


def test_every_tab_refuses_a_model_without_a_z_s_split_in_words(tmp_path, monkeypatch):
    """The shipped DR-GAN model has one identity feature and a pose code: each tab says so instead of a TypeError."""
    import gradio as gr

    sys.path.insert(0, str(ROOT))
    import app_gradio as ag

    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(ROOT / "checkpoints"))

    image = tmp_path / "x.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(image)
    calls = [lambda: ag.encode(str(image), "drgan-yaleb"), lambda: ag.decode([0.0], [0.0], "drgan-yaleb"),
             lambda: ag.swap(str(image), str(image), "drgan-yaleb"),
             lambda: ag.interpolation(str(image), str(image), 4, "z", "drgan-yaleb"),
             lambda: ag.gallery_swap_grid(3, 3, 0, "drgan-yaleb"), lambda: ag.sample(3, 0, "drgan-yaleb"),
             lambda: ag.fewshot([str(image)], ag.AUTOMATIC_CROPS[0], "drgan-yaleb"),
             lambda: ag.expressions(str(image), 6, "drgan-yaleb")]
    for call in calls:
        with pytest.raises(gr.Error, match="works on a z/s split, and this is a DR-GAN model"):
            call()
