"""DR-GAN training as a small object: one ``step()`` per iteration, resumable state, collapse detection.

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

import json
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.checkpoint import CheckpointError, read_tensors, save_checkpoint
from core.data import ImageSet
from core.models import ModelConfig, build_model
from core.models.drgan import discriminator_loss, generator_loss, judge_accuracy
from core.training import config_from_dict, pick_device

TRAIN_STATE = "train_state.safetensors"
TRAIN_STATE_JSON = "train_state.json"


@dataclass
class DRGANConfig:
    # data
    dataset: str = "yaleb"  # yaleb | sprites | multipie | folder (MultiPIE layout: <identity>/<pose>/<expression>/<image>)
    data_dir: str = ""  # folder with the data; empty: $CCVAE_DATA_DIR
    pose_factor: str = ""  # the factor to render at; empty: yaleb lighting (3 light directions), sprites view, multipie pose
    image_size: int = 64  # multipie/folder: images are resized to this square
    channels: int = 1  # multipie/folder: 1 grayscale, 3 RGB
    # model (the paper: f 320, noise 50)
    feature_dim: int = 320  # identity feature f
    noise_dim: int = 50
    # optimisation
    steps: int = 5000
    batch_size: int = 32
    lr: float = 2e-4  # Adam, both networks
    beta1: float = 0.5
    beta2: float = 0.999
    label_smoothing: float = 0.1  # on the real images' targets only
    reconstruction_weight: float = 0.0  # L1 between x and G(x, its own pose, n); 0 is the paper
    # collapse detection
    collapse_window: int = 300  # steps the discriminator must win outright for a collapse; 0: never check
    collapse_g_loss: float = 25.0  # ...while the generator's mean loss over the window is above this
    # run
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default
    log_every: int = 50
    image_every: int = 500
    checkpoint_every: int = 500

    def validate(self) -> None:
        for name in ("feature_dim", "noise_dim", "steps", "batch_size", "log_every", "image_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.reconstruction_weight < 0 or self.collapse_window < 0:
            raise ValueError("reconstruction_weight and collapse_window must not be negative")

    @classmethod
    def from_dict(cls, data: dict) -> DRGANConfig:
        return config_from_dict(cls, data, what="DR-GAN training options")


class TrainingCollapsed(RuntimeError):
    """The GAN stopped learning: a loss went NaN/inf, or the discriminator won outright. The message says
    which, at what step, and what to try."""


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


def dcgan_init(module: torch.nn.Module) -> None:
    """N(0, 0.02) weights and zero biases for (transposed) convolutions and linear layers (DCGAN)."""
    if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
        weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
        torch.nn.init.normal_(weight, 0.0, 0.02)
        torch.nn.init.zeros_(module.bias)


class DRGANTrainer:
    """Owns the model, the two optimisers, the data and the random generators."""

    def __init__(self, config: DRGANConfig, data: ImageSet, *, pose_factor: str, dataset_name: str | None = None):
        """``pose_factor``: the factor of ``data`` to render at (``core.data.poses.pose_factor_name`` resolves
        the command line's choice); ``data.labels`` are the identities."""
        config.validate()
        self.config = config
        self.device = pick_device(config.device)
        if pose_factor not in data.factors:
            raise ValueError(f"{data.name} has no pose factor {pose_factor!r}; its factors: "
                             f"{', '.join(sorted(data.factors)) or 'none'}")
        self.pose_factor = pose_factor
        if len(data.class_names) < 2:
            raise ValueError(f"{data.name}: DR-GAN needs at least 2 identities, got {data.class_names}")
        torch.manual_seed(config.seed)
        model_config = ModelConfig(image_shape=data.image_shape, z_dim=config.noise_dim, s_dim=config.feature_dim,
                                   method="drgan", dataset=dataset_name or data.name, class_names=list(data.class_names),
                                   factor_names={self.pose_factor: list(data.factor_names[self.pose_factor])})
        self.model = build_model(model_config)
        self.model.apply(dcgan_init)
        self.model = self.model.to(self.device).train()
        self.images = data.images.to(self.device)  # uint8, converted per batch
        self.identities = data.labels.to(self.device)
        self.poses = data.factors[self.pose_factor].to(self.device)
        self.index_gen = torch.Generator().manual_seed(config.seed)
        self.noise_gen = torch.Generator(self.device).manual_seed(config.seed + 1)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.model.generator.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.model.discriminator.parameters(), lr=config.lr, betas=betas)
        self.detector = CollapseDetector(window=config.collapse_window, g_loss_limit=config.collapse_g_loss)
        self.train_seconds = 0.0  # wall time of all runs so far, kept across --resume

    @property
    def step_count(self) -> int:
        return self.model.config.training_steps

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real images (B, C, H, W) in [0, 1], their identities and poses (B,), random target poses (B,)."""
        n, b = self.images.shape[0], self.config.batch_size
        index = torch.randint(n, (b,), generator=self.index_gen).to(self.device)
        target = torch.randint(self.model.num_poses, (b,), generator=self.index_gen).to(self.device)
        return self.images[index].float().div_(255), self.identities[index], self.poses[index], target

    def step(self) -> dict[str, float]:
        """One iteration (D update, then G update); returns the loss terms and D's accuracies as floats."""
        model, c = self.model, self.config
        x, identity, pose, target = self.batch()
        noise = model.sample_noise(x.shape[0], self.noise_gen)
        f = model.features(x)
        fake = model.render(f, target, noise)

        real_judgement = model.judge(x)
        fake_judgement = model.judge(fake.detach())
        d = discriminator_loss(real_judgement, fake_judgement, identity=identity, pose=pose,
                               label_smoothing=c.label_smoothing)
        self.opt_d.zero_grad(set_to_none=True)
        d.total.backward()
        self.opt_d.step()

        rec = None
        if c.reconstruction_weight > 0:
            rec = c.reconstruction_weight * (model.render(f, pose, noise) - x).abs().mean()
        fooled = model.judge(fake)
        g = generator_loss(fooled, identity=identity, target_pose=target, reconstruction=rec)
        self.opt_g.zero_grad(set_to_none=True)
        g.total.backward()
        self.opt_g.step()
        self.opt_d.zero_grad(set_to_none=True)  # G's backward went through D; those gradients are not used

        acc = judge_accuracy(real_judgement, fake_judgement, identity=identity, pose=pose, target_pose=target)
        values = torch.stack([d.total, d.real_identity, d.real_pose, d.fake, g.total, g.identity, g.pose,
                              g.reconstruction, *acc.values()]).detach().float().cpu().tolist()
        names = ["d_loss", "d_real_identity", "d_real_pose", "d_fake", "g_loss", "g_identity", "g_pose",
                 "g_reconstruction", *acc]
        terms = dict(zip(names, values))
        self.model.config.training_steps += 1
        self.detector.update(self.step_count, terms)
        return terms

    # ------------------------------------------------------------------------------- checkpoints

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

    def save(self, path: str | Path, *, metrics: dict | None = None, latents: dict | None = None) -> Path:
        """A checkpoint folder that ``core.load_model`` opens (generator and discriminator) and ``resume`` continues."""
        tensors = {"rng/torch": torch.get_rng_state(), "rng/index": self.index_gen.get_state(),
                   "rng/noise": self.noise_gen.get_state().cpu()}
        meta = {"step": self.step_count, "train_seconds": self.train_seconds, "optimizers": {}}
        for name, opt in (("generator", self.opt_g), ("discriminator", self.opt_d)):
            sd = opt.state_dict()
            meta["optimizers"][name] = {"param_groups": sd["param_groups"],
                                        "state": {str(i): sorted(st) for i, st in sd["state"].items()}}
            for i, st in sd["state"].items():
                for key, value in st.items():
                    tensors[f"{name}/{i}/{key}"] = torch.as_tensor(value).detach().cpu()

        def extra(folder: Path) -> None:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / TRAIN_STATE))
            (folder / TRAIN_STATE_JSON).write_text(json.dumps(meta, indent=1))

        return save_checkpoint(path, self.model, train_config=asdict(self.config), metrics=metrics,
                               latents=latents, extra=extra)

    def resume(self, path: str | Path) -> None:
        """Restore weights, optimiser moments, step count and random state from a checkpoint folder."""
        from core.checkpoint import load_model

        path = Path(path)
        if not (path / TRAIN_STATE).is_file():
            raise CheckpointError(f"{path} has no {TRAIN_STATE}: it cannot be resumed")
        loaded = load_model(path, device=self.device)
        mine, theirs = self.model.config, loaded.config
        for name in ("method", "image_shape", "z_dim", "s_dim", "class_names", "factor_names"):
            if getattr(theirs, name) != getattr(mine, name):
                raise CheckpointError(f"{path} has {name} {getattr(theirs, name)!r}; this run has {getattr(mine, name)!r}")
        self.model.load_state_dict(loaded.state_dict())
        self.model.config.training_steps = theirs.training_steps
        tensors = read_tensors(path / TRAIN_STATE)
        meta = json.loads((path / TRAIN_STATE_JSON).read_text())
        for name, opt in (("generator", self.opt_g), ("discriminator", self.opt_d)):
            m = meta["optimizers"][name]
            state = {int(i): {k: tensors[f"{name}/{i}/{k}"] for k in keys} for i, keys in m["state"].items()}
            opt.load_state_dict({"state": state, "param_groups": m["param_groups"]})
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        torch.set_rng_state(tensors["rng/torch"])
        self.index_gen.set_state(tensors["rng/index"])
        self.noise_gen.set_state(tensors["rng/noise"])
        self.model.train()
