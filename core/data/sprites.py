"""Sprites (Reed et al., NIPS 2015): 672 game characters, each drawn in the same 178 frames.

Files, in ``root`` (or in ``root/sprites/``):
- ``sprites_uint8.npz``: Reed et al.'s ``sprites_N.mat`` files (N = 0..671) repacked losslessly as uint8:
  ``sprites`` (672, 178, 60, 60, 3), ``labels`` (672, 7), and per frame ``seq_id`` and ``frame_idx``
  (178,) with ``seq_lens`` (21,). Row N comes from ``sprites_N.mat``; ``masks`` is not read.
- ``sprites_splits.mat``: the original character split, 1-based ``trainidx`` (500), ``validx`` (72)
  and ``testidx`` (100); index k is row k - 1.

Frames. Each character has 21 sequences of 7, 8, 9, 6 and 13 frames (four of each), then one of 6.
Nothing in the files names them. We infer that they are spellcast, thrust, walk, slash and shoot, each
facing back, left, front and right, and then hurt. The inference rests on the frame counts, which match
the rows of a Liberated Pixel Cup sprite sheet, and on looking at the frames; no spec confirms it.
Hurt is drawn only facing the viewer, so its ``view`` is "front".

Attributes. Reed et al. list body, sex, hair, armor, arm, greaves and weapon types, but not the column
order. We named the columns by looking at characters that differ in one column only: sex (2 values;
the hair styles depend on it), body (4 skin colours), armor (3), hair (6), arms (2), greaves (2) and
weapon (bow or spear). The weapon is drawn only in the shoot (bow) or thrust (spear) frames.

Splits. ``train`` and ``test`` both use the 500 training characters. For each character, ``test``
holds out ``TEST_SEQUENCES`` whole sequences drawn with ``seed``, and ``train`` keeps the other 17.
We hold out whole sequences, not random frames, because neighbouring frames of a sequence are near
copies of each other. ``unseen`` is the original 100 test characters and ``val`` the 72 validation
characters, all frames of each; neither is ever used in training.

The label is ``factor``: ``identity`` (the default: the character's index within the split, with class
name ``sprite<N>`` for row N), ``action``, ``view`` or one of the attributes. Every other factor is kept
in ``factors``; identity is among them when it is not the label. Images are zero-padded by 2 pixels on
each side, to (3, 64, 64), to fit the 64x64 network.
Loading streams the compressed array once and keeps only the frames it needs, so memory holds only the
chosen frames (the train split: 71,893 frames, 0.9 GB). Decompressing the 1.3 GB takes 2 to 6 s on one core.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from scipy.io import loadmat
from scipy.io.matlab import MatReadError

from core.data.base import DataError, ImageSet

NPZ_FILE, SPLITS_FILE = "sprites_uint8.npz", "sprites_splits.mat"
SOURCE = ("the sprites of Reed et al. 2015 (nips2015-analogy-data.tar.gz, "
          "http://www-personal.umich.edu/~reedscot/files/nips2015-analogy-data.tar.gz) repacked as uint8; "
          "see shared/data/PROVENANCE.md")
ACTIONS = ("spellcast", "thrust", "walk", "slash", "shoot", "hurt")
VIEWS = ("back", "left", "front", "right")
SEQ_LENS = (7,) * 4 + (8,) * 4 + (9,) * 4 + (6,) * 4 + (13,) * 4 + (6,)  # 178 frames
HURT = len(SEQ_LENS) - 1  # the one sequence with a single view
ATTRIBUTES = {  # label column order; value names where we saw them, else the value itself
    "sex": ["0", "1"], "body": ["0", "1", "2", "3"], "armor": ["0", "1", "2"], "hair": [str(v) for v in range(6)],
    "arms": ["0", "1"], "greaves": ["0", "1"], "weapon": ["bow", "spear"],
}
FACTORS = ("identity", "action", "view", *ATTRIBUTES)
SPLITS = {"train": "trainidx", "test": "trainidx", "unseen": "testidx", "val": "validx"}
TEST_SEQUENCES = 4
FRAME_SHAPE, PAD = (60, 60, 3), 2


def sprites_root(root: str | Path) -> Path:
    """Accept the folder with the files or a folder that contains ``sprites/``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Sprites folder {root} does not exist; it should hold {NPZ_FILE} and {SPLITS_FILE}, "
                        f"{SOURCE}")
    root = root / "sprites" if (root / "sprites" / NPZ_FILE).is_file() else root
    for name in (NPZ_FILE, SPLITS_FILE):
        if not (root / name).is_file():
            raise DataError(f"Sprites: {root / name} not found; expected {NPZ_FILE} and {SPLITS_FILE} in {root}, "
                            f"{SOURCE}")
    return root


