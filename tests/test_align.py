"""The landmark aligner (core.align) and the CelebA loader that uses it (core.data.faces.load_celeba).

Synthetic cases pin the geometry and the splits without dlib's detector (its landmarks are given);
the real cases run when dlib and ../shared/data/celeba_subset are present, and say so when skipped."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import align
from core.data import UNSEEN_CELEBA, load_dataset
from core.data import cache as crop_cache
from core.data.faces import celeba_unseen_rule, read_identities

SHARED_CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_subset"
needs_real = pytest.mark.skipif(not (align.available() and SHARED_CELEBA.is_dir()),
                                reason="needs dlib and ../shared/data/celeba_subset")


def test_eye_transform_puts_the_eyes_on_the_template():
    left, right = (40.0, 70.0), (90.0, 55.0)  # tilted, off-centre
    m = align.eye_transform(left, right, 64)
    for src, dst in zip((left, right), align.EYES):
        x, y = m @ np.array([*src, 1.0])
        assert (x, y) == pytest.approx((dst[0] * 64, dst[1] * 64), abs=1e-9)


def test_align_face_moves_marked_eyes_to_the_template():
    photo = np.zeros((200, 160, 3), np.uint8)
    eyes = [(50, 90), (105, 80)]
    for x, y in eyes:
        photo[y - 2:y + 3, x - 2:x + 3] = 255
    face = align.Landmarks(eyes[0], eyes[1], (30, 50, 130, 150))
    crop = align.align_face(photo, 128, faces=[face])
    assert crop.shape == (128, 128, 3)
    for (fx, fy) in align.EYES:
        window = crop[int(fy * 128) - 2:int(fy * 128) + 3, int(fx * 128) - 2:int(fx * 128) + 3, 0]
        assert window.max() > 200, (fx, fy)


def test_align_face_without_a_face_says_so():
    with pytest.raises(align.AlignError, match="no face"):
        align.align_face(np.zeros((50, 50, 3), np.uint8), faces=[])


def test_unseen_rule_is_seeded_and_needs_enough_photos():
    counts = {str(7000 + i): (i % 30) + 1 for i in range(300)}
    first, second = celeba_unseen_rule(counts), celeba_unseen_rule(dict(reversed(list(counts.items()))))
    assert first == second and len(first) == 30
    assert all(counts[k] >= 10 for k in first)


def fake_layout(root: Path, identities: list[str], per_identity: int = 6) -> Path:
    (root / "images").mkdir(parents=True)
    lines = []
    rng = np.random.default_rng(0)
    for k, ident in enumerate(identities):
        for j in range(per_identity):
            name = f"{k:03d}{j:03d}.jpg"
            colour = rng.integers(0, 255, 3)
            Image.fromarray(np.full((80, 60, 3), colour, np.uint8)).save(root / "images" / name)
            lines.append(f"{name} {ident}")
    lines.append(f"{len(identities):03d}000.jpg {identities[0]}")  # a photo with no face in it
    Image.fromarray(np.zeros((80, 60, 3), np.uint8)).save(root / "images" / f"{len(identities):03d}000.jpg")
    (root / "identity_CelebA.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def fake_dlib(monkeypatch, tmp_path):
    """Landmarks at fixed points for every photo except all-black ones (no face); crops cached in tmp."""
    def find_faces(image, upsample=None):
        if image.max() == 0:
            return []
        return [align.Landmarks((20.0, 30.0), (40.0, 30.0), (10, 10, 50, 60))]

    monkeypatch.setattr(align, "available", lambda: True)
    monkeypatch.setattr(align, "find_faces", find_faces)
    monkeypatch.setenv(crop_cache.CACHE_ENV, str(tmp_path / "cache"))
    return find_faces


def test_celeba_splits_keep_unseen_identities_out_of_training(fake_dlib, tmp_path):
    seen = ["9001", "9002", "9003"]
    root = fake_layout(tmp_path / "celeba", seen + list(UNSEEN_CELEBA[:2]))
    with pytest.warns(UserWarning, match="no face found in 1"):
        train = load_dataset("celeba", root, "train", image_size=32, channels=3)
    test = load_dataset("celeba", root, "test", image_size=32, channels=3)
    unseen = load_dataset("celeba", root, "unseen", image_size=32, channels=3)
    assert train.class_names == test.class_names == seen
    assert unseen.class_names == list(UNSEEN_CELEBA[:2])
    assert train.image_shape == (3, 32, 32)
    assert len(train) + len(test) == 3 * 6  # the faceless photo is left out
    assert all((test.labels == k).sum() == 1 for k in range(3))  # 15% of 6, at least one each
    assert len(unseen) == 12
    grey = load_dataset("celeba", root, "train", image_size=32, channels=1)
    assert grey.image_shape == (1, 32, 32)


def test_celeba_crops_are_cached(fake_dlib, tmp_path, monkeypatch):
    root = fake_layout(tmp_path / "celeba", ["9001", "9002"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = load_dataset("celeba", root, "train", image_size=16)

        def no_detection(*args, **kwargs):
            raise AssertionError("detection ran again; the cache was not used")

        monkeypatch.setattr(align, "find_faces", no_detection)
        again = load_dataset("celeba", root, "train", image_size=16)
    assert (first.images == again.images).all()
    assert list((tmp_path / "cache").glob("aligned_16_*.npz"))


def test_celeba_layout_errors_name_what_is_missing(tmp_path):
    from core.data import DataError

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="identity_CelebA.txt"):
        load_dataset("celeba", tmp_path / "empty", "train")


@needs_real
def test_unseen_identities_follow_the_written_rule():
    counts = {k: len(v) for k, v in read_identities(SHARED_CELEBA / "identity_CelebA.txt").items()}
    assert celeba_unseen_rule(counts) == UNSEEN_CELEBA


@needs_real
def test_a_real_photo_is_aligned_with_its_eyes_on_the_template():
    """Uses ../shared/data/celeba_subset: the eyes dlib finds again in the aligned crop sit on the template."""
    for path in sorted((SHARED_CELEBA / "images").glob("*.jpg"))[:20]:  # about 1 in 10 has no detectable face
        photo = np.asarray(Image.open(path).convert("RGB"))
        if align.find_faces(photo):
            break
    crop = align.align_face(photo, 256)
    again = align.find_faces(crop, upsample=0)
    assert again, "dlib finds the face again in its own aligned crop"
    for found, (fx, fy) in zip((again[0].left_eye, again[0].right_eye), align.EYES):
        assert found == pytest.approx((fx * 256, fy * 256), abs=0.03 * 256)


def test_likeness_is_shown_only_for_models_trained_on_eye_aligned_crops():
    from types import SimpleNamespace

    from core.likeness import measurable

    assert not measurable(SimpleNamespace(dataset="yaleb"))  # dlib's distances mean nothing on Yale B's framing
    assert not measurable(SimpleNamespace(dataset="mnist"))
    assert measurable(SimpleNamespace(dataset="celeba")) == align.available()
