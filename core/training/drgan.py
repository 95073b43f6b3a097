"""DR-GAN's iteration (Tran et al., CVPR 2017) on the shared engine: one ``step()`` per iteration.

Each iteration draws a batch of real images with their identity and pose, a random target pose and
noise for each, renders x_hat = G(x, c, n), then updates the discriminator on (real, x_hat detached)
and the generator through the discriminator (``core.models.drgan`` has the losses). The GAN
settings follow DCGAN practice (Radford et al., 2016): Adam lr 2e-4, beta1 0.5, N(0, 0.02) weights;
the discriminator is spectrally normalised and the real images' targets are smoothed (one-sided).

``step()`` returns the loss terms and what the discriminator makes of the batch (the share of real
images it calls real, of generations it calls fake). ``CollapseDetector`` watches these and raises
``TrainingCollapsed`` on a non-finite loss, or when the discriminator has won outright for a whole
window while the generator's loss is huge.
"""

from __future__ import annotations

from collections import deque

import torch

from core.data import ImageSet
from core.models import ModelConfig, build_model
from core.models.drgan import discriminator_loss, generator_loss, judge_accuracy
from core.training.config import DRGANConfig
from core.training.engine import Engine, Networks, Phase, TrainingCollapsed, as_floats, no_phase, normal_init, seeded


class CollapseDetector:
    """Feed it every step's numbers; it raises TrainingCollapsed when training has collapsed.

    Collapse: a non-finite loss at once; or, for ``window`` consecutive steps, the discriminator calling
    every real image real and every generation fake while the generator's mean loss exceeds ``g_loss_limit``.
    """

    def __init__(self, *, window: int, g_loss_limit: float):
        self.window, self.g_loss_limit = window, g_loss_limit
        self.recent: deque[tuple[bool, float]] = deque(maxlen=max(1, window))

    def update(self, step: int, terms: dict[str, float]) -> None:
        bad = [k for k in ("d_loss", "g_loss") if not torch.isfinite(torch.tensor(terms[k]))]
        if bad:
            values = ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
            raise TrainingCollapsed(f"non-finite {' and '.join(bad)} at step {step} ({values}); the last checkpoint "
                                    "is kept. Try a lower --lr, a smaller --batch-size or another --seed.")
        if not self.window:
            return
        self.recent.append((terms["real_as_real"] >= 1.0 and terms["fake_as_fake"] >= 1.0, terms["g_loss"]))
        if len(self.recent) < self.window or not all(won for won, _ in self.recent):
            return
        mean_g = sum(g for _, g in self.recent) / len(self.recent)
        if mean_g > self.g_loss_limit:
            raise TrainingCollapsed(
                f"discriminator collapse at step {step}: for the last {self.window} steps it called 100% of real "
                f"images real and 100% of generations fake, while the generator's loss averaged {mean_g:.1f} "
                f"(limit {self.g_loss_limit:g}); the generator gets no useful gradient. Resume from the last "
                "checkpoint with a lower --lr, more --label-smoothing, a --reconstruction-weight above 0 "
                "(e.g. 1) or another --seed.")


# DCGAN's initialisation (Radford et al., 2016): N(0, 0.02) for (transposed) convolutions and linear layers
dcgan_init = normal_init(0.02, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))


