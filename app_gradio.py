"""CC-VAE Explorer in Gradio: the Streamlit app's main views over the same ``core.features``, plus a JSON API.

    python app_gradio.py [--checkpoint-dir checkpoints] [--port 7860] [--public] [--model-root DIR ...]

Tabs: swap grid, interpolation, random sampling, few-shot upload, expressions, draw a digit, codes; each is a named endpoint
for ``gradio_client`` (the README's API section), its work done by ``core.features.api``. A checkpoint is a name
``core.features.list_models`` lists, never a path; uploads arrive as files that ``core.upload`` reads within its
limits; outputs are PNG. Bad input raises ``gr.Error`` saying why, without a traceback (in public mode no message
names a server path). Serving limits: a bounded queue, ``Settings.gradio_concurrency`` events at a time, 20 MB per
file, cached files deleted after an hour, large decodes in ``core.jobs``'s pool.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import gradio as gr

from core import settings
from core.features import (
    INTERPOLATION_MODES,
    MAX_BYTES,
    MAX_GRID_SIDE,
    MAX_INTERPOLATION_STEPS,
    MAX_SAMPLES_SHOWN,
    api,
    cap_threads,
    digit_models,
    face_model_name,
    public_mode,
)
from core.features.expressions import DEFAULT_STEPS, MAX_STEPS, expression_model_name, no_model_text
from core.features.photos import AUTOMATIC_CROPS, MAX_PHOTOS

QUEUE_SIZE = 64  # events waiting in Gradio's queue before new ones are refused
DELETE_CACHE = (600, 3600)  # every 10 min, delete uploaded and generated files older than 1 h
CSS = ".image-frame img { object-fit: contain !important; image-rendering: pixelated; }"  # 28-pixel images shown large and crisp


def refuse(message: str) -> gr.Error:
    """A user error: shown in the UI and returned to API clients, without a server-side traceback."""
    return gr.Error(message, print_exception=False)


def refusing(fn):
    """``fn`` with the user errors of ``core`` turned into ``gr.Error`` (the API page shows ``fn``'s docstring)."""
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except api.USER_ERRORS as err:
            raise refuse(str(err)) from None
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


# ------------------------------------------------------------------------------------- endpoints (core.features.api)

checkpoint_names, open_checkpoint = api.checkpoint_names, refusing(api.open_checkpoint)
encode, decode, swap, interpolation = refusing(api.encode), refusing(api.decode), refusing(api.swap), refusing(api.interpolation)
gallery_swap_grid, fewshot, sketch = refusing(api.gallery_swap_grid), refusing(api.fewshot), refusing(api.sketch)
expressions = refusing(api.expressions)
sample_images, split_codes = refusing(api.sample_images), api.split_codes


@refusing
def sample(n: float, seed: float, checkpoint: str, request: gr.Request = None):
    """One row per class (its mean s; at most 50 classes, evenly spread), one column per draw of z from the
    prior (report Fig. 4.10)."""
    return api.sample(n, seed, checkpoint, getattr(request, "session_hash", None) or "gradio")


def refresh_checkpoints(current: str) -> gr.Dropdown:
    """The checkpoint list as it is now on disk (e.g. after the Streamlit 'Train live' page saved one)."""
    return gr.Dropdown(choices=checkpoint_names(), value=current)


# ------------------------------------------------------------------------------------------ layout

def bind(fn, **kwargs):
    bound = functools.partial(fn, **kwargs)
    bound.__doc__ = fn.__doc__  # the API page shows it
    return bound


def image_in(label: str) -> gr.Image:
    """An image input handed over as a file path, undecoded: ``core.upload`` reads it within its limits."""
    return gr.Image(label=label, type="filepath", image_mode=None, height=160)


def image_out(label: str, height: int = 320) -> gr.Image:
    """An output picture (PNG, never lossy) with its caption above it, where it hides no pixels."""
    with gr.Column():
        gr.Markdown(label)
        return gr.Image(label=label, show_label=False, format="png", interactive=False, height=height)


def default_checkpoint(names: list[str]) -> str:
    """The checkpoint the app opens on: ``Settings.default_model`` when listed, else the first."""
    default = settings.current().default_model
    return default if default in names else names[0]


def swap_grid_tab(demo: gr.Blocks, checkpoint: gr.Dropdown, seed: gr.Number) -> None:
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


def interpolation_tab(checkpoint: gr.Dropdown, seed: gr.Number) -> None:
    with gr.Tab("Interpolation"):
        with gr.Row():
            image_a, image_b = image_in("Image A"), image_in("Image B")
            with gr.Column():
                steps = gr.Slider(2, MAX_INTERPOLATION_STEPS, 8, step=1, label="Steps")
                mode = gr.Radio(list(INTERPOLATION_MODES), value="both", label="Move", info="z: style, s: class")
        with gr.Row():
            pick = gr.Button("Use two sample images")
            go = gr.Button("Interpolate", variant="primary")
        strip = image_out("From A (left) to B (right); the factor not moved stays A's", 160)
        pick.click(bind(sample_images, count=2), [seed, checkpoint], [image_a, image_b], api_visibility="private")
        go.click(bind(interpolation), [image_a, image_b, steps, mode, checkpoint], strip, api_name="interpolate")


def sampling_tab(checkpoint: gr.Dropdown, seed: gr.Number) -> None:
    with gr.Tab("Random sampling"):
        with gr.Row():
            n = gr.Slider(1, MAX_SAMPLES_SHOWN, 12, step=1, label="Samples per class")
            go = gr.Button("Sample", variant="primary")
        sampled = image_out("Rows: one class's mean s (at most 50 classes). Columns: one draw of z from the prior, the "
                            "same down each column.", 420)
        go.click(bind(sample), [n, seed, checkpoint], sampled, api_name="sample")


def fewshot_tab(checkpoint: gr.Dropdown, names: list[str]) -> None:
    with gr.Tab("Few-shot upload"):
        face = face_model_name()
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


def expressions_tab(names: list[str]) -> None:
    with gr.Tab("Expressions"):
        pick = expression_model_name()
        gr.Markdown("Your face in every expression: upload a photo of one face or take one with the webcam. It is found "
                    "and aligned by its eyes as the training photos were; its **z** (the person, the light, the pose) is "
                    "kept and decoded with each expression's mean **s**." + ("" if pick else "\n\n" + no_model_text()))
        with gr.Row():
            photo = gr.Image(label="A photo of one face", type="filepath", image_mode=None, sources=["upload", "webcam"],
                             height=240)
            with gr.Column():
                model = gr.Dropdown(names, value=pick or names[0], label="Expression model", elem_id="expressions-model")
                steps = gr.Slider(2, MAX_STEPS, DEFAULT_STEPS, step=1, label="Images per strip")
                go = gr.Button("Render", variant="primary")
        seen = image_out("What the model sees, and its reconstruction", 120)
        row = image_out("The face in every expression", 200)
        strips = image_out("From neutral to each expression, a row each (the notes name them)", 400)
        notes = gr.Markdown()
        go.click(bind(expressions), [photo, steps, model], [seen, row, strips, notes], api_name="expressions")


def sketch_tab(names: list[str]) -> None:
    with gr.Tab("Draw a digit"):
        gr.Markdown("Draw a digit with the mouse. It is centred and scaled as MNIST's digits were (its box to 20 "
                    "pixels, centred by mass in 28x28), then encoded: its **s** says which digit it looks like, its "
                    "**z** is your hand, rendered as every digit.")
        with gr.Row():
            pad = gr.Sketchpad(label="Your digit", type="numpy", image_mode="RGBA", height=300, width=300,
                               brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"))
            with gr.Column():
                choices = digit_models() or names
                sketch_model = gr.Dropdown(choices, value=choices[0], label="Digit model")
                go = gr.Button("Read my digit", variant="primary")
                seen = image_out("What the model sees", 120)
        reading = gr.Markdown()
        every = image_out("Your hand, as every digit: z of your drawing with each class's mean s", 120)
        go.click(bind(sketch), [pad, sketch_model], [seen, every, reading], api_name="sketch")


def codes_tab(checkpoint: gr.Dropdown, seed: gr.Number) -> None:
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


def build_app() -> gr.Blocks:
    """The app over the server's models (``core.features.list_models``: the settings' roots), one tab per function."""
    names = checkpoint_names()
    with gr.Blocks(title="CC-VAE Explorer", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# CC-VAE Explorer\nA cycle-consistent VAE splits each image into **s**, the factor it was told about "
                    "(which digit, whose face), and **z**, everything else (how it is written, how it is lit).")
        checkpoint = gr.Dropdown(names, value=default_checkpoint(names), label="Checkpoint", allow_custom_value=True)
        demo.load(bind(refresh_checkpoints), checkpoint, checkpoint, api_visibility="private")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0)
        swap_grid_tab(demo, checkpoint, seed)
        interpolation_tab(checkpoint, seed)
        sampling_tab(checkpoint, seed)
        fewshot_tab(checkpoint, names)
        expressions_tab(names)
        sketch_tab(names)
        codes_tab(checkpoint, seed)
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
    cap_threads()
    build_app().launch(server_port=args.port, css=CSS, max_file_size=f"{MAX_BYTES // 2**20}mb", show_error=not public_mode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
