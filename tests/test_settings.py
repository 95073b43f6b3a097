"""core.settings: one Settings object from the environment and the flags, read in one place."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from core import settings
from core.settings import ENV, Settings


def test_defaults_are_a_single_users_local_server():
    s = Settings.from_env({})
    assert not s.public and s.model_roots == () and s.save_folder == s.checkpoint_dir
    assert s.checkpoint_dir.name == "checkpoints" and s.default_model == "mnist" and s.save_quota == 50
    assert s.heavy_slots >= 1 and 1 <= s.gradio_concurrency <= 2 and s.torch_threads is not None


def test_every_variable_is_read_and_round_trips():
    env = {"CCVAE_PUBLIC": "yes", "CCVAE_CHECKPOINT_DIR": "/srv/models", "CCVAE_MODEL_ROOTS": os.pathsep.join(["/a", "/b"]),
           "CCVAE_SAVE_DIR": "/srv/saved", "CCVAE_SAVE_QUOTA": "7", "CCVAE_HEAVY_SLOTS": "3", "CCVAE_JOB_QUEUE": "9",
           "CCVAE_JOB_TIMEOUT": "12.5", "CCVAE_HEAVY_NICE": "2", "CCVAE_DATA_DIR": "/data", "CCVAE_CACHE_DIR": "/cache",
           "CCVAE_GRADIO_CONCURRENCY": "4", "CCVAE_DEFAULT_MODEL": "yaleb", "CCVAE_WARMED": "startup",
           "OMP_NUM_THREADS": "1"}
    s = Settings.from_env(env)
    assert s.public and s.checkpoint_dir == Path("/srv/models") and s.model_roots == (Path("/a"), Path("/b"))
    assert s.save_folder == Path("/srv/saved") and (s.save_quota, s.heavy_slots, s.job_queue) == (7, 3, 9)
    assert (s.job_timeout, s.heavy_nice, s.gradio_concurrency) == (12.5, 2, 4)
    assert (s.data_dir, s.cache_dir, s.default_model, s.warmed) == ("/data", Path("/cache"), "yaleb", "startup")
    assert s.torch_threads is None  # OMP_NUM_THREADS decides
    assert Settings.from_env(s.to_env() | {"OMP_NUM_THREADS": "1"}) == s
    assert set(s.to_env()) == set(ENV.values())


def test_a_value_that_is_not_a_number_names_its_variable():
    with pytest.raises(ValueError, match="CCVAE_HEAVY_SLOTS='two' is not a number"):
        Settings.from_env({"CCVAE_HEAVY_SLOTS": "two"})


def test_flags_merge_into_the_settings_and_reach_child_processes(tmp_path, monkeypatch):
    for name in ENV.values():
        monkeypatch.setenv(name, "")  # recorded, so what apply_flags sets is undone after the test
        monkeypatch.delenv(name)
    parser = argparse.ArgumentParser()
    settings.add_flags(parser)
    now = settings.apply_flags(parser.parse_args(["--public", "--model-root", str(tmp_path)]),
                               checkpoint_dir=tmp_path.resolve())
    assert now.public and now.model_roots == (tmp_path.resolve(),) and now.checkpoint_dir == tmp_path.resolve()
    assert settings.current() is now  # read again only when a variable changes
    child = settings.child_env(data_dir=None, default_model="yaleb")
    assert child["CCVAE_PUBLIC"] == "1" and child["CCVAE_DEFAULT_MODEL"] == "yaleb" and "CCVAE_DATA_DIR" not in child
    with pytest.raises(ValueError, match="unknown setting"):
        settings.child_env(pubic=True)
    with pytest.raises(ValueError, match="unknown settings"):
        settings.configure(pubic=True)


def test_script_flags_are_read_only_from_app_py(monkeypatch):
    monkeypatch.setenv("CCVAE_PUBLIC", "")
    settings.parse_script_flags(["pages/1_Swap_grid.py", "--public"])
    assert not settings.current().public
    settings.parse_script_flags(["/srv/app.py", "--public"])
    assert settings.current().public


def test_each_default_is_written_once_settings_equal_an_empty_environment():
    """Settings() and Settings.from_env({}) are the same for every field (heavy_slots was 1 in one, half the cores in
    the other; gradio_concurrency 1 and up to 2; torch_threads None and a number)."""
    from dataclasses import fields

    plain, empty = Settings(), Settings.from_env({})
    for f in fields(Settings):
        assert getattr(plain, f.name) == getattr(empty, f.name), f.name
    assert plain.heavy_workers == 4 * plain.heavy_slots and plain.torch_threads is not None
    assert Settings(heavy_slots=3).heavy_workers == 12  # a derived default follows the field it comes from


def test_variable_names_match_field_names_and_the_old_default_model_name_still_works():
    from dataclasses import fields

    assert all(var == "CCVAE_" + name.upper() for name, var in ENV.items())
    assert set(ENV) == {f.name for f in fields(Settings)} - {"torch_threads"}  # that one follows OMP_NUM_THREADS
    assert Settings.from_env({"CCVAE_DEFAULT_MODEL": "yaleb"}).default_model == "yaleb"
    assert Settings.from_env({"CCVAE_DEFAULT_CHECKPOINT": "yaleb"}).default_model == "yaleb"  # deprecated alias
    assert Settings.from_env({"CCVAE_DEFAULT_CHECKPOINT": "yaleb", "CCVAE_DEFAULT_MODEL": "celeba"}).default_model == "celeba"
    child = settings.child_env({"CCVAE_DEFAULT_CHECKPOINT": "yaleb"}, default_model=None)
    assert "CCVAE_DEFAULT_CHECKPOINT" not in child and "CCVAE_DEFAULT_MODEL" not in child


def test_the_gradio_app_opens_on_the_default_model_setting(tmp_path, monkeypatch):
    """app_gradio used to hard-code "mnist"; its checkpoint box now starts on Settings.default_model."""
    import shutil
    import sys

    import gradio as gr

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    import app_gradio

    for name in ("mnist", "other"):
        shutil.copytree(root / "checkpoints" / "mnist", tmp_path / name, ignore=shutil.ignore_patterns("maps"))
    monkeypatch.setenv("CCVAE_CHECKPOINT_DIR", str(tmp_path))

    def opened() -> str:
        demo = app_gradio.build_app()
        return next(b.value for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Checkpoint")

    monkeypatch.setenv("CCVAE_DEFAULT_MODEL", "other")
    assert opened() == "other"
    monkeypatch.setenv("CCVAE_DEFAULT_MODEL", "mnist")
    assert opened() == "mnist"
    monkeypatch.setenv("CCVAE_DEFAULT_MODEL", "not-listed")
    assert opened() == "mnist"  # the first listed
