"""A few-shot session on photos of a new identity (report Fig. 4.14-4.16), for the Few-shot page and the
Gradio few-shot tab alike.

``face_model_choice`` says which model photos of people go to; ``FewShot`` holds one model's stored
styles and prototypes and turns photos into what the front ends show: the crops the model sees
(``prepare``), the person under every stored style (``zero_shot``), dlib's likeness (``likeness``), a
private fine-tuned copy (``fine_tune_work``, run in the heavy-job pool by the caller), the person mixed
with known identities (``mixed``), a strip from a known identity (``from_known``) and where the person's s
falls among the stored ones (``identity_map``). The shared model is never changed.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core import align, service, session, workers
from core.checkpoint import CheckpointError, parse_model_config, read_config
from core.data import DataError, load_dataset, spec_for
from core.explore import decode_grid, interpolate_codes, tile
from core.features import Tile, View, evenly_spread, picture
from core.fewshot import DEFAULT_STEPS, GUARD_GROWTH, fine_tune, known_styles, mean_s, recommended_part, reference_images
from core.limits import MAX_FINE_TUNE_STEPS, MAX_PHOTOS, LimitError, check
from core.models import Progress
from core.upload import CROP_MODES, Prepared, UploadError, prepare_for

__all__ = ["AUTOMATIC_CROPS", "CROP_MODES", "DEFAULT_STEPS", "MAX_FINE_TUNE_STEPS", "MAX_PHOTOS", "FewShot",
           "IdentityMap", "LikenessReport", "Photos", "Shots", "View", "check_photo_count", "face_model_choice", "fine_tune_caption",
           "zero_shot_notes"]

AUTOMATIC_CROPS = CROP_MODES[:2]  # the crops that need no box drawn by hand
REFERENCE_IMAGES = 512  # training images a fine-tune mixes in, from a local dataset


def check_photo_count(count: int) -> None:
    """``LimitError`` for no photos or more than ``MAX_PHOTOS`` (both apps refuse, with these words)."""
    if count == 0:
        raise LimitError(f"no photos: upload 1 to {MAX_PHOTOS} images of one new identity")
    if count > MAX_PHOTOS:
        raise LimitError(f"{count} photos uploaded; the limit is {MAX_PHOTOS}: remove {count - MAX_PHOTOS}")


def fine_tune_caption(model, steps: int) -> str:
    """What a fine-tuned copy is, in words: the steps it kept, and why it stopped early when its guard stopped it
    (``core.fewshot.fit_decoder``: the held-back upload's error grew past ``GUARD_GROWTH`` x its zero-shot value)."""
    kept, ran = getattr(model, "fine_tune_kept", steps), getattr(model, "fine_tune_ran", steps)
    if ran >= steps and kept == ran:
        return f"After {steps} fine-tuning steps (your private copy)"
    if kept == 0:
        return (f"Zero-shot decoder kept: after {ran} steps your last photo, held back, was drawn more than "
                f"{GUARD_GROWTH:g}x worse than before, already at the first check (your private copy)")
    return (f"After {kept} fine-tuning steps: stopped at step {ran} of {steps}, when your last photo, held back, was "
            f"drawn more than {GUARD_GROWTH:g}x worse than before (your private copy)")


def face_model_choice(path: str | None, models: dict | None = None) -> str | None:
    """The server's face model (``core.service.face_model_name``) to open instead of the model at ``path``,
    or None when ``path`` is a face model itself (or cannot be read: opening it says why) or no face
    model is listed."""
    if not path:
        return None
    try:
        if service.is_face_model(parse_model_config(read_config(path)["model"])):
            return None
    except CheckpointError:
        return None
    return service.face_model_name(service.list_models() if models is None else models)


@dataclass(frozen=True)
class Photos:
    """Photos as the model's inputs, with what the front ends show about them."""

    x: torch.Tensor  # (n, C, H, W) in [0, 1]
    crops: list[np.ndarray]  # what the model sees, uint8 (H, W, C)
    names: list[str]
    notes: list[str]  # per photo: "name: what was done" (face found, cropped by hand, ...)
    errors: list[str]  # per photo that cannot be used: why

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.x.numpy().tobytes()).hexdigest()

    def sheet(self) -> np.ndarray:
        """The crops side by side."""
        stack = np.stack([c.reshape(*c.shape[:2], -1) for c in self.crops])
        return tile(torch.from_numpy(stack).permute(0, 3, 1, 2).float().div(255), nrow=len(self.crops))


