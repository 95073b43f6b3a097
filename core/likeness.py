"""How much do generated faces look like the uploaded person? dlib's face-recognition distance, for the app.

A measurement only (never a loss): ``core.align.FaceRecogniser`` embeds the crops the model received and
the faces it generated, both aligned the same way, and each generated face's distance to the mean
embedding of the uploads is reported beside dlib's same-person threshold (0.6). That alone flatters: a blurred
average face is within 0.6 of most people. So the renders are also set against *strangers*: the same styles
decoded with identities the model stored, at their distance to the same uploads (``beats_strangers``: the share
of (yours, stranger's) pairs where your render is the closer; 50% is no more like you than anyone it knows). The protocol with
held-out identities and references is ``core.evaluation.identity``; this is its one-person form.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch

from core import align
from core.data.registry import spec_for
from core.evaluation.identity import hwc

SAME_PERSON = align.SAME_PERSON_DISTANCE


class Likeness(NamedTuple):
    distances: np.ndarray  # (M,) each generated face's distance to the uploads' mean embedding
    upload_distances: np.ndarray  # (N,) each upload's distance to the mean of the others (empty for one upload)
    stranger_distances: np.ndarray = np.zeros(0)  # (S,) renders of stored identities, to the uploads' mean

    @property
    def beats_strangers(self) -> float | None:
        """Share of (your render, stranger's render) pairs in which yours is closer to your photos, in [0, 1]
        (an AUC: 0.5 is chance); None without strangers."""
        if not self.stranger_distances.size or not self.distances.size:
            return None
        closer = self.distances[:, None] < self.stranger_distances[None, :]
        ties = self.distances[:, None] == self.stranger_distances[None, :]
        return float((closer + 0.5 * ties).mean())

    @property
    def within(self) -> float:
        """Share of generated faces within dlib's same-person distance, in [0, 1]."""
        return float((self.distances < SAME_PERSON).mean()) if self.distances.size else 0.0


def measurable(config) -> bool:
    """Whether the likeness means anything for this model: dlib is installed and the model was trained on crops
    aligned by the eyes (its dataset spec's ``landmarks``). On other crops (Yale B's framing) dlib's distances come
    out small for faces that do not resemble the person at all (0.42 and "100% within 0.6" for the shipped yaleb
    model, whose outputs are matched to the right CelebA person 4% of the time), so they are not shown."""
    return align.available() and spec_for(config.dataset).landmarks


@functools.cache
def recogniser() -> align.FaceRecogniser:
    """One recogniser per process (it loads about 20 MB of weights); ``AlignError`` when dlib is missing."""
    return align.FaceRecogniser()


def likeness(uploads: torch.Tensor, generated: torch.Tensor, net=None, strangers: torch.Tensor | None = None) -> Likeness:
    """Distances for uploads (N, C, H, W) and generated faces (M, C, H, W), floats in [0, 1] or uint8, both
    aligned as the model's training crops. ``net``: a recogniser (default: the process's ``recogniser()``).
    ``strangers`` (S, C, H, W): renders of other identities with the same styles, measured against the uploads too."""
    net = recogniser() if net is None else net
    ref = net.embed_aligned(hwc(uploads))  # (N, 128)
    out = net.embed_aligned(hwc(generated))  # (M, 128)
    distances = np.linalg.norm(out - ref.mean(0), axis=1)
    stranger_distances = np.linalg.norm(net.embed_aligned(hwc(strangers)) - ref.mean(0), axis=1) \
        if strangers is not None and len(strangers) else np.zeros(0)
    n = ref.shape[0]
    if n > 1:  # leave-one-out: how far each of your photos is from the others
        others = (ref.sum(0) - ref) / (n - 1)
        upload_distances = np.linalg.norm(ref - others, axis=1)
    else:
        upload_distances = np.zeros(0)
    return Likeness(distances, upload_distances, stranger_distances)
