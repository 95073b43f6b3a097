"""Does a generated face look like the person? Scored by a face recogniser we did not train.

The instrument is dlib's face-recognition ResNet (``core.align.FaceRecogniser``); it is never used in a
loss, so the score cannot be trained against. Protocol (``identity_score``), on identities the model
never saw:

- each person's aligned photos are split once (seeded) into an *upload pool* (the first ``max(ks)``)
  and *references* (the rest); a person's centroid is the mean embedding of their references;
- for k uploads, the model's new s is the mean s of the first k uploads, rendered with each of
  ``styles`` stored z codes; an output counts as *matched* when its nearest centroid (Euclidean
  distance over all the unseen people) is the right person, and *within 0.6* when its distance to the
  right centroid is under dlib's same-person threshold;
- the ceiling is the same score for the upload crops themselves (what the model receives); the floor, the same
  crops each credited to a random person (what chance reads on this instrument);
- fine detail: the variance of the Laplacian of each output (grey, 0-255), averaged, over the same figure for the
  upload crops it was rendered from (``detail``: 1 keeps a photo's fine detail, 0.1 is a blur);
- colour noise: the same over the opponent-colour channels (``colour_noise_variance``), outputs over crops
  (``colour_noise``: 1 is a photo's; well above 1 is coloured speckle, which the detail figure would count as detail);
- the style check: the mean pairwise pixel distance between a person's outputs, against the same figure
  for that person's real crops. A decoder that ignores z renders every style alike and scores low here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.data import ImageSet
from core.explore import decode_grid, to_uint8


@dataclass
class Person:
    name: str
    uploads: torch.Tensor  # (U, C, H, W) uint8, aligned crops
    references: torch.Tensor  # (R, C, H, W) uint8


def split_people(data: ImageSet, uploads: int = 5, *, min_references: int = 2, seed: int = 0) -> list[Person]:
    """Per identity: a seeded permutation; the first ``uploads`` photos to upload, the rest as references.
    Identities with fewer than ``uploads + min_references`` photos are left out."""
    g = np.random.default_rng(seed)
    people = []
    for label, name in enumerate(data.class_names):
        idx = torch.nonzero(data.labels == label).flatten().numpy()
        if idx.size < uploads + min_references:
            continue
        idx = idx[g.permutation(idx.size)]
        people.append(Person(name, data.images[idx[:uploads]], data.images[idx[uploads:]]))
    return people


def hwc(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) uint8 or float [0, 1] -> (N, H, W, 3) uint8 for the recogniser (grey is repeated)."""
    array = images.permute(0, 2, 3, 1).numpy() if images.dtype == torch.uint8 else to_uint8(images)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array)


def pairwise_pixel_distance(images: torch.Tensor) -> float:
    """Mean absolute pixel difference over all pairs of (N, C, H, W) images (uint8 or [0, 1] floats), in [0, 1]."""
    x = images.float().div(255) if images.dtype == torch.uint8 else images.float()
    flat = x.flatten(1)
    n = flat.shape[0]
    if n < 2:
        return 0.0
    d = torch.cdist(flat, flat, p=1) / flat.shape[1]
    return float(d.sum() / (n * (n - 1)))


LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _laplacian_variance(channel: torch.Tensor) -> float:
    """(N, 1, H, W) in 0-255 -> the mean over images of the variance of the Laplacian inside a 1-pixel border."""
    response = torch.nn.functional.conv2d(channel, LAPLACIAN.view(1, 1, 3, 3))
    return float(response.flatten(1).var(1).mean())


def _pixels(images: torch.Tensor) -> torch.Tensor:
    return images.float() if images.dtype == torch.uint8 else images.float() * 255


def laplacian_variance(images: torch.Tensor) -> float:
    """Mean over (N, C, H, W) images (uint8 or [0, 1] floats) of the variance of the Laplacian of the grey image
    in 0-255 units, inside a 1-pixel border: the usual sharpness measure (a blur has little of it)."""
    return _laplacian_variance(_pixels(images).mean(1, keepdim=True))


def colour_noise_variance(images: torch.Tensor) -> float:
    """The Laplacian variance of the two opponent-colour channels (R - G and B - (R + G) / 2) of (N, 3, H, W)
    images, summed: coloured speckle, which ``laplacian_variance`` counts as detail. A photo's fine detail lies in
    its brightness far more than in its colour; a decoder trained against a frozen classifier or a discriminator
    can add colour noise no photo has. 0 for grey images."""
    x = _pixels(images)
    if x.shape[1] != 3:
        return 0.0
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _laplacian_variance(r - g) + _laplacian_variance(b - (r + g) / 2)


