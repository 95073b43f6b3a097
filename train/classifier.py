"""Train an identity classifier C on a face dataset's training photos (issue 22, stage 2).

    python -m train.classifier --data-dir ../shared/data/celeba_subset --out runs/celeba-C --seed 0
    python -m train.classifier --data-dir ../shared/data/celeba_subset --out runs/celeba-C-monitor --seed 1
    python -m train.classifier --dry-run --out /tmp/C          # a few steps on synthetic faces

C (``core.models.classifier``) is part of the face recipe, not a yardstick: the recipe's identity term asks
a frozen C to name the person on swapped generations (``--identity-classifier`` of ``python -m train``),
and a C from another seed, never in a loss, gives the training log its swap test (``--monitor-classifier``).
It is also the check that data and labels are right: its top-1 on held-out photos of the seen identities
(the ``test`` split, whose labels name the same people as ``train``'s) should be far above chance.

Trains with AdamW, augmentation (flips, shifts, jitter), label smoothing, and stops when the held-out top-1
has not improved for --patience evaluations (at most --steps); keeps the best weights. Writes
``<out>/classifier.json`` (config and metrics) and ``<out>/classifier.safetensors``; prints a JSON line per
evaluation. Exit status 2: bad options or data.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from core.checkpoint import save_classifier
from core.data import DataError, load_dataset, synthetic_faces
from core.models.classifier import ClassifierConfig, IdentityClassifier, adversarial_examples, augment
from core.training import cpu_bf16, precision
from core.training.config import BF16
from train.cli import command_parser, hardware, parse_command


@torch.no_grad()
def top1(net: IdentityClassifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 256) -> float:
    net.eval()
    right = 0
    for i in range(0, len(images), batch):
        x = images[i:i + batch].float().div(255)
        right += int((net(x).argmax(1) == labels[i:i + batch]).sum())
    net.train()
    return 100 * right / max(1, len(images))


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.classifier", __doc__, threads=0, dry_run="a few steps on synthetic faces")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dataset", default="celeba")
    parser.add_argument("--data-dir", default="", help="dataset folder (default: $CCVAE_DATA_DIR)")
    parser.add_argument("--steps", type=int, default=6000, help="most training steps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--patience", type=int, default=6, help="evaluations without a better held-out top-1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--robust-eps", type=float, default=0.0,
                        help="> 0: train on adversarial examples within this L-inf radius (in 0-1 pixel units, e.g. "
                             "0.0157 = 4/255; FGSM with a random start: one more forward and backward pass a step), so the identity "
                             "term's gradient points at visible changes instead of fine speckle")
    parser.add_argument("--bf16", choices=BF16, default="auto",
                        help="bfloat16 autocast: auto (the default) uses it only where the CPU has native bf16 "
                             "(AVX512-BF16 or AMX), as training does; on elsewhere warns with the measured slowdown")
    args = parse_command(parser, argv)
    if not 0 <= args.robust_eps <= 0.1:
        print(f"error: --robust-eps is an L-inf radius from 0 to 0.1 (0.1 is 25/255), got {args.robust_eps}",
              file=sys.stderr)
        return 2
    try:
        if args.dry_run:
            train, test = (synthetic_faces(identities=6, channels=3, seed=seed) for seed in (0, 1))
            args.steps, args.eval_every = 6, 3
        else:
            train = load_dataset(args.dataset, args.data_dir or None, "train", image_size=64, channels=3)
            test = load_dataset(args.dataset, args.data_dir or None, "test", image_size=64, channels=3)
        if list(train.class_names) != list(test.class_names):
            raise DataError("the train and test splits name different classes; their labels cannot be compared")
    except (DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    config = ClassifierConfig(image_shape=tuple(train.image_shape), class_names=list(train.class_names),
                              width=args.width, dataset=train.name)
    net = IdentityClassifier(config)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    g = torch.Generator().manual_seed(args.seed)
    bf16 = cpu_bf16(args.bf16)
    print(f"training the classifier in {precision(bf16, args.bf16)} on {hardware()}", file=sys.stderr)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
    best, best_state, best_step, waited, start = -1.0, None, 0, 0, time.time()
    chance = 100 / len(config.class_names)
    for step in range(1, args.steps + 1):
        index = torch.randint(len(train), (args.batch_size,), generator=g)
        x = augment(train.images[index].float().div(255), g)
        if args.robust_eps:
            with autocast:
                x = adversarial_examples(net, x, train.labels[index], args.robust_eps, g)
        with autocast:
            loss = torch.nn.functional.cross_entropy(net(x).float(), train.labels[index], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if step % args.eval_every == 0 or step == args.steps:
            held_out = top1(net, test.images, test.labels)
            print(json.dumps({"step": step, "loss": round(float(loss.detach()), 4), "held_out_top1": round(held_out, 2),
                              "seconds": round(time.time() - start, 1)}), flush=True)
            if held_out > best:
                best, best_step, waited = held_out, step, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= args.patience:
                    break
    net.load_state_dict(best_state)
    metrics = {"held_out_top1": round(best, 2), "chance": round(chance, 3), "best_step": best_step,
               "steps_run": step, "train_top1": round(top1(net, train.images, train.labels), 2),
               "train_photos": len(train), "held_out_photos": len(test), "classes": len(config.class_names),
               "seed": args.seed, "seconds": round(time.time() - start, 1), "hardware": hardware(),
               "bf16": bf16, "robust_eps": args.robust_eps}
    save_classifier(args.out, net, metrics=metrics)
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
