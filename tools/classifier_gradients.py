"""What an identity classifier's gradient draws on a face: the check of the instrument behind the identity term.

    python -m tools.classifier_gradients --checkpoint experiments/celeba/faces-h/checkpoint \
        --classifier experiments/celeba/C2 experiments/celeba/C2r --out experiments/celeba/speckle-trial/gradients
    python -m tools.classifier_gradients --dry-run --out /tmp/gradients      # seconds: untrained nets

The identity term (``--identity-weight``) trains the decoder along the classifier's gradient on its renders. This
command shows where that gradient leads. It takes ``--count`` of the face model's own faces: stored codes decoded,
so no photo is involved. Each face takes ``--steps`` signed-gradient steps of ``--step-size`` towards another
person's class, for each classifier. It reports how sure the classifier then is of that person, how far the pixels
moved, and how fine the change is: the energy of its 3x3 Laplacian over its own energy, over 20 (what white noise
gives), so 1 is pixel noise and 0 a smooth change. A plain classifier reaches certainty with a change nobody sees, and that change is
coloured speckle: the speckle a decoder trained against it draws. A robust one (``train.classifier --robust-eps``)
moves only with changes one can see. Writes ``<out>.png`` (rows: the faces, then per classifier the moved faces
and their change x5 around grey) and ``<out>.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

from core.checkpoint import CheckpointError, load_classifier, load_latents, load_model
from core.evaluation.identity import LAPLACIAN
from core.explore import tile
from core.limits import MAX_GRADIENT_FACES, MAX_GRADIENT_STEPS
from core.models import ModelConfig, build_model
from core.models.classifier import ClassifierConfig, IdentityClassifier
from core.training import hardware
from train.cli import command_parser, parse_command, write_result


def model_faces(model, latents: dict, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(faces (count, C, H, W) in [0, 1], their class indices): the code bank's first ``count`` entries decoded."""
    labels = latents["bank_labels"][:count]
    with torch.no_grad():
        faces = model.decode(latents["bank_z_mu"][:count], latents["bank_s"][:count])
    return faces.clamp(0, 1), labels


def fine_share(change: torch.Tensor) -> float:
    """How fine a (N, C, H, W) change is: the energy of its per-channel 3x3 Laplacian over its energy, over 20 (the
    Laplacian's gain on white noise): 1 for pixel noise, near 0 for a smooth change."""
    flat = change.flatten(0, 1)[:, None]
    laplacian = torch.nn.functional.conv2d(flat, LAPLACIAN.view(1, 1, 3, 3))
    return float(laplacian.pow(2).mean() / flat[..., 1:-1, 1:-1].pow(2).mean().clamp_min(1e-12)) / 20


def push(net, faces: torch.Tensor, targets: torch.Tensor, *, steps: int, step_size: float) -> torch.Tensor:
    """``faces`` moved ``steps`` signed-gradient steps towards ``targets`` in ``net``'s eyes, kept in [0, 1]."""
    x = faces.clone()
    for _ in range(steps):
        x.requires_grad_()
        (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), targets), x)
        x = (x.detach() - step_size * grad.sign()).clamp(0, 1)
    return x


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m tools.classifier_gradients", __doc__, threads=1, dry_run="untrained nets")
    parser.add_argument("--checkpoint", type=Path, help="a face model (its stored codes give the faces)")
    parser.add_argument("--classifier", type=Path, nargs="+", default=[], help="classifier folders to compare")
    parser.add_argument("--count", type=int, default=6, help=f"faces (at most {MAX_GRADIENT_FACES})")
    parser.add_argument("--steps", type=int, default=40, help=f"signed-gradient steps (at most {MAX_GRADIENT_STEPS})")
    parser.add_argument("--step-size", type=float, default=1 / 255, help="per step, in 0-1 pixel units")
    parser.add_argument("--out", type=Path, required=True, help="writes <out>.png and <out>.json")
    args = parse_command(parser, argv)
    if not (1 <= args.count <= MAX_GRADIENT_FACES and 1 <= args.steps <= MAX_GRADIENT_STEPS
            and 0 < args.step_size <= 0.1):
        print(f"error: --count is 1 to {MAX_GRADIENT_FACES}, --steps 1 to {MAX_GRADIENT_STEPS}, --step-size above 0 "
              "and at most 0.1", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    try:
        if args.dry_run:
            model = build_model(ModelConfig(image_shape=(3, 64, 64), z_dim=4, s_dim=8, dataset="celeba")).eval()
            latents = {"bank_labels": torch.arange(args.count), "bank_z_mu": torch.randn(args.count, 4),
                       "bank_s": torch.randn(args.count, 8)}
            names = [str(i) for i in range(max(args.count, 2))]
            nets = {"untrained": IdentityClassifier(ClassifierConfig(image_shape=(3, 64, 64), class_names=names,
                                                                     width=4)).eval()}
        else:
            if args.checkpoint is None or not args.classifier:
                print("error: give --checkpoint and at least one --classifier (or --dry-run)", file=sys.stderr)
                return 2
            model, latents = load_model(args.checkpoint).eval(), load_latents(args.checkpoint)
            nets = {folder.name: load_classifier(folder).eval() for folder in args.classifier}
    except (CheckpointError, OSError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    faces, labels = model_faces(model, latents, args.count)
    rows, result = [faces], {"checkpoint": str(args.checkpoint), "faces": len(faces), "steps": args.steps,
                             "step_size": round(args.step_size, 5), "hardware": hardware(), "classifiers": {}}
    for name, net in nets.items():
        classes = net.head.out_features
        targets = (labels + 1 + torch.randint(classes - 1, labels.shape)) % classes  # another person each
        moved = push(net, faces, targets, steps=args.steps, step_size=args.step_size)
        with torch.no_grad():
            before, after = (net(x).softmax(1)[torch.arange(len(x)), targets] for x in (faces, moved))
        change = moved - faces
        fine = fine_share(change)
        result["classifiers"][name] = {
            "target_probability_before": round(float(before.mean()), 4),
            "target_probability_after": round(float(after.mean()), 4),
            "mean_abs_change": round(float(change.abs().mean()), 4),
            "fine_share_of_change": round(fine, 3)}
        print(f"{name}: the other person's probability {float(before.mean()):.3f} -> {float(after.mean()):.3f}; "
              f"mean pixel change {float(change.abs().mean()):.4f}; fine share of the change "
              f"{fine:.2f} (1: pixel noise, 0: smooth)")
        rows += [moved, (change * 5 + 0.5).clamp(0, 1)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(tile(torch.cat(rows), nrow=len(faces))).save(args.out.with_suffix(".png"))
    write_result(args.out.with_suffix(".json"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
