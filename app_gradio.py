"""CC-VAE Explorer in Gradio: the Streamlit app's main views over the same ``core.features``, plus a JSON API.

    python app_gradio.py [--checkpoint-dir checkpoints] [--port 7860] [--public] [--model-root DIR ...]

Tabs: swap grid, interpolation, random sampling, few-shot upload, draw a digit, codes; each is a named endpoint
for ``gradio_client`` (the README's API section). A checkpoint is a name ``core.service.list_models`` lists, never
a path; uploads arrive as files that ``core.upload`` reads within its limits; outputs are PNG. Bad input raises
``gr.Error`` saying why, without a traceback (in public mode no message names a server path). Serving limits: a
bounded queue, ``Settings.gradio_concurrency`` events at a time, 20 MB per file, cached files deleted after an
hour, large decodes in ``core.jobs``'s pool.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import gradio as gr
import numpy as np

import core
from core import jobs, service, session, settings
from core.data import DataError
from core.features import codes, digit
from core.features.photos import AUTOMATIC_CROPS, MAX_PHOTOS, check_photo_count, zero_shot_notes
from core.limits import MAX_GRID_SIDE, MAX_INTERPOLATION_STEPS, MAX_SAMPLES_SHOWN, LimitError
from core.sketch import SketchError
from core.upload import MAX_BYTES, UploadError, read_file

QUEUE_SIZE = 64  # events waiting in Gradio's queue before new ones are refused
DELETE_CACHE = (600, 3600)  # every 10 min, delete uploaded and generated files older than 1 h
CSS = ".image-frame img { object-fit: contain !important; image-rendering: pixelated; }"  # 28-pixel images shown large and crisp
USER_ERRORS = (LimitError, UploadError, SketchError, codes.CodeError, jobs.Busy)


def refuse(message: str) -> gr.Error:
    """A user error: shown in the UI and returned to API clients, without a server-side traceback."""
    return gr.Error(message, print_exception=False)


def refusing(fn):
    """``fn`` with the user errors of ``core`` turned into ``gr.Error`` (the API page shows ``fn``'s docstring)."""
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as err:
            raise refuse(str(err)) from None
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


# ------------------------------------------------------------------------------------ checkpoints

def checkpoint_names() -> list[str]:
    return list(service.list_models())


def open_checkpoint(name: str | None) -> session.Loaded:
    """The model called ``name`` in the allow-listed roots (``core.session.open_model``): a name from the
    list, never a path."""
    try:
        return session.open_model(name, what="checkpoint")
    except service.UnknownModel as err:
        raise refuse(str(err)) from None
    except core.CheckpointError as err:
        raise refuse(service.cannot_open(err, f"checkpoint {name!r}")) from None


def file_bytes(path: str | None, what: str) -> bytes | None:
    """An uploaded file's bytes (size checked before reading), None when nothing was uploaded."""
    if path is None:
        return None
    try:
        return read_file(path, f"the {what}")
    except OSError:
        raise refuse(f"the {what} could not be read; upload it again") from None


def gallery_error(err: DataError) -> gr.Error:
    return refuse(service.no_sample_images(err, "this checkpoint"))


# ------------------------------------------------------------------------------------- endpoints

@refusing
def encode(image: str | None, checkpoint: str) -> dict[str, list[float]]:
    """Image -> {"z_mu": [...], "z_logvar": [...], "s": [...]}."""
    return codes.encode_image(open_checkpoint(checkpoint), file_bytes(image, "image"))


@refusing
def decode(z: list[float], s: list[float], checkpoint: str) -> np.ndarray:
    """Codes -> the decoded image Dec(z, s)."""
    return codes.decode_codes(open_checkpoint(checkpoint), z, s)


@refusing
def swap(z_image: str | None, s_image: str | None, checkpoint: str) -> np.ndarray:
    """Dec(z of z_image, s of s_image): the style of one image with the class of the other."""
    return codes.swap_pair(open_checkpoint(checkpoint), file_bytes(z_image, "z image"), file_bytes(s_image, "s image"))


@refusing
def interpolation(image_a: str | None, image_b: str | None, steps: float, mode: str, checkpoint: str) -> np.ndarray:
    """A strip of ``steps`` images from A to B, moving z, s or both (report Fig. 4.9)."""
    return codes.interpolation_strip(open_checkpoint(checkpoint), file_bytes(image_a, "image A"),
                                     file_bytes(image_b, "image B"), int(steps), mode)


@refusing
def gallery_swap_grid(rows: float, cols: float, seed: float, checkpoint: str) -> np.ndarray:
    """Random sample images as z sources (left column), one per class as s sources (top row)."""
    try:
        return codes.gallery_swap_grid(open_checkpoint(checkpoint), int(rows), int(cols), int(seed))
    except DataError as err:
        raise gallery_error(err) from None


@refusing
def sample(n: float, seed: float, checkpoint: str, request: gr.Request = None) -> np.ndarray:
    """One row per class (its mean s; at most 50 classes, evenly spread), one column per draw of z from the
    prior (report Fig. 4.10)."""
    return codes.prior_grid(open_checkpoint(checkpoint), int(n), int(seed), getattr(request, "session_hash", None) or "gradio")


@refusing
def fewshot(files: list[str] | None, crop: str, checkpoint: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Zero-shot: the mean s of the uploaded photos rendered with every stored z (report Fig. 4.14).

    Returns the crops the model sees, the new identity under each stored style, and notes."""
    loaded = open_checkpoint(checkpoint)
    check_photo_count(len(files or []))
    return zero_shot_notes(loaded, [(Path(f).name, file_bytes(f, Path(f).name)) for f in files], crop)


@refusing
def sketch(drawing: dict | None, checkpoint: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A hand-drawn digit: what the model sees (MNIST-style 28x28), its z decoded with every class's mean s,
    and the classes its s is nearest to."""
    loaded = open_checkpoint(checkpoint)
    canvas = drawing.get("composite") if isinstance(drawing, dict) else drawing
    if canvas is None:
        raise refuse("nothing drawn: draw a digit on the sketchpad first")
    if isinstance(canvas, str):  # an API client sent a file
        from core.upload import load_image

        canvas = np.asarray(load_image(file_bytes(canvas, "drawing"), name="the drawing"))
    reading = digit.read_digit(loaded, np.asarray(canvas))
    return reading.seen, reading.every_class, reading.text()


@refusing
def sample_images(seed: float, checkpoint: str, *, count: int) -> np.ndarray | tuple[np.ndarray, ...]:
    """``count`` random sample images, to fill image inputs."""
    try:
        pictures = tuple(codes.sample_pictures(open_checkpoint(checkpoint), count, int(seed)))
    except DataError as err:
        raise gallery_error(err) from None
    return pictures[0] if count == 1 else pictures


def split_codes(values: dict[str, list[float]]) -> tuple[list[float], list[float]]:
    return values["z_mu"], values["s"]


def refresh_checkpoints(current: str) -> gr.Dropdown:
    """The checkpoint list as it is now on disk (e.g. after the Streamlit 'Train live' page saved one)."""
    return gr.Dropdown(choices=checkpoint_names(), value=current)


# ------------------------------------------------------------------------------------------ layout

def image_in(label: str) -> gr.Image:
    """An image input handed over as a file path, undecoded: ``core.upload`` reads it within its limits."""
    return gr.Image(label=label, type="filepath", image_mode=None, height=160)


def image_out(label: str, height: int = 320) -> gr.Image:
    """An output picture (PNG, never lossy) with its caption above it, where it hides no pixels."""
    with gr.Column():
        gr.Markdown(label)
        return gr.Image(label=label, show_label=False, format="png", interactive=False, height=height)


def build_app() -> gr.Blocks:
    """The app over the server's models (``core.service.list_models``: the settings' roots)."""
    def bind(fn, **kwargs):
        bound = functools.partial(fn, **kwargs)
        bound.__doc__ = fn.__doc__  # the API page shows it
        return bound

    names = checkpoint_names()
    with gr.Blocks(title="CC-VAE Explorer", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# CC-VAE Explorer\nA cycle-consistent VAE splits each image into **s**, the factor it was told about "
                    "(which digit, whose face), and **z**, everything else (how it is written, how it is lit).")
        checkpoint = gr.Dropdown(names, value="mnist" if "mnist" in names else names[0], label="Checkpoint",
                                 allow_custom_value=True)
        demo.load(bind(refresh_checkpoints), checkpoint, checkpoint, api_visibility="private")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0)

        with gr.Tab("Swap grid"):
            with gr.Row():
                rows = gr.Slider(2, MAX_GRID_SIDE, 6, step=1, label="Rows (z sources)")
                cols = gr.Slider(2, MAX_GRID_SIDE, 10, step=1, label="Columns (s sources)")
                draw = gr.Button("Draw")
            grid = image_out("Top row: s sources. Left column: z sources. Cell: z of its row, s of its column.", 420)
            gr.on([demo.load, draw.click, checkpoint.change], bind(gallery_swap_grid), [rows, cols, seed, checkpoint], grid,
                  api_name="swap_grid")
            gr.Markdown("### Your own pair")
            with gr.Row():
                z_image, s_image = image_in("z source (style)"), image_in("s source (class)")
                swapped = image_out("Dec(z of the first, s of the second)", 160)
            with gr.Row():
                pick = gr.Button("Use two sample images")
                go = gr.Button("Swap", variant="primary")
            pick.click(bind(sample_images, count=2), [seed, checkpoint], [z_image, s_image], api_visibility="private")
            go.click(bind(swap), [z_image, s_image, checkpoint], swapped, api_name="swap")

        with gr.Tab("Interpolation"):
            with gr.Row():
                image_a, image_b = image_in("Image A"), image_in("Image B")
                with gr.Column():
                    steps = gr.Slider(2, MAX_INTERPOLATION_STEPS, 8, step=1, label="Steps")
                    mode = gr.Radio(list(codes.INTERPOLATION_MODES), value="both", label="Move", info="z: style, s: class")
            with gr.Row():
                pick = gr.Button("Use two sample images")
                go = gr.Button("Interpolate", variant="primary")
            strip = image_out("From A (left) to B (right); the factor not moved stays A's", 160)
            pick.click(bind(sample_images, count=2), [seed, checkpoint], [image_a, image_b], api_visibility="private")
            go.click(bind(interpolation), [image_a, image_b, steps, mode, checkpoint], strip, api_name="interpolate")

        with gr.Tab("Random sampling"):
            with gr.Row():
                n = gr.Slider(1, MAX_SAMPLES_SHOWN, 12, step=1, label="Samples per class")
                go = gr.Button("Sample", variant="primary")
            sampled = image_out("Rows: one class's mean s (at most 50 classes). Columns: one draw of z from the prior, the "
                                "same down each column.", 420)
            go.click(bind(sample), [n, seed, checkpoint], sampled, api_name="sample")

        with gr.Tab("Few-shot upload"):
            face = service.face_model_name()
            gr.Markdown(f"Photos of one new identity (1 to {MAX_PHOTOS}): the mean **s** of your photos, decoded with each "
                        "**z** the checkpoint stored (for faces: each lighting)."
                        + (f" Photos of people need a face model, so this tab uses **{face}** unless you pick another."
                           if face else ""))
            with gr.Row():
                files = gr.File(file_count="multiple", file_types=["image"], label="Photos")
                with gr.Column():
                    fewshot_model = gr.Dropdown(names, value=face or checkpoint.value, label="Model for the photos",
                                                elem_id="fewshot-model")
                    crop = gr.Radio(list(AUTOMATIC_CROPS), value=AUTOMATIC_CROPS[0], label="Cropping")
                    go = gr.Button("Render", variant="primary")
            crops = image_out("What the model sees", 120)
            identity = image_out("Your identity with each stored z", 320)
            notes = gr.Markdown()
            go.click(bind(fewshot), [files, crop, fewshot_model], [crops, identity, notes], api_name="fewshot")

        with gr.Tab("Draw a digit"):
            digits_ok = session.digit_models()
            gr.Markdown("Draw a digit with the mouse. It is centred and scaled as MNIST's digits were (its box to 20 "
                        "pixels, centred by mass in 28x28), then encoded: its **s** says which digit it looks like, its "
                        "**z** is your hand, rendered as every digit.")
            with gr.Row():
                pad = gr.Sketchpad(label="Your digit", type="numpy", image_mode="RGBA", height=300, width=300,
                                   brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"))
                with gr.Column():
                    sketch_choices = digits_ok or names
                    sketch_model = gr.Dropdown(sketch_choices, value=sketch_choices[0],
                                               label="Digit model")
                    go = gr.Button("Read my digit", variant="primary")
                    seen = image_out("What the model sees", 120)
            reading = gr.Markdown()
            every = image_out("Your hand, as every digit: z of your drawing with each class's mean s", 120)
            go.click(bind(sketch), [pad, sketch_model], [seen, every, reading], api_name="sketch")

        with gr.Tab("Codes"):
            with gr.Row():
                image = image_in("Image")
                encoded = gr.JSON(label="encode: its codes")
            with gr.Row():
                z_codes, s_codes = gr.JSON(label="z (posterior mean)"), gr.JSON(label="s")
                decoded = image_out("decode: Dec(z, s)", 160)
            with gr.Row():
                pick = gr.Button("Use a sample image")
                enc_button, dec_button = gr.Button("Encode", variant="primary"), gr.Button("Decode")
            pick.click(bind(sample_images, count=1), [seed, checkpoint], image, api_visibility="private")
            enc_button.click(bind(encode), [image, checkpoint], encoded, api_name="encode").success(
                split_codes, encoded, [z_codes, s_codes], api_visibility="private")
            dec_button.click(bind(decode), [z_codes, s_codes, checkpoint], decoded, api_name="decode")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=concurrency())
    return demo


def concurrency() -> int:
    """Events Gradio runs at once (``Settings.gradio_concurrency``; default: the CPU cores, at most 2)."""
    return settings.current().gradio_concurrency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app_gradio.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint-dir", type=Path, help="folder of checkpoint folders (default: CCVAE_CHECKPOINT_DIR, "
                        "else checkpoints/)")
    parser.add_argument("--port", type=int, default=7860)
    settings.add_flags(parser)
    args = parser.parse_args(argv)
    changes = {"checkpoint_dir": args.checkpoint_dir.resolve()} if args.checkpoint_dir else {}
    now = settings.apply_flags(args, **changes)
    if not checkpoint_names():
        where = "the checkpoint folder" if now.public else str(now.checkpoint_dir)
        print(f"error: no checkpoint folders (with a config.json) in {where}", file=sys.stderr)
        return 2
    service.cap_threads()
    build_app().launch(server_port=args.port, css=CSS, max_file_size=f"{MAX_BYTES // 2**20}mb",
                                          show_error=not service.public_mode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
