"""Training speed of the CC-VAE, against a baseline written the way the authors' code works.

    python -m tools.bench --data-dir ../shared/data/MNIST                 # batch 64 and 256, CPU (and CUDA if present)
    python -m tools.bench --data-dir ../shared/data/MNIST --threads 1 --out bench.json
    python -m tools.bench --maps --data-dir ../shared/data/MNIST          # t-SNE / UMAP of 10,000 codes instead
    python -m tools.bench --maps --map-baselines --data-dir ../shared/data/MNIST   # ... and the previous implementations
    python -m tools.bench --dry-run                                        # seconds: does it work on this machine?

Ours is ``core.training.make_trainer``: pairs drawn by index from uint8 images held as one tensor. The
baseline, measured in the same run on the same model, losses and optimisers, feeds the step the way
the authors' code does: a torch ``Dataset`` whose ``__getitem__`` turns one image into a tensor
through PIL and picks its same-class partner with Python's ``random``, and a ``DataLoader`` that is
drawn three times per iteration (one batch of pairs for the forward cycle, two for the reverse cycle).
Without --data-dir (or when MNIST is not there) both use synthetic 28x28 images of 10 classes.
On CUDA the baseline runs in fp32 as the authors' code does; ours with bf16 autocast, channels_last
and cudnn.benchmark (torch.compile only with ``python -m train --compile``, not here).

Both run their real step (ours: ``make_trainer.step``, not a copy) with a phase timer that the step marks: data
(sample pairs, make float batches), forward cycle (loss and backward), reverse cycle (loss and backward),
optimiser (both Adam steps). On CUDA the phase
times come from extra steps with a synchronisation after each phase, and it/s from steps without.
Images/s counts the images an iteration draws: 4 x batch (two per pair, two batches of pairs).
Prints Markdown tables; --out also writes JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.functional import to_tensor

from core import losses
from core.checkpoint import WEIGHTS
from core.data import DataError, ImageSet, load_mnist, synthetic_digits
from core.models import ModelConfig, build_model
from core.training import TrainConfig, authors_init, make_trainer
from core.training.engine import Phase
from train.cli import command_parser, hardware, parse_command

PHASES = ("data", "forward", "reverse", "optimiser")


def training_data(data_dir: str | None, synthetic_images: int = 60_000) -> ImageSet:
    if data_dir:
        try:
            return load_mnist(data_dir, "train")
        except DataError as err:
            print(f"note: {err}; using synthetic data", file=sys.stderr)
    return synthetic_digits(synthetic_images)


# ------------------------------------------------------------------------------------------ baseline

class PairedMNIST(Dataset):
    """The authors' ``MNIST_Paired``: __getitem__ returns (image, another image of its class, label);
    the image goes through PIL and ToTensor as torchvision's MNIST does, the partner is picked with
    ``random.SystemRandom().choice`` from per-class lists of tensors made once."""

    def __init__(self, data: ImageSet):
        self.images = data.images[:, 0].numpy()
        self.labels = data.labels.tolist()
        self.by_label: dict[int, list[torch.Tensor]] = {}
        for i, label in enumerate(self.labels):
            self.by_label.setdefault(label, []).append(to_tensor(Image.fromarray(self.images[i], mode="L")))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        label = self.labels[index]
        image = to_tensor(Image.fromarray(self.images[index], mode="L"))
        return image, random.SystemRandom().choice(self.by_label[label]), label


class Baseline:
    """The authors' iteration with our model and losses: three DataLoader batches, two Adam steps."""

    def __init__(self, dataset: PairedMNIST, batch_size: int, device: torch.device, seed: int = 0):
        torch.manual_seed(seed)
        self.device = device
        self.model = build_model(ModelConfig(image_shape=(1, 28, 28), z_dim=16, s_dim=16)).apply(authors_init)
        self.model = self.model.to(device).train()
        self.opt_forward = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.opt_reverse = torch.optim.Adam(self.model.encoder.parameters(), lr=1e-4)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0, drop_last=True)
        self.batches = self._forever(loader)
        self.noise = torch.Generator(device).manual_seed(seed + 1)

    @staticmethod
    def _forever(loader: DataLoader) -> Iterator:
        while True:  # the authors use itertools.cycle, which also keeps every batch of the first epoch in memory
            yield from loader

    def step(self, phase: Phase) -> None:
        """One iteration, its phases marked as ``make_trainer.step`` marks its own."""
        with phase("data"):
            x1, x2, _ = next(self.batches)
            r1, _, _ = next(self.batches)
            r2, _, _ = next(self.batches)
            x1, x2, r1, r2 = (t.to(self.device) for t in (x1, x2, r1, r2))
        with phase("forward"):
            self.opt_forward.zero_grad()
            losses.forward_cycle_loss(self.model, x1, x2, generator=self.noise).total.backward()
        with phase("reverse"):
            self.opt_reverse.zero_grad()
            losses.reverse_cycle_loss(self.model, r1, r2, generator=self.noise).total.backward()
        # the authors step the forward optimiser before the reverse cycle; timing both steps together
        # as one phase changes nothing in the work done
        with phase("optimiser"):
            self.opt_forward.step()
            self.opt_reverse.step()


