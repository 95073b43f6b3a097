"""From an uploaded file to the exact tensor the model sees.

``load_image`` reads untrusted bytes safely (format allow-list, pixel limit checked before
decoding, first frame of animations, EXIF orientation, every mode converted to 8-bit RGB).
``detect_faces`` finds faces with OpenCV's bundled Haar cascades (no download), ``crop_face``
cuts a square around one with the framing the model was trained on, levelling the eyes when both
are found, and ``to_model_input`` converts to the model's channels and size and matches the
training images' intensity statistics. ``prepare_upload`` chains them and reports what it did.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from core.data.registry import DEFAULT_FRAMING, Framing, spec_for

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "MPO")  # MPO: multi-picture JPEG from phones
MAX_BYTES = 20 * 1024 * 1024
CROP_MODES = ("Detect the face", "Whole image (centre square)", "Crop by hand")  # how a photo is cropped (``prepare_for``)
MAX_PIXELS = 12_000_000  # refuse larger images before decoding them: a 12 MP phone photo is the largest we take
WORK_SIDE = 1024  # images are reduced to at most this side before detection


class UploadError(ValueError):
    """The upload cannot be used; the message says why in words meant for the user."""


@dataclass
class Prepared:
    """What ``prepare_upload`` produced: the model input, the crop shown to the user, and notes."""
    tensor: torch.Tensor  # (C, H, W) float in [0, 1], what the model encodes
    crop: np.ndarray  # (H, W) or (H, W, 3) uint8, the same pixels for display
    face_found: bool
    notes: list[str] = field(default_factory=list)
    aligned: bool = False  # eye-aligned by dlib's landmarks (``core.align``), exactly as a landmarks dataset's photos


def load_image(data: bytes, name: str = "upload") -> Image.Image:
    """Decode untrusted image bytes to an 8-bit RGB PIL image, or raise ``UploadError``."""
    if not data:
        raise UploadError(f"{name} is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise UploadError(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format not in FORMATS:
                raise UploadError(f"{name} is a {im.format} image; accepted: JPEG, PNG, WebP, BMP, GIF, TIFF")
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise UploadError(f"{name} declares {w} x {h} pixels ({w * h / 1e6:.0f} MP); "
                                  f"the limit is {MAX_PIXELS / 1e6:.0f} MP")
            im.seek(0)  # animations: the first frame
            if im.format == "JPEG":
                im.draft("RGB", (WORK_SIDE, WORK_SIDE))  # decode big JPEGs at reduced size
            im.load()
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UploadError(f"{name} is too large to decode safely ({err})") from None
    except UnidentifiedImageError:
        raise UploadError(f"{name} is not an image we can read (accepted: JPEG, PNG, WebP, BMP, GIF, TIFF)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise UploadError(f"{name} is damaged or truncated and cannot be decoded ({err})") from None
    im = _reduce(im)  # first, so every later copy is of a small image
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block must not lose the image  # noqa: BLE001
        pass
    return _to_rgb(im)


HIGH_BIT = ("I;16", "I;16B", "I;16L", "I", "F")  # 16- and 32-bit modes, rescaled to 8 bits


def _reduce(im: Image.Image) -> Image.Image:
    """Shrink a decoded image by an integer factor (box average) towards WORK_SIDE, in its own mode,
    before any conversion: converting a 12 MP image first would copy it at 4-8 bytes per pixel."""
    factor = -(-max(im.size) // WORK_SIDE)  # the smallest that brings the longer side to WORK_SIDE or less
    if factor < 2:
        return im
    if im.mode in ("I;16", "I;16B", "I;16L"):  # Pillow cannot reduce() these, but resizes them in C with a box filter
        return im.resize((max(1, im.width // factor), max(1, im.height // factor)), Image.BOX)
    if im.mode in ("P", "1"):  # palette indices and bits cannot be averaged
        im = im.convert("RGBA" if im.mode == "P" else "L")
    return im.reduce(factor)


def _rescale(a: np.ndarray, lo: float, hi: float) -> Image.Image:
    """The range [lo, hi] of a 16/32-bit array as an 8-bit grayscale image, in float32 (never float64)."""
    if hi <= lo:
        return Image.fromarray(np.zeros(a.shape, np.uint8), "L")
    scaled = a.astype(np.float32)  # in place from here: one float32 copy of the (already reduced) image
    scaled -= np.float32(lo)
    scaled *= np.float32(255 / (hi - lo))
    np.clip(scaled, 0, 255, out=scaled)
    return Image.fromarray(scaled.astype(np.uint8), "L")


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in HIGH_BIT:  # 16/32-bit: rescale the used range to 8 bits
        a = np.asarray(im)
        im = _rescale(a, float(a.min()), float(a.max()))
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):  # transparency: composite on mid-grey
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (128, 128, 128, 255))
        im = Image.alpha_composite(background, im)
    im = im.convert("RGB")
    if max(im.size) > WORK_SIDE:
        im.thumbnail((WORK_SIDE, WORK_SIDE), Image.BOX)
    return im


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in image pixels
    eyes: tuple[tuple[float, float], tuple[float, float]] | None  # (left, right) eye centres, if found


@functools.cache  # one classifier per cascade file, loaded on first use
def _cascade(name: str):
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's bundled {name} is missing; reinstall opencv-python-headless<5")
    return cascade


def detect_faces(image: Image.Image) -> list[Face]:
    """Faces in ``image``, largest first (OpenCV frontal-face Haar cascade; eyes by the eye cascade)."""
    import cv2

    gray = cv2.equalizeHist(np.asarray(image.convert("L")))
    side = min(gray.shape)
    boxes = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(max(20, side // 10),) * 2)
    faces = []
    for x, y, w, h in sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3]):
        upper = gray[y:y + h // 2, x:x + w]
        eyes = _cascade("haarcascade_eye.xml").detectMultiScale(upper, scaleFactor=1.1, minNeighbors=5,
                                                            minSize=(max(5, w // 10),) * 2)
        pair = None
        if len(eyes) >= 2:
            two = sorted(eyes, key=lambda e: -e[2] * e[3])[:2]
            centres = sorted(((x + ex + ew / 2, y + ey + eh / 2) for ex, ey, ew, eh in two))
            if centres[1][0] - centres[0][0] > w / 5:  # two distinct eyes, not one found twice
                pair = (centres[0], centres[1])
        faces.append(Face((x, y, w, h), pair))
    return faces


def crop_face(image: Image.Image, face: Face, framing: Framing = DEFAULT_FRAMING) -> Image.Image:
    """A square crop around ``face``; rotated about the face centre so the eyes are level when known."""
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2 + framing.dy * h
    if face.eyes:
        (lx, ly), (rx, ry) = face.eyes
        angle = math.degrees(math.atan2(ry - ly, rx - lx))
        if abs(angle) < 30:
            image = image.rotate(angle, resample=Image.BILINEAR, center=(cx, cy), fillcolor=(128, 128, 128))
    return crop_box(image, (cx, cy), framing.scale * w)


def crop_box(image: Image.Image, centre: tuple[float, float], side: float) -> Image.Image:
    """A square of ``side`` pixels centred at ``centre``; parts outside the image are mid-grey."""
    half = side / 2
    box = (round(centre[0] - half), round(centre[1] - half), round(centre[0] + half), round(centre[1] + half))
    return image.crop(box) if _inside(box, image.size) else _padded_crop(image, box)


def _inside(box, size) -> bool:
    return box[0] >= 0 and box[1] >= 0 and box[2] <= size[0] and box[3] <= size[1]


def _padded_crop(image: Image.Image, box) -> Image.Image:
    out = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), (128, 128, 128))
    out.paste(image, (-box[0], -box[1]))
    return out


def centre_square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    return crop_box(image, (image.size[0] / 2, image.size[1] / 2), side)


def to_model_input(crop: Image.Image, image_shape: tuple[int, int, int],
                   pixel_stats: tuple[float, float] | None = None, *,
                   equalize: bool = True, mean_grey: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """Resize ``crop`` to the model's (C, H, W); equalise its histogram (unless ``equalize=False``)
    and, given the training images' (mean, std) in [0, 1], match them. Returns the tensor and the
    same pixels as uint8. Without equalisation or statistics the pixels are kept as they are.
    ``mean_grey``: a grey model's pixel is the rounded mean of R, G and B, as ``core.data`` greys its eye-aligned
    crops (CelebA, the expression sets), instead of PIL's luma."""
    import cv2

    channels, height, width = image_shape
    if channels == 1 and mean_grey:
        rgb = np.asarray(crop.convert("RGB").resize((width, height), Image.BOX))
        a = rgb.mean(-1).round().astype(np.uint8)
    else:
        a = np.asarray(crop.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BOX))
    if equalize and channels == 1:
        a = cv2.equalizeHist(a)
    elif equalize:  # brightness only, keep colours
        ycc = cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb)
        ycc[..., 0] = cv2.equalizeHist(np.ascontiguousarray(ycc[..., 0]))
        a = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    f = a.astype(np.float32) / 255
    if pixel_stats is not None:
        mean, std = pixel_stats
        f = (f - f.mean()) / max(float(f.std()), 1e-3) * std + mean
    f = np.clip(f, 0, 1)
    pixels = (f * 255).round().astype(np.uint8).reshape(height, width, channels)
    tensor = torch.from_numpy(f.reshape(height, width, channels)).permute(2, 0, 1).contiguous()
    return tensor, pixels


