"""Does bf16 autocast train the face recipe as well as float32, and how much faster is it on this CPU?

    python -m tools.bf16_check --data-dir ../shared/data/celeba_subset --steps 300 --threads 2
    python -m tools.bf16_check --dry-run                     # seconds: synthetic faces, a few steps

Trains the ``faces`` preset (without its classifier terms) twice from the same seed, float32 and with
``bf16`` autocast, alternating in blocks of --block steps so both see the same machine load; prints steps/s
of each, their ratio (measured in the same run: the only kind of speed number that compares on machines
that differ up to 3x from day to day) and the mean loss terms over the last --tail steps. --out writes JSON.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from core.data import DataError, load_dataset, synthetic_faces
from core.training import PRESETS, TrainConfig, hardware, make_trainer
from train.cli import command_parser, parse_command, write_result


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m tools.bf16_check", __doc__, threads=0, dry_run="synthetic faces, a few steps")
    parser.add_argument("--data-dir", default="", help="celeba_subset folder (default: $CCVAE_DATA_DIR)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--block", type=int, default=25, help="steps of one precision before switching")
    parser.add_argument("--tail", type=int, default=50, help="loss terms averaged over the last this many steps")
    parser.add_argument("--out", type=Path, default=None)
    args = parse_command(parser, argv)
    try:
        if args.dry_run:
            data = synthetic_faces(identities=4, channels=3)
            args.steps, args.block, args.tail = 4, 2, 2
        else:
            data = load_dataset("celeba", args.data_dir or None, "train", image_size=64, channels=3)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    recipe = {k: v for k, v in PRESETS["faces"].items() if k != "bf16"} | {"steps": args.steps, "device": "cpu"}
    if args.dry_run:
        recipe |= {"batch_size": 8}
    trainers = {name: make_trainer(TrainConfig(**recipe, bf16=bf16), data) for name, bf16 in (("float32", "off"),
                                                                                           ("bf16", "on"))}
    seconds = dict.fromkeys(trainers, 0.0)
    history: dict[str, list[dict[str, float]]] = {name: [] for name in trainers}
    done = 0
    while done < args.steps:
        block = min(args.block, args.steps - done)
        for name, trainer in trainers.items():
            t = time.perf_counter()
            for _ in range(block):
                history[name].append({k: float(v) for k, v in trainer.step().items()})
            seconds[name] += time.perf_counter() - t
        done += block
    result = {"steps": args.steps, "batch_size": recipe.get("batch_size", 64), "hardware": hardware(), "precisions": {}}
    for name in trainers:
        tail = history[name][-args.tail:]
        result["precisions"][name] = {"it_per_s": round(args.steps / seconds[name], 3)} | \
            {k: round(sum(h[k] for h in tail) / len(tail), 5) for k in tail[0]}
    p = result["precisions"]
    result["speed_ratio_bf16"] = round(p["bf16"]["it_per_s"] / p["float32"]["it_per_s"], 2)
    terms = [k for k in p["bf16"] if k != "it_per_s"]
    print(f"{args.steps} steps each, alternating blocks of {args.block}; {result['hardware']}\n")
    print("| precision | steps/s | " + " | ".join(f"{k} (last {args.tail})" for k in terms) + " |")
    print("|---|---|" + "---|" * len(terms))
    for name, row in p.items():
        print(f"| {name} | {row['it_per_s']:.2f} | " + " | ".join(f"{row[k]:.4f}" for k in terms) + " |")
    print(f"\nbf16 / float32 speed: {result['speed_ratio_bf16']:.2f}x")
    if args.out:
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
