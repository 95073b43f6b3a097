"""The part of training every method shares: ``Engine``, the base of each method's trainer.

An engine receives built networks (``Networks``: the model and the auxiliary networks only training
needs, such as a discriminator) and owns what is the same for every method: the device, the images in
memory (uint8, on the GPU when training there, converted per batch), the pair sampler, the index and
noise generators, named Adam optimisers, the update with its all-reduce over torchrun ranks and its
NaN check, and the train state that ``save`` writes beside the checkpoint and ``resume`` restores
bit for bit. A method's trainer (``core.training.ccvae``, ``mathieu``, ``szabo``, ``drgan``) adds ``build``
(its networks from a seed), ``make_optimizers`` and ``_step`` (one iteration).

``step(phase=...)`` takes an optional phase timer: a method marks its phases (``with phase("forward")``)
so ``python -m tools.bench`` times the real step, not a copy of it.

Speed: ``step()`` never waits for the GPU (losses come back as device tensors; on CUDA the NaN check
is deferred to ``check_finite()``, which the loop calls when it logs and before it saves).
On CUDA it also uses bf16 autocast, channels_last, cudnn.benchmark and, with ``compile``, torch.compile.

Several processes (``torchrun``): each rank draws its own ``batch_size`` pairs with generators seeded
from (seed, rank), so the global batch is ``batch_size x world size``. After each backward the
gradients (and the loss terms, for logging and the NaN check) are averaged over ranks in one
``all_reduce``; every rank then applies the same Adam update, so parameters stay identical without
a DistributedDataParallel wrapper, which fits optimisers over different parameter sets.
"""

from __future__ import annotations

import os
import platform
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from core.data import ImageSet
from core.pairs import PairSampler
from core.training import state
from core.training.state import rank_seed

Phase = Callable[[str], AbstractContextManager]  # phase("forward") -> a context that times the phase


def no_phase(name: str) -> AbstractContextManager:
    return nullcontext()


class TrainingFailed(RuntimeError):
    """Training cannot usefully go on; the message says why and what to try. The last checkpoint is kept."""


class NonFiniteLoss(TrainingFailed):
    """Raised when a loss becomes NaN or inf; the message names the step and every loss term."""


class DegenerateSplit(TrainingFailed):
    """Raised when swapping s no longer changes the decoded image (``split_floor``)."""


class GANCollapse(TrainingFailed):
    """Raised when the discriminator has won every batch for ``collapse_window`` steps."""


class TrainingCollapsed(GANCollapse):
    """DR-GAN: a loss went NaN/inf, or the discriminator won outright; the message says which and what to try."""


def hardware() -> str:
    """A one-line description of this machine, for results tables."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu} ({instruction_set()}), {os.cpu_count()} cores{gpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of a CPU with native bfloat16 arithmetic
# tools.bf16_check on an AVX2-only AMD EPYC (2 threads, the faces recipe, same run): float32 2.32 steps/s, bf16 0.16
AVX2_BF16_SLOWDOWN = 0.07


def native_bf16() -> bool:
    """True when this CPU reports native bf16 (AVX512-BF16 or AMX): where bf16 autocast pays (1.7x measured)."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


def cpu_bf16(option: str) -> bool:
    """Whether CPU training runs under bf16 autocast for ``TrainConfig.bf16`` (validated: auto | on | off; a config
    saved with true/false is converted by ``TrainConfig.from_dict``): "auto" asks ``native_bf16``; "on" without
    native bf16 warns with the measured slowdown."""
    if option == "auto":
        return native_bf16()
    if option == "on" and not native_bf16():
        warnings.warn(f"bf16 autocast on a CPU without AVX512-BF16 or AMX: measured at {AVX2_BF16_SLOWDOWN}x the "
                      "speed of float32 on an AVX2 CPU; --bf16 auto (the default) picks float32 here", stacklevel=3)
    return option == "on"


def precision(bf16: bool, option: str) -> str:
    """How a CPU run computes, for its first line: "float32 (--bf16 auto, AVX2, no native bf16)"."""
    return f"{'bf16 autocast' if bf16 else 'float32'} (--bf16 {option}, {instruction_set()})"


