"""The training loop of every method as a small object: one ``step()`` per iteration, resumable state.

CC-VAE (``method="ccvae"``), each iteration as the authors' algorithm (report Alg. 1): a forward-cycle
update of encoder and decoder on same-label pairs, then a reverse-cycle update of the encoder alone
(its own Adam) on different-label pairs. The report's variants are switches of the same loop:
``reverse_distance`` (L1 or Wasserstein), ``reverse_reconstruction_weight`` (variant a) and
``adversarial`` (variant b: after the two cycles, a pair discriminator judges whether the reverse
cycle's generation Dec(z_i, s(x1)) belongs with x1; its generator update trains the decoder only,
or encoder and decoder).

Baselines, with the schedules of the authors' reimplementations:
- ``mathieu``: an autoencoder update (reconstruction, same-label swap reconstruction, KL), then
  ``generator_times`` generator updates (swapped-s and prior-z generations judged as real pairs, KL),
  then ``discriminator_times`` discriminator updates.
- ``szabo``: a swap-reconstruction update, ``discriminator_times`` discriminator updates, then
  ``generator_times`` generator updates.

Keeping adversarial training finishing unattended: Adam with beta1 = ``gan_beta1`` (0.5) for every
adversarial optimiser (and all of a baseline's), two generator updates per discriminator update,
and no discriminator update on a batch it already classifies with accuracy >= ``discriminator_limit``
(0.8), as the authors did. The discriminator's accuracy is logged (``disc_accuracy``); if it stays
at or above ``COLLAPSE_ACCURACY`` for ``collapse_window`` steps the generator has stopped fooling it
and training stops with ``GANCollapse`` (the last checkpoint is kept).

Pairs are drawn by index from images held in memory (on the GPU when
training there), so no data loader or per-sample Python work sits in the loop.
The command line (``python -m train``) wraps this with progress bars, logs and checkpoints.

Speed: ``step()`` never waits for the GPU (losses come back as device tensors; on CUDA the NaN check
is deferred to ``check_finite()``, which the command line calls when it logs and before it saves).
On CUDA it also uses bf16 autocast, channels_last, cudnn.benchmark and, with ``compile``, torch.compile.

Several processes (``torchrun``): each rank draws its own ``batch_size`` pairs with generators seeded
from (seed, rank), so the global batch is ``batch_size x world size``. After each cycle's backward the
gradients (and the loss terms, for logging and the NaN check) are averaged over ranks in one
``all_reduce``; every rank then applies the same Adam update, so parameters stay identical without
a DistributedDataParallel wrapper, which fits the two optimisers over different parameter sets.
"""

from __future__ import annotations

import json
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist

from core import losses
from core.checkpoint import CheckpointError, read_tensors, save_checkpoint
from core.data import ImageSet
from core.models import SPLIT_METHODS, ModelConfig, PairDiscriminator, ZPairDiscriminator, build_model, reparameterize
from core.pairs import PairSampler

TRAIN_STATE = "train_state.safetensors"
TRAIN_STATE_JSON = "train_state.json"
DISCRIMINATOR_WEIGHTS = "discriminator_weights/"  # key prefix in TRAIN_STATE (optimiser state uses "<name>/<i>/")
Z_DISCRIMINATOR_WEIGHTS = "z_discriminator_weights/"


def _rng_key(name: str, rank: int) -> str:
    """Where rank ``rank``'s generator state is saved; rank 0 keeps the single-process names."""
    return f"rng/{name}" if rank == 0 else f"rng/{name}/{rank}"


