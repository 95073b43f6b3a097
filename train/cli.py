"""Build an argparse parser from a config dataclass: every field becomes ``--field-name``."""

from __future__ import annotations

import argparse
import dataclasses

from core.training import hardware  # noqa: F401 (one definition; the entry points' results tables)


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"(default: {default})")
        else:
            parser.add_argument(flag, type=type(default), default=None, metavar=type(default).__name__.upper(),
                                help=f"(default: {default!r})")


def overrides(args: argparse.Namespace, cls) -> dict:
    """The dataclass fields the user set on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if getattr(args, f.name, None) is not None}