def read_layout(path: Path) -> dict[str, np.ndarray]:
    """The small arrays of the npz, checked against the frame layout this module assumes."""
    try:
        with np.load(path) as npz:
            missing = sorted({"sprites", "labels", "seq_id", "frame_idx", "seq_lens"} - set(npz.files))
            arrays = {k: npz[k] for k in ("labels", "seq_id", "frame_idx", "seq_lens") if k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"cannot read {path} as a .npz archive: {err}") from err
    if missing:
        raise DataError(f"{path} lacks the array(s) {missing}")
    labels, seq_lens = arrays["labels"], arrays["seq_lens"]
    if labels.ndim != 2 or labels.shape[1] != len(ATTRIBUTES):
        raise DataError(f"{path}: labels should be (characters, {len(ATTRIBUTES)}), got {labels.shape}")
    if tuple(seq_lens.tolist()) != SEQ_LENS:
        raise DataError(f"{path}: seq_lens {seq_lens.tolist()} differ from the layout this loader knows, {list(SEQ_LENS)}")
    seq_id = np.repeat(np.arange(len(SEQ_LENS)), SEQ_LENS)
    frame_idx = np.concatenate([np.arange(n) for n in SEQ_LENS])
    if not (np.array_equal(arrays["seq_id"], seq_id) and np.array_equal(arrays["frame_idx"], frame_idx)):
        raise DataError(f"{path}: seq_id / frame_idx do not list the {len(SEQ_LENS)} sequences in order")
    for j, (name, values) in enumerate(ATTRIBUTES.items()):
        if labels[:, j].min() < 0 or labels[:, j].max() >= len(values):
            raise DataError(f"{path}: label column {j} ({name}) should hold 0..{len(values) - 1}")
    return arrays


def read_splits(path: Path, num_characters: int) -> dict[str, np.ndarray]:
    """``sprites_splits.mat`` as sorted 0-based rows: {"trainidx", "validx", "testidx"}."""
    try:
        mat = loadmat(path)
    except (OSError, ValueError, TypeError, MatReadError) as err:
        raise DataError(f"cannot read {path} as a MATLAB file: {err}") from err
    out = {}
    for key in ("trainidx", "validx", "testidx"):
        if key not in mat:
            raise DataError(f"{path} has no {key} (it holds {sorted(k for k in mat if not k.startswith('__'))})")
        rows = np.sort(np.asarray(mat[key], dtype=np.int64).ravel()) - 1  # MATLAB indices are 1-based
        if rows.size == 0 or rows[0] < 0 or rows[-1] >= num_characters:
            raise DataError(f"{path}: {key} should hold indices in 1..{num_characters}")
        out[key] = rows
    joined = np.concatenate(list(out.values()))
    if np.unique(joined).size != joined.size:
        raise DataError(f"{path}: trainidx, validx and testidx overlap")
    return out


def _sequence_frames(frames_per_sequence: int) -> list[np.ndarray]:
    """Frame numbers (0..177) of each sequence: all, or ``frames_per_sequence`` evenly spaced."""
    starts = np.cumsum((0, *SEQ_LENS[:-1]))
    if frames_per_sequence <= 0:
        return [start + np.arange(n) for start, n in zip(starts, SEQ_LENS)]
    return [start + np.unique(np.linspace(0, n - 1, min(n, frames_per_sequence)).round().astype(int))
            for start, n in zip(starts, SEQ_LENS)]


def _choose_frames(split: str, rows: np.ndarray, seed: int, frames_per_sequence: int) -> list[np.ndarray]:
    """The frames of each character in ``rows``: whole sequences, held out per character for train/test."""
    sequences = _sequence_frames(frames_per_sequence)
    everything = np.concatenate(sequences)
    if split not in ("train", "test"):
        return [everything] * len(rows)
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in rows:
        held = np.zeros(len(SEQ_LENS), dtype=bool)
        held[rng.choice(len(SEQ_LENS), TEST_SEQUENCES, replace=False)] = True
        keep = held if split == "test" else ~held
        chosen.append(np.concatenate([s for s, k in zip(sequences, keep) if k]))
    return chosen


