"""DR-GAN baseline: model, losses, trainer, checkpoints, collapse detection, feature probe, pose grid page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

import core
from core.data import DataError, synthetic_faces
from core.data.poses import LIGHT_DIRECTIONS, light_direction_bins, load_pose_dataset
from core.explore import pose_grid
from core.models import ModelConfig, build_model
from core.models.drgan import DRGAN, Judgement, discriminator_loss, generator_loss
from core.training import CollapseDetector, DRGANConfig, DRGANTrainer, TrainingCollapsed

ROOT = Path(__file__).resolve().parents[1]


def small_config(**kw) -> DRGANConfig:
    return DRGANConfig(**({"batch_size": 8, "steps": 10, "feature_dim": 32, "noise_dim": 8, "device": "cpu",
                           "collapse_window": 0} | kw))


def trainer(channels: int = 1, **kw) -> DRGANTrainer:
    data = synthetic_faces(identities=4, poses=3, per_pair=2, channels=channels)
    return DRGANTrainer(small_config(**kw), data, pose_factor="pose", dataset_name="synthetic")


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("channels", [1, 3])
def test_a_few_steps_change_both_networks_with_finite_losses(channels):
    t = trainer(channels)
    g0, d0 = snapshot(t.model.generator), snapshot(t.model.discriminator)
    for _ in range(3):
        terms = t.step()
        assert all(torch.isfinite(v) for v in terms.values()), terms
        assert 0 <= terms["real_as_real"] <= 1 and 0 <= terms["fake_as_fake"] <= 1
    g1, d1 = snapshot(t.model.generator), snapshot(t.model.discriminator)
    assert all(not torch.equal(g0[k], g1[k]) for k in g0)  # every generator tensor moved
    assert all(not torch.equal(d0[k], d1[k]) for k in d0)  # D's weights, biases and spectral-norm vectors
    assert t.step_count == 3


def test_generator_shapes_range_and_refusals():
    model = trainer(3).model.eval()
    x = torch.rand(5, 3, 64, 64)
    assert model.features(x).shape == (5, 32)
    y = model.generate(x, torch.tensor([0, 1, 2, 0, 1]))
    assert y.shape == (5, 3, 64, 64) and 0 <= y.min() and y.max() <= 1
    assert torch.equal(model.generate(x, 2), model.generate(x, torch.full((5,), 2)))  # one pose for all
    noisy = model.generate(x, 1, model.sample_noise(5, torch.Generator().manual_seed(0)))
    assert not torch.equal(noisy, model.generate(x, 1))
    with pytest.raises(ValueError, match=r"pose indices must be in 0\.\.2"):
        model.generate(x, 3)
    with pytest.raises(TypeError, match="no separate style code"):
        model.encode(x)
    with pytest.raises(TypeError, match="render"):
        model.decode(torch.zeros(1, 8), torch.zeros(1, 32))
    with pytest.raises(ValueError, match="expected images of shape"):
        model.features(torch.rand(2, 1, 64, 64))


@pytest.mark.parametrize("change, problem", [
    ({"image_shape": (1, 28, 28)}, "supported"),
    ({"factor_names": {"pose": ["a", "b"], "expression": ["x", "y"]}}, "exactly one entry"),
    ({"factor_names": {"pose": ["only"]}}, "at least 2 poses"),
    ({"class_names": []}, "class_names"),
])
def test_bad_configs_are_refused(change, problem):
    base = dict(image_shape=(1, 64, 64), method="drgan", class_names=["a", "b"], factor_names={"pose": ["l", "r"]})
    with pytest.raises(ValueError, match=problem):
        build_model(ModelConfig(**(base | change)))


def test_losses_vanish_for_a_perfect_discriminator_and_a_perfect_generator():
    identity, pose = torch.tensor([0, 2]), torch.tensor([1, 0])
    sure = 50.0

    def judgement(ident: torch.Tensor, p: torch.Tensor) -> Judgement:
        return Judgement(torch.nn.functional.one_hot(ident, 4).float() * sure,  # 3 identities + fake (index 3)
                         torch.nn.functional.one_hot(p, 2).float() * sure)

    real, fake_caught = judgement(identity, pose), judgement(torch.tensor([3, 3]), pose)
    d = discriminator_loss(real, fake_caught, identity=identity, pose=pose)
    assert d.total < 1e-6
    assert discriminator_loss(real, judgement(identity, pose), identity=identity, pose=pose).fake > 10  # fooled
    target = torch.tensor([0, 1])
    g = generator_loss(judgement(identity, target), identity=identity, target_pose=target)
    assert g.total < 1e-6 and g.reconstruction == 0
    assert generator_loss(fake_caught, identity=identity, target_pose=target).identity > 10  # caught


def test_checkpoint_round_trips_through_load_model_bit_for_bit(tmp_path):
    t = trainer()
    for _ in range(2):
        t.step()
    t.save(tmp_path / "ckpt", latents=t.feature_bank(bank_size=8))
    loaded = core.load_model(tmp_path / "ckpt")
    assert isinstance(loaded, DRGAN) and loaded.config == t.model.config and loaded.config.training_steps == 2
    mine = t.model.state_dict()
    assert mine.keys() == loaded.state_dict().keys()
    assert all(torch.equal(mine[k], v) for k, v in loaded.state_dict().items())
    x = torch.rand(3, 1, 64, 64)
    t.model.eval()
    assert torch.equal(loaded.generate(x, 1), t.model.generate(x, 1))
    assert loaded.pose_factor == "pose" and loaded.pose_names == ["pose0", "pose1", "pose2"]


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight = trainer()
    for _ in range(4):
        straight.step()
    first = trainer()
    for _ in range(2):
        first.step()
    first.save(tmp_path / "ckpt")
    resumed = trainer()
    resumed.resume(tmp_path / "ckpt")
    for _ in range(2):
        resumed.step()
    assert resumed.step_count == 4
    expected = straight.model.state_dict()
    assert all(torch.equal(expected[k], v) for k, v in resumed.model.state_dict().items())


def test_resume_refuses_another_setting(tmp_path):
    trainer().save(tmp_path / "ckpt")
    with pytest.raises(core.CheckpointError, match="s_dim"):
        trainer(feature_dim=16).resume(tmp_path / "ckpt")


def test_collapse_detector():
    won = {"d_loss": 0.01, "real_as_real": 1.0, "fake_as_fake": 1.0}
    quiet = CollapseDetector(window=5, g_loss_limit=25)
    for step in range(20):  # the discriminator wins, but the generator's loss stays moderate: no collapse
        quiet.update(step, won | {"g_loss": 10.0})
    detector = CollapseDetector(window=5, g_loss_limit=25)
    for step in range(4):
        detector.update(step, won | {"g_loss": 40.0})
    detector.update(4, won | {"fake_as_fake": 0.9, "g_loss": 40.0})  # one generation got through: the window restarts
    for step in range(5, 9):
        detector.update(step, won | {"g_loss": 40.0})
    with pytest.raises(TrainingCollapsed, match="discriminator collapse at step 9.*lower --lr"):
        detector.update(9, won | {"g_loss": 40.0})
    with pytest.raises(TrainingCollapsed, match="non-finite g_loss at step 3"):
        CollapseDetector(window=0, g_loss_limit=25).update(3, won | {"g_loss": float("nan")})


def test_a_forced_collapse_stops_training():
    t = trainer()
    with torch.no_grad():
        t.model.generator.seed[0].weight.fill_(float("inf"))
    with pytest.raises(TrainingCollapsed, match="non-finite"):
        t.step()


def test_yale_light_directions(yale_dir):
    bins = light_direction_bins(["A+000E+00", "A+035E+15", "A-035E+15", "A+020E-10", "A-020E+90", "A-130E+20"])
    assert bins.tolist() == [1, 0, 2, 1, 1, 2]
    with pytest.raises(DataError, match="azimuth"):
        light_direction_bins(["ambient"])
    data = load_pose_dataset("yaleb", yale_dir, "train", pose_factor="lighting")
    assert data.factor_names["light_direction"] == LIGHT_DIRECTIONS
    expected = light_direction_bins(data.factor_names["lighting"])[data.factors["lighting"]]
    assert torch.equal(data.factors["light_direction"], expected)
    with pytest.raises(DataError, match="no factor 'view'"):
        load_pose_dataset("yaleb", yale_dir, "train", pose_factor="view")


def test_pose_grid_renders_every_input_at_every_pose():
    model = trainer().model.eval()
    x = torch.rand(2, 1, 64, 64)
    grid = pose_grid(model, x, [2, 0])
    assert grid.shape == (2, 2, 1, 64, 64)
    assert torch.allclose(grid[1, 0], model.generate(x[1:], 2)[0], atol=1e-6)
    assert torch.allclose(grid[0, 1], model.generate(x[:1], 0)[0], atol=1e-6)


class OneHotIdentity(torch.nn.Module):
    """A stand-in DR-GAN whose feature is the identity, read off the synthetic image's mean: a perfect f."""

    pose_factor = "pose"

    def __init__(self, data):
        super().__init__()
        self.table = {round(float(m), 3): int(k) for m, k in zip(data.floats().mean((1, 2, 3)), data.labels)}
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def features(self, x):
        keys = [round(float(m), 3) for m in x.mean((1, 2, 3))]
        return torch.nn.functional.one_hot(torch.tensor([self.table[k] for k in keys]), 4).float() + \
            0.01 * torch.randn(len(keys), 4, generator=torch.Generator().manual_seed(0))