@dataclass
class Shots:
    """Webcam photos kept for one session, as (name, bytes): each new photo once (a camera widget keeps returning
    its last one), the last ``MAX_PHOTOS`` at most."""

    photos: list[tuple[str, bytes]] = field(default_factory=list)
    last: str = ""
    taken: int = 0

    def add(self, data: bytes) -> None:
        digest = hashlib.sha1(data).hexdigest()
        if digest != self.last:
            self.last, self.taken = digest, self.taken + 1
            self.photos.append((f"webcam-{self.taken}.jpg", data))
            del self.photos[:-MAX_PHOTOS]

    def caption(self) -> str:
        n = len(self.photos)
        return f"{n} webcam photo{'s' if n > 1 else ''} kept (the last {MAX_PHOTOS} at most)."


@dataclass(frozen=True)
class LikenessReport:
    """dlib's face-recognition distance of generated faces to the photos (a measurement, never a loss)."""

    mean: float
    closest: float
    within: float  # share within SAME_PERSON, in [0, 1]
    between_photos: float | None  # the photos' mean distance to each other (None for one photo)
    same_person: float
    strangers: float | None = None  # renders of stored identities (same styles): mean distance to your photos
    beats_strangers: float | None = None  # share of (yours, stranger's) render pairs where yours is closer

    def text(self) -> str:
        text = (f"**Likeness**: the generated faces are {self.mean:.2f} from your photos on average (closest "
                f"{self.closest:.2f}; {100 * self.within:.0f}% within {self.same_person}), by dlib's face recogniser, a "
                f"network we did not train: two photos less than {self.same_person} apart are usually the same person.")
        if self.beats_strangers is not None:
            text += (f" Renders of other people the model knows, in the same styles, are {self.strangers:.2f} from your "
                     f"photos: yours are the closer in {100 * self.beats_strangers:.0f}% of pairs ({self.verdict()}).")
        return text

    def verdict(self) -> str:
        """What ``beats_strangers`` says, in words: 50% is no more like you than anyone the model knows."""
        b = self.beats_strangers
        if b is None:
            return ""
        if b < 0.6:
            return "about chance: the renders show a face, not yet you"
        if b < 0.8:
            return "somewhat like you, more than like the model's other people"
        return "clearly more like you than like the model's other people"

    def tiles(self, label: str) -> list[Tile]:
        """The headline numbers, ``label`` naming what was generated (zero-shot, fine-tuned)."""
        tiles = [Tile(f"Likeness ({label})", f"{self.mean:.2f}", "Mean dlib distance of the generated faces to your photos"),
                 Tile("Closest style", f"{self.closest:.2f}"), Tile(f"Within {self.same_person}", f"{100 * self.within:.0f}%")]
        if self.between_photos is not None:
            tiles.append(Tile("Your photos to each other", f"{self.between_photos:.2f}"))
        if self.beats_strangers is not None:
            tiles.append(Tile("Closer than strangers", f"{100 * self.beats_strangers:.0f}%",
                              f"Share of pairs in which your render is closer to your photos than a render of someone "
                              f"the model knows ({self.strangers:.2f} on average); 50% is chance"))
        return tiles

    def explanation(self) -> str:
        return (f"dlib's face recogniser (a network we did not train) maps a face to 128 numbers; two photos less than "
                f"{self.same_person} apart are usually the same person, so lower is more alike. Each generated face is "
                f"compared with the mean of your photos.")


@dataclass(frozen=True)
class IdentityMap:
    """The stored identity codes and the photos' mean s on the first two principal components of s."""

    xy: np.ndarray  # (N, 2) stored codes
    labels: np.ndarray  # (N,) their identities
    names: list[str]  # per stored code
    star: np.ndarray  # (1, 2) the photos' mean s


@functools.lru_cache(maxsize=2)
def _unseen(family: str, data_dir: str, image_size: int, channels: int):
    """The unseen identities' photos of a local dataset, loaded once per server; in a worker process, because
    CelebA's are found and aligned by dlib (seconds for the first load, which would hold the server's interpreter)."""
    return workers.run(load_dataset, family, data_dir, "unseen", image_size=image_size, channels=channels)


