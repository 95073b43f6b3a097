"""The report's MNIST experiments as resumable sweeps: one training run and one JSON file per cell.

    python -m train.sweep dims --data-dir ../shared/data/MNIST          # Table 4.1: 3 methods x 6 sizes
    python -m train.sweep variants --data-dir ../shared/data/MNIST      # Table 4.2: the CC-VAE loss variants
    python -m train.sweep report                                         # both tables as Markdown
    python -m train.sweep dims --dims 16 32 --methods ccvae szabo        # a part of the grid

Every cell trains with the same schedule (``--steps``, ``--lr``, batch 64, lr x0.1 at 80%) through
``core.training.train_run``, as ``python -m train`` does (atomic checkpoints in ``<runs>/<cell>/``), is evaluated with the Table 4.1
protocol (``core.evaluation.evaluate_model``: a 2-layer MLP on frozen codes, z sampled) and writes
``<out>/<cell>.json``. A killed sweep continues where it stopped: finished cells are skipped, a cell
whose training was interrupted resumes from its last checkpoint. A cell whose training fails (NaN,
GAN collapse) is recorded as failed, with the message, and the sweep goes on.

The defaults are a short schedule that fits a 2-core CPU (the paper trained 100 epochs, ~94k steps:
pass ``--steps 94000 --lr 1e-4`` on a GPU). The evaluation probe sees ``--eval-train`` training images,
trains on ``core.evaluation.PROTOCOL`` (early stopping; ``--eval-epochs N``: a fixed N epochs instead, a
different protocol) and is tested on all 10,000 test images. ``report`` refuses cells scored on different
protocols in one table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch

from core.checkpoint import (
    CONFIG,
    CheckpointError,
    RunFolder,
    load_metrics,
    load_model,
    read_config,
    replace_file_atomic,
    save_metrics,
    write_json,
)
from core.data import DataError, load_dataset
from core.evaluation import PAPER_RESULTS, PAPER_VARIANTS, PROTOCOL, Protocol, check_one_protocol, evaluate_checkpoint
from core.evaluation.result import Evaluation, MeanSd
from core.models import METHOD_NAMES
from core.training import DRY_RUN, TrainConfig, preset_config, train_run
from train import driver
from train.cli import command_parser, hardware

DIMS = (16, 32, 64, 128, 256, 512)
METHODS = ("ccvae", "mathieu", "szabo")
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
    "z-adversary-3x5": {"z_adversary_weight": 3.0, "z_adversary_steps": 5},
    "z-independence-1": {"z_independence_weight": 1.0},
    # z starts shut (KL weight 10 falling to the default 3 over half the run): the decoder learns the class from s first
    "z-adversary+kl-cooldown": {"z_adversary_weight": 1.0, "kl_start": 10.0, "kl_warmup": 1500},
    # the opposite: z starts wide open (KL weight 0 rising to the default 3 over half the run)
    "z-adversary+kl-warmup": {"z_adversary_weight": 1.0, "kl_warmup": 1500},
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


def eval_protocol(args: argparse.Namespace) -> Protocol:
    """The protocol the cells are scored on: PROTOCOL, or --eval-epochs fixed epochs; on --eval-train images."""
    protocol = Protocol.fixed(args.eval_epochs) if args.eval_epochs else PROTOCOL
    return protocol.with_sizes(args.eval_train, 0)


def cell_config(run: RunFolder, options: dict, args: argparse.Namespace) -> tuple[TrainConfig, bool]:
    """A cell's training options and whether it resumes: the shared schedule with the cell's own options on top,
    over the saved options when the folder has them, else over the authors' setting (TrainConfig's defaults)."""
    steps = int(options.get("steps", args.steps))
    given = {"data_dir": args.data_dir, "steps": steps, "lr": args.lr, "seed": args.seed, "threads": args.threads,
             "checkpoint_every": 250, "image_every": 10 * steps} | options
    if run.train_config.is_file():
        return TrainConfig.from_dict(run.read_config() | given), True
    return preset_config("authors", **((DRY_RUN if args.dry_run else {}) | given)), False


def train_cell(run: RunFolder, options: dict, args: argparse.Namespace) -> int:
    """Train (or finish training) one cell with ``core.training.train_run``, shown as ``python -m train`` shows a
    run; its exit status."""
    steps = int(options.get("steps", args.steps))
    done = (run.checkpoint / CONFIG).is_file() and \
        read_config(run.checkpoint)["model"].get("training_steps", 0) >= steps
    if done:
        return 0
    try:
        config, resume = cell_config(run, options, args)
    except (TypeError, ValueError) as err:
        driver.error(f"cell options {options}: {err}")
        return 2
    console = driver.Console(run)
    with driver.stop_signals():
        result = train_run(config, run, resume=resume, dry_run=args.dry_run, **console.callbacks())
    return console.finish(result)


def evaluation_data(args: argparse.Namespace):
    test = load_dataset("mnist", args.data_dir, "test")
    train = load_dataset("mnist", args.data_dir, "train")
    train = train.random_subset(args.eval_train, args.seed)
    if args.dry_run:
        test = test.subset(torch.arange(min(200, len(test))))
    return train, test


def run_cell(name: str, options: dict, args: argparse.Namespace, data) -> dict:
    run = RunFolder(args.runs / name)
    t0 = time.time()
    status = train_cell(run, options, args)
    result = {"cell": name, "options": options, "schedule": schedule(args), "hardware": hardware(),
              "date": date.today().isoformat(), "run": str(run.root)}
    if status != 0:
        return result | {"failed": f"training exited with status {status}; see the log above and {run}"}
    model = load_model(run.checkpoint)
    state = json.loads(run.train_state.read_text())
    t1 = time.time()
    metrics = evaluate_checkpoint(model, *data, protocol=eval_protocol(args), seed=int(options.get("seed", args.seed)))
    return result | {"train_seconds": round(state.get("train_seconds", 0.0), 1),
                     "eval_seconds": round(time.time() - t1, 1), "this_run_seconds": round(time.time() - t0, 1),
                     "evaluation": metrics}


def store_metrics(checkpoint: Path, result: dict) -> None:
    """Put a cell's evaluation beside its weights too, so the app (Metrics, Compare) shows it."""
    if "evaluation" not in result or not (checkpoint / CONFIG).is_file():
        return
    metrics = load_metrics(checkpoint)
    if "evaluation" not in metrics:
        save_metrics(checkpoint, metrics | {"evaluation": result["evaluation"] | {
            "hardware": result["hardware"], "date": result["date"], "note": "python -m train.sweep evaluation"}})


