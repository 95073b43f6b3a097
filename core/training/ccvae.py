"""The CC-VAE's iteration, with the report's variants as switches of ``TrainConfig``.

Each iteration as the authors' algorithm (report Alg. 1): a forward-cycle update of encoder and decoder
on same-label pairs, then a reverse-cycle update of the encoder alone (its own Adam) on different-label
pairs. Variants: ``reverse_distance`` (L1 or Wasserstein), ``reverse_reconstruction_weight`` (variant a),
``adversarial`` (variant b: after the two cycles, a pair discriminator judges whether the reverse cycle's
generation Dec(z_i, s(x1)) belongs with x1; its generator update trains the decoder only, or encoder and
decoder), the pair adversary on z, the z-independence term, the s pair contrast and the KL warm-up.

Group-supervised faces (``s_source="group"``, issue 22): the forward cycle decodes each photo from its own z
(or, with ``z_dropout``, a prior sample) and the mean s of ``group_size`` other photos of its label
(``losses.group_cycle_loss``), with optional terms that make s the only road to the label: a linear head on s
(``s_classifier_weight``) and a frozen identity classifier that must name a on Dec(z_b, s_a) (``identity_weight``).
Both forward cycles hand what they computed to ``core.training.objective.forward_objective``, the one list of
terms (weights, sum and names); the trainer runs backward and steps the optimiser (``descend``).
With ``monitor_classifier`` (a classifier from another seed, never in a loss) the logged values include the swap
test in its embedding (``core.evaluation.swaps.swap_test``).
"""

from __future__ import annotations

import torch

from core import losses
from core.checkpoint import load_classifier
from core.data import ImageSet
from core.explore import swap_effects
from core.training import objective
from core.training.engine import DegenerateSplit, Phase, no_phase
from core.training.pair_trainer import PairTrainer


