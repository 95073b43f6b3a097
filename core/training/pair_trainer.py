"""What the pair methods (CC-VAE, Mathieu, Szabó) share on top of the engine.

``PairTrainer`` (the base of ``core.training.ccvae``, ``mathieu`` and ``szabo``): building the model with its
pair discriminators from a seed, the discriminator update that is skipped on a batch it already classifies
with accuracy >= ``discriminator_limit``, the collapse watch (``GANCollapse`` when the discriminator has won
every batch for ``collapse_window`` steps) and the final statistics; ``BaselineTrainer``: the baselines' common
iteration shape.
"""

from __future__ import annotations

import torch

from core import losses
from core.data import ImageSet
from core.explore import latent_statistics
from core.models import ModelConfig, PairDiscriminator, ZPairDiscriminator, build_model
from core.models.nets import PatchDiscriminator
from core.training.config import TrainConfig
from core.training.engine import Engine, GANCollapse, Networks, Phase, no_phase, normal_init, seeded

COLLAPSE_ACCURACY = 0.99


# the authors' ``weights_init``: N(0, 0.05) for Conv2d and Linear layers (their ConvTranspose2d layers keep PyTorch's default)
authors_init = normal_init(0.05, (torch.nn.Conv2d, torch.nn.Linear))


def build_networks(config: TrainConfig, data: ImageSet, *, dataset_name: str | None = None) -> Networks:
    """The model (and the discriminators its options need) from ``config.seed``: same seed, same weights."""
    def build() -> Networks:
        model_config = ModelConfig(image_shape=data.image_shape, z_dim=config.z_dim, s_dim=config.s_dim,
                                   method=config.method, dataset=dataset_name or data.name,
                                   class_names=list(data.class_names), factor_names=dict(data.factor_names),
                                   decoder=config.decoder, net=config.net)
        model = build_model(model_config)
        extras = {}
        if config.uses_discriminator:
            extras["discriminator"] = PairDiscriminator(data.image_shape)
        if config.z_adversary_weight:
            extras["z_discriminator"] = ZPairDiscriminator(config.z_dim)
        if config.patch_weight:
            extras["patch_discriminator"] = PatchDiscriminator(data.image_shape[0])
        if config.s_classifier_weight:
            extras["s_head"] = torch.nn.Linear(config.s_dim, len(data.class_names))
        if config.init == "authors":
            model.apply(authors_init)
            if "discriminator" in extras:
                extras["discriminator"].apply(authors_init)
        return Networks(model, extras)

    return seeded(config.seed, build)


class PairTrainer(Engine):
    """The trainer of the pair methods (CC-VAE, Mathieu, Szabó); ``core.training.make_trainer`` picks the class."""

    def __init__(self, config: TrainConfig, data: ImageSet, networks: Networks | None = None, **kw):
        super().__init__(config, data, networks, **kw)
        self.disc_history: list[float] = []  # discriminator accuracy of the last collapse_window steps
        if config.compile:  # in place, so parameter names (and checkpoints) stay those of the plain model
            self.model.encoder.compile()
            self.model.decoder.compile()

    def build(self, config: TrainConfig, data: ImageSet, *, dataset_name: str | None = None) -> Networks:
        return build_networks(config, data, dataset_name=dataset_name)

    @property
    def discriminator(self) -> torch.nn.Module | None:
        return self.extras.get("discriminator")

    @property
    def z_discriminator(self) -> torch.nn.Module | None:
        return self.extras.get("z_discriminator")

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named Adam optimisers; each name is one kind of update of ``step()``, saved with --resume."""
        opts = self.model_optimizers()
        if self.discriminator is not None:
            opts["discriminator"] = self.adam(self.discriminator.parameters(), self.config.gan_beta1)
        if self.z_discriminator is not None:
            opts["z_discriminator"] = self.adam(self.z_discriminator.parameters(), self.config.gan_beta1)
            opts["z_encoder"] = self.adam(self.model.encoder.parameters(), self.config.gan_beta1)
        return opts

    def model_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError


    def discriminator_update(self, real: tuple[torch.Tensor, torch.Tensor],
                             fake: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One discriminator update, skipped when it already classifies the batch with accuracy >=
        ``discriminator_limit`` (so it cannot run away from the generator)."""
        with self.autocast:
            d = losses.discriminator_loss(self.discriminator, real, fake)
        terms = self._update("discriminator", d.total, {"disc_loss": d.total, "disc_accuracy": d.accuracy},
                             apply=False)
        if float(terms["disc_accuracy"]) < self.config.discriminator_limit:  # averaged over ranks: all agree
            self.optimizers["discriminator"].step()
        return terms

    def statistics(self, data: ImageSet) -> dict[str, torch.Tensor]:
        """Per-class mean s and a code bank (``core.explore.latent_statistics``): the app needs no dataset."""
        return latent_statistics(self.model, data.images, data.labels, num_classes=len(data.class_names),
                                 factors={k: (v, len(data.factor_names[k])) for k, v in data.factors.items()})

    def after_step(self, terms: dict[str, torch.Tensor]) -> None:
        if "disc_accuracy" in terms:
            self._watch_discriminator(terms["disc_accuracy"])

    def _watch_discriminator(self, accuracy: torch.Tensor) -> None:
        history = self.disc_history
        history.append(float(accuracy))
        del history[:-self.config.collapse_window]
        if len(history) == self.config.collapse_window and min(history) >= COLLAPSE_ACCURACY:
            raise GANCollapse(
                f"adversarial training collapsed at step {self.step_count}: the discriminator has classified "
                f"at least {COLLAPSE_ACCURACY:.0%} of every batch correctly for {len(history)} steps, so the "
                "generator gets no useful gradient. The last checkpoint is kept; try a lower --lr, "
                "a lower --discriminator-limit or more --generator-times, and resume.")

    def train_meta(self) -> dict:
        return {"disc_history": self.disc_history} if self.discriminator is not None else {}

    def restore_meta(self, meta: dict) -> None:
        if self.discriminator is not None:
            self.disc_history = list(meta.get("disc_history", []))


class BaselineTrainer(PairTrainer):
    """The two baselines' iteration: an autoencoder update on same-label pairs (``autoencoder_loss``), then their
    adversarial updates (``adversarial_updates``). Adam with beta1 = 0.5 everywhere, as their own code."""

    def model_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        beta1 = self.config.gan_beta1
        return {"autoencoder": self.adam(self.model.parameters(), beta1),
                "generator": self.adam(self.model.parameters(), beta1)}

    def autoencoder_loss(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def adversarial_updates(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _step(self, phase: Phase = no_phase) -> dict[str, torch.Tensor]:
        x1, x2 = self.same_label_batch()
        with self.autocast:
            total, terms = self.autoencoder_loss(x1, x2)
        return self._update("autoencoder", total, terms) | self.adversarial_updates()