def _npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(f)


def _read_frames(path: Path, rows: np.ndarray, frames: list[np.ndarray]) -> torch.Tensor:
    """Stream ``sprites`` out of the npz, character by character: (N, 3, 64, 64) uint8, zero-padded."""
    wanted = dict(zip(rows.tolist(), frames))
    out = torch.zeros((sum(len(f) for f in frames), 3, FRAME_SHAPE[0] + 2 * PAD, FRAME_SHAPE[1] + 2 * PAD),
                      dtype=torch.uint8)
    inner = (slice(None), slice(None), slice(PAD, PAD + FRAME_SHAPE[0]), slice(PAD, PAD + FRAME_SHAPE[1]))
    per_character = (sum(SEQ_LENS), *FRAME_SHAPE)
    block = int(np.prod(per_character))
    try:
        with zipfile.ZipFile(path) as archive, archive.open("sprites.npy") as f:
            shape, fortran, dtype = _npy_header(f)
            if tuple(shape[1:]) != per_character or dtype != np.uint8 or fortran or shape[0] <= rows.max():
                raise DataError(f"{path}: sprites should be uint8 (characters, {', '.join(map(str, per_character))}) "
                                f"in C order with more than {rows.max()} characters, got {dtype} {shape}")
            at = 0
            for row in range(int(rows.max()) + 1):
                data = f.read(block)
                if len(data) < block:
                    raise DataError(f"{path}: sprites ends inside character {row}; the file is truncated")
                if row in wanted:  # fancy indexing copies, so the read-only buffer is not shared
                    x = np.frombuffer(data, dtype=np.uint8).reshape(per_character)[wanted[row]]
                    out[at: at + len(x)][inner] = torch.from_numpy(x).permute(0, 3, 1, 2)
                    at += len(x)
    except (KeyError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"cannot read the sprites array from {path}: {err}") from err
    return out


def load_sprites(root: str | Path, split: str = "train", *, factor: str = "identity", seed: int = 0,
                 frames_per_sequence: int = 0) -> ImageSet:
    """Sprites ``split`` ("train", "test", "unseen" or "val") as (N, 3, 64, 64) uint8 images.

    ``frames_per_sequence`` > 0 keeps that many evenly spaced frames of each sequence (for quick
    experiments); 0 keeps them all. ``seed`` picks the sequences that "test" holds out.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown Sprites split {split!r}; valid: {', '.join(SPLITS)}")
    if factor not in FACTORS:
        raise ValueError(f"unknown Sprites factor {factor!r}; valid: {', '.join(FACTORS)}")
    root = sprites_root(root)
    layout = read_layout(root / NPZ_FILE)
    attributes = layout["labels"].astype(np.int64)
    rows = read_splits(root / SPLITS_FILE, len(attributes))[SPLITS[split]]
    frames = _choose_frames(split, rows, seed, frames_per_sequence)
    images = _read_frames(root / NPZ_FILE, rows, frames)

    frame = np.concatenate(frames)  # (N,) frame number of each image, 0..177
    character = np.repeat(np.arange(len(rows)), [len(f) for f in frames])  # (N,) index into rows
    sequence = layout["seq_id"][frame]
    values = {"identity": character, "action": sequence // len(VIEWS),
              "view": np.where(sequence == HURT, VIEWS.index("front"), sequence % len(VIEWS))}
    values |= {name: attributes[rows[character], j] for j, name in enumerate(ATTRIBUTES)}
    names = {"identity": [f"sprite{r}" for r in rows.tolist()], "action": list(ACTIONS), "view": list(VIEWS)}
    names |= {name: list(v) for name, v in ATTRIBUTES.items()}
    labels, class_names = values.pop(factor), names.pop(factor)
    return ImageSet(images, torch.from_numpy(labels.astype(np.int64)), class_names, f"sprites:{split}",
                    {k: torch.from_numpy(v.astype(np.int64)) for k, v in values.items()}, names)