# ------------------------------------------------------------------------------------------ timing

class PhaseTimer:
    """The ``phase`` argument of ``make_trainer.step`` (and of ``Baseline.step``): wall seconds per phase name, waiting
    for the GPU at the end of each phase when ``sync_each``."""

    def __init__(self, sync: Callable[[], None], sync_each: bool):
        self.sync, self.sync_each = sync, sync_each
        self.spent: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        if self.sync_each:
            self.sync()
        self.spent[name] += time.perf_counter() - t


def run_steps(step: Callable[[Phase], object], device: torch.device, steps: int, *,
              sync_each: bool) -> tuple[float, float, dict[str, float]]:
    """Wall seconds and process CPU seconds (all threads) for ``steps`` calls of ``step``, mean milliseconds per phase."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    timer = PhaseTimer(sync, sync_each)
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step(timer)
    sync()
    return time.perf_counter() - t0, time.process_time() - c0, {k: 1000 * timer.spent[k] / steps for k in PHASES}


def bench_device(data: ImageSet, paired: PairedMNIST, device: torch.device, batch: int, steps: int, warmup: int,
                 rounds: int) -> list[dict]:
    """Ours and the baseline at one batch size, in alternating rounds so both see the same machine load."""
    trainer = make_trainer(TrainConfig(batch_size=batch, device=str(device)), data)
    baseline = Baseline(paired, batch, device)
    impls = {"ours (make_trainer)": trainer.step, "baseline (authors' data path)": baseline.step}
    cuda = device.type == "cuda"
    seconds, cpu_seconds = dict.fromkeys(impls, 0.0), dict.fromkeys(impls, 0.0)
    phase_ms = {name: [] for name in impls}
    for step in impls.values():
        run_steps(step, device, warmup, sync_each=False)
    per_round = max(1, steps // rounds)
    for _ in range(rounds):
        for name, step in impls.items():
            took, cpu, ms = run_steps(step, device, per_round, sync_each=cuda)
            phase_ms[name].append(ms)
            if cuda:  # the synchronised steps give the phases; it/s comes from steps that run freely
                took, cpu, _ = run_steps(step, device, per_round, sync_each=False)
            seconds[name] += took
            cpu_seconds[name] += cpu
    rows = []
    done = rounds * per_round
    for name in impls:
        its = done / seconds[name]
        phases = {k: round(statistics.mean(r[k] for r in phase_ms[name]), 2) for k in PHASES}
        rows.append({"device": str(device), "batch": batch, "implementation": name, "it_per_s": round(its, 2),
                     "images_per_s": round(its * 4 * batch), "cpu_ms_per_it": round(1000 * cpu_seconds[name] / done, 1),
                     "phase_ms": phases, "steps": done})
    rows[0]["speedup_vs_baseline"] = round(rows[0]["it_per_s"] / rows[1]["it_per_s"], 2)
    rows[0]["cpu_time_ratio_baseline_over_ours"] = round(rows[1]["cpu_ms_per_it"] / rows[0]["cpu_ms_per_it"], 2)
    return rows


def training_table(rows: list[dict]) -> str:
    lines = ["| device | batch | implementation | it/s | images/s | data ms | forward ms | reverse ms | optimiser ms | "
             "CPU ms/it | speed-up (it/s) | speed-up (CPU time) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["phase_ms"]
        ours = "speedup_vs_baseline" in r
        speedup = f"{r['speedup_vs_baseline']:.2f}x" if ours else ""
        cpu_ratio = f"{r['cpu_time_ratio_baseline_over_ours']:.2f}x" if ours else ""
        lines.append(f"| {r['device']} | {r['batch']} | {r['implementation']} | {r['it_per_s']:.1f} | {r['images_per_s']:,} | "
                     f"{p['data']:.1f} | {p['forward']:.1f} | {p['reverse']:.1f} | {p['optimiser']:.1f} | {r['cpu_ms_per_it']:.0f} | "
                     f"{speedup} | {cpu_ratio} |")
    return "\n".join(lines)


def training_peak_rss_mb(data_dir: str | None, batch: int, steps: int, threads: int) -> float:
    """Peak resident memory of ``python -m train`` on the CPU (a child process): loading the data, ``steps``
    iterations, the final code statistics over the whole training set, the checkpoint."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "train", "--out", tmp, "--device", "cpu", "--steps", str(steps),
               "--batch-size", str(batch), "--log-every", str(steps), "--image-every", str(steps)]
        cmd += ["--data-dir", data_dir] if data_dir and Path(data_dir).is_dir() else ["--dry-run"]
        cmd += ["--threads", str(threads)] if threads else []
        subprocess.run(cmd, check=True, capture_output=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB


# ------------------------------------------------------------------------------------------ maps

def map_codes(data_dir: str | None, checkpoint: Path, n: int) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    """z mean and s of ``n`` MNIST test images under ``checkpoint``, or clustered random codes; and labels."""
    from core.checkpoint import load_model
    from core.explore import encode_all

    try:
        test = load_mnist(data_dir, "test") if data_dir else None
    except DataError as err:
        print(f"note: {err}; using random clustered codes", file=sys.stderr)
        test = None
    if test is not None and (checkpoint / WEIGHTS).is_file():
        codes = encode_all(load_model(checkpoint), test.images[:n])
        return ({"z": codes.z_mu.numpy(), "s": codes.s.numpy()}, test.labels[:n].numpy(),
                f"{checkpoint} on {min(n, len(test)):,} MNIST test images")
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(10, 16))
    labels = rng.integers(0, 10, n)
    return ({"z": rng.normal(size=(n, 16)).astype(np.float32),
             "s": (centres[labels] + rng.normal(size=(n, 16))).astype(np.float32)}, labels, f"{n:,} random codes (10 clusters)")


