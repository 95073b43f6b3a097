"""The report's MNIST experiments as resumable sweeps: one training run and one JSON file per cell.

    python -m train.sweep dims --data-dir ../shared/data/MNIST          # Table 4.1: 3 methods x 6 sizes
    python -m train.sweep variants --data-dir ../shared/data/MNIST      # Table 4.2: the CC-VAE loss variants
    python -m train.sweep report                                         # both tables as Markdown
    python -m train.sweep dims --dims 16 32 --methods ccvae szabo        # a part of the grid

Every cell trains with the same schedule (``--steps``, ``--lr``, batch 64, lr x0.1 at 80%) through
``python -m train`` (atomic checkpoints in ``<runs>/<cell>/``), is evaluated with the Table 4.1
protocol (``core.evaluation.evaluate_model``: a 2-layer MLP on frozen codes, z sampled) and writes
``<out>/<cell>.json``. A killed sweep continues where it stopped: finished cells are skipped, a cell
whose training was interrupted resumes from its last checkpoint. A cell whose training fails (NaN,
GAN collapse) is recorded as failed, with the message, and the sweep goes on.

The defaults are a short schedule that fits a 2-core CPU (the paper trained 100 epochs, ~94k steps:
pass ``--steps 94000 --lr 1e-4`` on a GPU). The evaluation classifier sees ``--eval-train``
training images for ``--eval-epochs`` epochs and is tested on all 10,000 test images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch

from core.checkpoint import CheckpointError, load_metrics, load_model, read_config, replace_file_atomic, save_metrics, write_json
from core.data import DataError, load_dataset
from core.evaluation import PAPER_RESULTS, PAPER_VARIANTS, evaluate_model
from train import __main__ as train_cli
from train.cli import hardware

DIMS = (16, 32, 64, 128, 256, 512)
METHODS = ("ccvae", "mathieu", "szabo")
METHOD_NAMES = {"ccvae": "CC-VAE", "mathieu": "Mathieu et al.", "szabo": "Szabó et al."}
PAPER_ROW = {"ccvae": "CC-VAE (report)", "mathieu": "Mathieu et al.", "szabo": "Szabó et al."}
VARIANTS = {  # cell name -> training options (MNIST, z = s = 16); "ccvae-16" is shared with the dims table
    "ccvae-16": {},
    "reverse-reconstruction": {"reverse_reconstruction_weight": 2.0},
    "adversarial-decoder": {"adversarial": "decoder"},
    "adversarial-both": {"adversarial": "both"},
    "wasserstein": {"reverse_distance": "wasserstein"},
}


# issue 16: candidates against the z leak (MNIST, z = s = 16), each a TrainConfig switch of the one trainer;
# only pairwise same/different labels reach any loss
RECIPES = {
    "vanilla": {},
    "z-adversary": {"z_adversary_weight": 1.0},
    "relative-reverse": {"reverse_distance": "relative"},
    "reverse-reconstruction": {"reverse_reconstruction_weight": 2.0},
    "z-adversary+reverse-reconstruction": {"z_adversary_weight": 1.0, "reverse_reconstruction_weight": 2.0},
    "kl-6": {"kl_weight": 6.0},
    "z-adversary-3": {"z_adversary_weight": 3.0},
}


def recipe_cells(recipes, seeds) -> dict[str, dict]:
    return {f"{r}-seed{seed}": {"z_dim": 16, "s_dim": 16, "seed": seed} | RECIPES[r] for r in recipes for seed in seeds}


def dims_cells(dims, methods) -> dict[str, dict]:
    return {f"{m}-{d}": {"method": m, "z_dim": d, "s_dim": d} for d in dims for m in methods}


def variant_cells() -> dict[str, dict]:
    return {name: {"z_dim": 16, "s_dim": 16} | options for name, options in VARIANTS.items()}


def schedule(args: argparse.Namespace) -> dict:
    """What every cell shares; a results file made with another schedule is not silently mixed in."""
    return {"steps": args.steps, "lr": args.lr, "batch_size": 64, "lr_drop_at": 0.8, "seed": args.seed,
            "eval_train": args.eval_train, "eval_epochs": args.eval_epochs}


def train_cell(run: Path, options: dict, args: argparse.Namespace) -> int:
    """Train (or finish training) one cell through the training command line; its exit status."""
    steps = int(options.get("steps", args.steps))
    done = (run / "checkpoint" / "config.json").is_file() and \
        read_config(run / "checkpoint")["model"].get("training_steps", 0) >= steps
    if done:
        return 0
    argv = ["--out", str(run), "--data-dir", args.data_dir, "--steps", str(steps), "--lr", str(args.lr),
            "--seed", str(args.seed), "--threads", str(args.threads), "--checkpoint-every", "250",
            "--image-every", str(10 * steps)]
    argv += ["--resume"] if (run / "train_config.json").is_file() else []
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    if args.dry_run:
        argv += ["--dry-run"]
    return train_cli.main(argv)


def evaluation_data(args: argparse.Namespace):
    test = load_dataset("mnist", args.data_dir, "test")
    train = load_dataset("mnist", args.data_dir, "train")
    g = torch.Generator().manual_seed(args.seed)
    if args.eval_train < len(train):
        train = train.subset(torch.randperm(len(train), generator=g)[:args.eval_train])
    if args.dry_run:
        test = test.subset(torch.arange(min(200, len(test))))
    return train, test


def run_cell(name: str, options: dict, args: argparse.Namespace, data) -> dict:
    run = args.runs / name
    t0 = time.time()
    status = train_cell(run, options, args)
    result = {"cell": name, "options": options, "schedule": schedule(args), "hardware": hardware(),
              "date": date.today().isoformat(), "run": str(run)}
    if status != 0:
        return result | {"failed": f"training exited with status {status}; see the log above and {run}"}
    model = load_model(run / "checkpoint")
    state = json.loads((run / "checkpoint" / "train_state.json").read_text())
    t1 = time.time()
    metrics = evaluate_model(model, *data, epochs=args.eval_epochs, seed=int(options.get("seed", args.seed)))
    return result | {"train_seconds": round(state.get("train_seconds", 0.0), 1),
                     "eval_seconds": round(time.time() - t1, 1), "this_run_seconds": round(time.time() - t0, 1),
                     "evaluation": metrics}


def store_metrics(checkpoint: Path, result: dict) -> None:
    """Put a cell's evaluation beside its weights too, so the app (Metrics, Compare) shows it."""
    if "evaluation" not in result or not (checkpoint / "config.json").is_file():
        return
    metrics = load_metrics(checkpoint)
    if "evaluation" not in metrics:
        save_metrics(checkpoint, metrics | {"evaluation": result["evaluation"] | {
            "hardware": result["hardware"], "date": result["date"], "note": "python -m train.sweep evaluation"}})


