"""Issue 31's face model: CelebA from several folders, bf16 only where the CPU has it, the resnet family, the
patch adversary (and adding it to a resumed run), and the fine-detail yardstick."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import UNSEEN_CELEBA, load_dataset, synthetic_faces
from core.evaluation.guards import check_same_classes
from core.evaluation.identity import laplacian_variance
from core.models import ModelConfig, build_model
from core.models.nets import build_nets, icnr_
from core.training import TrainConfig, engine, make_trainer, preset_config
from tests.test_align import fake_dlib, fake_layout  # noqa: F401  (fixture)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def second_folder(root: Path, photos: dict[str, list[str]]) -> Path:
    """A CelebA folder in torchvision's layout (img_align_celeba/), ``photos``: identity -> file names."""
    (root / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(1)
    lines = []
    for ident, names in photos.items():
        for name in names:
            Image.fromarray(np.full((109, 89, 3), rng.integers(0, 255, 3), np.uint8)).save(root / "img_align_celeba" / name)
            lines.append(f"{name} {ident}")
    (root / "identity_CelebA.txt").write_text("\n".join(lines) + "\n")
    return root


def test_two_celeba_folders_are_one_set_with_one_class_index(fake_dlib, tmp_path):  # noqa: F811
    first = fake_layout(tmp_path / "data" / "celeba_subset", ["9001", "9002", UNSEEN_CELEBA[0]])
    # the second folder: a person of the first (same CelebA number), two new ones with 2 photos, an unseen
    # person's photo (must never reach training) and one file name the first folder already has (the same photo)
    second = second_folder(tmp_path / "data" / "celeba_aligned", {
        "9002": ["200001.jpg", "200002.jpg"], "9100": ["200003.jpg", "200004.jpg"], "9101": ["200005.jpg", "200006.jpg"],
        UNSEEN_CELEBA[0]: ["200007.jpg"], "9001": ["000000.jpg"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joined = os.pathsep.join([str(first), str(second)])
        train = load_dataset("celeba", joined, "train", image_size=16, channels=3)
        test = load_dataset("celeba", joined, "test", image_size=16, channels=3)
        unseen = load_dataset("celeba", joined, "unseen", image_size=16, channels=3)
        parent = load_dataset("celeba", tmp_path / "data", "train", image_size=16, channels=3)  # a folder of both
    assert train.class_names == test.class_names == ["9001", "9002", "9100", "9101"]
    check_same_classes(train, test)  # the label guard holds across both folders
    assert UNSEEN_CELEBA[0] not in train.class_names and unseen.class_names == [UNSEEN_CELEBA[0]]
    assert len(unseen) == 7  # 6 photos in the first folder, 1 in the second
    counts = torch.bincount(train.labels, minlength=4) + torch.bincount(test.labels, minlength=4)
    assert counts.tolist() == [6, 8, 2, 2]  # 9001's second copy of 000000.jpg is skipped; 9002 from both folders
    # people with 2 photos are trained on (both photos in train: a group of one other photo)
    assert torch.bincount(train.labels, minlength=4)[2:].tolist() == [2, 2]
    # a folder that holds both reads them in name order (celeba_aligned first): the same people and photo counts
    assert parent.class_names == train.class_names and torch.equal(parent.labels.bincount(), train.labels.bincount())


def test_several_data_dirs_on_the_command_line_are_joined():
    from train.ccvae import parse_args
    from train.cli import overrides

    args = parse_args(["--out", "x", "--data-dir", "a", "b"])
    assert overrides(args, TrainConfig)["data_dir"] == os.pathsep.join(["a", "b"])


@pytest.mark.skipif(not (SHARED / "celeba_aligned").is_dir(), reason="needs ../shared/data/celeba_aligned")
def test_no_unseen_person_is_in_the_aligned_folder():
    """Uses ../shared/data: the identity file of celeba_aligned names none of the 30 unseen people."""
    from core.data.faces import read_identities

    assert not set(read_identities(SHARED / "celeba_aligned" / "identity_CelebA.txt")) & set(UNSEEN_CELEBA)


def test_bf16_auto_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(engine, "native_bf16", lambda: False)
    assert not engine.cpu_bf16("auto") and not engine.cpu_bf16("off")
    with pytest.warns(UserWarning, match="0.07x"):
        assert engine.cpu_bf16("on")
    monkeypatch.setattr(engine, "native_bf16", lambda: True)
    assert engine.cpu_bf16("auto")
    assert TrainConfig().bf16 == "auto" and preset_config("faces").bf16 == "auto"
    assert TrainConfig.from_dict({"bf16": True}).bf16 == "on"  # saved before auto existed
    with pytest.raises(ValueError, match="bf16"):
        TrainConfig(bf16="maybe").validate()


def test_hardware_names_the_instruction_set():
    assert torch.backends.cpu.get_cpu_capability() in engine.hardware()


def test_resnet_family_shapes_and_its_config_round_trip():
    encoder, decoder = build_nets((3, 64, 64), z_dim=32, s_dim=224, net="resnet")
    mu, logvar, s = encoder(torch.rand(2, 3, 64, 64))
    assert mu.shape == (2, 32) and s.shape == (2, 224)
    assert decoder(mu, s).shape == (2, 3, 64, 64)
    model = build_model(ModelConfig(image_shape=(3, 64, 64), z_dim=32, s_dim=224, net="resnet"))
    assert ModelConfig(**model.config.to_dict()).net == "resnet"
    assert "net" not in ModelConfig().to_dict()  # the default family is left out: older code reads the file
    with pytest.raises(ValueError, match="64x64"):
        build_nets((1, 28, 28), z_dim=4, s_dim=4, net="resnet")
    no_transposed = [m for m in decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert not no_transposed


def test_icnr_starts_the_pixel_shuffle_as_nearest_upsampling():
    conv = torch.nn.Conv2d(4, 3 * 4, 3, padding=1, bias=False)
    icnr_(conv.weight)
    x = torch.rand(1, 4, 8, 8)
    out = torch.nn.functional.pixel_shuffle(conv(x), 2)
    assert torch.allclose(out[..., ::2, ::2], out[..., 1::2, 1::2]) and torch.allclose(out[..., ::2, ::2], out[..., ::2, 1::2])


def face_config(**options) -> TrainConfig:
    return preset_config("faces", batch_size=8, steps=6, bf16="off", **options)


def test_patch_adversary_starts_after_its_warm_up_and_balances_by_gradients():
    data = synthetic_faces(identities=4, channels=3)
    trainer = make_trainer(face_config(patch_weight=0.5, patch_start=2), data)
    first = trainer.step()
    assert "patch_generator" not in first
    trainer.step()
    third = trainer.step()
    assert {"patch_generator", "patch_weight", "patch_disc_loss"} <= set(third)
    assert 0 < float(third["patch_weight"]) < 1e4
    with pytest.raises(ValueError, match="patch_weight"):
        TrainConfig(patch_weight=1.0).validate()  # the pair cycle decodes no anchor to judge


def test_a_resumed_run_may_add_the_patch_adversary(tmp_path):
    data = synthetic_faces(identities=4, channels=3)
    trainer = make_trainer(face_config(), data)
    trainer.step()
    trainer.save(tmp_path / "ckpt")
    with pytest.warns(UserWarning, match="patch_discriminator added"):
        resumed = make_trainer(face_config(patch_weight=0.5, patch_start=1), data)
        resumed.resume(tmp_path / "ckpt")
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(), resumed.model.parameters()))
    assert resumed.step_count == 1 and "patch_generator" in resumed.step()


def test_fine_detail_is_lower_for_a_blur():
    sharp = torch.rand(4, 3, 64, 64)
    blurred = torch.nn.functional.avg_pool2d(sharp, 4).repeat_interleave(4, -1).repeat_interleave(4, -2)
    assert laplacian_variance(blurred) < 0.2 * laplacian_variance(sharp)
    assert laplacian_variance((sharp * 255).to(torch.uint8)) == pytest.approx(laplacian_variance(sharp), rel=0.01)


def test_colour_noise_tells_coloured_speckle_from_grey_detail():
    """Grey detail (the same noise in every channel) has no colour noise; speckle of the same strength in one
    channel has plenty, though the detail figure reads both alike."""
    from core.evaluation.identity import colour_noise_variance

    g = torch.Generator().manual_seed(0)
    base = torch.full((4, 3, 64, 64), 0.5)
    noise = 0.1 * torch.randn(4, 1, 64, 64, generator=g)
    grey_detail = (base + noise).clamp(0, 1)  # added to R, G and B alike
    speckle = base.clone()
    speckle[:, 2:3] += 3 * noise  # the blue channel only: the same grey Laplacian variance
    assert laplacian_variance(grey_detail) == pytest.approx(laplacian_variance(speckle), rel=0.05)
    assert colour_noise_variance(grey_detail) < 1e-6 < 100 < colour_noise_variance(speckle)
    assert colour_noise_variance(torch.rand(2, 1, 64, 64)) == 0.0  # grey images have no colour


def test_a_drawn_grid_is_cut_back_into_its_renders_even_enlarged(tmp_path):
    from PIL import Image

    from core.explore import tile
    from core.features.views import enlarged
    from train.grid_detail import grid_tiles, measure

    renders = torch.rand(6, 3, 64, 64)
    grid = tile(renders, nrow=3)
    Image.fromarray(grid).save(tmp_path / "grid.png")
    Image.fromarray(enlarged(grid, 2 * grid.shape[1])).save(tmp_path / "big.png")
    for name in ("grid.png", "big.png"):
        tiles = grid_tiles(tmp_path / name)
        assert tiles.shape == (6, 3, 64, 64) and (tiles - renders).abs().max() < 1 / 255
    assert measure(tiles, renders) == {"tiles": 6, "detail": 1.0, "colour_noise": 1.0}
    Image.fromarray(grid[:100]).save(tmp_path / "cut.png")
    with pytest.raises(ValueError, match="not a grid"):
        grid_tiles(tmp_path / "cut.png")


def test_decoder_few_shot_stops_when_the_held_back_photo_grows_past_the_bound_and_keeps_the_last_good_decoder():
    from core.fewshot import GUARD_GROWTH, fine_tune, fit_decoder

    torch.manual_seed(0)
    model = build_model(ModelConfig(image_shape=(3, 64, 64), z_dim=4, s_dim=8, dataset="celeba"))
    data = synthetic_faces(identities=4, channels=3)
    person, others = data.floats(torch.arange(2)), data.floats(torch.arange(12, 44))
    held = 1 - person[:1]  # the held-back (last) upload is the negative of the first: fitting the others moves away
    uploads = torch.cat([person, held])
    with torch.no_grad():
        zero_shot = float((model.decode_mean(model.encode(held).z_mu, model.encode(uploads).s.mean(0, keepdim=True))
                           - held).pow(2).mean())  # the held-back photo from its own z and every upload's mean s
    calls = []
    tuned = fine_tune(model, uploads, others, torch.zeros(32, dtype=torch.long), steps=200, lr=3e-3, part="decoder",
                      callback=lambda step, terms: calls.append(terms))
    checks = [terms["held_back"] for terms in calls if "held_back" in terms]
    assert tuned.fine_tune_ran < 200 and checks[-1] > GUARD_GROWTH * zero_shot  # stopped at the first check past it
    assert all(error <= GUARD_GROWTH * zero_shot for error in checks[:-1])
    assert tuned.fine_tune_kept == tuned.fine_tune_ran - 10  # the decoder of the last check within the bound
    with torch.no_grad():
        kept = float((tuned.decode_mean(tuned.encode(held).z_mu, tuned.encode(uploads).s.mean(0, keepdim=True))
                      - held).pow(2).mean())
    assert kept == pytest.approx(checks[-2], rel=1e-4)
    honest = fine_tune(model, data.floats(torch.arange(3)), others, torch.zeros(32, dtype=torch.long), steps=30,
                       lr=1e-3, part="decoder")
    assert honest.fine_tune_kept == honest.fine_tune_ran == 30  # three photos of one person: it trains to the end
    with pytest.raises(ValueError, match="growth"):
        fit_decoder(model, uploads, others, steps=5, growth=1.0)


def test_decoder_few_shot_shows_each_check_to_on_check_and_runs_to_the_end_with_no_bound():
    """train.fewshot_guard_study measures fit_decoder itself through on_check: step 0 (the zero-shot decoder) and
    every check, the model as the guard saw it; with growth infinite nothing stops it."""
    from core.fewshot import fit_decoder

    torch.manual_seed(0)
    model = build_model(ModelConfig(image_shape=(3, 64, 64), z_dim=4, s_dim=8, dataset="celeba"))
    data = synthetic_faces(identities=4, channels=3)
    person, others = data.floats(torch.arange(2)), data.floats(torch.arange(12, 44))
    uploads = torch.cat([person, 1 - person[:1]])  # the held-back photo that makes a bounded fine-tune stop
    with torch.no_grad():
        enc = model.encode(uploads)
    seen, guard = [], []

    def on_check(step, tuned):
        with torch.no_grad():
            seen.append((step, float((tuned.decode_mean(enc.z_mu[-1:], enc.s.mean(0, keepdim=True)) - uploads[-1:])
                                     .pow(2).mean())))

    tuned = fit_decoder(model, uploads, others, steps=45, lr=3e-3, growth=float("inf"), on_check=on_check,
                        callback=lambda step, terms: guard.append(terms.get("held_back")))
    assert [step for step, _ in seen] == [0, 10, 20, 30, 40, 45]
    assert tuned.fine_tune_kept == tuned.fine_tune_ran == 45
    assert [error for _, error in seen[1:]] == pytest.approx([e for e in guard if e is not None], rel=1e-5)
    assert seen[-1][1] != pytest.approx(seen[0][1], rel=1e-3)  # the decoder it showed did change


def test_sigterm_stops_a_command_line_run_like_ctrl_c():
    """A long face run is ended by SIGTERM at a session's end: it must save and say --resume, as Ctrl-C does."""
    import signal
    import time

    from train.driver import stop_signals

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with stop_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == before


def test_likeness_sets_the_renders_against_strangers_with_several_uploads():
    from core.likeness import likeness

    class Net:  # an embedding of the mean colour: enough to order near and far faces
        def embed_aligned(self, images):
            return np.repeat(images.reshape(len(images), -1, 3).mean(1), 43, axis=1)[:, :128] / 255

    you = torch.full((3, 3, 64, 64), 0.5) + torch.arange(3).view(3, 1, 1, 1) * 0.01
    renders, strangers = torch.full((4, 3, 64, 64), 0.52), torch.rand(6, 3, 64, 64) * 0.2 + 0.8
    result = likeness(you, renders, Net(), strangers=strangers)
    assert result.upload_distances.shape == (3,) and result.stranger_distances.shape == (6,)
    assert result.beats_strangers == 1.0
    assert likeness(you, strangers, Net(), strangers=strangers).beats_strangers == 0.5  # yours are strangers: chance


def test_the_few_shot_caption_says_when_the_guard_stopped_the_fine_tune():
    from core.features.photos import fine_tune_caption

    class Tuned:
        fine_tune_kept, fine_tune_ran = 40, 50

    assert fine_tune_caption(Tuned(), 100) == ("After 40 fine-tuning steps: stopped at step 50 of 100, when your last "
                                               "photo, held back, was drawn more than 2x worse than before (your "
                                               "private copy)")
    Tuned.fine_tune_kept = Tuned.fine_tune_ran = 100
    assert fine_tune_caption(Tuned(), 100) == "After 100 fine-tuning steps (your private copy)"
    Tuned.fine_tune_kept, Tuned.fine_tune_ran = 0, 10
    assert fine_tune_caption(Tuned(), 100).startswith("Zero-shot decoder kept")
    assert fine_tune_caption(object(), 30) == "After 30 fine-tuning steps (your private copy)"  # no guard (one photo)
