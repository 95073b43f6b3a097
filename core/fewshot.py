"""Zero-shot and few-shot use of a trained model on a new class (an unseen identity, a new digit).

Zero-shot: encode the new images and use the mean of their s (``mean_s``). Few-shot:
``fine_tune`` trains a *copy* of the model (the caller's model is never modified) with the
CC-VAE's own two cycles: forward-cycle pairs drawn among the new images (they share a label)
and among reference images of known classes, and reverse-cycle pairs that join a new image with
a reference image (different labels). References are training images when the caller has them,
otherwise the model's own generations from its stored codes (``reference_images``), so the app
can fine-tune without any dataset.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from core import losses


@torch.no_grad()
def mean_s(model, images: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) float in [0, 1] -> the mean specified code (s_dim,)."""
    return model.encode(images).s.mean(0)


MAX_IMAGES = 10  # uploads per new class
MAX_STEPS = 500  # fine-tuning steps the app allows
DEFAULT_STEPS = 100


def known_styles(model, latents: dict[str, torch.Tensor], *, limit: int = 64) -> tuple[torch.Tensor, list[str]]:
    """z codes to render a new class with, and their names: the mean z of each value of the
    checkpoint's first extra factor (Yale B: every lighting), else codes from its bank."""
    for factor, names in model.config.factor_names.items():
        key = f"factor_{factor}_z_mu"
        if key in latents:
            counts = latents.get(f"factor_{factor}_counts", torch.ones(len(names)))
            keep = torch.nonzero(counts > 0).flatten()[:limit]
            return latents[key][keep], [f"{factor} {names[i]}" for i in keep.tolist()]
    if "bank_z_mu" not in latents:
        raise ValueError("this checkpoint stores no z codes (latents.safetensors); re-run its evaluation with --update-latents")
    z = latents["bank_z_mu"][:limit]
    return z, [f"style {i}" for i in range(z.shape[0])]


@torch.no_grad()
def reference_images(model, latents: dict[str, torch.Tensor], count: int = 256,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own reconstructions of ``count`` stored codes: (images (count, C, H, W), labels)."""
    n = latents["bank_s"].shape[0]
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:count]
    images = torch.cat([model.decode(latents["bank_z_mu"][i], latents["bank_s"][i]) for i in idx.split(128)])
    return images, latents["bank_labels"][idx]


FINE_TUNE_PARTS = ("all", "s_path")


def trainable_parameters(model, part: str) -> list[torch.nn.Parameter]:
    """What a fine-tune may change: ``all`` the weights, or only the ``s_path`` (the encoder's s head and the
    decoder's s input layer), which leaves every weight that reads or renders z as it was, so each stored
    style still changes the picture after fine-tuning."""
    if part not in FINE_TUNE_PARTS:
        raise ValueError(f"unknown fine-tune part {part!r}; valid: {', '.join(FINE_TUNE_PARTS)}")
    if part == "all":
        return list(model.parameters())
    return [*model.encoder.s.parameters(), *model.decoder.s_in.parameters()]


def fine_tune(model, images: torch.Tensor, references: torch.Tensor, reference_labels: torch.Tensor, *,
              labels: torch.Tensor | None = None, steps: int = 100, batch_size: int = 16, lr: float = 2e-4,
              part: str = "all", seed: int = 0, callback: Callable[[int, dict[str, float]], None] | None = None):
    """Return a fine-tuned copy of ``model`` that has learnt the class of ``images`` (n, C, H, W).

    ``labels`` (n,) groups the new images into several new classes; by default they are one class.
    Each step: a forward-cycle update on ``batch_size`` same-label pairs (half among the new images,
    half among the references), then a reverse-cycle update of the encoder on new/reference pairs.
    ``part`` (``trainable_parameters``): ``all`` weights, or the ``s_path`` only (no reverse-cycle update then:
    it reaches the encoder's z path alone). ``callback(step, terms)`` is called after every step.
    """
    if images.dim() != 4 or images.shape[0] < 1:
        raise ValueError("fine_tune needs at least one new image, shaped (n, C, H, W)")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    tuned = copy.deepcopy(model).train()
    trained = trainable_parameters(tuned, part)
    for p in tuned.parameters():
        p.requires_grad_(False)
    for p in trained:
        p.requires_grad_(True)
    device = next(tuned.parameters()).device
    images, references = images.float().to(device), references.float().to(device)
    reference_labels = reference_labels.to(device)
    g = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device).manual_seed(seed + 1)
    opt_forward = torch.optim.Adam(trained, lr=lr)
    opt_reverse = torch.optim.Adam(tuned.encoder.parameters(), lr=lr)
    n, m, half = images.shape[0], references.shape[0], max(1, batch_size // 2)
    labels = torch.zeros(n, dtype=torch.long) if labels is None else labels.long().cpu()
    new_groups = [torch.nonzero(labels == k).flatten() for k in torch.unique(labels)]
    by_label = [torch.nonzero(reference_labels == k).flatten() for k in torch.unique(reference_labels)]
    by_label = [idx for idx in by_label if idx.numel() >= 2]
    with torch.enable_grad():
        for step in range(1, steps + 1):
            group = [new_groups[k] for k in torch.randint(len(new_groups), (half,), generator=g).tolist()]
            a = torch.stack([idx[torch.randint(idx.numel(), (1,), generator=g)][0] for idx in group])
            b = torch.stack([idx[torch.randint(idx.numel(), (1,), generator=g)][0] for idx in group])
            x1, x2 = [images[a]], [images[b]]  # same new class (a single image pairs with itself)
            if by_label:
                groups = torch.randint(len(by_label), (half,), generator=g)
                for k in groups.tolist():
                    idx = by_label[k]
                    pick = idx[torch.randperm(idx.numel(), generator=g)[:2]]
                    x1.append(references[pick[:1]])
                    x2.append(references[pick[1:]])
            fwd = losses.forward_cycle_loss(tuned, torch.cat(x1), torch.cat(x2), generator=noise)
            opt_forward.zero_grad(set_to_none=True)
            fwd.total.backward()
            opt_forward.step()

            terms = {"reconstruction": fwd.reconstruction.item(), "kl": fwd.kl.item()}
            total = fwd.total
            if part == "all":
                new = images[torch.randint(n, (half,), generator=g)]
                ref = references[torch.randint(m, (half,), generator=g)]
                rev = losses.reverse_cycle_loss(tuned, new, ref, generator=noise)
                opt_reverse.zero_grad(set_to_none=True)
                rev.total.backward()
                opt_reverse.step()
                terms["reverse_cycle"] = rev.distance.item()
                total = total + rev.total.detach()
            if not torch.isfinite(total):
                raise FloatingPointError(f"fine-tuning diverged at step {step} (loss is NaN or inf); try fewer steps")
            if callback is not None:
                callback(step, terms)
    for p in tuned.parameters():
        p.requires_grad_(True)
    return tuned.eval()
