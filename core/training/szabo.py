"""Szabó et al. (2017)'s iteration, with the schedule of the authors' reimplementation: a swap-reconstruction
update, ``discriminator_times`` discriminator updates, then ``generator_times`` generator updates. Adam with
beta1 = ``gan_beta1`` (0.5) for every optimiser, as their code.
"""

from __future__ import annotations

import torch

from core import losses
from core.training.engine import Phase, no_phase
from core.training.pairs import PairTrainer


class SzaboTrainer(PairTrainer):
    model_optimizers = PairTrainer.baseline_optimizers

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