def previous_projection(codes: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """The maps as ``project_2d`` made them before: scikit-learn's t-SNE and UMAP's defaults."""
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (codes.shape[0] - 1) / 3))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(codes)
    from umap import UMAP

    return UMAP(n_components=2, n_neighbors=min(15, codes.shape[0] - 1), random_state=seed).fit_transform(codes)


def bench_maps(args: argparse.Namespace) -> dict:
    import tempfile
    import warnings

    from sklearn.metrics import silhouette_score

    from core.evaluation.projection import cached_projection, project_2d

    codes, labels, source = map_codes(args.data_dir, args.checkpoint, args.map_points)
    impls = [("ours", project_2d)] + ([("previous", previous_projection)] if args.map_baselines else [])
    rows = []
    for impl, fn in impls:
        for method in ("tsne", "umap"):
            for name, c in codes.items():
                t0, c0 = time.perf_counter(), time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    xy = fn(c, method)
                rows.append({"implementation": impl, "method": method, "codes": name, "points": len(c),
                             "seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(time.process_time() - c0, 2),
                             "silhouette_2d": round(float(silhouette_score(xy, labels, sample_size=5000, random_state=0)), 3)})
                print(rows[-1], file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:  # a cache hit: the map is read back from <checkpoint>/maps/
        folder = Path(tmp)
        (folder / WEIGHTS).write_bytes(b"weights")
        cached_projection(folder, "s", codes["s"], "pca")
        t0 = time.perf_counter()
        cached_projection(folder, "s", codes["s"], "pca")
        hit = time.perf_counter() - t0
    return {"source": source, "rows": rows, "cache_hit_ms": round(1000 * hit, 2)}


def maps_table(result: dict) -> str:
    lines = [f"Codes: {result['source']}. The first UMAP call of a process includes numba's compilation.", "",
             "| implementation | projection | codes | points | seconds | CPU seconds | silhouette of the map by label |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['implementation']} | {r['method']} | {r['codes']} | {r['points']:,} | {r['seconds']:.1f} | "
                     f"{r['cpu_seconds']:.1f} | {r['silhouette_2d']:.3f} |")
    lines.append(f"| ours, read back from `<checkpoint>/maps/` | any | s | {result['rows'][0]['points']:,} | "
                 f"{result['cache_hit_ms'] / 1000:.3f} | | |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m tools.bench", __doc__, threads=0,
                            dry_run="seconds, not minutes: 1,000 synthetic images, batch 8, 2 steps on the CPU "
                                    "(with --maps: 200 codes, no baselines); the same tables and JSON")
    parser.add_argument("--data-dir", default=None, help="MNIST IDX folder; synthetic data without it")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=30, help="timed iterations per implementation and batch size")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    parser.add_argument("--rounds", type=int, default=3, help="alternate ours and the baseline this many times")
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--maps", action="store_true", help="time t-SNE and UMAP of --map-points codes instead")
    parser.add_argument("--map-points", type=int, default=10_000)
    parser.add_argument("--map-baselines", action="store_true",
                        help="with --maps: also time the previous maps (scikit-learn t-SNE, UMAP defaults); minutes")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"), help="encodes the codes for --maps")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = parse_command(parser, argv)
    peak_rss_steps, synthetic_images = 10, 60_000
    if args.dry_run:
        args.data_dir, args.batch_sizes, args.steps, args.warmup, args.rounds = None, [8], 2, 1, 1
        args.devices, args.map_points, args.map_baselines = ["cpu"], 200, False
        peak_rss_steps, synthetic_images = 2, 1_000
    result: dict = {"hardware": hardware(), "dry_run": args.dry_run}
    print(f"{result['hardware']}\n")
    if args.maps:
        result["maps"] = bench_maps(args)
        print(maps_table(result["maps"]))
    else:
        data = training_data(args.data_dir, synthetic_images)
        paired = PairedMNIST(data)
        devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
        rows = []
        for device in devices:
            for batch in args.batch_sizes:
                rows += bench_device(data, paired, torch.device(device), batch, args.steps, args.warmup, args.rounds)
                print("\n".join(training_table(rows[-2:]).splitlines()[-2:]), file=sys.stderr, flush=True)
            if device.startswith("cuda"):
                result[f"peak_gpu_mb_{device}"] = round(torch.cuda.max_memory_allocated() / 2**20)
        batch = max(args.batch_sizes)
        result["peak_rss_mb_cpu_training"] = round(training_peak_rss_mb(args.data_dir, batch, peak_rss_steps, args.threads))
        result["training"], result["data"], result["threads"] = rows, data.name, torch.get_num_threads()
        print(training_table(rows))
        print(f"\nData: {data.name} ({len(data):,} images); {torch.get_num_threads()} torch threads. Peak resident memory "
              f"of `python -m train` on the CPU (batch {batch}, {peak_rss_steps} steps, then its code statistics and checkpoint): "
              f"{result['peak_rss_mb_cpu_training']:,} MB")
        for key, value in result.items():
            if key.startswith("peak_gpu_mb_"):
                print(f"Peak GPU memory allocated ({key[len('peak_gpu_mb_'):]}): {value:,} MB")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
