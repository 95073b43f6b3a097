"""Command-line helpers: a parser from a config dataclass (every field becomes ``--field-name``), the parser every
command starts from, and a one-line description of the machine."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import torch

from core.training import hardware  # noqa: F401 (one definition; the entry points' results tables)


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if f.name in FOLDER_LISTS:
            parser.add_argument(flag, nargs="+", default=None, metavar="DIR",
                                help="data folder; several are read as one set (CelebA: one class index)")
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"(default: {default})")
        else:
            parser.add_argument(flag, type=type(default), default=None, metavar=type(default).__name__.upper(),
                                help=f"(default: {default!r})")


FOLDER_LISTS = ("data_dir",)  # options that take several folders, kept in the config joined by os.pathsep


def overrides(args: argparse.Namespace, cls) -> dict:
    """The dataclass fields the user set on the command line."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
              if getattr(args, f.name, None) is not None}
    return values | {k: os.pathsep.join(map(str, v)) for k, v in values.items()
                     if k in FOLDER_LISTS and isinstance(v, list)}


def command_parser(prog: str, doc: str | None, *, threads: int | None = None,
                   dry_run: str | None = None) -> argparse.ArgumentParser:
    """The parser every command starts from: its module docstring as the help text; ``--threads`` (torch CPU
    threads, given ``threads`` as the default; 0: torch's own) and ``--dry-run`` (given its help) when asked for.
    Parse it with ``parse_command`` so --threads takes effect."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if threads is not None:
        parser.add_argument("--threads", type=int, default=threads, help="torch CPU threads (0: torch's default)")
    if dry_run:
        parser.add_argument("--dry-run", action="store_true", help=dry_run)
    return parser


def parse_command(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, then torch's CPU threads set from --threads where given."""
    args = parser.parse_args(argv)
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    return args


def write_result(path: Path, result: dict) -> None:
    """A command's ``--out`` file: ``result`` as JSON (its folder made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
