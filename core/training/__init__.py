"""Training: one engine, one loop, one step module per method.

    config.py     TrainConfig (CC-VAE and the pair baselines, with the loss variants as switches), presets,
                  DRGANConfig
    engine.py     Engine: what every method shares (device, data in memory, pair sampler, generators,
                  optimisers, the all-reduced update and NaN check);
                  Networks (a built model and the auxiliary networks training needs); the failures
    state.py      the train state beside a checkpoint: one save/resume format for every method
    pair_trainer.py  what the pair methods share: building the model (and discriminators) from a seed,
                  the discriminator update and the collapse watch (PairTrainer)
    ccvae.py      the CC-VAE's iteration and its variants
    mathieu.py    Mathieu et al.'s iteration
    szabo.py      Szabó et al.'s iteration
    drgan.py      DR-GAN's iteration and its collapse detector
    loop.py       run(): the one loop (logging, pictures, checkpoints, stops) every caller trains with
    runner.py     train_run(config, out): one training run from Python (data, trainer, resume, the loop, the
                  final checkpoint) -> RunResult; python -m train, the sweep and Train live call it

``make_trainer(config, data, networks=None, ...)`` returns the trainer of ``config.method``; ``networks``
(``build_networks(config, data)``) are built from ``config.seed`` when not given, so the same seed gives
the same weights.
"""

from __future__ import annotations

from core.training.ccvae import CCVAETrainer
from core.training.config import (
    ADVERSARIAL,
    CCVAE_ONLY,
    CCVAE_ONLY_WEIGHTS,
    DEFAULT_PRESET,
    INITS,
    LIVE_PRESET,
    PRESETS,
    DRGANConfig,
    TrainConfig,
    config_from_dict,
    preset_config,
)
from core.training.drgan import CollapseDetector, DRGANTrainer, dcgan_init
from core.training.engine import (
    DegenerateSplit,
    Engine,
    GANCollapse,
    Networks,
    NonFiniteLoss,
    TrainingCollapsed,
    TrainingFailed,
    cpu_bf16,
    hardware,
    pick_device,
    precision,
    rank_seed,
)
from core.training.loop import Outcome, run
from core.training.mathieu import MathieuTrainer
from core.training.pair_trainer import COLLAPSE_ACCURACY, PairTrainer, authors_init, build_networks
from core.training.runner import DRY_RUN, TRAINERS, RunResult, make_trainer, run_trainer, train_run
from core.training.szabo import SzaboTrainer

__all__ = ["ADVERSARIAL", "CCVAE_ONLY", "CCVAE_ONLY_WEIGHTS", "COLLAPSE_ACCURACY", "DEFAULT_PRESET", "INITS",
           "LIVE_PRESET", "PRESETS", "TRAINERS", "CCVAETrainer", "CollapseDetector", "DRGANConfig", "DRGANTrainer",
           "DRY_RUN", "DegenerateSplit", "Engine", "GANCollapse", "MathieuTrainer", "Networks", "NonFiniteLoss", "Outcome",
           "PairTrainer", "RunResult", "SzaboTrainer", "TrainConfig", "make_trainer", "TrainingCollapsed", "TrainingFailed",
           "authors_init", "build_networks", "config_from_dict", "cpu_bf16", "dcgan_init", "hardware", "pick_device",
           "precision", "preset_config", "rank_seed", "run", "run_trainer", "train_run"]
