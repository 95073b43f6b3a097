"""A gated PixelCNN decoder head: the PixelVAE option (Gulrajani et al. 2016; report 4.0.3.2.2).

``p(x | z, s) = prod_i p(x_i | x_<i, z, s)``, pixels in raster order, each a categorical over the 256
intensity values (``x * 255``). The logits of pixel i are ``base + residual``:

- ``base_k = -(k/255 - mu_i)^2 / (2 sigma_i^2)``: a Gaussian around the **mean image** ``mu = sigmoid(Dec(z, s))``
  of the plain decoder (kept as the conditioning network), discretised to the 256 values and renormalised.
  ``log sigma_i`` = a learned constant + a linear read-out of the PixelCNN's features, so the spread adapts
  to the context (background: narrow; a stroke's edge: wide). It is the distribution an MSE-trained decoder
  implies; with a zero residual and a constant sigma this model *is* the plain decoder. (Computed without the
  ``mu_i^2`` term, which softmax ignores, as two more input columns of the output layer: a (B, 256, H, W)
  tensor of its own would cost more than the convolutions.)
- ``residual``: the PixelCNN's correction from the pixels already seen, ``x_<i``.

The CC-VAE trains the mean image as the plain decoder (its MSE, as a Gaussian NLL with sigma 0.1) and the
PixelCNN on the NLL with the mean image as a fixed input (``CCVAE.reconstruction_error``): otherwise the
residual absorbs what the mean image should say, and the mean image, which the reverse cycle decodes, stops
looking like a digit (the NLL's gradient on the mean is the *whole* model's error, not the mean image's).

Layers are van den Oord et al.'s (2016) gated blocks, ``tanh(a) * sigmoid(b)``, with a vertical stack
(rows strictly above) and a horizontal stack (the same row, to the left), so there is no blind spot.
The first block is "type A" (never sees the pixel it predicts), later ones "type B". Causality comes
from kernel shapes and one-sided padding instead of masks. Every block is conditioned on the code ``[z, s]``
(a linear layer: a per-image bias, as in the conditional PixelCNN); the first block also on the mean image
(a 1x1 convolution: a per-pixel bias), which later blocks see through the stacks. Mean-image biases in
every block cost more time than all the convolutions together, for little: the base logits already read
the mean at the pixel being predicted.

Training is teacher-forced (``nll``: one parallel pass). ``sample`` is sequential, 784 steps for MNIST,
all images of a batch together: the conditioning is computed once per batch, the vertical stack once
per row on the few rows it can see (``reach``), the horizontal stack once per pixel on the few columns
it can see. Both paths compute the same logits (tested).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import Progress

LEVELS = 256  # intensity values of an 8-bit pixel
FIRST_KERNEL = 7  # type A block: sees 3 rows above and 3 pixels to the left
KERNEL = 3  # type B blocks: each widens the view by 1 row and 1 column
INITIAL_SIGMA = 0.1  # base Gaussian's standard deviation at initialisation (learned)



def levels(device: torch.device | str = "cpu") -> torch.Tensor:
    """The 256 intensity values k/255: (256,)."""
    return torch.arange(LEVELS, device=device, dtype=torch.float32) / (LEVELS - 1)


def gaussian_level_logits(mean: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """(B, 1, H, W) means in [0, 1] -> (B, H, W, 256) logits of a Gaussian around each mean, discretised to the
    256 values (softmax over the last dimension gives the probabilities). Up to a per-pixel constant,
    -(v_k - mu)^2 / (2 sigma^2) = (v_k mu - v_k^2 / 2) / sigma^2."""
    v, inv_var = levels(mean.device), torch.as_tensor(sigma, dtype=torch.float32, device=mean.device) ** -2
    return mean.float()[:, 0, :, :, None] * (v * inv_var) - v.pow(2) * (inv_var / 2)


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (B, 1, H, W) -> intensity indices 0..255 (B, H, W)."""
    return x[:, 0].float().mul(LEVELS - 1).round().long().clamp(0, LEVELS - 1)