def run_sweep(cells: dict[str, dict], args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        data = evaluation_data(args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for i, (name, options) in enumerate(cells.items(), start=1):
        file = args.out / f"{name}.json"
        if file.is_file():
            previous = json.loads(file.read_text())
            if previous.get("schedule") != schedule(args):
                print(f"error: {file} was made with schedule {previous.get('schedule')}, this sweep uses "
                      f"{schedule(args)}; choose another --out (and --runs) or delete it", file=sys.stderr)
                return 2
            print(f"[{i}/{len(cells)}] {name}: done earlier, skipped", flush=True)
            store_metrics(args.runs / name / "checkpoint", previous)
            continue
        print(f"[{i}/{len(cells)}] {name}: training {options}", flush=True)
        try:
            result = run_cell(name, options, args, data)
        except CheckpointError as err:
            print(f"error: {name}: {err}", file=sys.stderr)
            return 2
        replace_file_atomic(file, lambda p, r=result: write_json(p, r))
        store_metrics(args.runs / name / "checkpoint", result)
        acc = result.get("evaluation", {}).get("accuracy")
        summary = f"z {acc['z_sample']['test']} / z mean {acc['z_mean']['test']} / s {acc['s']['test']}" \
            if acc else result["failed"]
        print(f"[{i}/{len(cells)}] {name}: {summary} -> {file}", flush=True)
    return 0


# ------------------------------------------------------------------------------------------- report

def _cell(results: dict, name: str) -> str:
    r = results.get(name)
    if r is None:
        return "not run"
    if "failed" in r:
        return "failed"
    acc = r["evaluation"]["accuracy"]
    return f"{acc['z_sample']['test']:.2f} / {acc['s']['test']:.2f}"


def _paper(row: str, key) -> str:
    z, s = PAPER_RESULTS.get(key, {}).get(row, (None, None))
    return "" if z is None else f"{z:.2f} / {s:.2f}"


def report(out: Path) -> str:
    results = {f.stem: json.loads(f.read_text()) for f in sorted(out.glob("*.json"))}
    if not results:
        return f"no results in {out}"
    any_result = next(iter(results.values()))
    sched = any_result["schedule"]
    num_test = any_result.get("evaluation", {}).get("num_test", 0)
    lines = [f"Schedule: {sched['steps']:,} steps, batch {sched['batch_size']}, Adam lr {sched['lr']:g} "
             f"(x0.1 at {sched['lr_drop_at']:.0%}), seed {sched['seed']}; classifier on {sched['eval_train']:,} "
             f"training codes, {sched['eval_epochs']} epochs, tested on {num_test:,} test images. "
             f"Hardware: {any_result['hardware']}. Cells: z test / s test accuracy (%), z sampled.", "",
             "| z = s | " + " | ".join(f"{METHOD_NAMES[m]} (ours)" for m in METHODS) + " | "
             + " | ".join(f"{METHOD_NAMES[m]} (paper)" for m in METHODS) + " |",
             "|---" * (1 + 2 * len(METHODS)) + "|"]
    for d in DIMS:
        ours = [_cell(results, f"{m}-{d}") for m in METHODS]
        paper = [_paper(PAPER_ROW[m], ("mnist", d, d)) for m in METHODS]
        lines.append(f"| {d} | " + " | ".join(ours + paper) + " |")
    lines += ["", "| variant (MNIST 16/16) | ours | report |", "|---|---|---|"]
    for name, (title, (z, s)) in PAPER_VARIANTS.items():
        lines.append(f"| {title} | {_cell(results, name)} | {z:.2f} / {s:.2f} |")
    seconds = sum(r.get("train_seconds", 0) for r in results.values())
    lines += ["", f"Training time of the cells listed: {seconds / 60:.0f} min in all."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", choices=("dims", "variants", "recipes", "report"))
    parser.add_argument("--data-dir", default="", help="MNIST folder (default: $CCVAE_DATA_DIR)")
    parser.add_argument("--out", type=Path, default=Path("experiments/mnist"), help="one JSON per cell")
    parser.add_argument("--runs", type=Path, default=Path("runs/sweep"), help="training folders, one per cell")
    parser.add_argument("--dims", type=int, nargs="+", default=list(DIMS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", type=int, default=1000, help="iterations per cell (paper: about 94,000)")
    parser.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate of every cell (paper: 1e-4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES), help="recipes table: which")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="recipes table: seeds of each recipe")
    parser.add_argument("--eval-train", type=int, default=20_000, help="training images for the classifier")
    parser.add_argument("--eval-epochs", type=int, default=20, help="classifier epochs")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: default)")
    parser.add_argument("--dry-run", action="store_true", help="a few steps per cell on at most 256 images")
    args = parser.parse_args(argv)
    if args.table == "report":
        print(report(args.out))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    cells = {"dims": lambda: dims_cells(args.dims, args.methods), "variants": variant_cells,
             "recipes": lambda: recipe_cells(args.recipes, args.seeds)}[args.table]()
    return run_sweep(cells, args)


if __name__ == "__main__":
    sys.exit(main())