def prepare_upload(data: bytes, image_shape: tuple[int, int, int], *, name: str = "upload",
                   framing: Framing = DEFAULT_FRAMING, pixel_stats: tuple[float, float] | None = None,
                   manual_box: tuple[float, float, float] | None = None, detect: bool = True,
                   landmarks: bool = False) -> Prepared:
    """Bytes -> model input. ``manual_box`` = (centre x, centre y, side) as fractions of the image's
    width, height and shorter side overrides detection; ``detect=False`` uses the centre square.
    ``landmarks=True`` (models trained on crops from ``core.align``, its dataset spec's ``landmarks``): the face is
    aligned by its eyes exactly as the training photos were, and its pixels are kept as they are; when
    dlib is not installed or finds no face, the Haar framing below is the fallback."""
    from core import align

    image = load_image(data, name)
    notes: list[str] = []
    face_found = False
    aligned = None
    if manual_box is None and detect and landmarks and align.available():
        faces = align.find_faces(np.asarray(image))
        if faces:
            aligned = Image.fromarray(align.align_face(image, image_shape[1], faces=faces))
            notes.append("aligned by eye landmarks" + (f"; {len(faces)} faces found, using the largest"
                                                       if len(faces) > 1 else ""))
    if aligned is not None:
        face_found, crop = True, aligned
    elif manual_box is not None:
        fx, fy, fs = manual_box
        crop = crop_box(image, (fx * image.size[0], fy * image.size[1]), max(8.0, fs * min(image.size)))
        notes.append("cropped by hand")
    elif detect:
        faces = detect_faces(image)
        if faces:
            face_found = True
            crop = crop_face(image, faces[0], framing)
            if len(faces) > 1:
                notes.append(f"{len(faces)} faces found; using the largest")
            if faces[0].eyes:
                notes.append("eyes levelled")
        else:
            crop = centre_square(image)
            notes.append("no face found: using the centre of the image (crop by hand to choose)")
    else:
        crop = centre_square(image)
        notes.append("whole image (centre square)")
    if landmarks:  # trained on unequalised crops: keep the photo's own colours and contrast (grey as core.data's)
        tensor, pixels = to_model_input(crop, image_shape, None, equalize=False, mean_grey=True)
    else:
        tensor, pixels = to_model_input(crop, image_shape, pixel_stats)
    return Prepared(tensor, pixels[..., 0] if image_shape[0] == 1 else pixels, face_found, notes, aligned is not None)


