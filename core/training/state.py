"""The train state of a run, beside its checkpoint: what ``--resume`` needs to continue bit for bit.

    <checkpoint>/train_state.safetensors   optimiser moments ("<optimiser>/<i>/<key>"), auxiliary networks
                                           ("<name>_weights/<key>", e.g. the discriminator), the global and
                                           per-rank index/noise generator states ("rng/...")
    <checkpoint>/train_state.json          step, train seconds, world size, optimiser layouts, method extras

One format for every method (``Engine.save`` / ``Engine.resume`` call these).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from core.checkpoint import TRAIN_STATE, TRAIN_STATE_JSON, CheckpointError, load_model, read_tensors, save_checkpoint

# The trainer these functions read and write: a ``core.training.engine.Engine``. Not imported, not even for type
# checking: the engine imports this module, and modules here never import each other.
Engine = Any


# optimisers (with the auxiliary network of the same name) a resumed run may add: terms meant to start after a
# warm-up, such as the patch adversary; every other change of the optimiser set is refused
ADDABLE_OPTIMIZERS = ("patch_discriminator",)
RANK_SEED_STRIDE = 1_000_003  # rank r's generators start from seed + r * stride; rank 0 keeps the single-process streams


def rank_seed(seed: int, rank: int) -> int:
    return seed + RANK_SEED_STRIDE * rank


def _rng_key(name: str, rank: int) -> str:
    """Where rank ``rank``'s generator state is saved; rank 0 keeps the single-process names."""
    return f"rng/{name}" if rank == 0 else f"rng/{name}/{rank}"


def _weights_key(name: str) -> str:
    """Key prefix of auxiliary network ``name`` in the train state ("discriminator_weights/...")."""
    return f"{name}_weights/"


def save(trainer: Engine, path: str | Path, *, metrics: dict | None = None, latents: dict | None = None) -> Path:
    """Write a checkpoint folder that can be loaded with ``core.load_model`` and resumed from.

    Under torchrun every rank must call it (it gathers each rank's generators); only rank 0 writes.
    """
    if not trainer.check_every_step:
        trainer.check_finite()
    generators = _gather_generator_states(trainer)
    path = Path(path)
    if not trainer.is_main:
        return path
    tensors, meta = {}, {"step": trainer.step_count, "train_seconds": trainer.train_seconds,
                     "cpu_seconds": trainer.cpu_seconds, "optimizers": {},
                         "world_size": trainer.world_size} | trainer.train_meta()
    for name, net in trainer.extras.items():  # kept with the training state, not the model: inference never needs them
        for key, value in net.state_dict().items():
            tensors[f"{_weights_key(name)}{key}"] = value.detach().cpu()
    for name, opt in trainer.optimizers.items():
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

    return save_checkpoint(path, trainer.model, train_config=asdict(trainer.config), metrics=metrics,
                           latents=latents, extra=extra)

def _gather_generator_states(trainer: Engine) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(index, noise) generator states of every rank, in rank order (a collective under torchrun)."""
    mine = (trainer.index_gen.get_state(), trainer.noise_gen.get_state().cpu())
    if trainer.world_size == 1:
        return [mine]
    states = [None] * trainer.world_size
    dist.all_gather_object(states, mine)
    return states

def resume(trainer: Engine, path: str | Path) -> None:
    """Restore weights, optimiser moments, step count and random state from a checkpoint folder."""
    path = Path(path)
    if not (path / TRAIN_STATE).is_file():
        raise CheckpointError(f"{path} has no {TRAIN_STATE}: it cannot be resumed (shipped checkpoints "
                              "carry weights only)")
    loaded = load_model(path, device=trainer.device)
    mine, theirs = trainer.model.config, loaded.config
    if theirs.method != mine.method:
        raise CheckpointError(f"{path} is a {theirs.method!r} model; this run trains {mine.method!r}")
    for name in ("image_shape", "z_dim", "s_dim", "class_names", "factor_names"):
        if getattr(theirs, name) != getattr(mine, name):
            raise CheckpointError(f"{path} was trained with {name} {getattr(theirs, name)!r}; this run has "
                                  f"{getattr(mine, name)!r}")
    trainer.model.load_state_dict(loaded.state_dict())
    trainer.model.config.training_steps = theirs.training_steps
    tensors = read_tensors(path / TRAIN_STATE)
    meta = json.loads((path / TRAIN_STATE_JSON).read_text())
    saved, wanted = set(meta["optimizers"]), set(trainer.optimizers)
    added = wanted - saved  # a term switched on for the rest of the run (the patch adversary after its warm-up)
    if not saved <= wanted or not added <= set(ADDABLE_OPTIMIZERS):
        raise CheckpointError(f"{path} was saved with optimisers {sorted(saved)}; this run's options "
                              f"need {sorted(wanted)} (were the loss variants changed?)")
    if added:
        warnings.warn(f"{path}: {', '.join(sorted(added))} added at step {trainer.step_count}, from fresh weights",
                      stacklevel=2)
    for name, net in trainer.extras.items():
        prefix = _weights_key(name)
        if name in added:
            continue
        try:
            net.load_state_dict({k[len(prefix):]: v.to(trainer.device) for k, v in tensors.items()
                                 if k.startswith(prefix)})
        except RuntimeError as err:
            raise CheckpointError(f"{path / TRAIN_STATE}: the {name} does not match this run: {err}") from err
    trainer.restore_meta(meta)
    for name, opt in trainer.optimizers.items():
        if name in added:
            continue
        m = meta["optimizers"][name]
        state = {int(i): {k: tensors[f"{name}/{i}/{k}"] for k in keys} for i, keys in m["state"].items()}
        opt.load_state_dict({"state": state, "param_groups": m["param_groups"]})
    trainer.train_seconds = float(meta.get("train_seconds", 0.0))
    trainer.cpu_seconds = float(meta.get("cpu_seconds", 0.0))
    torch.set_rng_state(tensors["rng/torch"])
    index_key, noise_key = _rng_key("index", trainer.rank), _rng_key("noise", trainer.rank)
    if index_key in tensors:
        trainer.index_gen.set_state(tensors[index_key])
        trainer.noise_gen.set_state(tensors[noise_key])
    else:  # a run resumed on more processes than it was saved from: fresh streams for the new ranks
        seed = rank_seed(trainer.config.seed, trainer.rank) + 2 * trainer.step_count
        trainer.index_gen.manual_seed(seed)
        trainer.noise_gen.manual_seed(seed + 1)
        warnings.warn(f"{path} was saved by {meta.get('world_size', 1)} process(es); rank {trainer.rank} starts "
                      f"new random streams at step {trainer.step_count}", stacklevel=2)
    trainer.model.train()