def instruction_set() -> str:
    """The widest vector instructions torch uses on this CPU and whether it has native bf16, for speed tables."""
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{capability}{', native bf16' if native_bf16() else ', no native bf16'}"


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


def normal_init(std: float, layers: tuple[type[torch.nn.Module], ...]) -> Callable[[torch.nn.Module], None]:
    """A ``module.apply`` function: N(0, ``std``) weights and zero biases for the ``layers`` kinds (the weight
    before a spectral-norm parametrisation, where there is one)."""
    def init(module: torch.nn.Module) -> None:
        if isinstance(module, layers):
            weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
            torch.nn.init.normal_(weight, 0.0, std)
            torch.nn.init.zeros_(module.bias)

    return init


def as_floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """0-dim loss tensors as floats, with one wait for the GPU for all of them."""
    return dict(zip(terms, torch.stack(list(terms.values())).tolist()))


@dataclass
class Networks:
    """What a trainer trains: the model (saved in the checkpoint) and auxiliary networks that only training
    needs (saved in the train state for --resume), by name."""

    model: torch.nn.Module
    extras: dict[str, torch.nn.Module] = field(default_factory=dict)


def seeded(seed: int, build: Callable[[], Networks]) -> Networks:
    """``build()`` with the global generator seeded to ``seed`` (same seed, same initial weights), and the
    process's global generator restored afterwards (other users of a server draw from it)."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        return build()
    finally:
        torch.set_rng_state(state)


class Engine:
    """The shared trainer; see the module docstring. ``rank`` and ``world_size`` (torchrun): this process's
    share of the global batch; with ``world_size`` > 1 the default process group must be initialised. A process
    with ``rank`` r and ``world_size`` 1 draws exactly what rank r of a distributed run draws (used to check one).
    ``anchor_weights`` (N,): draw pair anchors with these relative weights instead of uniformly."""

    uses_pairs = True  # a PairSampler over the labels (the pair methods); DR-GAN draws single images

    def __init__(self, config, data: ImageSet, networks: Networks | None = None, *, dataset_name: str | None = None,
                 rank: int = 0, world_size: int = 1, local_rank: int | None = None,
                 anchor_weights: torch.Tensor | None = None):
        config.validate()
        if world_size > 1 and not (dist.is_available() and dist.is_initialized()):
            raise ValueError(f"world_size {world_size} needs an initialised torch.distributed process group")
        self.config, self.rank, self.world_size = config, rank, world_size
        self.device = pick_device(config.device, local_rank if world_size > 1 else None)
        self.check_data(data)
        if networks is None:
            networks = self.build(config, data, dataset_name=dataset_name)
        self.on_gpu = self.device.type == "cuda"
        self.memory_format = torch.channels_last if self.on_gpu or getattr(config, "channels_last", False) \
            else torch.contiguous_format
        if self.on_gpu:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels once
        self.model = networks.model.to(self.device).train()
        self.extras = {name: net.to(self.device).train() for name, net in networks.extras.items()}
        if self.memory_format == torch.channels_last:
            self.model = self.model.to(memory_format=self.memory_format)
            self.extras = {name: net.to(memory_format=self.memory_format) for name, net in self.extras.items()}
        if world_size > 1:
            self._broadcast_parameters()
        self.images = data.images.to(self.device)  # uint8, converted per batch
        self.sampler = self._sampler(data, anchor_weights) if self.uses_pairs else None
        self.index_gen = torch.Generator().manual_seed(rank_seed(config.seed, rank))
        self.noise_gen = torch.Generator(self.device).manual_seed(rank_seed(config.seed, rank) + 1)
        self.optimizers = self.make_optimizers()
        self.train_seconds = 0.0  # wall time of all runs so far, kept across --resume
        self.cpu_seconds = 0.0  # CPU time of the training processes of all runs so far (all threads), kept likewise
        self.uses_bf16 = self.on_gpu or cpu_bf16(getattr(config, "bf16", "off"))
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.uses_bf16 else nullcontext()
        # reading a loss value waits for the GPU, so on CUDA non-finite losses are only recorded here
        # and reported by check_finite(); on the CPU there is nothing to wait for and _after_backward checks at once
        self.check_every_step = not self.on_gpu
        self._nonfinite = torch.zeros((), dtype=torch.bool, device=self.device)
        self._checked_step = 0

    # ------------------------------------------------------------------ what a method's trainer provides

    def check_data(self, data: ImageSet) -> None:
        """Refuse data this method cannot train on, before anything is built."""

    def build(self, config, data: ImageSet, *, dataset_name: str | None = None) -> Networks:
        raise NotImplementedError

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def _step(self, phase: Phase) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def statistics(self, data: ImageSet) -> dict[str, torch.Tensor]:
        """What the final checkpoint stores besides the weights (statistics the model computed, no pixels)."""
        raise NotImplementedError

    def after_step(self, terms: dict[str, torch.Tensor]) -> None:
        """Watch the step's terms (collapse detection); runs after the step count has moved on."""

    def train_meta(self) -> dict:
        """Extra JSON state for --resume."""
        return {}

    def restore_meta(self, meta: dict) -> None:
        pass

    # ------------------------------------------------------------------ the shared iteration

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def step_count(self) -> int:
        return self.model.config.training_steps

    def learning_rate(self, step: int) -> float:
        drop = step >= getattr(self.config, "lr_drop_at", 1.0) * self.config.steps
        return self.config.lr * (0.1 if drop else 1.0)

    def set_learning_rate(self) -> None:
        lr = self.learning_rate(self.step_count)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr

    def step(self, phase: Phase = no_phase) -> dict[str, torch.Tensor]:
        """One iteration; returns the unweighted loss terms as 0-dim tensors (means over all ranks)."""
        with phase("data"):
            self.set_learning_rate()
        terms = self._step(phase)
        self.model.config.training_steps += 1
        self.after_step(terms)
        return terms

    def _sampler(self, data: ImageSet, anchor_weights: torch.Tensor | None) -> PairSampler:
        sampler = PairSampler(data.labels, weights=anchor_weights)  # refuses labels with a single image
        if sampler.num_groups < 2:
            raise ValueError(f"{data.name}: all images have the same label; the reverse cycle needs at least 2 labels")
        return sampler

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """Images at ``index`` (a CPU tensor) as floats in [0, 1], (B, C, H, W) on the training device."""
        if self.on_gpu:  # a pinned copy does not wait for the GPU to finish its queue
            index = index.pin_memory().to(self.device, non_blocking=True)
        x = self.images[index].float().div_(255)
        if getattr(self.config, "flip", False):
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

    def adam(self, params, beta1: float) -> torch.optim.Adam:
        return torch.optim.Adam(list(params), lr=self.config.lr, betas=(beta1, self.config.beta2))

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

    def check_finite(self) -> None:
        """Raise NonFiniteLoss if a loss since the last check was NaN or inf (waits for the GPU)."""
        if bool(self._nonfinite):
            raise NonFiniteLoss(f"non-finite loss between step {self._checked_step + 1} and step {self.step_count}; "
                                "the last checkpoint is kept; try a lower --lr")
        self._checked_step = self.step_count

    def log_values(self, terms: dict[str, torch.Tensor], probe: torch.Tensor | None = None) -> dict[str, float]:
        """The step's terms as floats, with what the method logs besides (``probe``: a few uint8 training images
        to measure on)."""
        return as_floats(terms)

    def _broadcast_parameters(self) -> None:
        """Start every rank from rank 0's weights (they are built from the same seed; this makes sure)."""
        params = [p.data for p in self.model.parameters()]
        for extra in self.extras.values():
            params += [p.data for p in extra.parameters()]
        flat = torch.cat([p.flatten() for p in params])
        dist.broadcast(flat, 0)
        offset = 0
        for p in params:
            p.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()

    # ------------------------------------------------------------------------------- checkpoints

    def save(self, path: str | Path, *, metrics: dict | None = None, latents: dict | None = None) -> Path:
        """Write a checkpoint folder that ``core.load_model`` opens and ``resume`` continues
        (``core.training.state.save``); under torchrun every rank must call it, only rank 0 writes."""
        return state.save(self, path, metrics=metrics, latents=latents)

    def resume(self, path: str | Path) -> None:
        """Restore weights, optimiser moments, step count and random state (``core.training.state.resume``)."""
        state.resume(self, path)
        self._checked_step = self.step_count