def _crop(t: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    """t[:, :, rows, cols], where a dimension of size 1 (a per-image bias) is kept as it is."""
    return t[:, :, rows if t.shape[2] > 1 else slice(None), cols if t.shape[3] > 1 else slice(None)]


def _gate(a: torch.Tensor) -> torch.Tensor:
    tanh_part, sigmoid_part = a.chunk(2, dim=1)
    return torch.tanh(tanh_part) * torch.sigmoid(sigmoid_part)


class GatedBlock(nn.Module):
    """One gated layer with a vertical and a horizontal stack; ``first``: type A (excludes the current pixel)."""

    def __init__(self, *, in_channels: int, width: int, kernel: int, first: bool):
        super().__init__()
        self.first, self.half = first, kernel // 2
        rows = self.half if first else self.half + 1  # type A: rows above only; type B: also the current row of V
        self.v_conv = nn.Conv2d(in_channels, 2 * width, (rows, kernel))
        self.h_conv = nn.Conv2d(in_channels, 2 * width, (1, rows))
        self.v_to_h = nn.Conv2d(2 * width, 2 * width, 1)
        self.h_out = nn.Conv2d(width, width, 1)

    def vertical(self, v: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """v (B, C, R, W) -> (pre-activation (B, 2w, R, W), output (B, w, R, W)); row r sees input rows r-half..r-1 (A) or ..r (B)."""
        pre = self.v_conv(F.pad(v, (self.half, self.half, self.half, 0)))
        if self.first:
            pre = pre[:, :, :-1]  # output row r covered rows r-half..r-1
        pre = pre + bias
        return pre, _gate(pre)

    def horizontal(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """h (B, C, R, W) -> (B, w, R, W); column c sees input columns c-half..c-1 (A) or ..c (B), plus ``bias``."""
        pre = self.h_conv(F.pad(h, (self.half, 0, 0, 0)))
        if self.first:
            pre = pre[..., :-1]
        out = self.h_out(_gate(pre + bias))
        return out if self.first else h + out


class PixelCNN(nn.Module):
    """The autoregressive head: images, the mean image and the code [z, s] -> per-pixel logits over 256 values."""

    def __init__(self, *, image_shape: tuple[int, int, int], code_dim: int, width: int, layers: int):
        super().__init__()
        if image_shape[0] != 1:
            raise ValueError(f"the pixelcnn decoder models 1-channel images; got image shape {tuple(image_shape)}")
        if width < 1 or layers < 1:
            raise ValueError(f"pixelcnn width and layers must be at least 1, got {width} and {layers}")
        self.blocks = nn.ModuleList(
            [GatedBlock(in_channels=1, width=width, kernel=FIRST_KERNEL, first=True)]
            + [GatedBlock(in_channels=width, width=width, kernel=KERNEL, first=False) for _ in range(layers - 1)])
        self.code_in = nn.ModuleList(nn.Linear(code_dim, 4 * width) for _ in range(layers))  # v and h biases from [z, s]
        self.mean_in = nn.Conv2d(1, 4 * width, 1)  # first block's v and h biases from the mean image
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 1), nn.ReLU())
        self.out = nn.Linear(width, LEVELS)  # residual logits
        self.scale = nn.Linear(width, 1)  # per-pixel change of log sigma
        self.log_sigma = nn.Parameter(torch.tensor(math.log(INITIAL_SIGMA)))
        # how far up (rows) and left (columns) the last block sees: the crop sampling must recompute
        self.reach = FIRST_KERNEL // 2 + (layers - 1) * (KERNEL // 2)

    @property
    def sigma(self) -> torch.Tensor:
        """The constant part of the base Gaussian's standard deviation."""
        return self.log_sigma.exp()

    def conditioning(self, mean: torch.Tensor, code: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per block (v bias, h bias): (B, 2w, H, W) for the first block, (B, 2w, 1, 1) after it. Once per batch."""
        biases = [layer(code)[:, :, None, None] for layer in self.code_in]  # (B, 4w, 1, 1) each
        biases[0] = biases[0] + self.mean_in(mean)
        return [tuple(b.chunk(2, dim=1)) for b in biases]

    def output(self, h: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """Last block's h (B, w, H, W) and the mean image (B, 1, H, W) -> logits base + residual (B, H, W, 256), float32."""
        features = self.head(h).float().permute(0, 2, 3, 1)  # (B, H, W, w)
        with torch.autocast(mean.device.type, enabled=False):  # base logits reach 1e4: bf16 would round them by tens
            inv_var = torch.exp(-2 * (self.log_sigma + self.scale(features)))  # (B, H, W, 1)
            # base_k = inv_var * (mu * v_k - v_k^2 / 2): two more inputs (inv_var * mu, -inv_var / 2) of one linear layer
            v = levels(mean.device)
            weight = torch.cat([self.out.weight, v[:, None], v.pow(2)[:, None]], dim=1)  # (256, w + 2)
            inputs = torch.cat([features, inv_var * mean.float()[:, 0, :, :, None], -inv_var / 2], dim=-1)  # (B, H, W, w + 2)
            return F.linear(inputs, weight.float(), self.out.bias.float())

    def logits(self, x: torch.Tensor, mean: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: x, mean (B, 1, H, W) in [0, 1], code (B, D) -> logits (B, H, W, 256), float32."""
        v = h = x
        for block, (v_bias, h_bias) in zip(self.blocks, self.conditioning(mean, code)):
            v_pre, v = block.vertical(v, v_bias)
            h = block.horizontal(h, block.v_to_h(v_pre) + h_bias)
        return self.output(h, mean)

    def nll(self, x: torch.Tensor, mean: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of x in nats per pixel, per image: (B,)."""
        logits = self.logits(x, mean, code)
        nll = F.cross_entropy(logits.flatten(0, 2), to_levels(x).flatten(), reduction="none")  # (B H W,)
        return nll.view(x.shape[0], -1).mean(1)

    @torch.no_grad()
    def sample(self, mean: torch.Tensor, code: torch.Tensor, *, generator: torch.Generator | None = None,
               progress: Progress | None = None) -> torch.Tensor:
        """Draw x ~ p(x | mean, code) pixel by pixel: (B, 1, H, W) with values k/255.

        ``progress(pixels done, total)`` is called after each row.
        """
        batch, _, rows, cols = mean.shape
        conditioning = self.conditioning(mean, code)
        x = torch.zeros_like(mean)
        for r in range(rows):
            r0 = max(0, r - self.reach)  # rows above r0 cannot reach row r: the crop computes row r exactly
            v, h_biases = x[:, :, r0:r + 1], []
            for block, (v_bias, h_bias) in zip(self.blocks, conditioning):
                v_pre, v = block.vertical(v, _crop(v_bias, slice(r0, r + 1), slice(None)))
                h_biases.append(block.v_to_h(v_pre[:, :, -1:]) + _crop(h_bias, slice(r, r + 1), slice(None)))  # (B, 2w, 1, W)
            for c in range(cols):
                c0 = max(0, c - self.reach)
                h = x[:, :, r:r + 1, c0:c + 1]
                for block, bias in zip(self.blocks, h_biases):
                    h = block.horizontal(h, bias[..., c0:c + 1])
                logits = self.output(h[..., -1:], mean[:, :, r:r + 1, c:c + 1])  # (B, 1, 1, 256)
                level = torch.multinomial(logits.flatten(1).softmax(1), 1, generator=generator)  # (B, 1)
                x[:, 0, r, c] = level[:, 0].to(x.dtype) / (LEVELS - 1)
            if progress is not None:
                progress((r + 1) * cols, rows * cols)
        return x