@dataclass
class Scores:
    matched: float  # share of images whose nearest centroid is the right person (%)
    within: float  # share within dlib's same-person distance of the right centroid (%)
    distance: float  # mean distance to the right centroid
    count: int

    def to_dict(self) -> dict:
        return {"matched": round(self.matched, 2), "within_0.6": round(self.within, 2),
                "mean_distance": round(self.distance, 4), "images": self.count}


def score(embeddings: np.ndarray, truth: np.ndarray, centroids: np.ndarray, threshold: float) -> Scores:
    """Embeddings (N, 128) of images of people ``truth`` (N,) against ``centroids`` (P, 128)."""
    dist = np.linalg.norm(embeddings[:, None, :] - centroids[None, :, :], axis=2)  # (N, P)
    own = dist[np.arange(len(truth)), truth]
    return Scores(100 * float((dist.argmin(1) == truth).mean()), 100 * float((own < threshold).mean()),
                  float(own.mean()), len(truth))


Render = Callable[[int, torch.Tensor], torch.Tensor]  # (person index, uploads (k, C, H, W) floats) -> outputs


def identity_score(people: list[Person], render: Render, recogniser, *, ks: tuple[int, ...] = (1, 3, 5),
                   threshold: float = 0.6, rendered: int | None = None) -> dict:
    """Scores of ``render`` (person index, k upload crops as floats) -> generated faces (n, C, H, W) in [0, 1],
    for each k, plus the ceiling (the crops) and the style check. See the module docstring.

    ``rendered``: render only the first that many people (each is still told apart from all of them)."""
    centroids = np.stack([recogniser.embed_aligned(hwc(p.references)).mean(0) for p in people])
    crops = [recogniser.embed_aligned(hwc(p.uploads[:max(ks)])) for p in people]
    truth = np.concatenate([[i] * len(c) for i, c in enumerate(crops)])
    result = {"people": len(people), "rendered": len(people[:rendered]), "chance": round(100 / len(people), 2), "threshold": threshold,
              "ceiling_crops": score(np.concatenate(crops), truth, centroids, threshold).to_dict(),
              # the instrument's floor: the same crops, each credited to a random person (a check that chance is chance)
              "floor_shuffled": score(np.concatenate(crops), np.random.default_rng(0).permutation(truth), centroids,
                                      threshold).to_dict(), "k": {}}
    real_spread = float(np.mean([pairwise_pixel_distance(p.references) for p in people[:rendered]]))
    result["ceiling_crops"]["laplacian_variance"] = round(
        float(np.mean([laplacian_variance(p.uploads[:max(ks)]) for p in people])), 2)
    result["ceiling_crops"]["colour_noise_variance"] = round(
        float(np.mean([colour_noise_variance(p.uploads[:max(ks)]) for p in people])), 2)
    for k in ks:
        embeddings, labels, spread, detail, crop_detail, noise, crop_noise = [], [], [], [], [], [], []
        for i, person in enumerate(people[:rendered]):
            outputs = render(i, person.uploads[:k].float().div(255))
            embeddings.append(recogniser.embed_aligned(hwc(outputs.cpu())))
            labels += [i] * outputs.shape[0]
            spread.append(pairwise_pixel_distance(outputs.cpu()))
            detail.append(laplacian_variance(outputs.cpu()))
            crop_detail.append(laplacian_variance(person.uploads[:k]))
            noise.append(colour_noise_variance(outputs.cpu()))
            crop_noise.append(colour_noise_variance(person.uploads[:k]))
        embedded, truth_k = np.concatenate(embeddings), np.array(labels)
        s = score(embedded, truth_k, centroids, threshold)
        own = np.linalg.norm(embedded - centroids[truth_k], axis=1)
        result["k"][str(k)] = s.to_dict() | {
            "style_spread": round(float(np.mean(spread)), 4),
            "style_spread_vs_real": round(float(np.mean(spread)) / real_spread, 3),
            "laplacian_variance": round(float(np.mean(detail)), 2),
            "detail": round(float(np.mean(detail)) / float(np.mean(crop_detail)), 3),
            "colour_noise": round(float(np.mean(noise)) / max(float(np.mean(crop_noise)), 1e-8), 3),
            # each rendered person's mean distance to their own centroid (which people a change helped or hurt)
            "person_distance": [round(float(own[truth_k == i].mean()), 4) for i in range(len(people[:rendered]))]}
    result["real_spread"] = round(real_spread, 4)
    return result


@torch.no_grad()
def zero_shot_render(model, styles: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """uploads (k, C, H, W) floats -> Dec(style z, mean s of the uploads) for every style."""
    def render(uploads: torch.Tensor) -> torch.Tensor:
        device = next(model.parameters()).device
        s = model.encode(uploads.to(device)).s.mean(0, keepdim=True)
        return decode_grid(model, styles.to(device), s)[:, 0]
    return render