class DRGANTrainer(Engine):
    """The DR-GAN trainer: ``data.labels`` are the identities, ``pose_factor`` the factor of ``data`` to render
    at (``core.data.poses.pose_factor_name`` resolves the command line's choice)."""

    uses_pairs = False

    def __init__(self, config: DRGANConfig, data: ImageSet, networks: Networks | None = None, *, pose_factor: str,
                 dataset_name: str | None = None):
        self.pose_factor = pose_factor
        super().__init__(config, data, networks, dataset_name=dataset_name)
        self.identities = data.labels.to(self.device)
        self.poses = data.factors[self.pose_factor].to(self.device)
        self.detector = CollapseDetector(window=config.collapse_window, g_loss_limit=config.collapse_g_loss)

    def check_data(self, data: ImageSet) -> None:
        if self.pose_factor not in data.factors:
            raise ValueError(f"{data.name} has no pose factor {self.pose_factor!r}; its factors: "
                             f"{', '.join(sorted(data.factors)) or 'none'}")
        if len(data.class_names) < 2:
            raise ValueError(f"{data.name}: DR-GAN needs at least 2 identities, got {data.class_names}")

    def build(self, config: DRGANConfig, data: ImageSet, *, dataset_name: str | None = None) -> Networks:
        def build() -> Networks:
            model_config = ModelConfig(image_shape=data.image_shape, z_dim=config.noise_dim, s_dim=config.feature_dim,
                                       method="drgan", dataset=dataset_name or data.name,
                                       class_names=list(data.class_names),
                                       factor_names={self.pose_factor: list(data.factor_names[self.pose_factor])})
            model = build_model(model_config)
            model.apply(dcgan_init)
            return Networks(model)

        return seeded(config.seed, build)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        beta1 = self.config.beta1
        return {"generator": self.adam(self.model.generator.parameters(), beta1),
                "discriminator": self.adam(self.model.discriminator.parameters(), beta1)}

    def batch_with_poses(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real images (B, C, H, W) in [0, 1], their identities and poses (B,), random target poses (B,)."""
        n, b = self.images.shape[0], self.config.batch_size
        index = torch.randint(n, (b,), generator=self.index_gen)
        target = torch.randint(self.model.num_poses, (b,), generator=self.index_gen).to(self.device)
        x = self.batch(index)
        index = index.to(self.device)
        return x, self.identities[index], self.poses[index], target

    def _step(self, phase: Phase = no_phase) -> dict[str, torch.Tensor]:
        """One iteration (D update, then G update); returns the loss terms and D's accuracies."""
        model, c = self.model, self.config
        x, identity, pose, target = self.batch_with_poses()
        noise = model.sample_noise(x.shape[0], self.noise_gen)
        f = model.features(x)
        fake = model.render(f, target, noise)

        real_judgement = model.judge(x)
        fake_judgement = model.judge(fake.detach())
        d = discriminator_loss(real_judgement, fake_judgement, identity=identity, pose=pose,
                               label_smoothing=c.label_smoothing)
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        d.total.backward()
        self.optimizers["discriminator"].step()

        rec = None
        if c.reconstruction_weight > 0:
            rec = c.reconstruction_weight * (model.render(f, pose, noise) - x).abs().mean()
        fooled = model.judge(fake)
        g = generator_loss(fooled, identity=identity, target_pose=target, reconstruction=rec)
        self.optimizers["generator"].zero_grad(set_to_none=True)
        g.total.backward()
        self.optimizers["generator"].step()
        self.optimizers["discriminator"].zero_grad(set_to_none=True)  # G's backward went through D; those gradients are not used

        acc = judge_accuracy(real_judgement, fake_judgement, identity=identity, pose=pose, target_pose=target)
        values = torch.stack([d.total, d.real_identity, d.real_pose, d.fake, g.total, g.identity, g.pose,
                              g.reconstruction, *acc.values()]).detach().float()
        names = ["d_loss", "d_real_identity", "d_real_pose", "d_fake", "g_loss", "g_identity", "g_pose",
                 "g_reconstruction", *acc]
        return dict(zip(names, values))

    def statistics(self, data: ImageSet) -> dict[str, torch.Tensor]:
        return self.feature_bank()

    def after_step(self, terms: dict[str, torch.Tensor]) -> None:
        self.detector.update(self.step_count, as_floats(terms))

    @torch.no_grad()
    def feature_bank(self, *, bank_size: int = 500, seed: int = 0) -> dict[str, torch.Tensor]:
        """Features of up to ``bank_size`` training images drawn evenly over identities, with their identity
        and pose: what the app renders its sample images from (the checkpoint holds no pixels)."""
        g = torch.Generator().manual_seed(seed)
        labels = self.identities.cpu()
        per_class = max(1, bank_size // self.model.num_identities)
        index = torch.cat([idx[torch.randperm(idx.numel(), generator=g)[:per_class]]
                           for idx in (torch.nonzero(labels == k).flatten() for k in range(self.model.num_identities))])
        x = self.images[index.to(self.device)].float().div_(255)
        f = torch.cat([self.model.features(part) for part in x.split(256)])
        return {"bank_f": f.cpu(), "bank_labels": labels[index], "bank_pose": self.poses.cpu()[index]}
