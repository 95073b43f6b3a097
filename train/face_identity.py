"""Identity score of a face model on CelebA identities it never saw, by a recogniser we did not train.

    python -m train.face_identity --checkpoint checkpoints/celeba --data-dir ../shared/data/celeba_subset
    python -m train.face_identity --checkpoint checkpoints/yaleb --data-dir ../shared/data/celeba_subset --fine-tune-steps 0

For k = 1, 3, 5 uploaded photos of each unseen person (``core.data.UNSEEN_CELEBA``, aligned by
``core.align``), the model's new s (mean s of the uploads) is rendered with each of ``--styles`` stored
z codes, zero-shot and after few-shot fine-tuning of a copy (``--fine-tune-steps``, on the first
``--fine-tune-people`` people, since each fine-tune takes seconds). Each output is embedded with dlib's
face-recognition ResNet and counted as matched when its nearest centroid (mean embedding of the
person's other photos) is the right person; also reported: the share within dlib's same-person
distance 0.6, the same scores for the crops themselves (the ceiling), and the style check (pairwise
pixel distance of a person's outputs against that of their real photos). The protocol is in
``core.evaluation.identity``. The recogniser is never used in training.

Prints a Markdown table; ``--save`` also stores the result in the checkpoint's metrics.json
(``identity``), ``--out FILE`` writes it as JSON.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import torch
from PIL import Image

from core import align
from core.checkpoint import CheckpointError, load_classifier, load_latents, load_metrics, load_model, save_metrics
from core.data import DataError, load_dataset
from core.evaluation.identity import identity_score, split_people, zero_shot_render
from core.evaluation.swaps import one_per_class, swap_test
from core.explore import tile
from core.fewshot import FINE_TUNE_PARTS, GUARD_GROWTH, fine_tune, known_styles, reference_images
from train.cli import command_parser, hardware, parse_command, write_result


@torch.no_grad()
def reconstructions(model, uploads: torch.Tensor) -> torch.Tensor:
    """``model.reconstruct`` of each upload (Dec of its z mean and s): the ceiling of anything the model renders."""
    return model.reconstruct(uploads.to(next(model.parameters()).device))


def seen_swap_test(model, classifier, test, classifier_dir: Path, people: int = 200) -> dict:
    """``core.evaluation.swaps.swap_test`` on held-out photos (the ``test`` split) of up to ``people`` seen identities."""
    index = one_per_class(test.labels, people)
    return {k: round(v, 4) for k, v in swap_test(model, classifier, test.images[index], test.labels[index]).items()} | \
        {"photos": len(index), "classifier": str(classifier_dir)}


def write_grid(path: Path, people: list, render, k: int, *, rows: int) -> None:
    """Rows: stored styles; columns: one unseen person each, rendered zero-shot from their first k uploads."""
    columns = [render(person.uploads[:k].float().div(255))[:rows] for person in people]
    grid = torch.stack(columns, 1)  # (rows, people, C, H, W)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(tile(grid.flatten(0, 1), nrow=len(people))).save(path)


def worse_than_zero_shot(zero: dict, few: dict, people: list) -> dict:
    """Per k: the people whose few-shot renders lie farther from their own centroid than their zero-shot renders
    (dlib's mean distance), the cases where the fine-tune lost."""
    out = {}
    for k, row in few["k"].items():
        before, after = zero["k"][k]["person_distance"], row["person_distance"]
        lost = [i for i, (b, a) in enumerate(zip(before, after)) if a > b]
        out[k] = {"people": len(lost), "of": len(after), "names": [people[i].name for i in lost],
                  "distance_change": [round(after[i] - before[i], 4) for i in lost]}
    return out


def _detail(row: dict, key: str = "detail") -> str:
    """Fine detail (or colour noise) of a row's outputs against their crops (rows recorded before it was measured
    have none)."""
    return f"{row[key]:.2f}" if key in row else ""


def markdown(result: dict) -> str:
    lines = [f"Unseen identities: {result['people']} (chance {result['chance']}%); {result['styles']} styles per "
             f"person; dlib same-person distance {result['threshold']}.", "",
             "| input | k uploads | matched (%) | within 0.6 (%) | mean distance | style spread / real | detail | "
             "colour noise |", "|---|---|---|---|---|---|---|---|"]
    c = result["ceiling_crops"]
    lines.append(f"| aligned crops (ceiling) | 1 each | {c['matched']:.1f} | {c['within_0.6']:.1f} | "
                 f"{c['mean_distance']:.3f} | | 1.00 | 1.00 |")
    f = result.get("floor_shuffled")
    if f:
        lines.append(f"| aligned crops, each credited to a random person (floor) | 1 each | {f['matched']:.1f} | "
                     f"{f['within_0.6']:.1f} | {f['mean_distance']:.3f} | | | |")
    if "reconstructions" in result:
        r = result["reconstructions"]
        lines.append(f"| the model's reconstructions of the uploads | 1 each | {r['matched']:.1f} | {r['within_0.6']:.1f} | "
                     f"{r['mean_distance']:.3f} | | {_detail(r)} | {_detail(r, 'colour_noise')} |")
    for name, part in (("zero-shot", result["zero_shot"]), (f"few-shot ({result.get('fine_tune_steps', 0)} steps, "
                                                              f"{result.get('fine_tune_people', 0)} people)",
                                                              result.get("few_shot"))):
        if not part:
            continue
        for k, r in part["k"].items():
            lines.append(f"| {name} | {k} | {r['matched']:.1f} | {r['within_0.6']:.1f} | {r['mean_distance']:.3f} | "
                         f"{r['style_spread_vs_real']:.2f} | {_detail(r)} | {_detail(r, 'colour_noise')} |")
    worse = (result.get("few_shot") or {}).get("worse_than_zero_shot")
    if worse:
        lines += ["", "Few-shot renders farther from the person than the zero-shot ones (dlib mean distance): " + "; ".join(
            f"{k} upload{'s' if k != '1' else ''}: {w['people']} of {w['of']} people" for k, w in worse.items()) + "."]
    if "swap_test" in result:
        t = result["swap_test"]
        lines += ["", f"Swap test on {t['photos']} held-out photos of seen people, in the embedding of a classifier no loss "
                  f"used: s effect {t['swap_s_effect']:.3f}, z effect {t['swap_z_effect']:.3f} (ratio "
                  f"{t['swap_ratio']:.2f}); Dec(z_b, s_a) named a {100 * t['swap_as_s_person']:.1f}%, b "
                  f"{100 * t['swap_as_z_person']:.1f}%; reconstruction MSE {t['reconstruction_mse']:.4f}. The classifier names "
                  f"{100 * t['classifier_on_photos']:.1f}% of the photos themselves and "
                  f"{100 * t['classifier_on_reconstructions']:.1f}% of their reconstructions right (its ceilings)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.face_identity", __doc__, threads=0)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-dir", default="", help="celeba_subset folder (default: $CCVAE_DATA_DIR)")
    parser.add_argument("--styles", type=int, default=16, help="stored z codes each new identity is rendered with")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5], help="numbers of uploaded photos")
    parser.add_argument("--fine-tune-steps", type=int, default=60, help="few-shot fine-tuning steps (0: zero-shot only)")
    parser.add_argument("--fine-tune-people", type=int, default=10, help="people fine-tuned for (each takes seconds)")
    parser.add_argument("--fine-tune-part", choices=FINE_TUNE_PARTS, default="all",
                        help="weights the fine-tune changes (core.fewshot.trainable_parameters)")
    parser.add_argument("--classifier", type=Path, default=None,
                        help="an identity classifier never used in this model's losses (python -m train.classifier, "
                             "another seed): adds the swap test on held-out photos of the seen identities")
    parser.add_argument("--grid", type=Path, default=None,
                        help="write a PNG: unseen people (columns, zero-shot from --grid-k uploads) x stored styles (rows); "
                             "generations only, no photo")
    parser.add_argument("--grid-k", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", action="store_true", help="store the result in the checkpoint's metrics.json")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parse_command(parser, argv)
    if not align.available():
        print("error: the identity score needs dlib-bin and face_recognition_models (pip install -r requirements.txt)",
              file=sys.stderr)
        return 2
    if min(args.ks) < 1 or args.styles < 1:
        print("error: --ks and --styles must be at least 1", file=sys.stderr)
        return 2
    try:
        model = load_model(args.checkpoint).eval()
        latents = load_latents(args.checkpoint)
        styles, _ = known_styles(model, latents, limit=args.styles)
        c, h, _ = model.config.image_shape
        unseen = load_dataset("celeba", args.data_dir or None, "unseen", image_size=h, channels=c)
        if args.classifier:  # checked before minutes of scoring, not after
            seen = load_dataset("celeba", args.data_dir or None, "test", image_size=h, channels=c)
            classifier = load_classifier(args.classifier, class_names=seen.class_names)
    except (CheckpointError, DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    people = split_people(unseen, max(args.ks), seed=args.seed)
    if len(people) < 2:
        print("error: fewer than 2 unseen identities with enough photos", file=sys.stderr)
        return 2
    recogniser = align.FaceRecogniser()
    t0 = time.time()
    render = zero_shot_render(model, styles)
    result = {"checkpoint": str(args.checkpoint), "styles": int(styles.shape[0]), "seed": args.seed,
              "hardware": hardware(), "date": date.today().isoformat()}
    zero = identity_score(people, lambda i, uploads: render(uploads), recogniser, ks=tuple(args.ks))
    result |= {k: zero[k] for k in ("people", "chance", "threshold", "ceiling_crops", "floor_shuffled", "real_spread")}
    result["zero_shot"] = {"k": zero["k"], "seconds": round(time.time() - t0, 1)}
    k = max(args.ks)
    own = identity_score(people, lambda i, uploads: reconstructions(model, uploads), recogniser, ks=(k,))
    result["reconstructions"] = own["k"][str(k)]  # the model's own reconstructions of the upload crops
    if args.fine_tune_steps > 0:
        t1 = time.time()
        references, reference_labels = reference_images(model, latents)
        timings, kept = [], {}

        def tuned_render(i: int, uploads: torch.Tensor) -> torch.Tensor:
            t = time.time()
            tuned = fine_tune(model, uploads, references, reference_labels, steps=args.fine_tune_steps,
                              part=args.fine_tune_part, seed=args.seed + i)
            timings.append(time.time() - t)
            kept.setdefault(str(uploads.shape[0]), []).append(getattr(tuned, "fine_tune_kept", args.fine_tune_steps))
            return zero_shot_render(tuned, styles)(uploads)

        part = identity_score(people, tuned_render, recogniser, ks=tuple(args.ks), rendered=args.fine_tune_people)
        result |= {"fine_tune_steps": args.fine_tune_steps, "fine_tune_people": part["rendered"],
                   "fine_tune_part": args.fine_tune_part,
                   "fine_tune_guard": f"held-back error within {GUARD_GROWTH:g}x of zero-shot" if args.fine_tune_part == "decoder"
                   else "none",
                   "few_shot": {"k": part["k"],
                                "seconds": round(time.time() - t1, 1),
                                "seconds_per_fine_tune": round(sum(timings) / len(timings), 1),
                                "kept_steps": kept,
                                "worse_than_zero_shot": worse_than_zero_shot(zero, part, people)}}
    if args.classifier:
        result["swap_test"] = seen_swap_test(model, classifier, seen, args.classifier)
    if args.grid:
        write_grid(args.grid, people[:10], render, args.grid_k, rows=8)
    print(markdown(result))
    if args.out:
        write_result(args.out, result)
    if args.save:
        save_metrics(args.checkpoint, load_metrics(args.checkpoint) | {"identity": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
