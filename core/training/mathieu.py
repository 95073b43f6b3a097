"""Mathieu et al. (2016)'s iteration, with the schedule of the authors' reimplementation: an autoencoder update
(reconstruction, same-label swap reconstruction, KL), then ``generator_times`` generator updates (swapped-s and
prior-z generations judged as real pairs, KL), then ``discriminator_times`` discriminator updates. Adam with
beta1 = ``gan_beta1`` (0.5) for every optimiser, as their code.
"""

from __future__ import annotations

import torch

from core import losses
from core.models import reparameterize
from core.training.pair_trainer import BaselineTrainer


class MathieuTrainer(BaselineTrainer):
    def autoencoder_loss(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reconstruction, same-label swap reconstruction and KL."""
        ae = losses.mathieu_autoencoder_loss(self.model, x1, x2, generator=self.noise_gen)
        return ae.total, {"reconstruction": ae.reconstruction, "kl": ae.kl}

    def adversarial_updates(self) -> dict[str, torch.Tensor]:
        """Generator updates (swapped-s and prior-z generations should pass as real pairs), then discriminator ones."""
        terms = {}
        for _ in range(self.config.generator_times):
            x1, x3 = self.random_batch(), self.random_batch()
            with self.autocast:
                enc = self.model.encode(torch.cat([x1, x3]))
                batch = x1.shape[0]
                z1 = reparameterize(enc.z_mu[:batch], enc.z_logvar[:batch], self.noise_gen)
                z_prior = torch.randn(z1.shape, generator=self.noise_gen, device=self.device)
                s3 = enc.s[batch:]
                fakes = self.model.decode(torch.cat([z1, z_prior]), torch.cat([s3, s3]))  # both should pass as x3's class
                kl = losses.kl_to_standard_normal(enc.z_mu[:batch].float(), enc.z_logvar[:batch].float()).sum() \
                    / (batch * x1[0].numel())
                gen = 2 * losses.generator_loss(self.discriminator, torch.cat([x3, x3]), fakes)
            terms |= self._update("generator", gen + kl, {"generator": gen})
        for _ in range(self.config.discriminator_times):
            x1 = self.random_batch()
            x2, x3 = self.same_label_batch()
            with torch.no_grad(), self.autocast:
                fake = self.model.decode(self.model.encode(x1).z_mu, self.model.encode(x3).s)
            terms |= self.discriminator_update((x2, x3), (x3, fake))
        return terms
