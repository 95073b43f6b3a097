"""The server's settings, in one object: the only module that reads a ``CCVAE_*`` environment variable.

``Settings`` is built from the environment (``from_env``) and the command-line flags of ``serve.py``,
``app.py`` (``streamlit run app.py -- --public``) and ``app_gradio.py`` (``add_flags`` / ``apply_flags``).
Everything else asks ``current()``, which re-reads the environment only when a ``CCVAE_*`` value changed
(tests switch them with ``monkeypatch.setenv``; a server sets them once, before its first request).

Flags are written back into the environment by ``apply_flags``: a Streamlit server runs each page as a
fresh script, and worker processes and child servers (the load test, the browser harness) inherit the
environment, so the environment is where a setting must live for all of them to see the same value.
``child_env`` gives a subprocess its environment with some settings changed.

Each default is written once, in ``Settings``: ``from_env`` passes on only the variables that are set, so
``Settings()`` and ``Settings.from_env({})`` are the same settings. Each variable is ``CCVAE_`` and its field's
name in capitals (``CCVAE_DEFAULT_MODEL`` for ``default_model``); ``DEPRECATED`` lists old names still read.

Importing this module has no side effects and imports nothing heavy (no torch).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "CCVAE_"

# the settings an environment variable gives (all but torch_threads, which follows OMP_NUM_THREADS)
FROM_ENV = ("public", "checkpoint_dir", "model_roots", "save_dir", "save_quota", "heavy_slots", "heavy_workers", "job_queue",
            "job_timeout", "heavy_nice", "data_dir", "cache_dir", "gradio_concurrency", "default_model", "warmed")
ENV = {name: PREFIX + name.upper() for name in FROM_ENV}  # field -> environment variable
DEPRECATED = {"CCVAE_DEFAULT_CHECKPOINT": "default_model"}  # old variable -> field: read when the new one is not set
PUBLIC_ENV, ROOTS_ENV, SAVE_ENV, CHECKPOINT_ENV = ENV["public"], ENV["model_roots"], ENV["save_dir"], ENV["checkpoint_dir"]
DATA_DIR_ENV, CACHE_ENV = ENV["data_dir"], ENV["cache_dir"]
TRUE = ("1", "true", "yes", "on")


def _cores() -> int:
    return os.cpu_count() or 1


def _half_the_cores() -> int:
    return max(1, _cores() // 2)


def _cores_at_most_2() -> int:
    return max(1, min(2, _cores()))


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "ccvae"


DERIVED = -1  # the default of a field worked out from the others (Settings.__post_init__)


@dataclass(frozen=True)
class Settings:
    """What an operator can set. Defaults are a single user's local server (the only place they are written)."""

    public: bool = False  # public mode: no path boxes, models only from the allow-listed roots, no server paths shown
    checkpoint_dir: Path = ROOT / "checkpoints"  # the shipped models: the first allow-listed root
    model_roots: tuple[Path, ...] = ()  # more allow-listed roots
    save_dir: Path | None = None  # where Train live saves (an allow-listed root too); None: checkpoint_dir
    save_quota: int = 50  # models users may save on this server
    heavy_slots: int = field(default_factory=_half_the_cores)  # heavy jobs running at a time
    heavy_workers: int = DERIVED  # heavy jobs started and not ended (each a worker process, about 0.5 GB; default: 4 per slot)
    job_queue: int = 32  # heavy jobs waiting
    job_timeout: float = 300.0  # seconds a heavy job may wait for its start
    heavy_nice: int = 5  # how much lower the CPU priority of heavy jobs is than that of clicks
    data_dir: str = ""  # a dataset whose test images replace the bundled sample images ("" for none)
    cache_dir: Path = field(default_factory=_cache_dir)  # aligned face crops
    gradio_concurrency: int = field(default_factory=_cores_at_most_2)  # Gradio events running at once
    default_model: str = "mnist"  # the model a new session opens (Streamlit and Gradio)
    warmed: str = ""  # non-empty once the model cache was warmed (or must not be: tests)
    # torch threads of a server process; None: OMP_NUM_THREADS decides (from_env, when it is set). Default: the cores
    # the heavy jobs' workers leave (at most 2): a torch thread more than cores free only spins
    torch_threads: int | None = DERIVED

    def __post_init__(self) -> None:
        if self.heavy_workers == DERIVED:
            object.__setattr__(self, "heavy_workers", 4 * self.heavy_slots)
        if self.torch_threads == DERIVED:
            object.__setattr__(self, "torch_threads", max(1, min(2, _cores() - self.heavy_slots)))

    @property
    def save_folder(self) -> Path:
        return self.save_dir or self.checkpoint_dir

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings an environment gives (default: this process's): each variable that is set, the defaults for
        the others; a value that does not parse raises ``ValueError`` naming the variable."""
        env = os.environ if env is None else env
        names = DEPRECATED | {var: name for name, var in ENV.items()}  # variable -> field, the new names read last
        kinds = {f.name: f.type for f in fields(cls)}
        given = {}
        for var, name in names.items():
            raw = env.get(var, "")
            if raw.strip():
                given[name] = _parse(kinds[name], raw, var)
        if "OMP_NUM_THREADS" in env:
            given["torch_threads"] = None
        return cls(**given)

    def to_env(self) -> dict[str, str]:
        """The environment variables that give these settings (the inverse of ``from_env``)."""
        out = {}
        for f in fields(self):
            if f.name not in ENV:
                continue
            value = getattr(self, f.name)
            if f.name == "model_roots":
                value = os.pathsep.join(str(r) for r in value)
            elif isinstance(value, bool):
                value = "1" if value else ""
            elif value is None:
                value = ""
            out[ENV[f.name]] = str(value)
        return out


def _parse(kind: str, raw: str, var: str):
    """The value of variable ``var`` for a field of type ``kind`` (its annotation, as written above)."""
    if kind == "bool":
        return raw.strip().lower() in TRUE
    if kind == "tuple[Path, ...]":
        return tuple(Path(r) for r in raw.split(os.pathsep) if r.strip())
    if kind in ("Path", "Path | None"):
        return Path(raw.strip())
    if kind in ("int", "float"):
        try:
            return (int if kind == "int" else float)(raw.strip())
        except ValueError:
            raise ValueError(f"{var}={raw.strip()!r} is not a number") from None
    return raw.strip()


_CACHE: tuple[tuple, Settings] | None = None


def current() -> Settings:
    """This process's settings (rebuilt only when a ``CCVAE_*`` variable or OMP_NUM_THREADS changed)."""
    global _CACHE
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX) or k == "OMP_NUM_THREADS"))
    cached = _CACHE
    if cached is None or cached[0] != key:
        cached = _CACHE = (key, Settings.from_env())
    return cached[1]


