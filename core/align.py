"""Face alignment by landmarks, one module for training data and uploads.

dlib's frontal face detector finds the face (with one upsampling: CelebA's in-the-wild photos have
small faces), its 5-point landmark model (shipped in the ``face_recognition_models`` wheel, no
download) finds the eye corners, and a similarity transform (rotation, uniform scale, shift) puts
the two eye centres on fixed points of a square crop, as CelebA's aligned set does. Every face the
model sees, in training and at upload, goes through ``align_face`` with the same ``EYES`` template.

dlib is optional at import time: ``available()`` says whether it is installed; callers fall back to
the Haar-cascade framing of ``core.upload`` when it is not.

The recogniser (``FaceRecogniser``: dlib's ResNet face embeddings, 128-d, same-person distance < 0.6)
lives here too because it reads the same landmark files. It is a measuring instrument only: nothing
in ``core.training`` or ``core.losses`` may use it.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# eye centres in a square crop, as fractions of its side: (x, y) of the eye on the image's left, then right.
# Eye distance 0.30 of the side keeps forehead, chin and cheeks in a 64x64 crop (about CelebA's aligned
# framing, cropped tighter to the face).
EYES = ((0.35, 0.42), (0.65, 0.42))
UPSAMPLE = 1  # detector upsampling: at native scale dlib misses 4 in 10 CelebA faces, with one 1 in 11
SAME_PERSON_DISTANCE = 0.6  # dlib's threshold: two embeddings closer than this are the same person
CHIP_SIZE = 150  # dlib's recogniser takes 150x150 chips


class AlignError(ValueError):
    """No face could be aligned; the message says why."""


def _models_dir() -> Path | None:
    # face_recognition_models' __init__ imports pkg_resources (gone from new setuptools): find the files directly
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    return folder if folder.is_dir() else None


def available() -> bool:
    """True when dlib and the landmark/recogniser weights are installed."""
    return importlib.util.find_spec("dlib") is not None and _models_dir() is not None


@functools.cache
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def _landmarks():
    import dlib

    return dlib.shape_predictor(str(_models_dir() / "shape_predictor_5_face_landmarks.dat"))


@dataclass(frozen=True)
class Landmarks:
    """Eye centres (x, y) in image pixels, left then right as seen in the image, and the face box."""

    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    box: tuple[int, int, int, int]  # left, top, right, bottom


def find_faces(image: np.ndarray, *, upsample: int | None = None) -> list[Landmarks]:
    """All faces dlib finds in an (H, W, 3) uint8 RGB array, largest first. ``upsample`` defaults to
    ``UPSAMPLE`` for photos up to 600 px and 0 above (a large photo's faces are large enough, and
    upsampling it costs 4x the time)."""
    if not available():
        raise AlignError("face alignment needs dlib-bin and face_recognition_models (pip install -r requirements.txt)")
    import dlib

    if upsample is None:
        upsample = UPSAMPLE if max(image.shape[:2]) <= 600 else 0
    rects = sorted(_detector()(image, upsample), key=lambda r: -r.width() * r.height())
    faces = []
    for rect in rects:
        shape = _landmarks()(image, dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom()))
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float64)
        eyes = sorted([points[0:2].mean(0), points[2:4].mean(0)], key=lambda p: p[0])  # 4 is the nose
        faces.append(Landmarks(tuple(eyes[0]), tuple(eyes[1]), (rect.left(), rect.top(), rect.right(), rect.bottom())))
    return faces


def eye_transform(left_eye, right_eye, size: int, eyes=EYES) -> np.ndarray:
    """The 2x3 similarity transform taking the two eye centres to ``eyes`` (fractions) of a size x size crop."""
    src = np.array([left_eye, right_eye], dtype=np.float64)
    dst = np.array(eyes, dtype=np.float64) * size
    # similarity from two point pairs, in complex numbers: dst = a * src + b
    s0, s1 = complex(*src[0]), complex(*src[1])
    d0, d1 = complex(*dst[0]), complex(*dst[1])
    if abs(s1 - s0) < 1e-6:
        raise AlignError("the two eyes are at the same point; cannot align")
    a = (d1 - d0) / (s1 - s0)
    b = d0 - a * s0
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Apply a 2x3 transform to an (H, W, C) uint8 array; outside the photo, its edge pixels are repeated."""
    import cv2

    # downscaling by a lot: area-average first so the crop does not alias
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    if scale < 0.5:
        factor = int(1 / scale)
        h, w = image.shape[:2]
        image = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        matrix = matrix.copy()
        matrix[:, :2] *= factor
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align_face(image: Image.Image | np.ndarray, size: int = 64, *, faces: list[Landmarks] | None = None) -> np.ndarray:
    """The largest face of an RGB photo, rotated, scaled and cropped so its eyes land on ``EYES``:
    (size, size, 3) uint8. Raises ``AlignError`` when no face is found."""
    array = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.ascontiguousarray(image)
    if faces is None:
        faces = find_faces(array)
    if not faces:
        raise AlignError("no face found (dlib's detector); try a larger, more frontal photo or the manual crop")
    face = faces[0]
    return warp(array, eye_transform(face.left_eye, face.right_eye, size), size)


# ------------------------------------------------------------------------------------------ recogniser
# where dlib's get_face_chip(size=150, padding=0.25) puts the eye centres of a 5-point shape (measured once with
# dlib 20.0 on 56 photos of celeba_subset: the 5-point model run again on each chip; spread about 1.5 px);
# aligned crops are mapped onto these points, so every crop and every generated face is embedded alike
CHIP_EYES = ((0.316, 0.308), (0.667, 0.308))


class FaceRecogniser:
    """dlib's face-recognition ResNet: 128-d embeddings; distance < 0.6 means the same person (dlib's rule).

    ``embed_aligned`` takes crops aligned with ``EYES`` (training crops, uploads, the model's outputs) and
    maps them onto dlib's chip geometry; ``embed_photo`` runs dlib's own detection and chip on a photo.
    """

    def __init__(self):
        if not available():
            raise AlignError("the face recogniser needs dlib-bin and face_recognition_models")
        import dlib

        self.net = dlib.face_recognition_model_v1(str(_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 crops aligned with ``EYES`` -> (N, 128) float64."""
        crops = np.asarray(crops)
        size = crops.shape[1]
        (lx, ly), (rx, ry) = (np.array(EYES) * size).tolist()
        matrix = eye_transform((lx, ly), (rx, ry), CHIP_SIZE, CHIP_EYES)
        chips = [warp(np.ascontiguousarray(c), matrix, CHIP_SIZE) for c in crops]
        return np.array(self.net.compute_face_descriptor(chips), dtype=np.float64).reshape(len(chips), 128)

    def embed_photo(self, image: Image.Image | np.ndarray) -> np.ndarray | None:
        """The largest face of a photo with dlib's own chip, (128,), or None when no face is found."""
        import dlib

        array = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.ascontiguousarray(image)
        rects = sorted(_detector()(array, UPSAMPLE), key=lambda r: -r.width() * r.height())
        if not rects:
            return None
        shape = _landmarks()(array, rects[0])
        chip = dlib.get_face_chip(array, shape, size=CHIP_SIZE, padding=0.25)
        return np.array(self.net.compute_face_descriptor(chip), dtype=np.float64)
