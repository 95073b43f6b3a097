"""The one synthetic dataset: tiny stand-in images made on the fly, for dry runs, benchmarks without MNIST on
disk, and the tests (which must pass without any dataset).

Two factors a model can learn in a few hundred steps, drawn the same way everywhere:
- digits (28x28): class k is a bright bar at angle pi k / classes, with a random position and thickness
  (its "style");
- faces (64x64 or any size): identity k is an oval face with its own eyes and mouth, lit from the pose's side.
"""

from __future__ import annotations

import numpy as np
import torch

from core.data.base import ImageSet

SYNTHETIC = "synthetic"  # the name of the generated sets (a dry run's data), and of a model trained on them


def recorded_name(dataset: str, data: ImageSet) -> str:
    """What a model trained on ``data`` records as its dataset: ``SYNTHETIC`` for generated data (a dry run),
    else the ``dataset`` asked for."""
    return SYNTHETIC if data.name == SYNTHETIC else dataset


def is_synthetic(dataset: str) -> bool:
    """A model trained on generated data (a dry run): its test set is generated again, not loaded."""
    return dataset == SYNTHETIC


def digit_arrays(n: int, seed: int, *, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 uint8 images and their labels (shuffled, ``classes`` about equally often)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:28, 0:28] - 13.5
    images = np.zeros((n, 28, 28), np.uint8)
    for i, k in enumerate(labels):
        angle = np.pi * k / classes
        shift = rng.uniform(-6, 6)
        width = rng.uniform(1.5, 4)
        dist = np.abs(np.cos(angle) * yy - np.sin(angle) * xx - shift)
        images[i] = (255 * np.clip(width - dist, 0, 1)).astype(np.uint8)
    return images, labels


def synthetic_digits(n: int = 256, *, classes: int = 10, seed: int = 0) -> ImageSet:
    """``digit_arrays`` as an ImageSet named "synthetic" (classes "bar0", "bar1", ...)."""
    images, labels = digit_arrays(n, seed, classes=classes)
    return ImageSet(torch.from_numpy(images)[:, None], torch.from_numpy(labels).long(),
                    [f"bar{k}" for k in range(classes)], SYNTHETIC)


def face_shape(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """An unlit face (size, size) in [-0.3, 0.7]: an oval with eyes and a mouth placed by ``rng``."""
    yy, xx = (np.mgrid[0:size, 0:size] - size / 2) / (size / 2)
    face = ((xx / 0.7) ** 2 + (yy / 0.9) ** 2 < 1).astype(float) * 0.7
    ex, ey, mw = rng.uniform(0.2, 0.45), rng.uniform(-0.4, -0.15), rng.uniform(0.15, 0.45)
    for cx in (-ex, ex):
        face = face - 0.5 * (((xx - cx) / 0.1) ** 2 + ((yy - ey) / 0.07) ** 2 < 1)
    return face - 0.4 * ((np.abs(xx) < mw) & (np.abs(yy - 0.45) < 0.05))


def lit(face: np.ndarray, angle: float) -> np.ndarray:
    """``face`` lit from direction ``angle`` (radians), plus a 0.1 floor; not clipped."""
    size = face.shape[0]
    yy, xx = (np.mgrid[0:size, 0:size] - size / 2) / (size / 2)
    return face * (0.6 + 0.4 * (np.cos(angle) * xx + np.sin(angle) * yy)) + 0.1


def face_picture(identity: int, angle: float, size: int = 64) -> np.ndarray:
    """One noise-free grey face as uint8 (size, size): ``identity`` seeds its shape (uploads, fake face folders)."""
    return (255 * np.clip(lit(face_shape(np.random.default_rng(identity), size), angle), 0, 1)).astype(np.uint8)


def synthetic_faces(*, identities: int = 4, poses: int = 3, per_pair: int = 4, channels: int = 1,
                    seed: int = 0) -> ImageSet:
    """64x64 faces: ``per_pair`` noisy copies of every (identity, pose), each pose a light from another side.
    Labels are identities; the factor ``pose`` is the light."""
    rng = np.random.default_rng(seed)
    images, labels, pose_labels = [], [], []
    for k in range(identities):
        shape = np.random.default_rng(1000 + k)
        face = face_shape(shape)
        tint = shape.uniform(0.6, 1.0, size=channels)
        for p in range(poses):
            shaded = lit(face, np.pi * p / max(1, poses - 1))
            for _ in range(per_pair):
                img = np.clip(shaded + rng.normal(0, 0.03, face.shape), 0, 1)
                images.append(np.stack([img * t for t in tint]))
                labels.append(k)
                pose_labels.append(p)
    array = torch.from_numpy((255 * np.stack(images)).round().astype(np.uint8))
    return ImageSet(array, torch.tensor(labels), [f"id{k}" for k in range(identities)], SYNTHETIC,
                    {"pose": torch.tensor(pose_labels)}, {"pose": [f"pose{p}" for p in range(poses)]})
