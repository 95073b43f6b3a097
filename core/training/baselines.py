"""The pair baselines' iterations, with the schedules of the authors' reimplementations.

- ``mathieu`` (Mathieu et al. 2016): an autoencoder update (reconstruction, same-label swap reconstruction,
  KL), then ``generator_times`` generator updates (swapped-s and prior-z generations judged as real pairs,
  KL), then ``discriminator_times`` discriminator updates.
- ``szabo`` (Szabó et al. 2017): a swap-reconstruction update, ``discriminator_times`` discriminator
  updates, then ``generator_times`` generator updates.

Adam with beta1 = ``gan_beta1`` (0.5) for every optimiser, as their code; the discriminator update and the
collapse watch are ``PairTrainer``'s, shared with the CC-VAE's variant (b).
"""

from __future__ import annotations

import torch

from core import losses
from core.models import reparameterize
from core.training.ccvae import PairTrainer
from core.training.engine import Phase, no_phase


class BaselineTrainer(PairTrainer):
    def model_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The baselines' own code uses beta1 = 0.5 everywhere."""
        beta1 = self.config.gan_beta1
        return {"autoencoder": self.adam(self.model.parameters(), beta1),
                "generator": self.adam(self.model.parameters(), beta1)}


class MathieuTrainer(BaselineTrainer):
    def _step(self, phase: Phase = no_phase) -> dict[str, torch.Tensor]:
        x1, x2 = self.same_label_batch()
        with self.autocast:
            ae = losses.mathieu_autoencoder_loss(self.model, x1, x2, generator=self.noise_gen)
        terms = self._update("autoencoder", ae.total, {"reconstruction": ae.reconstruction, "kl": ae.kl})
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


class SzaboTrainer(BaselineTrainer):
    def _step(self, phase: Phase = no_phase) -> dict[str, torch.Tensor]:
        x1, x2 = self.same_label_batch()
        with self.autocast:
            ae = losses.szabo_autoencoder_loss(self.model, x1, x2)
        terms = self._update("autoencoder", ae.total, {"reconstruction": ae.reconstruction})
        for _ in range(self.config.discriminator_times):
            (x1, x2), x3 = self.same_label_batch(), self.random_batch()
            with torch.no_grad(), self.autocast:
                fake = self.model.decode(self.model.encode(x3).z_mu, self.model.encode(x1).s)
            terms |= self.discriminator_update((x1, x2), (x1, fake))
        for _ in range(self.config.generator_times):
            x1, x3 = self.random_batch(), self.random_batch()
            with self.autocast:
                fake = self.model.decode(self.model.encode(x3).z_mu, self.model.encode(x1).s)
                gen = losses.generator_loss(self.discriminator, x1, fake)
            terms |= self._update("generator", gen, {"generator": gen})
        return terms