class SweepError(RuntimeError):
    """A sweep cannot go on (a results file from another schedule, an unreadable checkpoint)."""


def sweep_cell(name: str, options: dict, args: argparse.Namespace, data=None) -> str:
    """Train, evaluate and record one cell (skipped when its JSON exists); a one-line summary.

    The unit of work both for the in-process loop and for a launched job (``--launcher``)."""
    file = args.out / f"{name}.json"
    if file.is_file():
        previous = json.loads(file.read_text())
        if previous.get("schedule") != schedule(args):
            raise SweepError(f"{file} was made with schedule {previous.get('schedule')}, this sweep uses "
                             f"{schedule(args)}; choose another --out (and --runs) or delete it")
        store_metrics(RunFolder(args.runs / name).checkpoint, previous)
        return f"{name}: done earlier, skipped"
    if args.threads:
        torch.set_num_threads(args.threads)
    if data is None:
        data = evaluation_data(args)
    try:
        result = run_cell(name, options, args, data)
    except CheckpointError as err:
        raise SweepError(f"{name}: {err}") from err
    args.out.mkdir(parents=True, exist_ok=True)
    replace_file_atomic(file, lambda p, r=result: write_json(p, r))
    store_metrics(RunFolder(args.runs / name).checkpoint, result)
    summary = accuracies(result) if "evaluation" in result else result["failed"]
    return f"{name}: {summary} -> {file}"


