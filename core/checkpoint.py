"""Checkpoints: a folder of safetensors + JSON. The only way models are saved and loaded.

    <folder>/config.json          {"format_version": 1, "model": ModelConfig, "train": {...}}
    <folder>/model.safetensors    the weights
    <folder>/metrics.json         evaluation results (optional)
    <folder>/latents.safetensors  statistics the model computed: per-class mean s, a bank of codes (optional)
    <folder>/train_state.*        optimiser and RNG state for --resume (optional; not shipped)
    <folder>/maps/                cached 2-D latent maps (optional), with weights.txt: the weights they were made for
    <folder>/tsne.png             the evaluation's t-SNE figure (optional)

A training run's folder (``RunFolder``) holds the checkpoint and what training wrote beside it:

    <run>/checkpoint/             the checkpoint above, rewritten atomically every few steps
    <run>/train_config.json       the run's options, read back by --resume
    <run>/log.jsonl               one JSON line per logged step (loss terms, speed, swap effects)
    <run>/tb/                     TensorBoard logs

Nothing is ever unpickled. Folders are written atomically: into a temporary sibling first, then
renamed into place, so a killed process leaves either the old checkpoint or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.models import DECODERS, METHODS, ModelConfig, build_model

FORMAT_VERSION = 1
CONFIG, WEIGHTS, METRICS, LATENTS = "config.json", "model.safetensors", "metrics.json", "latents.safetensors"
TRAIN_STATE, TRAIN_STATE_JSON = "train_state.safetensors", "train_state.json"  # --resume: optimisers, RNG, extra nets
MAPS = "maps"  # sub-folder with cached latent maps
MAPS_STAMP = "weights.txt"  # in MAPS: the weights_digest the maps were made for
TSNE_FIGURE = "tsne.png"  # the evaluation's t-SNE figure of test codes (python -m train.evaluate)
# an identity classifier (core.models.classifier, python -m train.classifier): its own names, so a folder holding
# one is never listed as a z/s model
CLASSIFIER_CONFIG, CLASSIFIER_WEIGHTS = "classifier.json", "classifier.safetensors"


def _in_run(name: str) -> property:
    """A ``RunFolder`` attribute: the path ``<run>/<name>``."""
    return property(lambda self: self.root / name, doc=f"<run>/{name}")


@dataclass(frozen=True)
class RunFolder:
    """The files of one training run under ``root`` (see the module docstring): ``checkpoint``, ``train_config``,
    ``log``, ``tensorboard`` (paths only; nothing is created)."""

    root: Path

    checkpoint = _in_run("checkpoint")
    train_config = _in_run("train_config.json")
    log = _in_run("log.jsonl")
    tensorboard = _in_run("tb")

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def has_checkpoint(self) -> bool:
        """A finished or in-progress checkpoint with weights (a run killed before its first save has none)."""
        return (self.checkpoint / WEIGHTS).is_file()

    @property
    def train_state(self) -> Path:
        return self.checkpoint / TRAIN_STATE_JSON

    def read_config(self) -> dict:
        return json.loads(self.train_config.read_text())

    def write_config(self, options: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.train_config, options)


class CheckpointError(ValueError):
    """A checkpoint folder is missing, damaged or incompatible; the message names the problem."""


# ----------------------------------------------------------------------------------------- writing

def write_folder_atomic(path: str | Path, fill: Callable[[Path], None]) -> Path:
    """Create ``path`` by letting ``fill`` write into a temporary sibling folder, then swapping it in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    fill(tmp)
    for f in tmp.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def recover(path: str | Path) -> Path:
    """If a save was killed between its two renames, the previous checkpoint is at ``.<name>.old``."""
    path = Path(path)
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.is_dir():
        os.replace(old, path)
    return path


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def replace_file_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` create a temporary sibling of ``path``, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_metrics(folder: str | Path, metrics: dict) -> None:
    replace_file_atomic(Path(folder) / METRICS, lambda p: write_json(p, metrics))


def save_latents(folder: str | Path, latents: dict[str, torch.Tensor]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in latents.items()}
    replace_file_atomic(Path(folder) / LATENTS, lambda p: save_file(tensors, str(p)))


def checkpoint_writer(model: torch.nn.Module, *, train_config: dict | None = None, metrics: dict | None = None,
                      latents: dict[str, torch.Tensor] | None = None,
                      extra: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A function that writes ``model`` (and the optional parts) as checkpoint files into a folder."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save non-finite weights in {bad[:5]}")

    def fill(folder: Path) -> None:
        write_json(folder / CONFIG, {"format_version": FORMAT_VERSION, "model": model.config.to_dict(),
                                     "train": train_config or {}})
        save_file(state, str(folder / WEIGHTS))
        if metrics is not None:
            write_json(folder / METRICS, metrics)
        if latents is not None:
            save_file({k: v.detach().cpu().contiguous() for k, v in latents.items()}, str(folder / LATENTS))
        if extra is not None:
            extra(folder)

    return fill


def save_checkpoint(path: str | Path, model: torch.nn.Module, *, train_config: dict | None = None,
                    metrics: dict | None = None, latents: dict[str, torch.Tensor] | None = None,
                    extra: Callable[[Path], None] | None = None) -> Path:
    """Write ``model`` (and optional metrics, latent statistics, extra files) as a checkpoint folder."""
    return write_folder_atomic(path, checkpoint_writer(model, train_config=train_config, metrics=metrics,
                                                       latents=latents, extra=extra))


# ----------------------------------------------------------------------------------------- reading

def _check_type(name: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise CheckpointError(f"config.json: model.{name} should be {expected}, got {value!r}")


def parse_model_config(data: dict) -> ModelConfig:
    """Validate the ``model`` section of config.json and build a ModelConfig from it."""
    if not isinstance(data, dict):
        raise CheckpointError(f"config.json: 'model' should be an object, got {type(data).__name__}")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CheckpointError(f"config.json: unknown model keys {unknown}; valid: {sorted(known)}")
    shape = data.get("image_shape", [1, 28, 28])
    _check_type("image_shape", shape, isinstance(shape, list) and len(shape) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape), "3 positive integers")
    for name in ("z_dim", "s_dim", "training_steps", "pixelcnn_width", "pixelcnn_layers"):
        if name in data:
            v = data[name]
            _check_type(name, v, isinstance(v, int) and not isinstance(v, bool) and v >= (0 if name == "training_steps" else 1),
                        "a positive integer" if name != "training_steps" else "a non-negative integer")
    for name in ("method", "dataset", "decoder"):
        if name in data:
            _check_type(name, data[name], isinstance(data[name], str), "a string")
    if data.get("decoder", "plain") not in DECODERS:
        raise CheckpointError(f"config.json: unknown decoder {data['decoder']!r}; valid: {list(DECODERS)}")
    if data.get("method", "ccvae") not in METHODS:
        raise CheckpointError(f"config.json: unknown method {data['method']!r}; valid: {sorted(METHODS)}")
    names = data.get("class_names", [])
    _check_type("class_names", names, isinstance(names, list) and all(isinstance(n, str) for n in names), "a list of strings")
    factors = data.get("factor_names", {})
    _check_type("factor_names", factors, isinstance(factors, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(n, str) for n in v) for k, v in factors.items()),
        "an object of string lists")
    return ModelConfig(**data)


def read_config(path: str | Path) -> dict:
    path = Path(path)
    try:  # a folder the server may not read is reported like a missing one, never as a crash
        if not path.exists():
            raise CheckpointError(f"checkpoint folder {path} does not exist")
        if not path.is_dir():
            raise CheckpointError(f"{path} is not a checkpoint folder (expected a folder with {CONFIG} and {WEIGHTS})")
        if not (path / CONFIG).is_file():
            raise CheckpointError(f"{path} has no {CONFIG}; is it a checkpoint folder?")
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path / CONFIG} is not valid JSON: {err}") from err
    except OSError as err:
        raise CheckpointError(f"{path} cannot be read ({err.strerror or err})") from err
    if not isinstance(config, dict):
        raise CheckpointError(f"{path / CONFIG} should hold a JSON object")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{path / CONFIG}: format_version missing or not an integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} uses checkpoint format {version}, newer than this code reads "
                              f"({FORMAT_VERSION}); update CC-VAE Explorer")
    if "model" not in config:
        raise CheckpointError(f"{path / CONFIG} has no 'model' section")
    return config


def read_tensors(file: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; anything else (a pickle, a truncated file) is refused, not executed."""
    if not file.is_file():
        raise CheckpointError(f"{file} is missing")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{file} is not a valid safetensors file ({err}); "
                              "pickled .pt files are never loaded here") from err


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the model saved in checkpoint folder ``path``, in inference mode, on ``device``."""
    path = Path(path)
    config = parse_model_config(read_config(path)["model"])
    try:
        model = build_model(config)
    except ValueError as err:
        raise CheckpointError(f"{path / CONFIG}: {err}") from err
    state = read_tensors(path / WEIGHTS)
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{path / WEIGHTS} does not match its config: missing tensors {missing[:5]}, "
                              f"unexpected tensors {extra[:5]}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{path / WEIGHTS}: tensor {name} has shape {tuple(tensor.shape)}, "
                                  f"the config needs {tuple(expected[name].shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path / WEIGHTS}: tensor {name} contains NaN or inf")
    model.load_state_dict(state)
    return model.to(device).eval()


def load_metrics(path: str | Path) -> dict:
    file = Path(path) / METRICS
    try:
        if not file.is_file():
            return {}
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{file} is not valid JSON: {err}") from err
    except OSError as err:
        raise CheckpointError(f"{file} cannot be read ({err.strerror or err})") from err
    return data if isinstance(data, dict) else {}


def load_latents(path: str | Path) -> dict[str, torch.Tensor]:
    file = Path(path) / LATENTS
    return read_tensors(file) if file.is_file() else {}


def save_classifier(path: str | Path, net: torch.nn.Module, *, metrics: dict | None = None) -> Path:
    """Write an ``IdentityClassifier`` (and what it measured) as a folder, atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}

    def fill(folder: Path) -> None:
        write_json(folder / CLASSIFIER_CONFIG, {"format_version": FORMAT_VERSION, "classifier": net.config.to_dict(),
                                                "metrics": metrics or {}})
        save_file(state, str(folder / CLASSIFIER_WEIGHTS))

    return write_folder_atomic(path, fill)


def load_classifier(path: str | Path, *, device: str | torch.device = "cpu",
                    class_names: list[str] | None = None) -> torch.nn.Module:
    """The ``IdentityClassifier`` saved in folder ``path``, in inference mode, its parameters frozen. With
    ``class_names``, a classifier trained on other classes (whose labels would name other people) is refused."""
    from core.models.classifier import ClassifierConfig, IdentityClassifier

    path = Path(path)
    file = path / CLASSIFIER_CONFIG
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        net = IdentityClassifier(ClassifierConfig(**data["classifier"]))
    except FileNotFoundError as err:
        raise CheckpointError(f"{file} is missing: train one with python -m train.classifier") from err
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{file} is not an identity classifier's config ({err})") from err
    try:
        net.load_state_dict(read_tensors(path / CLASSIFIER_WEIGHTS))
    except RuntimeError as err:
        raise CheckpointError(f"{path / CLASSIFIER_WEIGHTS} does not match {file}: {err}") from err
    if class_names is not None and list(net.config.class_names) != list(class_names):
        raise CheckpointError(f"the classifier in {path} was trained on other classes ({len(net.config.class_names)}) "
                              f"than these data's ({len(class_names)}); train it on this split")
    net.requires_grad_(False)
    return net.to(device).eval()


# ------------------------------------------------------------------------------------ which weights

def weights_time(path: str | Path) -> int:
    """The weights file's modification time (ns; 0 when missing): part of every in-memory cache key
    (``core.service.ModelStore``), so a checkpoint rewritten on disk is loaded again."""
    try:
        return (Path(path) / WEIGHTS).stat().st_mtime_ns
    except OSError:
        return 0


_DIGESTS: dict[tuple, str] = {}  # (file, size, mtime) -> content digest, so each file is hashed once per process


def weights_digest(path: str | Path) -> str | None:
    """A digest of the checkpoint's weights and code statistics (generated galleries come from them), by
    content, not modification time: what files kept beside a checkpoint (its ``MAPS``) were made for, so
    maps shipped in git stay valid in a fresh clone. None without weights."""
    parts = []
    for name in (WEIGHTS, LATENTS):
        file = Path(path) / name
        try:
            st = file.stat()
        except OSError:
            if name == WEIGHTS:
                return None
            continue
        key = (str(file.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _DIGESTS:
            digest = hashlib.blake2b(digest_size=16)
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            _DIGESTS[key] = digest.hexdigest()
        parts.append(f"{name} {_DIGESTS[key]}")
    return "\n".join(parts)


def find_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint folders (those with a config.json) directly under ``root``, sorted by name."""
    root = Path(root)
    try:
        if not root.is_dir():
            return []
        entries = list(root.iterdir())
    except OSError:  # a root the server may not read lists nothing
        return []
    return sorted(p for p in entries if not p.name.startswith(".") and _is_checkpoint(p))


def _is_checkpoint(folder: Path) -> bool:
    try:
        return folder.is_dir() and (folder / CONFIG).is_file()
    except OSError:
        return False