def box_fractions(box: dict[str, float], size: tuple[int, int]) -> tuple[float, float, float]:
    """A box drawn on the image (``{"left", "top", "width", "height"}`` in pixels of the image ``load_image``
    returned, of ``size`` = (width, height)) as ``manual_box`` = (centre x, centre y, side) fractions.
    The side is the box's longer edge: the square ``prepare_upload`` cuts contains the whole box."""
    width, height = size
    if width <= 0 or height <= 0:
        raise UploadError("the image has no pixels to crop")
    w, h = max(1.0, float(box["width"])), max(1.0, float(box["height"]))
    cx, cy = float(box["left"]) + w / 2, float(box["top"]) + h / 2
    return cx / width, cy / height, max(w, h) / min(width, height)


def starting_square(size: tuple[int, int], share: float = 0.8) -> tuple[int, int, int, int]:
    """Where a hand-drawn crop box starts: a centred square of ``share`` of the shorter side, as (left,
    right, top, bottom) pixels of an image of ``size`` = (width, height)."""
    w, h = size
    side = share * min(w, h)
    return int((w - side) / 2), int((w + side) / 2), int((h - side) / 2), int((h + side) / 2)


def read_file(path: str | Path, what: str = "upload") -> bytes:
    """An uploaded file's bytes, refused (``UploadError``) over ``MAX_BYTES`` before it is read."""
    file = Path(path)
    size = file.stat().st_size
    if size > MAX_BYTES:
        raise UploadError(f"{what} is {size / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB")
    return file.read_bytes()


def prepare_for(config, latents: dict, data: bytes, *, name: str = "upload", crop: str = CROP_MODES[0],
                manual_box: tuple[float, float, float] | None = None) -> Prepared:
    """An uploaded photo prepared as the model of ``config`` saw its training images: the dataset's framing
    or eye alignment, and the training images' pixel statistics (``latents["pixel_stats"]``) when stored.
    ``crop``: one of ``CROP_MODES`` (by hand: ``manual_box``, see ``prepare_upload``)."""
    if crop not in CROP_MODES:
        raise ValueError(f"unknown crop mode {crop!r}; valid: {', '.join(CROP_MODES)}")
    stats = latents.get("pixel_stats")
    spec = spec_for(config.dataset)
    return prepare_upload(data, config.image_shape, name=name, framing=spec.framing,
                          pixel_stats=None if stats is None else (float(stats[0]), float(stats[1])),
                          manual_box=manual_box if crop == CROP_MODES[2] else None, detect=crop == CROP_MODES[0],
                          landmarks=spec.landmarks)