def run_sweep(cells: dict[str, dict], args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    if args.launcher != "none":
        return launch(cells, args)
    try:
        data = evaluation_data(args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for i, (name, options) in enumerate(cells.items(), start=1):
        print(f"[{i}/{len(cells)}] {name}: {options}", flush=True)
        try:
            print(f"[{i}/{len(cells)}] {sweep_cell(name, options, args, data)}", flush=True)
        except SweepError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


def launch(cells: dict[str, dict], args: argparse.Namespace) -> int:
    """Run the cells as a job array through submitit: ``slurm`` on a cluster, ``local`` as local processes
    (the same code path, for trying a sweep out). Each job is one ``sweep_cell``: resumable and recorded
    in ``--out`` exactly as in the in-process loop, so a cancelled array can simply be launched again."""
    import submitit

    pending = {k: v for k, v in cells.items() if not (args.out / f"{k}.json").is_file()}
    if not pending:
        print("every cell is done; nothing to launch")
        return 0
    executor = submitit.AutoExecutor(folder=args.runs / "submitit", cluster=args.launcher)
    extra = {"slurm_array_parallelism": args.parallel} if args.launcher == "slurm" else {}
    if args.launcher == "slurm" and args.partition:
        extra["slurm_partition"] = args.partition
    executor.update_parameters(timeout_min=args.timeout_min, cpus_per_task=max(1, args.threads), name="ccvae-sweep",
                               **extra)
    names = list(pending)
    jobs = executor.map_array(sweep_cell, names, [pending[n] for n in names], [args] * len(names))
    print(f"launched {len(jobs)} cell(s) on {args.launcher}; logs in {args.runs / 'submitit'}", flush=True)
    if args.no_wait:
        return 0
    failed = 0
    for name, job in zip(names, jobs):
        try:
            print(job.result(), flush=True)
        except Exception as err:  # a failed job: report it and go on with the others
            failed += 1
            lines = str(err).strip().splitlines()
            print(f"error: {name}: {lines[-1] if lines else type(err).__name__}", file=sys.stderr)
    return 1 if failed else 0


# ------------------------------------------------------------------------------------------- report

def _cell(results: dict, name: str) -> str:
    r = results.get(name)
    if r is None:
        return "not run"
    if "failed" in r:
        return "failed"
    return accuracies(r)


def accuracies(result: dict) -> str:
    """A cell's "z sampled / z mean / s" test accuracies."""
    e = Evaluation.from_dict(result["evaluation"])
    return f"{e.z_sample.test:.2f} / {e.z_mean.test:.2f} / {e.s.test:.2f}"


def recipes_report(results: dict) -> list[str]:
    """One row per recipe: mean ± sd over its seeds of z sampled, z mean and s (test), and the swap effect of z."""
    by_recipe: dict[str, list[dict]] = {}
    for name, r in results.items():
        recipe, _, seed = name.rpartition("-seed")
        if recipe and seed.isdigit():
            by_recipe.setdefault(recipe, []).append(r)
    lines = ["| recipe (MNIST 16/16) | options | seeds | z sampled | z mean | s | z effect / s effect | train min |",
             "|---|---|---|---|---|---|---|---|"]
    for recipe, runs in by_recipe.items():
        ok = [r for r in runs if "evaluation" in r]
        if not ok:
            lines.append(f"| {recipe} | | {len(runs)} | failed | | | | |")
            continue
        acc = [Evaluation.from_dict(r["evaluation"]) for r in ok]
        effect = [a.extra["swap_effect"]["z_over_s"] for a in acc if "swap_effect" in a.extra]
        options = {k: v for k, v in ok[0]["options"].items() if k not in ("z_dim", "s_dim", "seed")}
        lines.append(f"| {recipe} | {json.dumps(options) if options else 'defaults'} | {len(ok)} | "
                     f"{MeanSd.of(a.z_sample.test for a in acc)} | {MeanSd.of(a.z_mean.test for a in acc)} | "
                     f"{MeanSd.of(a.s.test for a in acc)} | {MeanSd.of(effect) if effect else 'n/a'} | "
                     f"{statistics.mean(r['train_seconds'] for r in ok) / 60:.1f} |")
    return lines


def _paper(row: str, key) -> str:
    z, s = PAPER_RESULTS.get(key, {}).get(row, (None, None))
    return "" if z is None else f"{z:.2f} / n/a / {s:.2f}"


def _probe_length(sched: dict) -> str:
    return f"{sched['eval_epochs']} epochs" if sched.get("eval_epochs") else "trained until it stops improving"


def _protocol_note(results: dict) -> str:
    """The one protocol of the scored cells (``ProtocolMismatch`` for a mix: never one table of two protocols)."""
    scored = {name: Evaluation.from_dict(r["evaluation"]) for name, r in results.items() if "evaluation" in r}
    if not scored:
        return ""
    p = check_one_protocol(scored)
    legacy = " (the pre-protocol reading: a fixed epoch count, no early stopping)" if p["name"].startswith("fixed") else ""
    return f" Protocol `{p['name']}/v{p['version']}`{legacy}."


def report(out: Path) -> str:
    results = {f.stem: json.loads(f.read_text()) for f in sorted(out.glob("*.json"))}
    if not results:
        return f"no results in {out}"
    any_result = next(iter(results.values()))
    sched = any_result["schedule"]
    machines = "; ".join(sorted({r["hardware"] for r in results.values() if "hardware" in r}))
    scored_on = _protocol_note(results)
    if any("-seed" in name for name in results):
        return "\n".join([f"Schedule: {sched['steps']:,} steps, batch {sched['batch_size']}, Adam lr {sched['lr']:g} "
                          f"(x0.1 at {sched['lr_drop_at']:.0%}); classifier (MLP 256-256) on {sched['eval_train']:,} "
                          f"training codes, {_probe_length(sched)}, all test images. Hardware: "
                          f"{machines}. Accuracy in % (test); z effect / s effect: how much swapping z "
                          "changes a decoded image relative to swapping s (near 0: z carries nothing)." + scored_on,
                          "",
                          *recipes_report(results)])
    num_test = (Evaluation.from_dict(any_result["evaluation"]).num_test or 0) if "evaluation" in any_result else 0
    lines = [f"Schedule: {sched['steps']:,} steps, batch {sched['batch_size']}, Adam lr {sched['lr']:g} "
             f"(x0.1 at {sched['lr_drop_at']:.0%}), seed {sched['seed']}; classifier on {sched['eval_train']:,} "
             f"training codes, {_probe_length(sched)}, tested on {num_test:,} test images. "
             f"Hardware: {machines}. Cells: z test (sampled) / z test (mean) / s test accuracy (%)."
             + scored_on, "",
             "| z = s | " + " | ".join(f"{METHOD_NAMES[m]} (ours)" for m in METHODS) + " | "
             + " | ".join(f"{METHOD_NAMES[m]} (paper)" for m in METHODS) + " |",
             "|---" * (1 + 2 * len(METHODS)) + "|"]
    for d in DIMS:
        ours = [_cell(results, f"{m}-{d}") for m in METHODS]
        paper = [_paper(PAPER_ROW[m], ("mnist", d, d)) for m in METHODS]
        lines.append(f"| {d} | " + " | ".join(ours + paper) + " |")
    lines += ["", "| variant (MNIST 16/16) | ours | report |", "|---|---|---|"]
    for name, (title, (z, s)) in PAPER_VARIANTS.items():
        lines.append(f"| {title} | {_cell(results, name)} | {z:.2f} / n/a / {s:.2f} |")
    seconds = sum(r.get("train_seconds", 0) for r in results.values())
    lines += ["", f"Training time of the cells listed: {seconds / 60:.0f} min in all."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.sweep", __doc__)
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
    parser.add_argument("--eval-epochs", type=int, default=0,
                        help="probe epochs, fixed (0: the protocol's early stopping, core.evaluation.PROTOCOL)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: default)")
    parser.add_argument("--dry-run", action="store_true", help="a few steps per cell on at most 256 images")
    parser.add_argument("--launcher", choices=("none", "local", "slurm"), default="none",
                        help="run the cells as a submitit job array: slurm (a cluster) or local (processes here)")
    parser.add_argument("--partition", default="", help="slurm partition")
    parser.add_argument("--parallel", type=int, default=18, help="slurm: cells running at once")
    parser.add_argument("--timeout-min", type=int, default=24 * 60, help="launched jobs: minutes per cell")
    parser.add_argument("--no-wait", action="store_true", help="launched jobs: return once submitted")
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
