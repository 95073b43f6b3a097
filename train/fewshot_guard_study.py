"""Which signal should guard a decoder few-shot? dlib's likeness along each fine-tune, beside signals the model has.

    python -m train.fewshot_guard_study --checkpoint checkpoints/celeba --data-dir ../shared/data/celeba_subset \
        --people 10 --first 10 --out experiments/celeba/guard-study/validation.jsonl
    python -m train.fewshot_guard_study --summarise experiments/celeba/guard-study/validation.jsonl

For each unseen CelebA person (``UNSEEN_CELEBA``, the split of ``train.face_identity``: seed 0, 5 uploads), the
decoder is fine-tuned on 3 uploads by ``core.fewshot.fit_decoder`` itself with no guard (``growth`` infinite) for
150 steps: the third upload is held back, and the decoder trains on the first two with the mean s of all three.
At step 0 and every 10 steps (``fit_decoder``'s ``on_check``) it records, for the held-back photo rendered from its
own z and that s: its pixel error (``mse``), the same at 16x16 (``blur``), and the cosine between the model's own s of
that render and of the photo (``cos``, both centred on the stored codes' mean s); and, as the outcome, dlib's mean
distance of the 16-style renders to the person's reference centroid (``dlib``) and their rank-1 match among the 30
unseen people (``match``). dlib is only read here, after the fact: no guard and no loss uses it. Each line also
names the machine (``hardware``) and the seconds the person took (``seconds``).

``--summarise`` prints the mean outcome at each fixed step and the outcome of each stopping rule. Analysis only: the
guard it chose (``core.fewshot.GUARD_GROWTH``) was set on people 10-19 (``--first 10``), the validation half, not on
people 0-9, whom ``train.face_identity`` fine-tunes for.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

RULES_GROWTH = (1.25, 1.5, 2.0)
STEPS = 150  # the fine-tune's length, as train.face_identity's --fine-tune-steps


def study(checkpoint: Path, data_dir: str, people_n: int, first: int, out) -> None:
    from core import align
    from core.checkpoint import load_latents, load_model
    from core.data import load_dataset
    from core.evaluation.identity import hwc, split_people, zero_shot_render
    from core.fewshot import fit_decoder, known_styles, reference_images
    from core.training import hardware

    model = load_model(checkpoint).eval()
    latents = load_latents(checkpoint)
    styles, _ = known_styles(model, latents, limit=16)
    c, h, _ = model.config.image_shape
    unseen = load_dataset("celeba", data_dir or None, "unseen", image_size=h, channels=c)
    people = split_people(unseen, 5, seed=0)
    rec = align.FaceRecogniser()
    centroids = np.stack([rec.embed_aligned(hwc(p.references)).mean(0) for p in people])
    refs, _ = reference_images(model, latents)
    bank_s_mean = latents["bank_s"].mean(0)

    def outcome(outputs: torch.Tensor, i: int) -> tuple[float, float]:
        e = rec.embed_aligned(hwc(outputs))
        d = np.linalg.norm(e[:, None] - centroids[None], axis=2)
        return float(d[:, i].mean()), float((d.argmin(1) == i).mean() * 100)

    def trajectory(i: int, ups: torch.Tensor) -> list[dict]:
        with torch.no_grad():  # what fit_decoder renders the held-back (last) upload from: its z, all uploads' mean s
            enc = model.encode(ups)
            held, held_z, s, held_s = ups[2:], enc.z_mu[2:], enc.s.mean(0, keepdim=True), enc.s[2:]
        traj = []

        def measure(step: int, tuned) -> None:
            with torch.no_grad():
                rendered = tuned.decode_mean(held_z, s)
                pool = torch.nn.functional.avg_pool2d
                cos = torch.nn.functional.cosine_similarity(tuned.encode(rendered).s - bank_s_mean, held_s - bank_s_mean)
                d, m = outcome(zero_shot_render(tuned, styles)(ups), i)
            traj.append(dict(step=step, mse=float((rendered - held).pow(2).mean()),
                             blur=float((pool(rendered, 4) - pool(held, 4)).pow(2).mean()), cos=float(cos.item()),
                             dlib=d, match=m))

        fit_decoder(model, ups, refs, steps=STEPS, seed=i, growth=float("inf"), on_check=measure)
        return traj

    for i, p in enumerate(people[first:first + people_n], start=first):
        began = time.perf_counter()
        traj = trajectory(i, p.uploads[:3].float() / 255)
        print(json.dumps(dict(person=p.name, hardware=hardware(), seconds=round(time.perf_counter() - began, 1), traj=traj)),
              file=out, flush=True)


def summarise(path: Path) -> dict:
    """Mean outcome at each fixed step, and per stopping rule (its chosen step per person and its mean outcome)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    steps = [t["step"] for t in rows[0]["traj"]]
    get = {key: np.array([[t[key] for t in r["traj"]] for r in rows]) for key in ("match", "dlib", "mse", "cos")}
    n = np.arange(len(rows))

    def rule(index) -> dict:
        index = np.asarray(index)
        return {"match": round(float(get["match"][n, index].mean()), 1), "dlib": round(float(get["dlib"][n, index].mean()), 4),
                "steps": [steps[i] for i in index]}

    mse = get["mse"]
    rules = {"lowest held-back pixel error (the old guard)": rule(mse.argmin(1)),
             "highest s cosine": rule(get["cos"].argmax(1))}
    for growth in RULES_GROWTH:  # the last check before the held-back error first exceeds growth x its start
        rules[f"held-back error within {growth:g}x of zero-shot"] = rule(
            [max(i for i in range(len(steps)) if mse[r, :i + 1].max() <= growth * mse[r, 0]) for r in n])
    return {"file": str(path), "people": len(rows), "fixed": {str(s): {"match": round(float(get["match"][:, j].mean()), 1),
                                                                        "dlib": round(float(get["dlib"][:, j].mean()), 4)}
                                                               for j, s in enumerate(steps)},
            "rules": rules, "hardware": sorted({r.get("hardware", "") for r in rows}),
            "seconds": round(sum(r.get("seconds", 0.0) for r in rows), 1),
            "pixel_error_rose": int((mse[:, -1] > mse[:, 0]).sum()),
            "match_rose": int((get["match"][:, -1] > get["match"][:, 0]).sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.fewshot_guard_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--first", type=int, default=0, help="index of the first unseen person")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="JSON lines, one per person")
    parser.add_argument("--summarise", type=Path, nargs="+", help="print the summary of recorded JSON-lines files")
    args = parser.parse_args(argv)
    if args.summarise:
        print(json.dumps([summarise(p) for p in args.summarise], indent=1))
        return 0
    if not args.checkpoint:
        parser.error("--checkpoint is needed (or --summarise)")
    torch.set_num_threads(args.threads)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") if args.out else contextlib.nullcontext(sys.stdout) as out:
        study(args.checkpoint, args.data_dir, args.people, args.first, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
