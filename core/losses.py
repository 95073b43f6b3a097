"""The losses of the CC-VAE, its variants and its baselines, as pure functions of models and tensors.

Forward cycle (report eq. 3.1): for same-label pairs (x1, x2), decode x1' = Dec(z1, s2) and
x2' = Dec(z2, s1) with z sampled by reparameterisation; loss = reconstruction of both + KL.
Reverse cycle (eq. 3.2): decode one prior sample z with two different s, re-encode both images,
penalise the L1 distance between the two re-encoded z means. It trains the encoder only.

Normalisation follows the authors' code, so the default weights (2, 3, 10) mean the same thing:
reconstruction is the per-pixel mean squared error summed over the two images of a pair; KL is
summed over z dimensions and the two images, then divided by the number of pixels per image.

Reverse-cycle variants (report 4.2): ``distance="wasserstein"`` replaces the L1 distance between the
re-encoded z means by the squared 2-Wasserstein distance between the two re-encoded Gaussian
posteriors (closed form for diagonal Gaussians: |mu1 - mu2|^2 + |sigma1 - sigma2|^2, averaged over
dimensions like the L1); ``distance="relative"`` divides the L1 by the mean absolute deviation of
the re-encoded z means over the batch, so the encoder cannot lower it by shrinking z (the plain L1 of
z means falls as z shrinks); ``reconstruction_weight > 0`` adds variant (a): each input is decoded from
its own z and the s re-encoded from its generation, Dec(z(x1), s(Dec(z_i, s1))) ~ x1.

Baselines: ``mathieu_autoencoder_loss`` and ``szabo_autoencoder_loss`` are the non-adversarial parts
of Mathieu et al. 2016 and Szabó et al. 2017 as the authors' reimplementations weight them (mean
squared error per image, KL divided by batch x pixels, all weights 1). ``discriminator_loss`` and
``generator_loss`` are the image-pair GAN terms shared by both baselines and by the adversarial
CC-VAE variant (b).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torchvision.transforms.v2.functional import gaussian_blur

from core.models import reparameterize
from core.models.classifier import augment

RECONSTRUCTION_WEIGHT = 2.0
KL_WEIGHT = 3.0
REVERSE_WEIGHT = 10.0


REVERSE_DISTANCES = ("l1", "wasserstein", "relative")


class ReverseTerms(NamedTuple):
    total: torch.Tensor
    distance: torch.Tensor  # unweighted: L1 (or squared W2) between the two re-encoded z
    reconstruction: torch.Tensor  # unweighted variant (a) term; 0 when it is off


class ForwardTerms(NamedTuple):
    total: torch.Tensor
    reconstruction: torch.Tensor  # unweighted
    kl: torch.Tensor  # unweighted
    dependence: torch.Tensor | None = None  # unweighted pair_dependence of the z means; None when it is off
    z_mu: torch.Tensor | None = None  # (2B, z_dim): the posterior means of x1, then x2 (for terms on z)
    z: torch.Tensor | None = None  # (2B, z_dim): the sampled z that were decoded
    s: torch.Tensor | None = None  # (2B, s_dim): s of x1, then x2
    s_swapped: torch.Tensor | None = None  # (2B, s_dim): the s each z was decoded with (x1's z with s2 and so on)
    decoded: torch.Tensor | None = None  # (2B, C, H, W): Dec(z, s_swapped), compared with cat(x1, x2)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over dimensions: (B, D) -> (B,)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def forward_cycle_loss(model, x1: torch.Tensor, x2: torch.Tensor, *,
                       reconstruction_weight: float = RECONSTRUCTION_WEIGHT,
                       kl_weight: float = KL_WEIGHT,
                       independence_weight: float = 0.0,
                       generator: torch.Generator | None = None) -> ForwardTerms:
    """x1, x2: (B, C, H, W) with label(x1[i]) == label(x2[i]).

    ``independence_weight > 0`` adds ``pair_dependence`` of the two images' z means: over a batch of
    same-label pairs, z(x1) and z(x2) are independent exactly when z carries nothing of the shared label."""
    batch = x1.shape[0]
    x = torch.cat([x1, x2])  # (2B, C, H, W): one pass; instance norm keeps samples independent
    enc = model.encode(x)
    z = reparameterize(enc.z_mu, enc.z_logvar, generator)
    s_swapped = torch.cat([enc.s[batch:], enc.s[:batch]])  # x1 gets s2, x2 gets s1
    decoded = model.decode_mean(z, s_swapped)
    per_image_error = model.reconstruction_error(z, s_swapped, x, mean=decoded)  # (2B,): per-pixel MSE or NLL (pixelcnn)
    reconstruction = per_image_error.sum() / batch
    pixels = x[0].numel()
    kl = kl_to_standard_normal(enc.z_mu.float(), enc.z_logvar.float()).sum() / (batch * pixels)
    total = reconstruction_weight * reconstruction + kl_weight * kl
    parts = dict(z_mu=enc.z_mu, z=z, s=enc.s, s_swapped=s_swapped, decoded=decoded)
    if not independence_weight:
        return ForwardTerms(total, reconstruction, kl, **parts)
    dependence = pair_dependence(enc.z_mu[:batch], enc.z_mu[batch:])
    return ForwardTerms(total + independence_weight * dependence, reconstruction, kl, dependence, **parts)


class GroupTerms(NamedTuple):
    total: torch.Tensor
    reconstruction: torch.Tensor  # unweighted
    kl: torch.Tensor  # unweighted
    s: torch.Tensor  # (B + K * B, s_dim): s of the anchors, then of the group photos (for terms on s)
    group_s: torch.Tensor  # (B, s_dim): each anchor's mean group s
    z: torch.Tensor  # (B, z_dim): the anchors' z as decoded (sampled, or the prior sample that replaced it)
    decoded: torch.Tensor  # (B, C, H, W): Dec(z, group s), the images the reconstruction term compares with x
    z_mu: torch.Tensor  # (B + K * B, z_dim): the posterior means of the anchors, then of the group photos


def group_cycle_loss(model, x: torch.Tensor, group: torch.Tensor, *, z_dropout: float = 0.0,
                     reconstruction_weight: float = RECONSTRUCTION_WEIGHT, kl_weight: float = KL_WEIGHT,
                     generator: torch.Generator | None = None) -> GroupTerms:
    """The forward cycle with group evidence for s (ML-VAE's and GVAE's group code, FUNIT's class code).

    x (B, C, H, W): anchors; group (K, B, C, H, W): K *other* photos with each anchor's label. Each anchor is
    decoded from its own z and the mean s of its group, Dec(z(x), mean_k s(group_k)) ~ x. The paper's swap is
    this with K = 1; the mean of several photos cannot carry this photo's pose or light, so s is pushed to hold
    only what the photos share, and it is how the app uses s (the mean s of a person's uploads).

    ``z_dropout``: the probability that an anchor's z is replaced by a sample of the prior N(0, I), so the decoder
    must draw that face from s alone: the only road to the identity left when z says nothing about it. K = 0
    (``group`` empty) is a plain autoencoder of z and s, the ceiling any split model is measured against.
    """
    batch, k = x.shape[0], group.shape[0]
    enc = model.encode(torch.cat([x, group.flatten(0, 1)]) if k else x)
    mu, logvar = enc.z_mu[:batch], enc.z_logvar[:batch]
    z = reparameterize(mu, logvar, generator)
    if z_dropout:
        dropped = torch.rand(batch, generator=generator, device=z.device) < z_dropout
        prior = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        z = torch.where(dropped[:, None], prior, z)
    group_s = enc.s[batch:].view(k, batch, -1).mean(0) if k else enc.s
    decoded = model.decode_mean(z, group_s)
    reconstruction = model.reconstruction_error(z, group_s, x, mean=decoded).mean()
    kl = kl_to_standard_normal(mu.float(), logvar.float()).sum() / (batch * x[0].numel())
    total = reconstruction_weight * reconstruction + kl_weight * kl
    return GroupTerms(total, reconstruction, kl, enc.s, group_s, z, decoded, enc.z_mu)


def gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, C, H, W) images blurred by a Gaussian of ``sigma`` pixels (a kernel of 3 sigma each side)."""
    return gaussian_blur(x, 2 * math.ceil(3 * sigma) + 1, sigma)


def blur_colour(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, 3, H, W) images with their colour (each pixel's channels minus their mean, the grey level) blurred by a
    Gaussian of ``sigma`` pixels and their grey level untouched: JPEG's chroma subsampling, differentiably. The split
    is orthogonal, so the map is its own adjoint and a gradient passed back through it keeps its fine part in grey."""
    grey = x.mean(1, keepdim=True)
    return grey + gaussian(x - grey, sigma)


def identity_swap_loss(model, classifier, z: torch.Tensor, s: torch.Tensor, labels: torch.Tensor,
                       generator: torch.Generator | None = None, *, blur: float = 0.0,
                       colour_blur: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, accuracy): cross-entropy of a frozen identity classifier on Dec(z_b, s_a) against a's label.

    z (B, z_dim) and s (B, s_dim) belong to the same B photos, labels (B,); each s is decoded with the z of
    the next photo in the batch, so identity may reach the picture through s only. The generations pass
    through ``core.models.classifier.augment`` (flips, shifts, jitter) first, and with ``blur`` > 0 a Gaussian blur
    of that sigma (pixels): a frozen classifier's gradient also points at fine patterns that only it reads (the
    coloured speckle of a decoder trained against it), and a blurred input offers the decoder nothing for them; with
    ``colour_blur`` > 0 only the colour is blurred (``blur_colour``): the gradient moves fine brightness, not fine
    colour. The
    classifier is part of the recipe (trained by the project); a second one from another seed, never in a loss,
    monitors the swap test.
    """
    other = torch.roll(torch.arange(z.shape[0], device=z.device), 1)
    swapped = augment(model.decode_mean(z[other], s), generator)
    if blur > 0:
        swapped = gaussian(swapped, blur)
    if colour_blur > 0:
        swapped = blur_colour(swapped, colour_blur)
    logits = classifier(swapped).float()
    loss = torch.nn.functional.cross_entropy(logits, labels)
    return loss, (logits.argmax(1) == labels).float().mean()


def _centred_gram(x: torch.Tensor) -> torch.Tensor:
    """Gaussian-kernel Gram matrix of (B, D) codes, bandwidth = median pairwise distance (so the scale of z
    does not matter), double-centred."""
    d2 = torch.cdist(x, x).pow(2)
    bandwidth = d2.detach()[~torch.eye(x.shape[0], dtype=torch.bool, device=x.device)].median().clamp_min(1e-8)
    k = torch.exp(-d2 / bandwidth)
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def pair_dependence(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Normalised HSIC between codes a[i] and b[i], (B, D) each, in [0, 1]: 0 when they are independent.

    For same-label pairs whose other factors are unrelated, any dependence between z(x1) and z(x2) comes
    from the label they share; this measures it with pairwise labels only, without an adversary to train."""
    ka, kb = _centred_gram(a.float()), _centred_gram(b.float())
    return (ka * kb).sum() / ((ka * ka).sum().sqrt() * (kb * kb).sum().sqrt()).clamp_min(1e-12)


def pixel_l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per pixel over a batch, in float32: the L1 pixel term (sharper edges than MSE's mean)."""
    return (output.float() - target.float()).abs().mean()


def mse_per_image(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each image: (B, C, H, W) x 2 -> (B,), computed in float32."""
    return (output.float() - target.float()).pow(2).flatten(1).mean(1)


def reverse_cycle_loss(model, x1: torch.Tensor, x2: torch.Tensor, *,
                       weight: float = REVERSE_WEIGHT,
                       distance: str = "l1",
                       reconstruction_weight: float = 0.0,
                       generator: torch.Generator | None = None) -> ReverseTerms:
    """x1, x2: (B, C, H, W), preferably with different labels.

    The decodings are made without a graph (s is a constant here, as in the authors' code, and the
    decoder is not trained by this term), so the only gradient path is the re-encoding: this loss
    reaches encoder parameters and nothing else (variant (a) also sends gradients through the
    decoder to the encoder; the trainer updates the encoder only).
    """
    if distance not in REVERSE_DISTANCES:
        raise ValueError(f"unknown reverse-cycle distance {distance!r}; valid: {', '.join(REVERSE_DISTANCES)}")
    batch = x1.shape[0]
    x = torch.cat([x1, x2])
    with torch.set_grad_enabled(reconstruction_weight > 0):  # variant (a) reuses the inputs' z, with its graph
        inputs = model.encode(x)
    s = inputs.s.detach()  # (2B, s_dim)
    with torch.no_grad():
        z = torch.randn(batch, model.config.z_dim, generator=generator, device=s.device, dtype=s.dtype)
        generated = model.decode(torch.cat([z, z]), s)  # same z, two different s
    again = model.encode(generated)  # (2B, z_dim) each
    mu = again.z_mu.float()
    if distance == "l1":
        dist = (mu[:batch] - mu[batch:]).abs().mean()
    elif distance == "relative":  # scale-invariant: shrinking every z cannot lower it
        dist = (mu[:batch] - mu[batch:]).abs().mean() / (mu - mu.mean(0)).abs().mean().clamp_min(1e-6)
    else:
        sigma = torch.exp(0.5 * again.z_logvar.float())
        dist = ((mu[:batch] - mu[batch:]).pow(2) + (sigma[:batch] - sigma[batch:]).pow(2)).mean()
    total = weight * dist
    reconstruction = torch.zeros((), device=dist.device)
    if reconstruction_weight > 0:
        reconstruction = mse_per_image(model.decode(inputs.z_mu, again.s), x).sum() / batch
        total = total + reconstruction_weight * reconstruction
    return ReverseTerms(total, dist, reconstruction)


class AutoencoderTerms(NamedTuple):
    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor  # 0 for the deterministic Szabó autoencoder


def mathieu_autoencoder_loss(model, x1: torch.Tensor, x2: torch.Tensor, *,
                             generator: torch.Generator | None = None) -> AutoencoderTerms:
    """Mathieu et al.: x1 is rebuilt from its own z and s, and from its z with s of x2 (same label)."""
    batch = x1.shape[0]
    enc = model.encode(torch.cat([x1, x2]))
    z1 = reparameterize(enc.z_mu[:batch], enc.z_logvar[:batch], generator)
    out = model.decode(torch.cat([z1, z1]), enc.s)  # (z1, s1) and (z1, s2)
    reconstruction = mse_per_image(out, torch.cat([x1, x1])).sum() / batch
    kl = kl_to_standard_normal(enc.z_mu[:batch].float(), enc.z_logvar[:batch].float()).sum() / (batch * x1[0].numel())
    return AutoencoderTerms(reconstruction + kl, reconstruction, kl)


def szabo_autoencoder_loss(model, x1: torch.Tensor, x2: torch.Tensor) -> AutoencoderTerms:
    """Szabó et al.: swap reconstruction on same-label pairs, x1 from (z1, s2) and x2 from (z2, s1); no KL."""
    batch = x1.shape[0]
    x = torch.cat([x1, x2])
    enc = model.encode(x)
    out = model.decode(enc.z_mu, torch.cat([enc.s[batch:], enc.s[:batch]]))
    reconstruction = mse_per_image(out, x).sum() / batch
    return AutoencoderTerms(reconstruction, reconstruction, torch.zeros((), device=x.device))


class DiscriminatorTerms(NamedTuple):
    total: torch.Tensor
    accuracy: torch.Tensor  # fraction of the real and fake pairs it classifies correctly


REAL, FAKE = 1, 0


def discriminator_loss(discriminator, real: tuple[torch.Tensor, torch.Tensor],
                       fake: tuple[torch.Tensor, torch.Tensor]) -> DiscriminatorTerms:
    """Cross-entropy of the pair discriminator: ``real`` pairs share a label, in ``fake`` the second
    image is a generation (detached here: this loss trains the discriminator only)."""
    logits = torch.cat([discriminator(*real), discriminator(fake[0], fake[1].detach())]).float()  # (2B, 2)
    batch = real[0].shape[0]
    target = torch.cat([torch.full((batch,), REAL), torch.full((batch,), FAKE)]).to(logits.device)
    loss = torch.nn.functional.cross_entropy(logits, target)
    return DiscriminatorTerms(loss, (logits.argmax(1) == target).float().mean())


def generator_loss(discriminator, anchor: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """Cross-entropy pushing the discriminator to call (anchor, generated) a real same-label pair."""
    logits = discriminator(anchor, generated).float()
    return torch.nn.functional.cross_entropy(logits, torch.full((logits.shape[0],), REAL, device=logits.device))


class PatchTerms(NamedTuple):
    total: torch.Tensor
    real: torch.Tensor  # mean patch logit on real photos
    fake: torch.Tensor  # mean patch logit on decoded images


def patch_discriminator_loss(discriminator, real: torch.Tensor, fake: torch.Tensor) -> PatchTerms:
    """Hinge loss of a patch discriminator (Lim & Ye 2017; as VQGAN): every patch logit of a real photo above +1,
    of a decoded image (detached: this trains the discriminator only) below -1."""
    real_logits = discriminator(real).float()
    fake_logits = discriminator(fake.detach()).float()
    loss = 0.5 * (torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean())
    return PatchTerms(loss, real_logits.mean().detach(), fake_logits.mean().detach())


def patch_generator_loss(discriminator, fake: torch.Tensor) -> torch.Tensor:
    """The decoder's hinge term: raise the discriminator's patch logits on its images."""
    return -discriminator(fake).float().mean()


def adaptive_weight(reconstruction: torch.Tensor, adversarial: torch.Tensor, last_layer: torch.Tensor, *,
                    limit: float = 1e4) -> torch.Tensor:
    """VQGAN's balance of the two terms (Esser et al. 2021, eq. 7): the ratio of their gradient norms at the
    decoder's last layer, so the adversarial term pushes that layer as hard as the reconstruction does whatever
    the scale of either loss. Detached, clamped to [0, ``limit``]."""
    rec_grad = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)[0]
    adv_grad = torch.autograd.grad(adversarial, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (adv_grad.norm() + 1e-4)).clamp(0.0, limit).detach()


def _z_pairs(same: tuple[torch.Tensor, torch.Tensor], different: tuple[torch.Tensor, torch.Tensor]):
    """Both kinds of pair, standardised per dimension over all the codes of the batch (statistics kept in the
    graph): the adversary sees only the *relative* layout of the codes, so the encoder cannot win by shrinking z
    towards a constant. (Unstandardised, it did exactly that: on MNIST z stopped changing the picture at all.)"""
    a = torch.cat([same[0], different[0]]).float()
    b = torch.cat([same[1], different[1]]).float()
    both = torch.cat([a, b])
    mean, std = both.mean(0), both.std(0).clamp_min(1e-4)
    a, b = (a - mean) / std, (b - mean) / std
    target = torch.cat([torch.ones(same[0].shape[0]), torch.zeros(different[0].shape[0])]).to(a.device)
    return a, b, target


def z_discriminator_loss(discriminator, same: tuple[torch.Tensor, torch.Tensor],
                         different: tuple[torch.Tensor, torch.Tensor]) -> DiscriminatorTerms:
    """The pair adversary on z, its discriminator's side: only pairwise labels, never the class itself.

    ``same``: z means of same-label pairs, ``different``: of different-label pairs, each (B, z_dim),
    detached here (this trains the discriminator only). If z carries the class, same-label z pairs look
    alike and the discriminator wins: the leak the Table 4.1 classifier reads from the z mean.
    """
    a, b, target = _z_pairs(same, different)
    logits = discriminator(a.detach(), b.detach())
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    return DiscriminatorTerms(loss, ((logits > 0).float() == target).float().mean())


def z_confusion_loss(discriminator, same: tuple[torch.Tensor, torch.Tensor],
                     different: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The encoder's side: binary cross-entropy of the z pair discriminator against 1/2 for every pair, so
    z leaves no trace of whether two images share a label (log 2 = 0.693 at its minimum)."""
    a, b, target = _z_pairs(same, different)
    return torch.nn.functional.binary_cross_entropy_with_logits(discriminator(a, b), torch.full_like(target, 0.5))


def s_pair_contrast(same: tuple[torch.Tensor, torch.Tensor], different: tuple[torch.Tensor, torch.Tensor], *,
                    margin: float = 0.5) -> torch.Tensor:
    """A pairwise-label contrast on s: cosine similarity pulled to 1 for same-label pairs and pushed below
    ``margin`` for different-label pairs. Where the label explains little of an image's pixels (faces in the
    wild: pose, light and background dominate), the forward cycle alone gives s too weak a signal and the
    decoder learns to ignore it; this gives s the pairwise signal directly. Each input is (B, s_dim)."""
    cos = torch.nn.functional.cosine_similarity
    pull = (1 - cos(same[0].float(), same[1].float(), dim=1)).mean()
    push = torch.relu(cos(different[0].float(), different[1].float(), dim=1) - margin).mean()
    return pull + push