class CCVAETrainer(PairTrainer):
    """One CC-VAE iteration per ``step()``: forward cycle, reverse cycle, then the optional adversaries."""

    def __init__(self, config, data: ImageSet, networks=None, **kw):
        super().__init__(config, data, networks, **kw)
        self.labels = data.labels.to(self.device)
        self.identity_classifier = self._classifier(config.identity_classifier, data)
        self.monitor_classifier = self._classifier(config.monitor_classifier, data)
        if self.monitor_classifier is not None:  # 64 photos of 64 people, for the logged swap test
            from core.evaluation.swaps import one_per_class

            index = one_per_class(data.labels, 64)
            self.swap_probe = data.images[index], data.labels[index]

    def _classifier(self, folder: str, data: ImageSet) -> torch.nn.Module | None:
        return load_classifier(folder, device=self.device, class_names=data.class_names) if folder else None

    @property
    def s_head(self) -> torch.nn.Module | None:
        return self.extras.get("s_head")

    @property
    def patch_discriminator(self) -> torch.nn.Module | None:
        return self.extras.get("patch_discriminator")

    @property
    def patch_active(self) -> bool:
        return self.patch_discriminator is not None and self.step_count >= self.config.patch_start

    def decoder_last_layer(self) -> torch.nn.Parameter:
        """The weight of the decoder's last convolution: where the adaptive weight compares gradient norms."""
        convs = [m for m in self.model.decoder.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        return convs[-1].weight

    def forward_parameters(self) -> list[torch.nn.Parameter]:
        """What the forward cycle trains: the model, and the head on s when there is one."""
        return [*self.model.parameters(), *(self.s_head.parameters() if self.s_head is not None else ())]

    def model_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c, model = self.config, self.model
        opts = {"forward": self.adam(self.forward_parameters(), c.beta1),
                "reverse": self.adam(model.encoder.parameters(), c.beta1)}
        if self.patch_discriminator is not None:
            opts["patch_discriminator"] = torch.optim.Adam(self.patch_discriminator.parameters(), lr=c.lr,
                                                           betas=(c.gan_beta1, 0.9))
        if c.adversarial != "none":
            trained = model.decoder.parameters() if c.adversarial == "decoder" else model.parameters()
            opts["adversarial"] = self.adam(trained, c.gan_beta1)
        return opts

    @property
    def opt_forward(self) -> torch.optim.Optimizer:
        return self.optimizers["forward"]

    @property
    def opt_reverse(self) -> torch.optim.Optimizer:
        return self.optimizers["reverse"]

    def kl_weight_at(self, step: int) -> float:
        """The KL weight of step ``step`` (0-based): rising linearly over ``kl_warmup`` steps, then constant."""
        c = self.config
        if not c.kl_warmup:
            return c.kl_weight
        progress = min(1.0, (step + 1) / c.kl_warmup)
        return c.kl_start + (c.kl_weight - c.kl_start) * progress

    def _step(self, phase: Phase = no_phase) -> dict[str, torch.Tensor]:
        with phase("data"):
            *same, labels = self.labelled_pairs()  # drawn in the group recipe too (its draws stay those it was run with)
            contrast = self.different_label_batch() if self.config.s_contrast_weight else None
        with phase("forward"):
            terms = self.forward_cycle(*same, different=contrast, labels=labels) if self.config.s_source == "pair" \
                else self.group_cycle(different=contrast)
        with phase("optimiser"):
            self.opt_forward.step()
        with phase("data"):
            different = self.different_label_batch()
        if self.config.reverse_cycle:
            with phase("reverse"):
                terms |= self.reverse_cycle(*different)
            with phase("optimiser"):
                self.opt_reverse.step()
        if self.config.adversarial != "none":
            with phase("adversarial"):
                terms |= self.adversarial_reverse_cycle()
        if self.z_discriminator is not None:
            with phase("adversarial"):
                terms |= self.z_adversary(tuple(same), different)
        return terms

    def labelled_pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``same_label_batch`` (the same draws) with the pairs' label."""
        a, b = self.sampler.same_pairs(self.config.batch_size, self.index_gen)
        return self.batch(a), self.batch(b), self.labels[a.to(self.device)]

    def parts(self) -> objective.Parts:
        """The networks beside the model that this step's terms use."""
        patch = self.patch_discriminator if self.patch_active else None
        return objective.Parts(self.s_head, self.identity_classifier, patch,
                               self.decoder_last_layer() if patch is not None else None)

    def descend(self, cycle: objective.Cycle,
                different: tuple[torch.Tensor, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        """The forward objective of ``cycle`` (``core.training.objective``), its gradients in the model and the head
        on s, averaged over ranks; returns its named terms."""
        o = objective.forward_objective(self.model, cycle, self.config, self.parts(),
                                        kl_weight=self.kl_weight_at(self.step_count), autocast=self.autocast,
                                        different=different, generator=self.noise_gen)
        self.opt_forward.zero_grad(set_to_none=True)
        o.total.backward()
        return self._after_backward(self.forward_parameters(), o.total, o.terms)

    def forward_cycle(self, x1: torch.Tensor, x2: torch.Tensor,
                      different: tuple[torch.Tensor, torch.Tensor] | None = None,
                      labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The paper's forward cycle on same-label pairs (labels ``labels``, for the terms that need them) and its
        gradients; ``different`` (a different-label pair batch) feeds the s contrast."""
        with self.autocast:
            fwd = losses.forward_cycle_loss(self.model, x1, x2, generator=self.noise_gen)
        return self.descend(objective.Cycle.of_pairs(fwd, x1, x2, labels), different)

    def group_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(anchors (B, C, H, W), their groups (K, B, C, H, W), anchor labels (B,)): K other photos of each
        anchor's label (K = group_size; none for s_source self)."""
        anchors = self.sampler.anchors(self.config.batch_size, self.index_gen)
        k = self.config.group_size if self.config.s_source == "group" else 0
        group = [self.batch(self.sampler.same(anchors, self.index_gen)) for _ in range(k)]
        x = self.batch(anchors)
        return x, torch.stack(group) if group else x.new_zeros((0, *x.shape)), self.labels[anchors.to(self.device)]

    def group_cycle(self, different: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The group forward cycle (``losses.group_cycle_loss``) and its gradients; the patch discriminator's
        update follows when its term is active."""
        x, group, labels = self.group_batch()
        with self.autocast:
            g = losses.group_cycle_loss(self.model, x, group, z_dropout=self.config.z_dropout, generator=self.noise_gen)
        terms = self.descend(objective.Cycle.of_group(g, x, group, labels), different)
        if self.patch_active:
            terms |= self.patch_update(x, g.decoded)
        return terms

    def patch_update(self, real: torch.Tensor, decoded: torch.Tensor) -> dict[str, torch.Tensor]:
        """One hinge update of the patch discriminator: this step's photos against their decoded images."""
        with self.autocast:
            d = losses.patch_discriminator_loss(self.patch_discriminator, real, decoded)
        return self._update("patch_discriminator", d.total,
                            {"patch_disc_loss": d.total, "patch_real": d.real, "patch_fake": d.fake})

    def reverse_cycle(self, x1: torch.Tensor, x2: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reverse-cycle loss on different-label pairs and its gradients (encoder only), averaged over ranks."""
        c = self.config
        with self.autocast:
            rev = losses.reverse_cycle_loss(self.model, x1, x2, weight=c.reverse_weight, distance=c.reverse_distance,
                                            reconstruction_weight=c.reverse_reconstruction_weight,
                                            generator=self.noise_gen)
        self.opt_reverse.zero_grad(set_to_none=True)
        rev.total.backward()
        terms = {"reverse_cycle": rev.distance}
        if c.reverse_reconstruction_weight:
            terms["reverse_reconstruction"] = rev.reconstruction
        return self._after_backward(self.model.encoder.parameters(), rev.total, terms)

    def z_adversary(self, same: tuple[torch.Tensor, torch.Tensor],
                    different: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The pair adversary on z means, on this step's same-label and different-label pairs: one update of
        the z discriminator, then one of the encoder towards leaving it at chance."""
        batch = same[0].shape[0]
        with self.autocast:
            mu = self.model.encode(torch.cat([*same, *different])).z_mu
        pairs = (mu[:batch], mu[batch:2 * batch]), (mu[2 * batch:3 * batch], mu[3 * batch:])
        for _ in range(self.config.z_adversary_steps):
            with self.autocast:
                d = losses.z_discriminator_loss(self.z_discriminator, *pairs)
            terms = self._update("z_discriminator", d.total, {"z_disc_loss": d.total, "z_disc_accuracy": d.accuracy})
        with self.autocast:
            confusion = losses.z_confusion_loss(self.z_discriminator, *pairs)
        return terms | self._update("z_encoder", self.config.z_adversary_weight * confusion,
                                    {"z_confusion": confusion})

    def adversarial_reverse_cycle(self) -> dict[str, torch.Tensor]:
        """Variant (b): the reverse cycle's generation Dec(z_i, s(x1)) should pass as x1's class.

        The discriminator sees real same-label pairs (x1, x1b) and fake pairs (x1, Dec(z_i, s(x1)));
        the generator update (decoder only, or encoder and decoder) then asks it to call them real.
        """
        x1, x1b = self.same_label_batch()
        z = torch.randn(x1.shape[0], self.config.z_dim, generator=self.noise_gen, device=self.device)
        with self.autocast:
            fake = self.model.decode(z, self.model.encode(x1).s)
        terms = self.discriminator_update((x1, x1b), (x1, fake))
        with self.autocast:
            fake = self.model.decode(z, self.model.encode(x1).s)
            loss = self.config.adversarial_weight * losses.generator_loss(self.discriminator, x1, fake)
        terms |= self._update("adversarial", loss, {"generator": loss})
        return terms

    def split_effects(self, images: torch.Tensor) -> dict[str, float]:
        """``core.explore.swap_effects`` of the model on ``images``; raises ``DegenerateSplit`` when s has stopped
        mattering (``split_floor``), so a run does not spend hours on a decoder that ignores s."""
        effects = swap_effects(self.model, images[:64])
        c = self.config
        if c.split_floor and self.step_count >= c.split_check_after and \
                effects["s_effect"] < c.split_floor * effects["z_effect"]:
            raise DegenerateSplit(
                f"degenerate split at step {self.step_count}: swapping s changes the decoded image by "
                f"{effects['s_effect']:.4f} per pixel, swapping z by {effects['z_effect']:.4f}; the decoder ignores s "
                "and z carries the label. The last checkpoint is kept; try a larger --kl-weight, a "
                "--z-adversary-weight, or a smaller --z-dim.")
        return effects

    def log_values(self, terms: dict[str, torch.Tensor], probe: torch.Tensor | None = None) -> dict[str, float]:
        values = super().log_values(terms)
        if probe is not None:
            values |= self.split_effects(probe)
            if self.monitor_classifier is not None:
                from core.evaluation.swaps import swap_test

                values |= swap_test(self.model, self.monitor_classifier, *self.swap_probe)
        return values

