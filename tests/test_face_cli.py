"""python -m train.render_photos (batch few-shot rendering) and the identity score's protocol
(core.evaluation.identity), with a stand-in recogniser so no dlib weights are needed."""


import numpy as np
import pytest
import torch
from PIL import Image

from core.data import ImageSet
from core.evaluation.identity import identity_score, pairwise_pixel_distance, score, split_people
from train.ccvae import main as train_main
from train.render_photos import main as few_shot_main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digit_checkpoint(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("run")
    assert train_main(["--dry-run", "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    return out / "checkpoint"


def photo(tmp_path, name: str, seed: int):
    rng = np.random.default_rng(seed)
    path = tmp_path / name
    Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(path)
    return path


def test_few_shot_writes_crops_zero_shot_and_fine_tuned_outputs(tmp_path, digit_checkpoint, capsys):
    photos = [photo(tmp_path, f"p{i}.png", i) for i in range(2)]
    out = tmp_path / "out"
    code = few_shot_main(["--checkpoint", str(digit_checkpoint), "--out", str(out), "--no-detect", "--styles", "4",
                          "--steps", "2", *map(str, photos)])
    assert code == 0
    assert sorted(p.name for p in (out / "crops").iterdir()) == ["00.png", "01.png"]
    assert len(list((out / "zero_shot").glob("*.png"))) == 4
    assert len(list((out / "few_shot").glob("*.png"))) == 4
    with Image.open(out / "zero_shot" / "00.png") as im:
        assert im.size == (28, 28)
    assert (out / "zero_shot.png").is_file() and (out / "few_shot.png").is_file()
    assert "used" in capsys.readouterr().err


def test_few_shot_exits_2_when_no_photo_can_be_used(tmp_path, digit_checkpoint, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    noise = photo(tmp_path, "noise.png", 0)  # the face detector finds nothing in noise
    code = few_shot_main(["--checkpoint", str(digit_checkpoint), "--out", str(tmp_path / "o"), str(bad), str(noise)])
    assert code == 2
    err = capsys.readouterr().err
    assert "no photo could be used" in err and "bad.png: skipped" in err and "no face found" in err
    assert not (tmp_path / "o" / "zero_shot").exists()


def test_few_shot_refuses_bad_options(tmp_path, digit_checkpoint):
    p = str(photo(tmp_path, "p.png", 0))
    assert few_shot_main(["--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), p]) == 2
    assert few_shot_main(["--checkpoint", str(digit_checkpoint), "--out", str(tmp_path / "o"), "--steps", "100000", p]) == 2


class MeanColour:
    """A stand-in recogniser: the embedding is the mean colour (people here differ by colour)."""

    def embed_aligned(self, crops):
        means = np.asarray(crops, dtype=np.float64).mean(axis=(1, 2)) / 255
        return np.pad(means, ((0, 0), (0, 125)))


def coloured_people(n_people=4, per_person=8):
    rng = np.random.default_rng(0)
    images, labels = [], []
    for k in range(n_people):
        colour = np.eye(3)[k % 3] * (0.4 + 0.2 * (k // 3))
        for _ in range(per_person):
            noise = rng.normal(0, 0.05, (3, 16, 16))
            images.append(np.clip(colour[:, None, None] + noise, 0, 1))
            labels.append(k)
    images = torch.tensor(np.stack(images) * 255).round().to(torch.uint8)
    return ImageSet(images, torch.tensor(labels), [f"p{k}" for k in range(n_people)], "people")


def test_identity_protocol_rewards_the_right_person_and_sees_a_decoder_that_ignores_z():
    people = split_people(coloured_people(), uploads=3)
    assert len(people) == 4 and all(p.uploads.shape[0] == 3 for p in people)

    def faithful(i, uploads):  # the person's colour, with a different texture per style
        styles = torch.linspace(-0.2, 0.2, 6)[:, None, None, None]
        return (uploads.mean(0, keepdim=True) + styles * torch.rand(6, 3, 16, 16)).clamp(0, 1)

    def generic(i, uploads):  # the same grey face for everyone, the same for every style
        return torch.full((6, 3, 16, 16), 0.5)

    good = identity_score(people, faithful, MeanColour(), ks=(1, 3), threshold=0.1)
    bad = identity_score(people, generic, MeanColour(), ks=(1, 3), threshold=0.1)
    assert good["ceiling_crops"]["matched"] == 100.0
    assert good["k"]["3"]["matched"] >= 90.0 and good["k"]["3"]["style_spread"] > 0
    assert bad["k"]["3"]["matched"] <= 25.0 and bad["k"]["3"]["style_spread"] == 0.0
    assert good["chance"] == 25.0
    few = identity_score(people, faithful, MeanColour(), ks=(1,), threshold=0.1, rendered=2)
    assert few["rendered"] == 2 and few["k"]["1"]["images"] == 12 and len(few["k"]["1"]["person_distance"]) == 2


def test_the_people_a_fine_tune_made_worse_are_named():
    from train.face_identity import worse_than_zero_shot

    people = split_people(coloured_people(), uploads=3)

    def faithful(i, uploads):
        return uploads.mean(0, keepdim=True).expand(4, -1, -1, -1)

    def second_lost(i, uploads):  # person 1 rendered as the grey average, the others faithfully
        return torch.full((4, 3, 16, 16), 0.5) if i == 1 else faithful(i, uploads)

    zero = identity_score(people, faithful, MeanColour(), ks=(1, 3), threshold=0.1)
    few = identity_score(people, second_lost, MeanColour(), ks=(1, 3), threshold=0.1, rendered=3)
    worse = worse_than_zero_shot(zero, few, people)
    assert worse["3"]["people"] == 1 and worse["3"]["of"] == 3 and worse["3"]["names"] == [people[1].name]
    assert worse["3"]["distance_change"][0] > 0


def test_score_and_pixel_distance():
    centroids = np.array([[0.0, 0.0], [1.0, 0.0]])
    s = score(np.array([[0.1, 0.0], [0.2, 0.0], [0.9, 0.0]]), np.array([0, 1, 1]), centroids, 0.5)
    assert s.matched == pytest.approx(200 / 3) and s.within == pytest.approx(200 / 3)
    same = torch.zeros(3, 1, 4, 4)
    assert pairwise_pixel_distance(same) == 0.0
    assert pairwise_pixel_distance(torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])) == 1.0
