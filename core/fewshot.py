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

from core.data import ImageSet
from core.limits import MAX_FINE_TUNE_STEPS, MAX_PHOTOS
from core.training import Networks, NonFiniteLoss, TrainConfig, make_trainer, run


@torch.no_grad()
def mean_s(model, images: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) float in [0, 1] -> the mean specified code (s_dim,)."""
    return model.encode(images).s.mean(0)


MAX_IMAGES = MAX_PHOTOS  # uploads per new class (core.limits)
MAX_STEPS = MAX_FINE_TUNE_STEPS  # fine-tuning steps the app allows (core.limits)
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


FINE_TUNE_PARTS = ("all", "s_path", "decoder")


def recommended_part(metrics: dict) -> str:
    """The fine-tune part a checkpoint's identity score was measured with (``metrics.json`` "identity", written by
    ``python -m train.face_identity --save``): what the app should use for that model; ``all`` when none is recorded."""
    part = (metrics or {}).get("identity", {}).get("fine_tune_part", "all") if isinstance(metrics, dict) else "all"
    return part if part in FINE_TUNE_PARTS else "all"


def trainable_parameters(model, part: str) -> list[torch.nn.Parameter]:
    """What a fine-tune may change: ``all`` the weights, or only the ``s_path`` (the encoder's s head and the
    decoder's s input layer), which leaves every weight that reads or renders z as it was, so each stored
    style still changes the picture after fine-tuning."""
    if part not in FINE_TUNE_PARTS:
        raise ValueError(f"unknown fine-tune part {part!r}; valid: {', '.join(FINE_TUNE_PARTS)}")
    if part == "all":
        return list(model.parameters())
    if part == "decoder":
        return list(model.decoder.parameters())
    return [*model.encoder.s.parameters(), *model.decoder.s_in.parameters()]


def trainable_copy(model, part: str) -> tuple[torch.nn.Module, list[torch.nn.Parameter]]:
    """A deep copy of ``model`` in which only ``part``'s weights (``trainable_parameters``) take gradients, and those."""
    tuned = copy.deepcopy(model)
    params = trainable_parameters(tuned, part)
    for p in tuned.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return tuned, params


def fine_tune(model, images: torch.Tensor, references: torch.Tensor, reference_labels: torch.Tensor, *,
              labels: torch.Tensor | None = None, steps: int = 100, batch_size: int = 16, lr: float = 2e-4,
              part: str = "all", seed: int = 0, callback: Callable[[int, dict[str, float]], None] | None = None):
    """Return a fine-tuned copy of ``model`` that has learnt the class of ``images`` (n, C, H, W).

    ``labels`` (n,) groups the new images into several new classes; by default they are one class. The copy
    trains with the CC-VAE's own iteration (``core.training``, the one engine) on the new images and the
    references as one labelled set, half of every batch's pair anchors drawn among the new images: forward-cycle
    updates on same-label pairs (a new class of one image pairs it with itself), reverse-cycle updates of the
    encoder on different-label pairs. ``part`` (``trainable_parameters``): ``all`` weights, or the ``s_path``
    only (no reverse-cycle update then: it reaches the encoder's z path alone). ``callback(step, terms)`` is
    called after every step; a NaN raises ``FloatingPointError``.
    """
    if images.dim() != 4 or images.shape[0] < 1:
        raise ValueError("fine_tune needs at least one new image, shaped (n, C, H, W)")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if part == "decoder":
        return fit_decoder(model, images, references, steps=steps, lr=lr, seed=seed, callback=callback)
    tuned, _ = trainable_copy(model, part)
    tuned.train()
    data, weights = tuning_set(images, references, reference_labels, labels)
    start = tuned.config.training_steps
    config = TrainConfig(z_dim=tuned.config.z_dim, s_dim=tuned.config.s_dim, steps=start + steps, batch_size=batch_size,
                         lr=lr, lr_drop_at=1.0, reverse_cycle=part == "all", seed=seed,
                         device=str(next(tuned.parameters()).device))
    trainer = make_trainer(config, data, Networks(tuned), anchor_weights=weights)
    report = None if callback is None else \
        (lambda step, terms: callback(step - start, {k: v.item() for k, v in terms.items()}))
    try:
        with torch.enable_grad():
            run(trainer, on_step=report)
    except NonFiniteLoss as err:
        raise FloatingPointError(f"fine-tuning diverged ({err}); try fewer steps") from err
    for p in tuned.parameters():
        p.requires_grad_(True)
    return tuned.eval()


GUARD_GROWTH = 2.0  # the held-back photo's error may grow to this many times its zero-shot error (fit_decoder)


def fit_decoder(model, images: torch.Tensor, references: torch.Tensor, *, steps: int = 100, lr: float = 2e-4,
                replay: int = 16, seed: int = 0, check_every: int = 10, growth: float = GUARD_GROWTH,
                callback: Callable[[int, dict[str, float]], None] | None = None,
                on_check: Callable[[int, torch.nn.Module], None] | None = None):
    """Few-shot by the decoder alone (``fine_tune(part="decoder")``): a copy whose decoder renders the new person
    from the mean s of ``images`` (n, C, H, W), the encoder untouched.

    Each step: the new images from their own z means and their mean s, Dec(z_i, mean s) ~ x_i (what zero-shot
    renders, made to look like the uploads), plus ``replay`` references from their own codes, kept at what the
    original decoder drew for them, so the people it knew before do not change. The encoder is frozen, so the
    app's path (encode the uploads, take their mean s, decode with stored z) picks up the new decoder as it is.

    The guard (issue 31: fine-tuning made a held-out person worse): with 2 uploads or more, the last is held back.
    The decoder trains on the others' pixels; every ``check_every`` steps the held-back photo is rendered from its
    own z and the mean s. That s is the mean over *all* the uploads, the held-back one too: it is the s the renders
    are drawn with afterwards (training on the others' mean s alone left the decoder fitted to an s it is never
    given). When its pixel error has grown past ``growth`` times the zero-shot decoder's, the
    fine-tune has drawn something a photo it never saw does not resemble (the blotches of an over-fitted
    decoder): it stops and keeps the decoder of the last check within the bound (step 0, the zero-shot decoder,
    if none was). It does not keep the step of *lowest* error: measured on 20 unseen CelebA people, that error rose
    in most fine-tunes while dlib matched the renders to the person far more often (``docs/RESULTS.md``, issue
    31's few-shot guard). The kept step is ``tuned.fine_tune_kept`` (of ``fine_tune_ran``).

    ``on_check(step, tuned)`` sees the model being tuned at step 0 and at every check (``check_every`` steps and the
    last), after the guard has read it; it must not change it (``train.fewshot_guard_study`` measures it there, and
    ``growth=float("inf")`` runs every step).
    """
    if growth <= 1:
        raise ValueError(f"growth must be above 1, got {growth}")
    tuned, params = trainable_copy(model, "decoder")
    tuned.eval()
    device = next(tuned.parameters()).device
    x_all = images.to(device)
    held = x_all[-1:] if x_all.shape[0] >= 2 else None
    x = x_all[:-1] if held is not None else x_all
    with torch.no_grad():
        enc = tuned.encode(x_all)  # s: the mean of *every* upload, the s the app and the score render with
        z, s = enc.z_mu[:x.shape[0]], enc.s.mean(0, keepdim=True).expand(x.shape[0], -1)
        held_z = enc.z_mu[-1:] if held is not None else None
        refs = tuned.encode(references[:256].float().to(device)) if len(references) else None
        targets = tuned.decode_mean(refs.z_mu, refs.s) if refs is not None else None

    def held_error() -> float:
        with torch.no_grad():
            return float((tuned.decode_mean(held_z, s[:1]) - held).pow(2).mean())

    bound = growth * held_error() if held is not None else None
    good = (0, copy.deepcopy(tuned.decoder.state_dict())) if held is not None else None
    if on_check is not None:
        on_check(0, tuned)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    ran = 0
    for step in range(1, steps + 1):
        with torch.enable_grad():
            loss = (tuned.decode_mean(z, s) - x).pow(2).mean()
            kept = torch.zeros((), device=device)
            if refs is not None:
                pick = torch.randint(len(targets), (min(replay, len(targets)),), generator=g).to(device)
                kept = (tuned.decode_mean(refs.z_mu[pick], refs.s[pick]) - targets[pick]).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            (loss + kept).backward()
            opt.step()
        ran = step
        if not torch.isfinite(loss):
            raise FloatingPointError("fine-tuning diverged; try fewer steps or a lower rate")
        terms = {"reconstruction": float(loss.detach()), "replay": float(kept.detach())}
        grown = False
        if step % check_every == 0 or step == steps:
            if good is not None:
                error = terms["held_back"] = held_error()
                grown = not error <= bound  # a NaN error counts as grown
                if not grown:
                    good = (step, copy.deepcopy(tuned.decoder.state_dict()))
            if on_check is not None:
                on_check(step, tuned)
        if callback is not None:
            callback(step, terms)
        if grown:
            break
    if good is not None:
        tuned.decoder.load_state_dict(good[1])
    for p in tuned.parameters():
        p.requires_grad_(True)
    tuned.fine_tune_kept, tuned.fine_tune_ran = (good[0] if good is not None else ran), ran
    tuned.config.training_steps += tuned.fine_tune_kept
    return tuned.eval()


def tuning_set(images: torch.Tensor, references: torch.Tensor, reference_labels: torch.Tensor,
               labels: torch.Tensor | None = None) -> tuple[ImageSet, torch.Tensor]:
    """The new images (float, n) as new classes after the references' labels, and the references (classes
    with two images or more), as one 8-bit ImageSet; with anchor weights that give the new images half the draws.
    A new class of one image gets a copy of it (it pairs with itself)."""
    labels = torch.zeros(images.shape[0], dtype=torch.long) if labels is None else labels.long().cpu()
    reference_labels = reference_labels.long().cpu()
    keep = torch.bincount(reference_labels)[reference_labels] >= 2
    references, reference_labels = references[keep.to(references.device)], reference_labels[keep]
    offset = int(reference_labels.max()) + 1 if len(reference_labels) else 0
    _, new = torch.unique(labels, return_inverse=True)
    single = torch.nonzero(torch.bincount(new)[new] == 1).flatten()
    new_images = torch.cat([images, images[single.to(images.device)]])
    new = torch.cat([new, new[single]]) + offset
    pixels = torch.cat([new_images.float().cpu(), references.float().cpu()])
    if len(references):
        weights = torch.cat([torch.full((len(new),), 0.5 / len(new)), torch.full((len(references),), 0.5 / len(references))])
    else:
        weights = torch.ones(len(new))
    all_labels = torch.cat([new, reference_labels])
    names = [str(k) for k in range(int(all_labels.max()) + 1)]
    return ImageSet((pixels * 255).round().clamp(0, 255).to(torch.uint8), all_labels, names, "fine-tune"), weights