def test_feature_probe_scores_identity_high_and_pose_near_chance_for_a_pure_identity_feature():
    from core.evaluation.drgan import evaluate_features

    data = synthetic_faces(identities=4, poses=3, per_pair=6)
    result = evaluate_features(OneHotIdentity(data), data, data, epochs=15)
    assert result["identity"]["test"] == 100.0
    assert result["pose"]["test"] < 50 and result["pose"]["chance_test"] == pytest.approx(33.33)


def test_command_line_trains_resumes_and_evaluates(tmp_path, capsys):
    from train.drgan import main

    out = tmp_path / "run"
    assert main(["--dry-run", "--out", str(out), "--feature-dim", "32", "--noise-dim", "8"]) == 0
    assert main(["--dry-run", "--out", str(out)]) == 2  # refuses to overwrite
    assert main(["--dry-run", "--out", str(out), "--resume", "--steps", "7"]) == 0
    assert core.load_model(out / "checkpoint").config.training_steps == 7
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == list(range(1, 8)) and {"real_as_real", "fake_as_fake"} <= set(logged[0])
    capsys.readouterr()
    assert main(["--evaluate", str(out / "checkpoint"), "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = core.load_metrics(out / "checkpoint")["feature_probe"]
    assert printed == stored and set(stored) >= {"identity", "pose", "untrained_encoder", "protocol"}
    assert 0 <= stored["identity"]["test"] <= 100 and stored["pose"]["factor"] == "pose"


@pytest.fixture(scope="module")
def drgan_checkpoints(tmp_path_factory):
    t = trainer()
    t.step()
    root = tmp_path_factory.mktemp("drgan_ckpts")
    t.save(root / "drgan", latents=t.feature_bank(bank_size=24))
    return root


def test_gallery_is_rendered_from_the_feature_bank(drgan_checkpoints):
    from core.gallery import load_gallery

    model = core.load_model(drgan_checkpoints / "drgan")
    gallery = load_gallery(model, core.load_latents(drgan_checkpoints / "drgan"))
    assert gallery.image_shape == (1, 64, 64) and len(gallery) == 24 and gallery.labels.tolist().count(0) == 6


def test_swap_page_shows_a_pose_grid_for_a_drgan_checkpoint(drgan_checkpoints, monkeypatch):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(drgan_checkpoints))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / "pages/1_Swap_grid.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox[0].value == "drgan"
    captions = " ".join(c.value for c in at.caption)
    assert "no separate style code" in captions
    image = at.get("image")[0].proto.imgs[0]
    assert "pose0, pose1, pose2" in image.caption
    assert [b.label for b in at.get("download_button")] == ["Download PNG"]
    first = image.url
    at.number_input(key="pose_noise").set_value(3).run()
    assert not at.exception and at.get("image")[0].proto.imgs[0].url != first
    at.radio(key="pose_mode").set_value("One per class").run()
    assert not at.exception


@pytest.mark.parametrize("page", ["app.py", "pages/2_Interpolation.py", "pages/3_Latent_sliders.py",
                                  "pages/4_Random_sampling.py", "pages/5_Latent_map.py", "pages/7_Few_shot.py"])
def test_pages_that_need_a_z_s_split_explain_instead_of_failing(page, drgan_checkpoints, monkeypatch):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(drgan_checkpoints))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
    assert not at.exception, at.exception
    assert any("has none" in i.value and "Swap grid" in i.value for i in at.info), [i.value for i in at.info]


def test_metrics_page_shows_the_feature_probe_or_how_to_measure_it(drgan_checkpoints, monkeypatch):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(drgan_checkpoints))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / "pages/6_Metrics.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert any("train.drgan --evaluate" in i.value for i in at.info)


def test_shipped_drgan_checkpoint_opens_without_data_and_matches_the_readme():
    from core.gallery import load_gallery

    shipped = ROOT / "checkpoints" / "drgan-yaleb"
    model = core.load_model(shipped)
    assert model.pose_names == ["lit from left", "frontal light", "lit from right"]
    gallery = load_gallery(model, core.load_latents(shipped))
    assert gallery.name == "rendered by the model" and gallery.image_shape == (1, 64, 64)
    probe = core.load_metrics(shipped)["feature_probe"]
    readme = (ROOT / "README.md").read_text()
    for value in (probe["identity"]["test"], probe["pose"]["test"], probe["untrained_encoder"]["pose"]["test"]):
        assert f"{value:.2f}" in readme, value
