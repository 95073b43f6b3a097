"""The server's settings, in one object: the only module that reads a ``CCVAE_*`` environment variable.

``Settings`` is built from the environment (``from_env``) and the command-line flags of ``serve.py``,
``app.py`` (``streamlit run app.py -- --public``) and ``app_gradio.py`` (``add_flags`` / ``apply_flags``).
Everything else asks ``current()``, which re-reads the environment only when a ``CCVAE_*`` value changed
(tests switch them with ``monkeypatch.setenv``; a server sets them once, before its first request).

Flags are written back into the environment by ``apply_flags``: a Streamlit server runs each page as a
fresh script, and worker processes and child servers (the load test, the browser harness) inherit the
environment, so the environment is where a setting must live for all of them to see the same value.
``child_env`` gives a subprocess its environment with some settings changed.

Importing this module has no side effects and imports nothing heavy (no torch).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "CCVAE_"

# field -> environment variable
ENV = {
    "public": "CCVAE_PUBLIC",
    "checkpoint_dir": "CCVAE_CHECKPOINT_DIR",
    "model_roots": "CCVAE_MODEL_ROOTS",
    "save_dir": "CCVAE_SAVE_DIR",
    "save_quota": "CCVAE_SAVE_QUOTA",
    "heavy_slots": "CCVAE_HEAVY_SLOTS",
    "heavy_workers": "CCVAE_HEAVY_WORKERS",
    "job_queue": "CCVAE_JOB_QUEUE",
    "job_timeout": "CCVAE_JOB_TIMEOUT",
    "heavy_nice": "CCVAE_HEAVY_NICE",
    "data_dir": "CCVAE_DATA_DIR",
    "cache_dir": "CCVAE_CACHE_DIR",
    "gradio_concurrency": "CCVAE_GRADIO_CONCURRENCY",
    "default_model": "CCVAE_DEFAULT_CHECKPOINT",
    "warmed": "CCVAE_WARMED",
}
PUBLIC_ENV, ROOTS_ENV, SAVE_ENV, CHECKPOINT_ENV = ENV["public"], ENV["model_roots"], ENV["save_dir"], ENV["checkpoint_dir"]
DATA_DIR_ENV, CACHE_ENV = ENV["data_dir"], ENV["cache_dir"]
TRUE = ("1", "true", "yes", "on")


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    """What an operator can set. Defaults are a single user's local server."""

    public: bool = False  # public mode: no path boxes, models only from the allow-listed roots, no server paths shown
    checkpoint_dir: Path = ROOT / "checkpoints"  # the shipped models: the first allow-listed root
    model_roots: tuple[Path, ...] = ()  # more allow-listed roots
    save_dir: Path | None = None  # where Train live saves (an allow-listed root too); None: checkpoint_dir
    save_quota: int = 50  # models users may save on this server
    heavy_slots: int = 1  # heavy jobs running at a time
    heavy_workers: int = 4  # heavy jobs started and not ended (each a worker process, about 0.5 GB): the others wait
    job_queue: int = 32  # heavy jobs waiting
    job_timeout: float = 300.0  # seconds a heavy job may wait for its start
    heavy_nice: int = 5  # how much lower the CPU priority of heavy jobs is than that of clicks
    data_dir: str = ""  # a dataset whose test images replace the bundled sample images ("" for none)
    cache_dir: Path = Path.home() / ".cache" / "ccvae"  # aligned face crops
    gradio_concurrency: int = 1  # Gradio events running at once
    default_model: str = "mnist"  # the model a new Streamlit session opens
    warmed: str = ""  # non-empty once the model cache was warmed (or must not be: tests)
    torch_threads: int | None = None  # torch threads of a server process; None: OMP_NUM_THREADS decides

    @property
    def save_folder(self) -> Path:
        return self.save_dir or self.checkpoint_dir

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings an environment gives (default: this process's); a value that does not parse raises
        ``ValueError`` naming the variable."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(ENV[name], "").strip()

        def number(name: str, kind, default):
            raw = get(name)
            try:
                return kind(raw) if raw else default
            except ValueError:
                raise ValueError(f"{ENV[name]}={raw!r} is not a number") from None

        cores = _cores()
        heavy_slots = number("heavy_slots", int, max(1, cores // 2))
        return cls(
            public=get("public").lower() in TRUE,
            checkpoint_dir=Path(get("checkpoint_dir") or ROOT / "checkpoints"),
            model_roots=tuple(Path(r) for r in env.get(ENV["model_roots"], "").split(os.pathsep) if r.strip()),
            save_dir=Path(get("save_dir")) if get("save_dir") else None,
            save_quota=number("save_quota", int, 50),
            heavy_slots=heavy_slots,
            heavy_workers=number("heavy_workers", int, 4 * heavy_slots),
            job_queue=number("job_queue", int, 32),
            job_timeout=number("job_timeout", float, 300.0),
            heavy_nice=number("heavy_nice", int, 5),
            data_dir=get("data_dir"),
            cache_dir=Path(get("cache_dir") or Path.home() / ".cache" / "ccvae"),
            gradio_concurrency=number("gradio_concurrency", int, max(1, min(2, cores))),
            default_model=get("default_model") or "mnist",
            warmed=get("warmed"),
            # the cores the heavy jobs' workers leave (at most 2): a torch thread more than cores free only spins
            torch_threads=None if "OMP_NUM_THREADS" in env else max(1, min(2, cores - heavy_slots)),
        )

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
        elif name == "model_roots":
            env[ENV[name]] = os.pathsep.join(str(r) for r in value)
        elif isinstance(value, bool):
            env[ENV[name]] = "1" if value else ""
        else:
            env[ENV[name]] = str(value)
    return env