@dataclass
class TrainConfig:
    # data
    dataset: str = "mnist"  # mnist | yaleb | orl | celeba | utkface | multipie | sprites | folder (one sub-folder per class)
    data_dir: str = ""  # folder with the data; empty: $CCVAE_DATA_DIR
    image_size: int = 64  # folder datasets: images are resized to this square (28 or 64)
    channels: int = 1  # folder datasets: 1 grayscale, 3 RGB
    download: bool = False  # MNIST: let torchvision download it (needs internet)
    flip: bool = False  # mirror each training image left-right with probability 1/2 (faces: keeps identity)
    factor: str = ""  # the labelled factor where there are several (utkface: age|gender|race; multipie: identity|pose|expression;
    # sprites: identity|action|view|sex|body|armor|hair|arms|greaves|weapon)
    # model
    z_dim: int = 16  # unspecified factors
    s_dim: int = 16  # specified factors
    decoder: str = "plain"  # plain | pixelcnn (PixelVAE: autoregressive decoder, 1-channel images)
    init: str = "authors"  # authors: N(0, 0.05) conv/linear weights, zero biases (their code) | default: PyTorch's
    # optimisation (defaults: the authors' MNIST setting)
    steps: int = 94_000  # iterations; the authors ran 100 epochs of 937 batches
    batch_size: int = 64  # pairs per iteration and process; under torchrun the global batch is this x world size
    lr: float = 1e-4  # Adam learning rate, both optimisers
    beta1: float = 0.9
    beta2: float = 0.999
    lr_drop_at: float = 0.8  # fraction of steps after which lr is multiplied by 0.1 (authors: epoch 80/100)
    reconstruction_weight: float = losses.RECONSTRUCTION_WEIGHT
    kl_weight: float = losses.KL_WEIGHT
    reverse_weight: float = losses.REVERSE_WEIGHT
    kl_warmup: int = 0  # steps over which the KL weight moves linearly from kl_start to kl_weight (0: kl_weight throughout)
    kl_start: float = 0.0  # the KL weight at step 0 of the warm-up; above kl_weight it is a cool-down: z starts shut,
    # so the decoder first learns to draw the class from s alone, and z then opens for what s cannot explain
    # method and the report's loss variants (each a switch of the one trainer)
    method: str = "ccvae"  # ccvae | mathieu (Mathieu et al. 2016) | szabo (Szabó et al. 2017)
    reverse_distance: str = "l1"  # ccvae reverse cycle: l1 (paper) | wasserstein (squared W2 of the re-encoded Gaussians)
    reverse_reconstruction_weight: float = 0.0  # ccvae variant (a): > 0 adds |Dec(z(x), s(generated)) - x|^2 to the reverse cycle
    adversarial: str = "none"  # ccvae variant (b): none | decoder | both (which networks the reverse-cycle GAN term trains)
    adversarial_weight: float = 1.0  # weight of the generator term of variant (b)
    z_adversary_weight: float = 0.0  # ccvae: > 0 adds a pair adversary on z (losses.z_discriminator_loss, z_confusion_loss): a network
    # learns whether two z means come from same-label images; the encoder is trained to leave it at chance
    z_adversary_steps: int = 1  # updates of the z discriminator per step (on the step's detached codes: cheap)
    s_contrast_weight: float = 0.0  # ccvae: > 0 adds losses.s_pair_contrast to the forward cycle (same-label pairs'
    # s pulled together, different-label pairs' pushed apart): for data whose label explains few pixels (faces)
    z_independence_weight: float = 0.0  # ccvae: > 0 adds losses.pair_dependence (normalised HSIC) of the z means of
    # each forward-cycle batch's same-label pairs: the class they share is the only thing that can tie them together
    # adversarial training (baselines and variant b); defaults: the authors' reimplementations
    gan_beta1: float = 0.5  # Adam beta1 of adversarial optimisers (all optimisers of a baseline)
    generator_times: int = 2  # baselines: generator updates per iteration
    discriminator_times: int = 1  # discriminator updates per iteration
    discriminator_limit: float = 0.8  # skip a discriminator update when its accuracy on the batch is already this high
    collapse_window: int = 2000  # stop if the discriminator wins (>= 99% accuracy) on every step for this many steps
    # the degenerate split (the decoder ignores s, z carries everything): checked at each log step from
    # split_check_after steps on; training stops when s changes the picture less than split_floor x what z changes
    split_floor: float = 0.0  # 0: never stop (the effects are still logged)
    split_check_after: int = 1000
    # run
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default
    compile: bool = False  # CUDA only: torch.compile the encoder and decoder (a slow first step; ignored on the CPU)
    log_every: int = 100  # steps between scalar logs
    image_every: int = 2000  # steps between swap-grid images in TensorBoard
    checkpoint_every: int = 1000  # steps between checkpoints

    def validate(self) -> None:
        for name in ("z_dim", "s_dim", "steps", "batch_size", "log_every", "image_every", "checkpoint_every",
                     "generator_times", "discriminator_times", "collapse_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.lr_drop_at <= 1.0:
            raise ValueError(f"lr_drop_at is a fraction of steps in [0, 1], got {self.lr_drop_at}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; valid: {', '.join(INITS)}")
        choices = {"method": SPLIT_METHODS, "reverse_distance": losses.REVERSE_DISTANCES, "adversarial": ADVERSARIAL}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; valid: {', '.join(valid)}")
        if self.method != "ccvae" and (self.adversarial != "none" or self.reverse_distance != "l1"
                                       or self.reverse_reconstruction_weight):
            raise ValueError(f"the loss variants (adversarial, reverse_distance, reverse_reconstruction_weight) are "
                             f"CC-VAE options; method {self.method!r} has no reverse cycle")
        if self.method != "ccvae" and self.decoder != "plain":
            raise ValueError(f"the {self.decoder} decoder is a CC-VAE option; method {self.method!r} uses the plain one")
        used = [name for name in CCVAE_ONLY_WEIGHTS if getattr(self, name)]
        if self.method != "ccvae" and used:
            raise ValueError(f"{', '.join(used)}: CC-VAE options; method {self.method!r} has no z/s terms of its own")
        if self.kl_warmup < 0 or self.z_adversary_steps < 1:
            raise ValueError(f"kl_warmup must be >= 0 and z_adversary_steps >= 1, got {self.kl_warmup}, "
                             f"{self.z_adversary_steps}")
        if self.kl_start < 0:
            raise ValueError(f"kl_start must be non-negative, got {self.kl_start}")
        if min(self.reverse_reconstruction_weight, self.adversarial_weight,
               *(getattr(self, name) for name in CCVAE_ONLY_WEIGHTS)) < 0:
            raise ValueError("loss weights must be non-negative")

    @property
    def uses_discriminator(self) -> bool:
        return self.method != "ccvae" or self.adversarial != "none"

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return config_from_dict(cls, data, what="training options")


# Named recipes: option sets over TrainConfig's defaults (which are the authors' MNIST setting). The command
# line starts new runs from PRESETS[DEFAULT_PRESET]; options given explicitly win. Measured in the README.
PRESETS: dict[str, dict] = {
    # the authors' schedule, for a faithful reproduction: 100 epochs of 937 batches at lr 1e-4 (hours on a CPU)
    "authors": {},
    # issue 16's fast recipe (python -m train.sweep recipes): a short schedule at a higher rate with the pair
    # adversary on z, which keeps the class out of z's posterior mean
    "fast": {"steps": 3000, "lr": 5e-4, "z_adversary_weight": 1.0},
    # the Train-live page: what a class can watch in about 90 s on a laptop CPU (python -m train.live_check); a
    # higher rate than the authors' and a KL warm-up, so z does not collapse before it has learnt any style
    "live": {"steps": 1000, "lr": 5e-4, "kl_warmup": 300},
}
DEFAULT_PRESET = "fast"
LIVE_PRESET = "live"  # what the Train-live page trains


CCVAE_ONLY_WEIGHTS = ("z_adversary_weight", "z_independence_weight", "s_contrast_weight")  # terms only the CC-VAE has
CCVAE_ONLY = (*CCVAE_ONLY_WEIGHTS, "z_adversary_steps")  # what a baseline does not take from a preset


def preset_config(name: str, **options) -> TrainConfig:
    """A TrainConfig from a named preset, with ``options`` on top. A baseline (``method`` mathieu or szabo)
    takes the preset's schedule but not its CC-VAE-only switches."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if options.get("method", "ccvae") != "ccvae":
        preset = {k: v for k, v in preset.items() if k not in CCVAE_ONLY}
    return TrainConfig(**(preset | options))


def config_from_dict(cls, data: dict, *, what: str):
    """A config dataclass from saved options; unknown names (a typo, a newer version's option) are refused."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; valid: {sorted(known)}")
    return cls(**data)


INITS = ("default", "authors")
ADVERSARIAL = ("none", "decoder", "both")
COLLAPSE_ACCURACY = 0.99


def authors_init(module: torch.nn.Module) -> None:
    """The authors' ``weights_init``: N(0, 0.05) weights and zero biases for Conv2d and Linear layers
    (their ConvTranspose2d layers keep PyTorch's default)."""
    if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
        torch.nn.init.normal_(module.weight, 0.0, 0.05)
        torch.nn.init.zeros_(module.bias)


class TrainingFailed(RuntimeError):
    """Training cannot usefully go on; the message says why and what to try. The last checkpoint is kept."""


class NonFiniteLoss(TrainingFailed):
    """Raised when a loss becomes NaN or inf; the message names the step and every loss term."""


class DegenerateSplit(TrainingFailed):
    """Raised when swapping s no longer changes the decoded image (``split_floor``)."""


class GANCollapse(TrainingFailed):
    """Raised when the discriminator has won every batch for ``collapse_window`` steps."""


def pick_device(name: str, local_rank: int | None = None) -> torch.device:
    """``local_rank`` (torchrun): "auto" and "cuda" mean this process's GPU, cuda:<local_rank>."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda requested but no CUDA GPU is available")
    if device.type == "cuda" and device.index is None and local_rank is not None:
        device = torch.device("cuda", local_rank)
    return device


RANK_SEED_STRIDE = 1_000_003  # rank r's generators start from seed + r * stride; rank 0 keeps the single-process streams


def rank_seed(seed: int, rank: int) -> int:
    return seed + RANK_SEED_STRIDE * rank


class Trainer:
    """Owns the model, both optimisers, the pair sampler and the random generators.

    ``rank`` and ``world_size`` (torchrun): this process's share of the global batch; with
    ``world_size`` > 1 the default process group must be initialised. A process with ``rank`` r and
    ``world_size`` 1 draws exactly what rank r of a distributed run draws (used to check one).
    """

    def __init__(self, config: TrainConfig, data: ImageSet, *, dataset_name: str | None = None,
                 rank: int = 0, world_size: int = 1, local_rank: int | None = None):
        config.validate()
        if world_size > 1 and not (dist.is_available() and dist.is_initialized()):
            raise ValueError(f"world_size {world_size} needs an initialised torch.distributed process group")
        self.config, self.rank, self.world_size = config, rank, world_size
        self.device = pick_device(config.device, local_rank if world_size > 1 else None)
        global_rng = torch.get_rng_state()  # fork_rng without re-indenting: seeded initial weights, and the process's
        torch.manual_seed(config.seed)  # global generator (other users of a server draw from it) restored below
        model_config = ModelConfig(image_shape=data.image_shape, z_dim=config.z_dim, s_dim=config.s_dim,
                                   method=config.method, dataset=dataset_name or data.name,
                                   class_names=list(data.class_names), factor_names=dict(data.factor_names),
                                   decoder=config.decoder)
        self.model = build_model(model_config)
        self.discriminator = PairDiscriminator(data.image_shape) if config.uses_discriminator else None
        self.z_discriminator = ZPairDiscriminator(config.z_dim) if config.z_adversary_weight else None
        if config.init == "authors":
            self.model.apply(authors_init)
            if self.discriminator is not None:
                self.discriminator.apply(authors_init)
        torch.set_rng_state(global_rng)
        self.model = self.model.to(self.device).train()
        if self.discriminator is not None:
            self.discriminator = self.discriminator.to(self.device).train()
        if self.z_discriminator is not None:
            self.z_discriminator = self.z_discriminator.to(self.device).train()
        self.on_gpu = self.device.type == "cuda"
        self.memory_format = torch.channels_last if self.on_gpu else torch.contiguous_format
        if self.on_gpu:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels once
            self.model = self.model.to(memory_format=self.memory_format)
            if self.discriminator is not None:
                self.discriminator = self.discriminator.to(memory_format=self.memory_format)
        if world_size > 1:
            self._broadcast_parameters()
        self.images = data.images.to(self.device)  # uint8, converted per batch
        self.sampler = PairSampler(data.labels)  # refuses labels with a single image
        if self.sampler.num_groups < 2:
            raise ValueError(f"{data.name}: all images have the same label; the reverse cycle needs at least 2 labels")
        self.index_gen = torch.Generator().manual_seed(rank_seed(config.seed, rank))
        self.noise_gen = torch.Generator(self.device).manual_seed(rank_seed(config.seed, rank) + 1)
        self.optimizers = self._make_optimizers()
        self.disc_history: list[float] = []  # discriminator accuracy of the last collapse_window steps
        self.train_seconds = 0.0  # wall time of all runs so far, kept across --resume
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.on_gpu else nullcontext()
        if config.compile:
            if self.on_gpu:  # in place, so parameter names (and checkpoints) stay those of the plain model
                self.model.encoder.compile()
                self.model.decoder.compile()
            else:
                warnings.warn("compile is used on CUDA only; training on the CPU without it", stacklevel=2)
        # reading a loss value waits for the GPU, so on CUDA non-finite losses are only recorded here
        # and reported by check_finite(); on the CPU there is nothing to wait for and step() checks at once
        self.check_every_step = not self.on_gpu
        self._nonfinite = torch.zeros((), dtype=torch.bool, device=self.device)
        self._checked_step = 0

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named Adam optimisers; each name is one kind of update of ``step()``, saved with --resume."""
        c, model = self.config, self.model

        def adam(params, beta1: float) -> torch.optim.Adam:
            return torch.optim.Adam(list(params), lr=c.lr, betas=(beta1, c.beta2))

        if c.method == "ccvae":
            opts = {"forward": adam(model.parameters(), c.beta1), "reverse": adam(model.encoder.parameters(), c.beta1)}
            if c.adversarial != "none":
                trained = model.decoder.parameters() if c.adversarial == "decoder" else model.parameters()
                opts["adversarial"] = adam(trained, c.gan_beta1)
        else:  # the baselines' own code uses beta1 = 0.5 everywhere
            opts = {"autoencoder": adam(model.parameters(), c.gan_beta1),
                    "generator": adam(model.parameters(), c.gan_beta1)}
        if self.discriminator is not None:
            opts["discriminator"] = adam(self.discriminator.parameters(), c.gan_beta1)
        if self.z_discriminator is not None:
            opts["z_discriminator"] = adam(self.z_discriminator.parameters(), c.gan_beta1)
            opts["z_encoder"] = adam(model.encoder.parameters(), c.gan_beta1)
        return opts

    @property
    def opt_forward(self) -> torch.optim.Optimizer:
        return self.optimizers["forward"]

    @property
    def opt_reverse(self) -> torch.optim.Optimizer:
        return self.optimizers["reverse"]

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def step_count(self) -> int:
        return self.model.config.training_steps

    def learning_rate(self, step: int) -> float:
        drop = step >= self.config.lr_drop_at * self.config.steps
        return self.config.lr * (0.1 if drop else 1.0)

    def kl_weight_at(self, step: int) -> float:
        """The KL weight of step ``step`` (0-based): rising linearly over ``kl_warmup`` steps, then constant."""
        c = self.config
        if not c.kl_warmup:
            return c.kl_weight
        progress = min(1.0, (step + 1) / c.kl_warmup)
        return c.kl_start + (c.kl_weight - c.kl_start) * progress

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """Images at ``index`` (a CPU tensor) as floats in [0, 1], (B, C, H, W) on the training device."""
        if self.on_gpu:  # a pinned copy does not wait for the GPU to finish its queue
            index = index.pin_memory().to(self.device, non_blocking=True)
        x = self.images[index].float().div_(255)
        if self.config.flip:
            mirrored = (torch.rand(x.shape[0], generator=self.index_gen) < 0.5).to(x.device)
            x = torch.where(mirrored[:, None, None, None], x.flip(-1), x)
        return x.contiguous(memory_format=self.memory_format)

    def same_label_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.sampler.same_pairs(self.config.batch_size, self.index_gen)
        return self.batch(a), self.batch(b)

    def different_label_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.sampler.different_pairs(self.config.batch_size, self.index_gen)
        return self.batch(a), self.batch(b)

    def random_batch(self) -> torch.Tensor:
        """``batch_size`` images drawn uniformly, any label."""
        return self.batch(torch.randint(len(self.images), (self.config.batch_size,), generator=self.index_gen))

    def set_learning_rate(self) -> None:
        lr = self.learning_rate(self.step_count)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr

    def forward_cycle(self, x1: torch.Tensor, x2: torch.Tensor,
                      different: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Forward-cycle loss on same-label pairs and its gradients (all parameters), averaged over ranks.
        With ``s_contrast_weight``, ``different`` (a different-label pair batch) feeds the s contrast."""
        c = self.config
        with self.autocast:
            fwd = losses.forward_cycle_loss(self.model, x1, x2, generator=self.noise_gen,
                                            reconstruction_weight=c.reconstruction_weight,
                                            kl_weight=self.kl_weight_at(self.step_count),
                                            independence_weight=c.z_independence_weight)
        total = fwd.total
        contrast = None
        if different is not None:
            batch = x1.shape[0]
            with self.autocast:
                s = self.model.encode(torch.cat([x1, x2, *different])).s
                contrast = losses.s_pair_contrast((s[:batch], s[batch:2 * batch]), (s[2 * batch:3 * batch], s[3 * batch:]))
            total = total + c.s_contrast_weight * contrast
        self.opt_forward.zero_grad(set_to_none=True)
        total.backward()
        terms = {"reconstruction": fwd.reconstruction, "kl": fwd.kl}
        if contrast is not None:
            terms["s_contrast"] = contrast
        if fwd.dependence is not None:
            terms["z_dependence"] = fwd.dependence
        return self._after_backward(self.model.parameters(), total, terms)

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

    def step(self) -> dict[str, torch.Tensor]:
        """One iteration; returns the unweighted loss terms as 0-dim tensors (means over all ranks)."""
        self.set_learning_rate()
        steps = {"ccvae": self._ccvae_step, "mathieu": self._mathieu_step, "szabo": self._szabo_step}
        terms = steps[self.config.method]()
        self.model.config.training_steps += 1
        if "disc_accuracy" in terms:
            self._watch_discriminator(terms["disc_accuracy"])
        return terms

    def _ccvae_step(self) -> dict[str, torch.Tensor]:
        same = self.same_label_batch()
        contrast = self.different_label_batch() if self.config.s_contrast_weight else None
        terms = self.forward_cycle(*same, different=contrast)
        self.opt_forward.step()
        different = self.different_label_batch()
        terms |= self.reverse_cycle(*different)
        self.opt_reverse.step()
        if self.config.adversarial != "none":
            terms |= self.adversarial_reverse_cycle()
        if self.z_discriminator is not None:
            terms |= self.z_adversary(same, different)
        return terms

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

    def _mathieu_step(self) -> dict[str, torch.Tensor]:
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

    def _szabo_step(self) -> dict[str, torch.Tensor]:
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

    def _update(self, name: str, total: torch.Tensor, terms: dict[str, torch.Tensor], *,
                apply: bool = True) -> dict[str, torch.Tensor]:
        """Backward ``total`` into the parameters of optimiser ``name``, average over ranks, step it."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        total.backward()
        terms = self._after_backward([p for g in opt.param_groups for p in g["params"]], total, terms)
        if apply:
            opt.step()
        return terms

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

    def _after_backward(self, params, total: torch.Tensor, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Average gradients and loss terms over ranks (one all_reduce), then check the loss is finite."""
        values = [total.detach().float(), *(t.detach().float() for t in terms.values())]
        if self.world_size > 1:
            grads = [p.grad for p in params if p.grad is not None]  # the same set on every rank
            flat = torch.cat([g.flatten() for g in grads] + [v.reshape(1) for v in values])
            dist.all_reduce(flat)
            flat /= self.world_size
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()
            values = list(flat[offset:])
        total, terms = values[0], dict(zip(terms, values[1:]))
        if not self.check_every_step:
            self._nonfinite |= ~torch.isfinite(total)
        elif not torch.isfinite(total):
            values = ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
            raise NonFiniteLoss(f"non-finite loss at step {self.step_count + 1}: {values}; "
                                "the last checkpoint is kept; try a lower --lr")
        return terms

    def split_effects(self, images: torch.Tensor) -> dict[str, float]:
        """``core.explore.swap_effects`` of the model on ``images``; raises ``DegenerateSplit`` when s has stopped
        mattering (``split_floor``), so a run does not spend hours on a decoder that ignores s."""
        from core.explore import swap_effects

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

    def check_finite(self) -> None:
        """Raise NonFiniteLoss if a loss since the last check was NaN or inf (waits for the GPU)."""
        if bool(self._nonfinite):
            raise NonFiniteLoss(f"non-finite loss between step {self._checked_step + 1} and step {self.step_count}; "
                                "the last checkpoint is kept; try a lower --lr")
        self._checked_step = self.step_count

    def _broadcast_parameters(self) -> None:
        """Start every rank from rank 0's weights (they are built from the same seed; this makes sure)."""
        params = [p.data for p in self.model.parameters()]
        for extra in (self.discriminator, self.z_discriminator):
            if extra is not None:
                params += [p.data for p in extra.parameters()]
        flat = torch.cat([p.flatten() for p in params])
        dist.broadcast(flat, 0)
        offset = 0
        for p in params:
            p.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()

    # ------------------------------------------------------------------------------- checkpoints

    def save(self, path: str | Path, *, metrics: dict | None = None, latents: dict | None = None) -> Path:
        """Write a checkpoint folder that can be loaded with ``core.load_model`` and resumed from.

        Under torchrun every rank must call it (it gathers each rank's generators); only rank 0 writes.
        """
        if not self.check_every_step:
            self.check_finite()
        generators = self._gather_generator_states()
        path = Path(path)
        if not self.is_main:
            return path
        tensors, meta = {}, {"step": self.step_count, "train_seconds": self.train_seconds, "optimizers": {},
                             "world_size": self.world_size}
        if self.discriminator is not None:  # kept with the training state, not the model: inference never needs it
            for key, value in self.discriminator.state_dict().items():
                tensors[f"{DISCRIMINATOR_WEIGHTS}{key}"] = value.detach().cpu()
            meta["disc_history"] = self.disc_history
        if self.z_discriminator is not None:
            for key, value in self.z_discriminator.state_dict().items():
                tensors[f"{Z_DISCRIMINATOR_WEIGHTS}{key}"] = value.detach().cpu()
        for name, opt in self.optimizers.items():
            sd = opt.state_dict()
            meta["optimizers"][name] = {"param_groups": sd["param_groups"],
                                        "state": {str(i): sorted(st) for i, st in sd["state"].items()}}
            for i, st in sd["state"].items():
                for key, value in st.items():
                    tensors[f"{name}/{i}/{key}"] = torch.as_tensor(value).detach().cpu()
        tensors["rng/torch"] = torch.get_rng_state()
        for rank, (index_state, noise_state) in enumerate(generators):
            tensors[_rng_key("index", rank)] = index_state
            tensors[_rng_key("noise", rank)] = noise_state

        def extra(folder: Path) -> None:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / TRAIN_STATE))
            (folder / TRAIN_STATE_JSON).write_text(json.dumps(meta, indent=1))

        return save_checkpoint(path, self.model, train_config=asdict(self.config), metrics=metrics,
                               latents=latents, extra=extra)

    def _gather_generator_states(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(index, noise) generator states of every rank, in rank order (a collective under torchrun)."""
        mine = (self.index_gen.get_state(), self.noise_gen.get_state().cpu())
        if self.world_size == 1:
            return [mine]
        states = [None] * self.world_size
        dist.all_gather_object(states, mine)
        return states

    def resume(self, path: str | Path) -> None:
        """Restore weights, optimiser moments, step count and random state from a checkpoint folder."""
        from core.checkpoint import load_model

        path = Path(path)
        if not (path / TRAIN_STATE).is_file():
            raise CheckpointError(f"{path} has no {TRAIN_STATE}: it cannot be resumed (shipped checkpoints "
                                  "carry weights only)")
        loaded = load_model(path, device=self.device)
        if loaded.config.method != self.model.config.method:
            raise CheckpointError(f"{path} is a {loaded.config.method!r} model; this run trains {self.model.config.method!r}")
        if loaded.config.image_shape != self.model.config.image_shape or \
                (loaded.config.z_dim, loaded.config.s_dim) != (self.model.config.z_dim, self.model.config.s_dim):
            raise CheckpointError(f"{path} was trained with image shape {loaded.config.image_shape}, "
                                  f"z/s {loaded.config.z_dim}/{loaded.config.s_dim}; this run has "
                                  f"{self.model.config.image_shape}, {self.model.config.z_dim}/{self.model.config.s_dim}")
        self.model.load_state_dict(loaded.state_dict())
        self.model.config.training_steps = loaded.config.training_steps
        tensors = read_tensors(path / TRAIN_STATE)
        meta = json.loads((path / TRAIN_STATE_JSON).read_text())
        if sorted(meta["optimizers"]) != sorted(self.optimizers):
            raise CheckpointError(f"{path} was saved with optimisers {sorted(meta['optimizers'])}; this run's options "
                                  f"need {sorted(self.optimizers)} (were the loss variants changed?)")
        if self.discriminator is not None:
            prefix = DISCRIMINATOR_WEIGHTS
            try:
                self.discriminator.load_state_dict({k[len(prefix):]: v.to(self.device) for k, v in tensors.items()
                                                    if k.startswith(prefix)})
            except RuntimeError as err:
                raise CheckpointError(f"{path / TRAIN_STATE}: the discriminator does not match this run: {err}") from err
            self.disc_history = list(meta.get("disc_history", []))
        if self.z_discriminator is not None:
            prefix = Z_DISCRIMINATOR_WEIGHTS
            self.z_discriminator.load_state_dict({k[len(prefix):]: v.to(self.device) for k, v in tensors.items()
                                                  if k.startswith(prefix)})
        for name, opt in self.optimizers.items():
            m = meta["optimizers"][name]
            state = {int(i): {k: tensors[f"{name}/{i}/{k}"] for k in keys} for i, keys in m["state"].items()}
            opt.load_state_dict({"state": state, "param_groups": m["param_groups"]})
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        torch.set_rng_state(tensors["rng/torch"])
        index_key, noise_key = _rng_key("index", self.rank), _rng_key("noise", self.rank)
        if index_key in tensors:
            self.index_gen.set_state(tensors[index_key])
            self.noise_gen.set_state(tensors[noise_key])
        else:  # a run resumed on more processes than it was saved from: fresh streams for the new ranks
            seed = rank_seed(self.config.seed, self.rank) + 2 * self.step_count
            self.index_gen.manual_seed(seed)
            self.noise_gen.manual_seed(seed + 1)
            warnings.warn(f"{path} was saved by {meta.get('world_size', 1)} process(es); rank {self.rank} starts "
                          f"new random streams at step {self.step_count}", stacklevel=2)
        self._checked_step = self.step_count
        self.model.train()