def training_subset(dataset: str, data_dir: str, image_size: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``REFERENCE_IMAGES`` seeded training images of a local dataset and their labels (for fine-tuning)."""
    data = load_dataset(dataset, data_dir, "train", image_size=image_size, channels=channels)
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:REFERENCE_IMAGES]
    return data.floats(idx), data.labels[idx]


@functools.lru_cache(maxsize=2)
def _training_subset(dataset: str, data_dir: str, image_size: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``training_subset`` once per server, read in a worker process (CelebA's photos are aligned by dlib)."""
    return workers.run(training_subset, dataset, data_dir, image_size, channels)


class FewShot:
    """One model's few-shot session: its stored styles (z) and identities (prototypes of s).

    ``ValueError`` when the checkpoint stores no z codes to render with."""

    def __init__(self, loaded: session.Loaded, data_dir: str = "", *, progress: Progress | None = None):
        self.loaded, self.data_dir, self.progress = loaded, data_dir, progress
        self.model = loaded.model
        self.styles, self.style_names = known_styles(loaded.model, loaded.latents)

    @functools.cached_property
    def prototypes(self) -> torch.Tensor:
        images = session.gallery(self.loaded, self.data_dir)
        return session.prototypes(self.loaded, images, lambda: session.gallery_codes(self.loaded, self.data_dir))

    @functools.cached_property
    def class_names(self) -> list[str]:
        return list(self.model.config.class_names or [str(i) for i in range(self.prototypes.shape[0])])

    @property
    def key(self) -> str:
        return str(self.loaded.path)

    # ------------------------------------------------------------------------------------ photos

    def prepare(self, photos: list[tuple[str, bytes]], crop: str = CROP_MODES[0],
                boxes: dict[int, tuple[float, float, float] | None] | None = None, cache: dict | None = None) -> Photos | None:
        """Photos (name, bytes) as the model's inputs, each prepared in a worker process (``core.workers``); a photo
        that cannot be used is left out with its reason in ``errors``. ``cache`` (a session's dict) keeps at most
        ``MAX_PHOTOS`` prepared photos. None when no photo is given."""
        if not photos:
            return None
        check_photo_count(len(photos))
        cfg = self.model.config
        cache = {} if cache is None else cache
        tensors, crops, names, notes, errors = [], [], [], [], []
        for i, (name, data) in enumerate(photos):
            box = (boxes or {}).get(i)
            key = (hashlib.sha1(data).hexdigest(), crop, box, cfg.image_shape, cfg.dataset)
            if key not in cache:
                stats = {k: v for k, v in self.loaded.latents.items() if k == "pixel_stats"}
                try:  # in a worker process: dlib's face detector holds the interpreter while it looks
                    cache[key] = workers.run(prepare_for, cfg, stats, data, name=name, crop=crop, manual_box=box)
                except UploadError as err:
                    cache[key] = err
            while len(cache) > MAX_PHOTOS:  # bounded per-session memory
                cache.pop(next(iter(cache)))
            result: Prepared | UploadError = cache[key]
            if isinstance(result, UploadError):
                errors.append(str(result))
                continue
            tensors.append(result.tensor)
            crops.append(result.crop)
            names.append(name)
            notes.append(f"{name}: {'; '.join(result.notes) or 'face found'}")
        x = torch.stack(tensors) if tensors else torch.zeros(0, *cfg.image_shape)
        return Photos(x, crops, names, notes, errors)

    @property
    def unseen_family(self) -> str | None:
        """The face dataset whose unseen identities suit this model (its spec's ``unseen``), None for other models."""
        spec = spec_for(self.model.config.dataset)
        return spec.name if spec.unseen else None

    @property
    def unseen_names(self) -> tuple[str, ...]:
        return spec_for(self.model.config.dataset).unseen

    @property
    def unseen_label(self) -> str:
        """What the picker offers, in words."""
        source = spec_for(self.model.config.dataset).title if self.unseen_family else ""
        return f"…or a person the model never saw (from your local {source} copy)"

    def _unseen_set(self):
        cfg = self.model.config
        return _unseen(self.unseen_family, str(Path(self.data_dir).resolve()), cfg.image_shape[1], cfg.image_shape[0])

    def unseen_available(self) -> str | None:
        """Why no unseen identity can be offered (None when they can): a face model (Yale B, CelebA) and its local
        dataset are needed. The first call loads the dataset's unseen split (CelebA: seconds, in a worker)."""
        if not (self.data_dir and self.unseen_family):
            return "not a Yale B or CelebA model with a local dataset"
        try:
            self._unseen_set()
        except (DataError, OSError) as err:
            return f"Unseen identities not available: {err}"
        return None

    def unseen(self, who: str, count: int) -> Photos:
        """``count`` photos of the unseen identity ``who`` (seeded), as the model sees them."""
        check("images of this identity", count, MAX_PHOTOS)
        data = self._unseen_set()
        if who not in data.class_names:
            raise UploadError(f"{str(who)[:40]!r} is not an unseen identity of this dataset")
        idx = torch.nonzero(data.labels == data.class_names.index(who)).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=torch.Generator().manual_seed(0))[:count]]
        x = data.floats(idx)
        crops = list(x.mul(255).round().byte().permute(0, 2, 3, 1).numpy())
        names = [f"{who} #{int(i)}" for i in idx]
        return Photos(x, crops, names, [], [])

    # ------------------------------------------------------------------------------------ views

    def stored(self, identities: int = 12, styles: int = 10) -> View:
        """Without photos: stored identities (columns) under a range of stored styles (rows)."""
        n_id = min(identities, self.prototypes.shape[0])
        pick = evenly_spread(self.styles.shape[0], styles)
        grid = decode_grid(self.model, self.styles[pick], self.prototypes[:n_id], progress=self.progress)
        return View(tile(grid.flatten(0, 1), nrow=n_id),
                    f"Columns: identities {', '.join(self.class_names[:n_id])}. "
                    f"Rows: {', '.join(self.style_names[i] for i in pick.tolist())}.")

    def zero_shot(self, photos: Photos, model=None) -> tuple[View, session.ZeroShot]:
        """The photos' mean s decoded with every stored style (with ``model``: a fine-tuned copy)."""
        result = session.zero_shot(self.loaded, photos.x, model=model, progress=self.progress)
        return View(tile(result.images, nrow=min(16, result.styles.shape[0])), f"Zero-shot: {result.caption()}."), result

    @property
    def likeness_measurable(self) -> bool:
        """Whether dlib can measure this model's faces (``core.likeness.measurable``)."""
        from core.likeness import measurable

        return measurable(self.model.config)

    def likeness(self, photos: Photos, generated: session.ZeroShot, report: Callable[[], None] | None = None
                 ) -> LikenessReport | str | None:
        """dlib's likeness of the generated faces to the photos, measured in a worker process (dlib's network
        holds the interpreter for seconds: in the server it would stall every session's clicks); ``report()`` is
        called every second meanwhile (a heavy job's turn point). None for a model it cannot measure
        (``core.likeness.measurable``), a sentence when dlib cannot measure it."""
        if not self.likeness_measurable:
            return None
        return workers.run(measure_likeness, photos.x, generated.images, self.strangers(generated), on_wait=report)

    def strangers(self, generated: session.ZeroShot, identities: int = 16, styles: int = 4) -> torch.Tensor:
        """Renders of up to ``identities`` stored people with the first ``styles`` of the same styles: what the
        likeness is set against, so that an average face does not read as a likeness."""
        n_id = min(identities, self.prototypes.shape[0])
        with torch.no_grad():
            grid = decode_grid(self.model, generated.styles[:styles], self.prototypes[:n_id])
        return grid.flatten(0, 1)

    def fine_tune_work(self, photos: Photos, steps: int) -> Callable:
        """The heavy job that fine-tunes a private copy on the photos in a worker process (``core.workers``):
        ``work(report) -> model``, where ``report(step, terms)`` gets the progress after each step. Mixes in
        training images from the local dataset, else the model's own reconstructions of its stored codes.
        Fine-tunes the part the checkpoint's identity score was measured with
        (``core.fewshot.recommended_part``: the decoder alone for ``celeba``)."""
        check("fine-tuning steps", steps, MAX_FINE_TUNE_STEPS)
        refs, ref_labels = self._references()
        part = recommended_part(self.loaded.metrics)
        return lambda report: workers.run(fine_tune, self.model, photos.x, refs, ref_labels, steps=steps, part=part,
                                          callback=workers.PROGRESS, on_progress=report, on_wait=report)

    def _references(self) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.model.config
        if self.data_dir:
            try:
                return _training_subset(cfg.dataset, self.data_dir, cfg.image_shape[1], cfg.image_shape[0])
            except DataError:
                pass  # the folder is not this model's dataset: its own reconstructions do
        return reference_images(self.model, self.loaded.latents)

    def mixed(self, s_new: torch.Tensor, model=None, known: int = 9, rows: int = 6) -> View:
        """The new identity (first column) beside known ones, each under a range of stored styles."""
        n_known = min(known, self.prototypes.shape[0])
        z_rows = self.styles[evenly_spread(self.styles.shape[0], rows)]
        s_cols = torch.cat([s_new[None], self.prototypes[:n_known].to(s_new)])
        grid = decode_grid(model or self.model, z_rows, s_cols, progress=self.progress)
        return View(tile(grid.flatten(0, 1), nrow=s_cols.shape[0]),
                    f"Columns: the new identity, then {', '.join(self.class_names[:n_known])}. Rows: stored z codes.")

    def from_known(self, start: int, s_new: torch.Tensor, model=None, steps: int = 8) -> View:
        """s moving from the known identity ``start`` to the new one, with the middle stored style."""
        z_mid = self.styles[self.styles.shape[0] // 2]
        strip = interpolate_codes(model or self.model, z_mid, self.prototypes[start].to(s_new), s_new, steps=steps,
                                  progress=self.progress)
        return View(tile(strip, nrow=steps),
                    f"s moves from {self.class_names[start]} (left) to the new identity (right); z fixed.")

    def identity_map(self, photos: Photos) -> IdentityMap | None:
        """Where the photos' mean s (from the shared model) falls among the stored identity codes: PCA, a linear map,
        so the new point lands exactly. None when the checkpoint stores no codes."""
        bank_s, bank_labels = self.loaded.latents.get("bank_s"), self.loaded.latents.get("bank_labels")
        if bank_s is None or bank_labels is None:
            return None
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=0).fit(bank_s.numpy())
        names = self.class_names
        labels = bank_labels.numpy()
        return IdentityMap(pca.transform(bank_s.numpy()), labels,
                           [names[int(k)] if int(k) < len(names) else str(int(k)) for k in labels],
                           pca.transform(mean_s(self.model, photos.x)[None].numpy()))


