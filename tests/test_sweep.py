"""python -m train.sweep: recipe cells are recorded, skipped when done, reported with a seed spread, and
can be launched as a submitit job array (its local executor here; SLURM on a cluster)."""

import argparse
import json

from train.sweep import main as sweep_main
from train.sweep import recipe_cells


def sweep_args(tmp_path, mnist_dir, *extra):
    return ["recipes", "--data-dir", str(mnist_dir), "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"),
            "--dry-run", "--steps", "3", "--eval-epochs", "1", "--eval-train", "300", "--threads", "1", *extra]


def test_recipe_cells_are_recorded_skipped_and_reported(tmp_path, mnist_dir, capsys):
    args = sweep_args(tmp_path, mnist_dir, "--recipes", "vanilla", "z-adversary", "--seeds", "0", "1")
    assert sweep_main(args) == 0
    files = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert files == ["vanilla-seed0.json", "vanilla-seed1.json", "z-adversary-seed0.json", "z-adversary-seed1.json"]
    cell = json.loads((tmp_path / "out" / "z-adversary-seed1.json").read_text())
    assert cell["options"]["z_adversary_weight"] == 1.0 and cell["options"]["seed"] == 1
    evaluation = cell["evaluation"]
    assert {"z_sample", "z_mean", "s"} <= set(evaluation["accuracy"]) and "z_over_s" in evaluation["swap_effect"]
    capsys.readouterr()
    assert sweep_main(args) == 0
    assert capsys.readouterr().out.count("done earlier, skipped") == 4
    assert sweep_main(["report", "--out", str(tmp_path / "out")]) == 0
    table = capsys.readouterr().out
    assert "| z-adversary |" in table and " ± " in table and "z mean" in table


def test_a_schedule_change_is_refused(tmp_path, mnist_dir, capsys):
    assert sweep_main(sweep_args(tmp_path, mnist_dir, "--recipes", "vanilla", "--seeds", "0")) == 0
    assert sweep_main(sweep_args(tmp_path, mnist_dir, "--recipes", "vanilla", "--seeds", "0", "--lr", "0.001")) == 2
    assert "schedule" in capsys.readouterr().err


def test_cells_launch_as_a_submitit_array(tmp_path, mnist_dir, capsys):
    args = sweep_args(tmp_path, mnist_dir, "--recipes", "vanilla", "--seeds", "0", "1", "--launcher", "local")
    assert sweep_main(args) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["vanilla-seed0.json", "vanilla-seed1.json"]
    assert list((tmp_path / "runs" / "submitit").iterdir())  # submitit's job logs
    capsys.readouterr()
    assert sweep_main(args) == 0
    assert "nothing to launch" in capsys.readouterr().out


def test_recipe_names_and_seeds_make_the_cells():
    cells = recipe_cells(["vanilla", "kl-6"], [0, 2])
    assert list(cells) == ["vanilla-seed0", "vanilla-seed2", "kl-6-seed0", "kl-6-seed2"]
    assert cells["kl-6-seed2"] == {"z_dim": 16, "s_dim": 16, "seed": 2, "kl_weight": 6.0}


def test_a_cell_with_a_boolean_option_trains(tmp_path, mnist_dir, monkeypatch):
    """The sweep builds a TrainConfig and calls core.training.train_run: a boolean option is a value, not the
    argv string "--flip True" the command line's parser rejects. A second call resumes the saved options."""
    import train.sweep as sweep

    monkeypatch.setitem(sweep.RECIPES, "flipped", {"flip": True})
    assert sweep_main(sweep_args(tmp_path, mnist_dir, "--recipes", "flipped", "--seeds", "0")) == 0
    run = tmp_path / "runs" / "flipped-seed0"
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["flip"] is True and saved["steps"] == 3 and saved["batch_size"] == 8  # the dry run's batch
    cell = json.loads((tmp_path / "out" / "flipped-seed0.json").read_text())
    assert "evaluation" in cell and "failed" not in cell
    args = argparse.Namespace(steps=3, data_dir=str(mnist_dir), lr=5e-4, seed=0, threads=1, dry_run=True)
    config, resume = sweep.cell_config(sweep.RunFolder(run), {"flip": True, "steps": 5}, args)
    assert resume and config.flip is True and config.steps == 5
