"""Szabó et al. (2017)'s iteration, with the schedule of the authors' reimplementation: a swap-reconstruction
update, ``discriminator_times`` discriminator updates, then ``generator_times`` generator updates. Adam with
beta1 = ``gan_beta1`` (0.5) for every optimiser, as their code.
"""

from __future__ import annotations

import torch

from core import losses
from core.training.pair_trainer import BaselineTrainer


class SzaboTrainer(BaselineTrainer):
    def autoencoder_loss(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Swap reconstruction: x1 from z(x1) and s(x2)."""
        ae = losses.szabo_autoencoder_loss(self.model, x1, x2)
        return ae.total, {"reconstruction": ae.reconstruction}

    def adversarial_updates(self) -> dict[str, torch.Tensor]:
        """Discriminator updates, then generator updates (swapped generations should pass as real pairs)."""
        terms = {}
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