def add_flags(parser: argparse.ArgumentParser) -> None:
    """--public, --model-root DIR (repeatable), --save-dir DIR: the command-line form of the settings."""
    parser.add_argument("--public", action="store_true",
                        help=f"public mode (also {PUBLIC_ENV}=1): no path boxes, models only from the allow-listed roots")
    parser.add_argument("--model-root", action="append", type=Path, default=[], metavar="DIR",
                        help=f"another folder of checkpoints users may open (repeatable; also {ROOTS_ENV})")
    parser.add_argument("--save-dir", type=Path, help=f"where Train live saves models (also {SAVE_ENV}; default: checkpoints/)")


def apply_flags(args: argparse.Namespace, **changes) -> Settings:
    """Merge parsed flags (and ``changes``: field -> value) into this process's settings; returns them."""
    now = current()
    update: dict = dict(changes)
    if getattr(args, "public", False):
        update["public"] = True
    if getattr(args, "model_root", None):
        update["model_roots"] = (*now.model_roots, *(r.resolve() for r in args.model_root))
    if getattr(args, "save_dir", None):
        update["save_dir"] = args.save_dir.resolve()
    return configure(**update)


def configure(**changes) -> Settings:
    """Change this process's settings (field -> value) for it and the processes it starts."""
    unknown = sorted(set(changes) - set(ENV))
    if unknown:
        raise ValueError(f"unknown settings {unknown}; valid: {', '.join(ENV)}")
    from dataclasses import replace

    wanted = replace(current(), **changes).to_env()
    for name in changes:
        os.environ[ENV[name]] = wanted[ENV[name]]
    return current()


def parse_script_flags(argv: list[str]) -> None:
    """`streamlit run app.py -- --public --model-root DIR`: the flags after `--` reach the script's argv."""
    if not argv or Path(argv[0]).name != "app.py" or len(argv) < 2:
        return
    parser = argparse.ArgumentParser(add_help=False)
    add_flags(parser)
    args, _ = parser.parse_known_args(argv[1:])
    apply_flags(args)


def child_env(base: Mapping[str, str] | None = None, **changes) -> dict[str, str]:
    """An environment for a subprocess: ``base`` (default: this process's) with the settings ``changes``
    (field -> value; None removes the variable)."""
    env = dict(os.environ if base is None else base)
    for name, value in changes.items():
        if name not in ENV:
            raise ValueError(f"unknown setting {name!r}; valid: {', '.join(ENV)}")
        if value is None:
            env.pop(ENV[name], None)
            for old in (old for old, field_name in DEPRECATED.items() if field_name == name):
                env.pop(old, None)
        elif name == "model_roots":
            env[ENV[name]] = os.pathsep.join(str(r) for r in value)
        elif isinstance(value, bool):
            env[ENV[name]] = "1" if value else ""
        else:
            env[ENV[name]] = str(value)
    return env
