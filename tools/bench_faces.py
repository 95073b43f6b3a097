"""Steps per second of the face recipe's options, as ratios against today's recipe in float32, in one run.

    python -m tools.bench_faces --data-dir ../shared/data/celeba_subset --threads 1 --seconds 20
    python -m tools.bench_faces --dry-run                        # seconds: synthetic faces, a few steps

Each variant is a ``TrainConfig`` over the ``faces`` preset. The baseline ("today, float32") is the recipe the
shipped CelebA model was trained with before issue 31 (the conv family, z 8, s 64) in float32. Variants take
turns in blocks of --block seconds, --rounds times, so all see the same machine load: machines differ up to 3x
from day to day, so only these same-run ratios compare. Steps/s counts steps, images/s counts anchors (a step of
batch 128 does twice the work of one of 64). --compile variants run their first (compiling) steps before the
clock starts. The machine's instruction set and native-bf16 flag are printed with the table. --out writes JSON.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import torch

from core.data import DataError, load_dataset, synthetic_faces
from core.training import hardware, make_trainer, preset_config
from train.cli import command_parser, parse_command, write_result

TODAY = {"net": "conv", "z_dim": 8, "s_dim": 64}  # the faces recipe of issue 22 (the shipped model before issue 31)
VARIANTS = {
    "today, float32": TODAY | {"bf16": "off"},
    "today, bf16": TODAY | {"bf16": "on"},
    "today, float32, channels-last": TODAY | {"bf16": "off", "channels_last": True},
    "today, bf16, channels-last": TODAY | {"bf16": "on", "channels_last": True},
    "today, float32, compiled": TODAY | {"bf16": "off", "compile": True},
    "today, bf16, compiled": TODAY | {"bf16": "on", "compile": True},
    "resnet, bf16, compiled": {"bf16": "on", "compile": True},
    "today, bf16, batch 128": TODAY | {"bf16": "on", "batch_size": 128},
    "resnet, float32": {"bf16": "off"},
    "resnet, bf16": {"bf16": "on"},
    "resnet, bf16, channels-last": {"bf16": "on", "channels_last": True},
    "resnet, bf16, patch adversary": {"bf16": "on", "patch_weight": 0.5},
}
BASELINE = "today, float32"


def markdown(result: dict) -> str:
    """A recorded bench (the JSON ``main`` writes) as the table it printed: hardware first, then one row a variant."""
    lines = [f"{result['hardware']}; blocks of {result['seconds_per_block']:g} s, {result['rounds']} rounds, data "
             f"{result['data']}", "", "| variant | steps/s | x today (steps) | images/s | x today (images) |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {row['steps_per_s']:.2f} | {row['steps_ratio']:.2f} | {row['images_per_s']:.0f} | "
              f"{row['images_ratio']:.2f} |" for name, row in result["variants"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m tools.bench_faces", __doc__, threads=1, dry_run="synthetic faces, a few steps")
    parser.add_argument("--data-dir", nargs="+", default=None, help="CelebA folder(s) (default: synthetic faces)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of each block")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=None)
    args = parse_command(parser, argv)
    try:
        data = synthetic_faces(identities=20, channels=3) if args.dry_run or not args.data_dir else \
            load_dataset("celeba", os.pathsep.join(args.data_dir), "train", image_size=64, channels=3)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        args.seconds, args.rounds = 0.5, 1
    names = [BASELINE] + [n for n in args.variants if n != BASELINE]
    trainers = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bf16 "on" without native bf16 warns; here it is what is measured
        for name in names:
            config = preset_config("faces", **({"steps": 10 ** 6, "device": "cpu", "batch_size": 8 if args.dry_run else 64}
                                                | VARIANTS[name]))
            trainers[name] = make_trainer(config, data)
            for _ in range(3 if config.compile else 1):  # warm up (and compile) outside the clock
                trainers[name].step()
    steps, seconds = dict.fromkeys(names, 0), dict.fromkeys(names, 0.0)
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            while time.perf_counter() - start < args.seconds:
                trainer.step()
                steps[name] += 1
            seconds[name] += time.perf_counter() - start
    base = steps[BASELINE] / seconds[BASELINE]
    rows = {}
    for name in names:
        rate = steps[name] / seconds[name]
        batch = trainers[name].config.batch_size
        rows[name] = {"steps_per_s": round(rate, 3), "images_per_s": round(rate * batch, 1),
                      "steps_ratio": round(rate / base, 2), "images_ratio": round(rate * batch / (base * 64), 2),
                      "steps": steps[name]}
    result = {"hardware": hardware(), "threads": torch.get_num_threads(), "seconds_per_block": args.seconds,
              "rounds": args.rounds, "data": data.name, "variants": rows}
    print(markdown(result))
    if args.out:
        write_result(args.out, result)
        args.out.with_suffix(".md").write_text(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
