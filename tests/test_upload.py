"""The upload pipeline on generated files: every accepted format, every bad-input case."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from core.upload import MAX_PIXELS, Face, Framing, UploadError, crop_box, crop_face, load_image, prepare_upload, to_model_input

SHAPE = (1, 64, 64)


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w=120, h=90, mode="RGB") -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    rgb = np.stack([x, x[::-1, ::-1], np.full_like(x, 90)], -1)
    return Image.fromarray(rgb, "RGB").convert(mode)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"])
def test_every_accepted_format_decodes_to_rgb(fmt):
    im = load_image(encode(gradient(), fmt), f"x.{fmt.lower()}")
    assert im.mode == "RGB" and im.size == (120, 90)


@pytest.mark.parametrize("mode", ["RGBA", "P", "CMYK", "L", "LA", "1"])
def test_modes_are_converted(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    im = load_image(encode(gradient(mode=mode), fmt))
    assert im.mode == "RGB"


def test_16_bit_grayscale_uses_its_full_range():
    a = np.linspace(1000, 5000, 64 * 48, dtype=np.uint16).reshape(48, 64)
    im = load_image(encode(Image.fromarray(a), "PNG"))  # uint16 -> mode I;16
    g = np.asarray(im.convert("L"))
    assert g.min() == 0 and g.max() == 255


def test_exif_orientation_is_honoured():
    im = gradient(120, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = load_image(encode(im, "JPEG", exif=exif.tobytes()))
    assert out.size == (60, 120)


def test_gif_first_frame_of_many():
    frames = [Image.new("L", (40, 40), v) for v in (10, 200, 90) * 20]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert np.asarray(load_image(data)).mean() < 30


def test_tiny_and_huge_images():
    assert load_image(encode(Image.new("RGB", (1, 1), (5, 5, 5)), "PNG")).size == (1, 1)
    big = load_image(encode(gradient(4000, 3000), "JPEG"))  # 12 MP photo: reduced for work
    assert max(big.size) <= 1024
    prepared = prepare_upload(encode(Image.new("RGB", (1, 1)), "PNG"), SHAPE)
    assert prepared.tensor.shape == SHAPE


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header that declares width x height pixels with almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"<html><body>not an image</body></html>", "not an image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "not an image"),
    (bomb_png(50_000, 50_000), "too large|limit"),
])
def test_bad_files_get_a_clear_message(data, message):
    with pytest.raises(UploadError, match=message):
        load_image(data, "photo.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files(fmt):
    data = encode(gradient(300, 300), fmt)
    with pytest.raises(UploadError, match="damaged or truncated"):
        load_image(data[: len(data) // 3])


def test_pixel_limit_is_checked_before_decoding():
    side = int(MAX_PIXELS ** 0.5) + 10
    with pytest.raises(UploadError, match="limit"):
        load_image(bomb_png(side, side))


def test_crop_box_pads_outside_the_image_and_levels_eyes():
    im = Image.new("RGB", (100, 100), (255, 255, 255))
    crop = crop_box(im, (0, 0), 50)
    a = np.asarray(crop)
    assert crop.size == (50, 50) and (a[0, 0] == 128).all() and (a[-1, -1] == 255).all()
    tilted = Face((30, 30, 40, 40), ((40.0, 40.0), (60.0, 50.0)))
    assert crop_face(im, tilted, Framing(1.0)).size == (40, 40)


def test_model_input_matches_requested_statistics():
    tensor, pixels = to_model_input(gradient(), (1, 64, 64), pixel_stats=(0.3, 0.1))
    assert tensor.shape == (1, 64, 64) and pixels.shape == (64, 64, 1)
    assert abs(tensor.mean().item() - 0.3) < 0.02 and abs(tensor.std().item() - 0.1) < 0.02
    rgb, _ = to_model_input(gradient(), (3, 64, 64))
    assert rgb.shape == (3, 64, 64) and 0 <= rgb.min() and rgb.max() <= 1


def test_model_input_without_equalisation_keeps_the_pixels():
    gray = gradient(64, 64, "L")
    tensor, pixels = to_model_input(gray, (1, 64, 64), equalize=False)
    assert np.array_equal(pixels[..., 0], np.asarray(gray))
    assert torch.equal(tensor[0], torch.from_numpy(np.array(gray)).float() / 255)


def test_no_face_falls_back_to_centre_square_and_says_so():
    prepared = prepare_upload(encode(gradient(), "PNG"), SHAPE)
    assert not prepared.face_found and "no face found" in prepared.notes[0]
    assert prepared.crop.shape == (64, 64) and prepared.crop.dtype == np.uint8
    assert torch.allclose(prepared.tensor[0], torch.from_numpy(prepared.crop).float() / 255, atol=1 / 255)


def test_manual_crop_box():
    im = Image.new("RGB", (200, 100), (0, 0, 0))
    im.paste((255, 255, 255), (150, 0, 200, 100))
    prepared = prepare_upload(encode(im, "PNG"), SHAPE, manual_box=(0.875, 0.5, 0.4))
    assert prepared.notes == ["cropped by hand"] and prepared.crop.min() > 200


def test_a_photo_over_12_megapixels_is_refused_from_its_header():
    with pytest.raises(UploadError, match=r"4000 x 3100 pixels \(12 MP\); the limit is 12 MP"):  # was accepted up to 50 MP
        load_image(bomb_png(4000, 3100))
    assert MAX_PIXELS == 12_000_000


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "P", "RGBA", "L"])
def test_large_images_are_converted_within_a_memory_budget(mode):
    """An 18 KB 16-bit PNG used to cost +172 MB in load_image: a float64 copy of every pixel, then more. Now a
    decoded image is reduced in its own mode before any conversion, and rescaled in float32: after decoding,
    the conversion allocates a few MB at most (measured by tracemalloc, which sees numpy's arrays)."""
    import tracemalloc

    from core.upload import _reduce, _to_rgb

    side = 3000  # 9 MP, under the limit
    a = np.arange(side * side, dtype=np.uint32).reshape(side, side) % 60000
    im = Image.fromarray(a.astype(np.uint16) if mode == "I;16" else a.astype(np.uint8))
    if mode != "I;16" and mode != "L":
        im = im.convert(mode)
    data = encode(im, "TIFF", compression="tiff_deflate") if mode in ("I", "F") else encode(im, "PNG")
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    assert decoded.mode == mode
    tracemalloc.start()
    out = _to_rgb(_reduce(decoded))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.mode == "RGB" and max(out.size) <= 1024
    assert peak < 12 * 2**20, f"the conversion allocated {peak / 2**20:.0f} MB"
    assert load_image(data).size == out.size


def test_sixteen_bit_images_keep_their_contrast():
    a = np.linspace(1000, 3000, 2500 * 100).reshape(100, 2500).astype(np.uint16)  # a dark 16-bit ramp, 2,500 wide
    out = np.asarray(load_image(encode(Image.fromarray(a), "PNG")))
    assert out.shape[1] <= 1024 and out[..., 0].min() <= 2 and out[..., 0].max() >= 250
