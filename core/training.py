"""The CC-VAE training loop as a small object: one ``step()`` per iteration, resumable state.

Each iteration follows the authors' algorithm (report Alg. 1): a forward-cycle update of encoder
and decoder on same-label pairs, then a reverse-cycle update of the encoder alone (its own Adam)
on different-label pairs. Pairs are drawn by index from images held in memory (on the GPU when
training there), so no data loader or per-sample Python work sits in the loop.
The command line (``python -m train``) wraps this with progress bars, logs and checkpoints.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from core import losses
from core.checkpoint import CheckpointError, read_tensors, save_checkpoint
from core.data import ImageSet
from core.models import ModelConfig, build_model
from core.pairs import PairSampler

TRAIN_STATE = "train_state.safetensors"
TRAIN_STATE_JSON = "train_state.json"


@dataclass
class TrainConfig:
    # data
    dataset: str = "mnist"  # mnist | yaleb | orl | celeba | utkface | multipie | folder (one sub-folder per class)
    data_dir: str = ""  # folder with the data; empty: $CCVAE_DATA_DIR
    image_size: int = 64  # folder datasets: images are resized to this square (28 or 64)
    channels: int = 1  # folder datasets: 1 grayscale, 3 RGB
    download: bool = False  # MNIST: let torchvision download it (needs internet)
    factor: str = ""  # the labelled factor where there are several (utkface: age|gender|race; multipie: identity|pose|expression)
    # model
    z_dim: int = 16  # unspecified factors
    s_dim: int = 16  # specified factors
    init: str = "authors"  # authors: N(0, 0.05) conv/linear weights, zero biases (their code) | default: PyTorch's
    # optimisation (defaults: the authors' MNIST setting)
    steps: int = 94_000  # iterations; the authors ran 100 epochs of 937 batches
    batch_size: int = 64  # pairs per iteration
    lr: float = 1e-4  # Adam learning rate, both optimisers
    beta1: float = 0.9
    beta2: float = 0.999
    lr_drop_at: float = 0.8  # fraction of steps after which lr is multiplied by 0.1 (authors: epoch 80/100)
    reconstruction_weight: float = losses.RECONSTRUCTION_WEIGHT
    kl_weight: float = losses.KL_WEIGHT
    reverse_weight: float = losses.REVERSE_WEIGHT
    # run
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default
    log_every: int = 100  # steps between scalar logs
    image_every: int = 2000  # steps between swap-grid images in TensorBoard
    checkpoint_every: int = 1000  # steps between checkpoints

    def validate(self) -> None:
        for name in ("z_dim", "s_dim", "steps", "batch_size", "log_every", "image_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.lr_drop_at <= 1.0:
            raise ValueError(f"lr_drop_at is a fraction of steps in [0, 1], got {self.lr_drop_at}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; valid: {', '.join(INITS)}")

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training options {unknown}")
        return cls(**data)


INITS = ("default", "authors")


def authors_init(module: torch.nn.Module) -> None:
    """The authors' ``weights_init``: N(0, 0.05) weights and zero biases for Conv2d and Linear layers
    (their ConvTranspose2d layers keep PyTorch's default)."""
    if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
        torch.nn.init.normal_(module.weight, 0.0, 0.05)
        torch.nn.init.zeros_(module.bias)


class NonFiniteLoss(RuntimeError):
    """Raised when a loss becomes NaN or inf; the message names the step and every loss term."""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda requested but no CUDA GPU is available")
    return device


class Trainer:
    """Owns the model, both optimisers, the pair sampler and the random generators."""

    def __init__(self, config: TrainConfig, data: ImageSet, *, dataset_name: str | None = None):
        config.validate()
        self.config = config
        self.device = pick_device(config.device)
        torch.manual_seed(config.seed)
        model_config = ModelConfig(image_shape=data.image_shape, z_dim=config.z_dim, s_dim=config.s_dim,
                                   dataset=dataset_name or data.name, class_names=list(data.class_names),
                                   factor_names=dict(data.factor_names))
        self.model = build_model(model_config)
        if config.init == "authors":
            self.model.apply(authors_init)
        self.model = self.model.to(self.device).train()
        self.images = data.images.to(self.device)  # uint8, converted per batch
        self.sampler = PairSampler(data.labels)  # refuses labels with a single image
        if self.sampler.num_groups < 2:
            raise ValueError(f"{data.name}: all images have the same label; the reverse cycle needs at least 2 labels")
        self.index_gen = torch.Generator().manual_seed(config.seed)
        self.noise_gen = torch.Generator(self.device).manual_seed(config.seed + 1)
        betas = (config.beta1, config.beta2)
        self.opt_forward = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=betas)
        self.opt_reverse = torch.optim.Adam(self.model.encoder.parameters(), lr=config.lr, betas=betas)
        self.train_seconds = 0.0  # wall time of all runs so far, kept across --resume
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else nullcontext())

    @property
    def step_count(self) -> int:
        return self.model.config.training_steps

    def learning_rate(self, step: int) -> float:
        drop = step >= self.config.lr_drop_at * self.config.steps
        return self.config.lr * (0.1 if drop else 1.0)

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        return self.images[index.to(self.device)].float().div_(255)

    def step(self) -> dict[str, torch.Tensor]:
        """One iteration; returns the unweighted loss terms as 0-dim tensors."""
        c, model = self.config, self.model
        lr = self.learning_rate(self.step_count)
        for opt in (self.opt_forward, self.opt_reverse):
            for group in opt.param_groups:
                group["lr"] = lr

        a, b = self.sampler.same_pairs(c.batch_size, self.index_gen)
        with self.autocast:
            fwd = losses.forward_cycle_loss(model, self.batch(a), self.batch(b), generator=self.noise_gen,
                                            reconstruction_weight=c.reconstruction_weight, kl_weight=c.kl_weight)
        self._check_finite(fwd.total, reconstruction=fwd.reconstruction, kl=fwd.kl)
        self.opt_forward.zero_grad(set_to_none=True)
        fwd.total.backward()
        self.opt_forward.step()

        a, b = self.sampler.different_pairs(c.batch_size, self.index_gen)
        with self.autocast:
            rev = losses.reverse_cycle_loss(model, self.batch(a), self.batch(b), weight=c.reverse_weight,
                                            generator=self.noise_gen)
        self._check_finite(rev.total, reverse_cycle=rev.l1)
        self.opt_reverse.zero_grad(set_to_none=True)
        rev.total.backward()
        self.opt_reverse.step()
        terms = {"reconstruction": fwd.reconstruction.detach(), "kl": fwd.kl.detach(), "reverse_cycle": rev.l1.detach()}
        model.config.training_steps += 1
        return terms

    def _check_finite(self, total: torch.Tensor, **terms: torch.Tensor) -> None:
        if not torch.isfinite(total):
            values = ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
            raise NonFiniteLoss(f"non-finite loss at step {self.step_count + 1}: {values}; "
                                "the last checkpoint is kept; try a lower --lr")

    # ------------------------------------------------------------------------------- checkpoints

    def save(self, path: str | Path, *, metrics: dict | None = None, latents: dict | None = None) -> Path:
        """Write a checkpoint folder that can be loaded with ``core.load_model`` and resumed from."""
        tensors, meta = {}, {"step": self.step_count, "train_seconds": self.train_seconds, "optimizers": {}}
        for name, opt in (("forward", self.opt_forward), ("reverse", self.opt_reverse)):
            sd = opt.state_dict()
            meta["optimizers"][name] = {"param_groups": sd["param_groups"],
                                        "state": {str(i): sorted(st) for i, st in sd["state"].items()}}
            for i, st in sd["state"].items():
                for key, value in st.items():
                    tensors[f"{name}/{i}/{key}"] = torch.as_tensor(value).detach().cpu()
        tensors["rng/torch"] = torch.get_rng_state()
        tensors["rng/index"] = self.index_gen.get_state()
        tensors["rng/noise"] = self.noise_gen.get_state().cpu()

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
            raise CheckpointError(f"{path} has no {TRAIN_STATE}: it cannot be resumed (shipped checkpoints "
                                  "carry weights only)")
        loaded = load_model(path, device=self.device)
        if loaded.config.image_shape != self.model.config.image_shape or \
                (loaded.config.z_dim, loaded.config.s_dim) != (self.model.config.z_dim, self.model.config.s_dim):
            raise CheckpointError(f"{path} was trained with image shape {loaded.config.image_shape}, "
                                  f"z/s {loaded.config.z_dim}/{loaded.config.s_dim}; this run has "
                                  f"{self.model.config.image_shape}, {self.model.config.z_dim}/{self.model.config.s_dim}")
        self.model.load_state_dict(loaded.state_dict())
        self.model.config.training_steps = loaded.config.training_steps
        tensors = read_tensors(path / TRAIN_STATE)
        meta = json.loads((path / TRAIN_STATE_JSON).read_text())
        for name, opt in (("forward", self.opt_forward), ("reverse", self.opt_reverse)):
            m = meta["optimizers"][name]
            state = {int(i): {k: tensors[f"{name}/{i}/{k}"] for k in keys} for i, keys in m["state"].items()}
            opt.load_state_dict({"state": state, "param_groups": m["param_groups"]})
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        torch.set_rng_state(tensors["rng/torch"])
        self.index_gen.set_state(tensors["rng/index"])
        self.noise_gen.set_state(tensors["rng/noise"])
        self.model.train()
