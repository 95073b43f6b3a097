"""Saving a model a user trained (Train live) into a folder other users can open, safely.

- Names are plain ASCII, ``[A-Za-z0-9_-]{1,40}``: no path separators, no dots, no look-alike letters
  (a Cyrillic "і" in "mnіst" is refused), so a name is a folder name and reads the same to everyone.
- ``reserve`` creates the folder with an exclusive ``mkdir`` *before* the slow work (encoding the
  training images for the checkpoint's statistics), so of two users saving one name at the same
  moment exactly one gets it; the other is told the name is taken. An existing folder is never
  replaced or written into.
- ``write_reserved`` fills a private temporary sibling and renames it onto the (still empty)
  reserved folder: a killed save leaves an empty folder or a complete checkpoint, never half of one.
- A per-server quota bounds how many models users may save (``CCVAE_SAVE_QUOTA``, default 50).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from core import settings
from core.checkpoint import CONFIG

NAME = re.compile(r"[A-Za-z0-9_-]{1,40}", re.ASCII)
MARK = ".saved_by_app"  # a file in every folder saved through the app: what the quota counts
DEFAULT_QUOTA = 50


class SaveError(ValueError):
    """The model cannot be saved under this name; the message says why (and names no server path)."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a model name; None when it can."""
    if not NAME.fullmatch(name):
        return (f"“{name[:60]}” cannot be a model name: use 1 to 40 plain letters (A-Z, a-z), digits, '-' or '_' "
                "(no spaces, dots, slashes or accented or non-Latin letters).")
    return None


def default_name() -> str:
    """A fresh name per session (``live-3fa2c1``), so two students never aim at one folder by default."""
    return f"live-{secrets.token_hex(3)}"


def quota() -> int:
    return settings.current().save_quota


def saved_count(root: Path) -> int:
    """Folders under ``root`` that were saved (or reserved) through the app."""
    try:
        return sum(1 for p in root.iterdir() if (p / MARK).exists())
    except OSError:
        return 0


def reserve(root: str | Path, name: str) -> Path:
    """Create the empty folder ``root/name`` for this save alone; ``SaveError`` if the name is bad or
    taken, or the quota is used up."""
    problem = name_problem(name)
    if problem:
        raise SaveError(problem)
    root = Path(root)
    if saved_count(root) >= quota():
        raise SaveError(f"This server already holds {quota()} models saved from the app (its quota); ask the "
                        "teacher to remove some.")
    folder = root / name
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder.mkdir()  # exclusive: fails when the folder exists, whoever made it
    except FileExistsError:
        raise SaveError(f"A model named “{name}” already exists: choose another name.") from None
    except OSError as err:
        raise SaveError(f"The model cannot be saved here ({err.strerror or 'not writable'}).") from None
    (folder / MARK).write_text(json.dumps({"pid": os.getpid()}) + "\n")
    return folder


def write_reserved(folder: Path, fill: Callable[[Path], None]) -> Path:
    """Let ``fill`` write a checkpoint into a private temporary sibling of the reserved ``folder``,
    then rename it onto ``folder``. The reservation is given back (the folder removed) on failure."""
    if not (folder / MARK).is_file() or any(p.name != MARK for p in folder.iterdir()):
        raise SaveError(f"“{folder.name}” is not an empty folder reserved by this save.")
    tmp = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.mkdir()
        fill(tmp)
        if not (tmp / CONFIG).is_file():
            raise SaveError("the checkpoint was not written completely")
        (tmp / MARK).write_text((folder / MARK).read_text())
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        (folder / MARK).unlink()
        os.rename(tmp, folder)  # onto the empty reserved folder; refused if anything else filled it
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        release(folder)
        raise
    return folder


def release(folder: Path) -> None:
    """Give a reservation back: remove the folder if it holds nothing but our mark."""
    try:
        if all(p.name == MARK for p in folder.iterdir()):
            (folder / MARK).unlink(missing_ok=True)
            folder.rmdir()
    except OSError:
        pass
