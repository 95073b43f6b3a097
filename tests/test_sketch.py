"""core.sketch: a drawing centred and scaled like MNIST, read by a model (s -> nearest class, z -> every class)."""

import numpy as np
import pytest
import torch

from core.sketch import MNIST_BOX, SketchError, ink, mnist_like, read_sketch


def bar(side: int = 280, *, top: int = 40, left: int = 130, height: int = 200, width: int = 24) -> np.ndarray:
    """A '1': a vertical white bar on a black (side x side) RGB canvas."""
    canvas = np.zeros((side, side, 3), np.uint8)
    canvas[top:top + height, left:left + width] = 255
    return canvas


def test_mnist_like_box_is_20_pixels_and_centred_by_mass():
    x = mnist_like(bar())
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    rows, cols = np.nonzero(x[0].numpy() > 0.1)
    assert rows.max() - rows.min() + 1 in (MNIST_BOX, MNIST_BOX + 1)  # the longer side: 20 pixels (plus resampling blur)
    yy, xx = np.mgrid[0:28, 0:28]
    mass = x[0].numpy()
    assert abs((yy * mass).sum() / mass.sum() - 13.5) <= 1 and abs((xx * mass).sum() / mass.sum() - 13.5) <= 1


def test_position_size_and_colours_of_the_drawing_do_not_matter():
    base = mnist_like(bar())
    moved = mnist_like(bar(top=10, left=20))
    bigger = mnist_like(bar(560, top=80, left=260, height=400, width=48))
    black_on_white = mnist_like(255 - bar())
    rgba = np.zeros((280, 280, 4), np.uint8)  # transparent canvas, opaque black strokes
    rgba[40:240, 130:154, 3] = 255
    transparent = mnist_like(rgba)
    for other in (moved, black_on_white, transparent):
        assert torch.allclose(base, other, atol=1e-5)
    assert (base - bigger).abs().max() < 0.1  # the same shape at twice the size, resampled


@pytest.mark.parametrize("canvas", [np.zeros((280, 280, 3), np.uint8), np.full((100, 100), 255, np.uint8),
                                    np.zeros((50, 50, 4), np.uint8)])
def test_a_blank_canvas_says_so(canvas):
    with pytest.raises(SketchError, match="blank: draw a digit first"):
        mnist_like(canvas)


def test_a_canvas_of_the_wrong_shape_says_so():
    with pytest.raises(SketchError, match="shape"):
        ink(np.zeros((4, 4, 2)))


def test_read_sketch_nearest_class_every_class_row_and_determinism(tiny_model):
    torch.manual_seed(0)
    protos = torch.randn(10, 3)
    s_bar = tiny_model.encode(mnist_like(bar())[None]).s[0].detach()
    protos[7] = s_bar + 0.01  # class 7's prototype is the drawing's own s: it must be the nearest
    latents = {"class_mean_s": protos}
    reading = read_sketch(tiny_model, latents, bar(), top=3)
    assert reading.nearest[0][0] == 7 and reading.nearest[0][1] == pytest.approx(0.01 * 3 ** 0.5, rel=1e-3)
    assert [d for _, d in reading.nearest] == sorted(d for _, d in reading.nearest) and len(reading.nearest) == 3
    assert reading.image.shape == (1, 28, 28) and reading.s.shape == (3,) and reading.z.shape == (4,)
    assert reading.every_class.shape == (10, 1, 28, 28)
    again = read_sketch(tiny_model, latents, bar(top=5, left=5))  # moved on the canvas: the same reading
    assert again.nearest == reading.nearest and torch.equal(again.every_class, reading.every_class)


def test_read_sketch_refuses_a_model_that_cannot_read_digits(tiny_model):
    with pytest.raises(SketchError, match="per-class mean s"):
        read_sketch(tiny_model, {}, bar())
    from core.models import ModelConfig, build_model

    faces = build_model(ModelConfig(image_shape=(3, 64, 64), z_dim=4, s_dim=3))
    with pytest.raises(SketchError, match="28x28 grey digit models"):
        read_sketch(faces, {"class_mean_s": torch.zeros(2, 3)}, bar())