def measure_likeness(photos: torch.Tensor, generated: torch.Tensor,
                     strangers: torch.Tensor | None = None) -> LikenessReport | str:
    """``FewShot.likeness``'s measurement (in a worker process)."""
    from core.likeness import SAME_PERSON, likeness, recogniser

    try:
        recogniser()
        result = likeness(photos, generated, strangers=strangers)
    except (align.AlignError, RuntimeError) as err:
        return f"Likeness not measured: {err}"
    d = result.distances
    between = float(result.upload_distances.mean()) if result.upload_distances.size else None
    others = float(result.stranger_distances.mean()) if result.stranger_distances.size else None
    return LikenessReport(float(d.mean()), float(d.min()), result.within, between, SAME_PERSON, others,
                          result.beats_strangers)


def zero_shot_notes(loaded: session.Loaded, photos: list[tuple[str, bytes]], crop: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The Gradio tab in one call: photos as (name, bytes) -> the crops the model sees, the person under every
    stored z, and notes in Markdown (each photo's, the styles' order, dlib's likeness). Cropping is one of
    ``AUTOMATIC_CROPS`` (by hand needs a box drawn on each photo: the Streamlit page has it). ``LimitError`` or
    ``UploadError`` saying why not."""
    check_photo_count(len(photos))
    why_not = session.no_split_note(loaded.model.config, "The few-shot tab")
    if why_not:
        raise UploadError(why_not)
    if crop not in AUTOMATIC_CROPS:
        raise UploadError(f"unknown cropping {str(crop)[:60]!r}; valid: {', '.join(AUTOMATIC_CROPS)}")
    try:
        few = FewShot(loaded)
    except ValueError as err:
        raise UploadError(str(err)) from None
    prepared = few.prepare(photos, crop)
    if not prepared.names:
        raise UploadError(prepared.errors[0])
    view, zero = few.zero_shot(prepared)
    notes = [f"- {note}" for note in prepared.notes + prepared.errors]
    notes.append(f"\nStyles, left to right: {zero.style_names[0]} … {zero.style_names[-1]}.")
    likeness = few.likeness(prepared, zero)
    if isinstance(likeness, LikenessReport):
        notes.append("\n" + likeness.text())
    return picture(prepared.x), view.picture, "\n".join(notes)
