"""python -m train.sweep: recipe cells are recorded, skipped when done, reported with a seed spread, and
can be launched as a submitit job array (its local executor here; SLURM on a cluster)."""

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
