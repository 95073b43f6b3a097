"""One face under every expression a model knows (report Fig. 4.13): the use-case function behind an app page.

For a model whose s is the expression (``checkpoints/expression``) and one aligned face, ``expression_renders``
keeps the face's z (its posterior mean: the person, light and pose) and decodes it with each expression's mean
s (``class_mean_s`` of the checkpoint's latent statistics), plus, per expression, a strip whose s moves in a
straight line from the neutral expression's mean s to that expression's. Counts are capped
(``MAX_EXPRESSIONS``, ``core.limits.MAX_INTERPOLATION_STEPS``); a face of the wrong shape, or a model without
a z/s split or without per-expression means, is refused with a ``ValueError`` that says what to give instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.explore import _lerp, decode
from core.limits import MAX_INTERPOLATION_STEPS, check

MAX_EXPRESSIONS = 12  # expressions rendered for one face (JAFFE has 7, the shared set 4)
NEUTRAL_NAMES = ("neutral", "normal")  # the start of every strip, where the model has one


@dataclass
class ExpressionRenders:
    names: list[str]  # the expressions rendered, in the model's label order
    renders: torch.Tensor  # (E, C, H, W) in [0, 1]: Dec(z of the face, mean s of expression e)
    strips: torch.Tensor  # (E, steps, C, H, W): s from the start (neutral) to expression e's mean s
    start: str  # where the strips start: the neutral expression's name, or "the face's own s"
    reconstruction: torch.Tensor  # (C, H, W): Dec(z, s) of the face itself


def as_face(face: torch.Tensor, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """One face (C, H, W) or (1, C, H, W), uint8 or floats in [0, 1] -> (1, C, H, W) floats; ValueError otherwise."""
    if not isinstance(face, torch.Tensor):
        raise ValueError(f"the face must be an image tensor, got {type(face).__name__}")
    if face.dim() == 4 and face.shape[0] == 1:
        face = face[0]
    if tuple(face.shape) != tuple(image_shape):
        raise ValueError(f"the face must be one aligned crop of shape {tuple(image_shape)} (channels, height, width), "
                         f"got {tuple(face.shape)}")
    x = face.float().div(255) if face.dtype == torch.uint8 else face.float()
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("the face's pixels must be uint8 or floats in [0, 1]")
    return x[None]


@torch.no_grad()
def expression_renders(model, face: torch.Tensor, expression_s: torch.Tensor, *, names: list[str] | None = None,
                       steps: int = 6, max_expressions: int = MAX_EXPRESSIONS) -> ExpressionRenders:
    """The face (z kept) under every expression's mean s, and a strip from neutral to each (module docstring).

    ``expression_s`` (E, s_dim): each expression's mean s (a checkpoint's ``class_mean_s``); ``names``: theirs
    (default: the model's class names). At most ``max_expressions`` (capped at ``MAX_EXPRESSIONS``) are rendered,
    the first in label order; ``steps`` images per strip, 2 to ``MAX_INTERPOLATION_STEPS``."""
    from core.models import capabilities

    config = model.config
    if not capabilities(config).has_split:
        raise ValueError("this model has no z/s split, so it cannot keep a face's z and change its s")
    names = list(config.class_names if names is None else names)
    if expression_s.dim() != 2 or expression_s.shape[1] != config.s_dim or expression_s.shape[0] != len(names):
        raise ValueError(f"expression_s must hold one mean s (s_dim {config.s_dim}) per expression name "
                         f"({len(names)}), got {tuple(expression_s.shape)}")
    if not 2 <= steps:
        raise ValueError(f"a strip needs at least 2 steps, got {steps}")
    check("images in one expression strip", steps, MAX_INTERPOLATION_STEPS, "use fewer steps")
    if not 1 <= max_expressions <= MAX_EXPRESSIONS:
        raise ValueError(f"max_expressions must be between 1 and {MAX_EXPRESSIONS}, got {max_expressions}")
    count = min(len(names), max_expressions)
    names, means = names[:count], expression_s[:count].float()
    x = as_face(face, config.image_shape)
    model.eval()
    enc = model.encode(x.to(next(model.parameters()).device))
    z, own_s = enc.z_mu.float().cpu()[0], enc.s.float().cpu()[0]
    neutral = next((names.index(n) for n in NEUTRAL_NAMES if n in names), None)
    start_s, start = (means[neutral], names[neutral]) if neutral is not None else (own_s, "the face's own s")
    renders = decode(model, z[None].expand(count, -1), means)
    s_path = torch.cat([_lerp(start_s, means[e], steps) for e in range(count)])
    strips = decode(model, z[None].expand(count * steps, -1), s_path).view(count, steps, *config.image_shape)
    reconstruction = decode(model, z[None], own_s[None])[0]
    return ExpressionRenders(names, renders, strips, start, reconstruction)
