"""Swap tests and cross-dataset transfer of an expression model (issue 30; report Table 4.1 and Fig. 4.13(b)).

    python -m train.expression_transfer --checkpoint checkpoints/expression --data-dir ../shared/data \
        --out experiments/expression --threads 1
    python -m train.expression_transfer --checkpoint checkpoints/expression --data-dir ../shared/data --dry-run --out /tmp/x

For a model whose s is the expression (``--dataset expressions``: JAFFE + Yale faces, split by person):

1. **An expression classifier** (``core.models.classifier``, the project's classifier) is trained on the real
   photos of the training people for a fixed number of steps (never on held-out people, never in a loss); its
   accuracy on the real photos of the held-out people is the ceiling the renders are read against.
2. **Swap test, both directions**, on the held-out people: for ordered pairs (a, b) of photos of different people
   with different expressions, Dec(z_a, s_b) should show a's person with b's expression. Expression: the share the
   classifier names b's expression (from s) or a's (from z). Identity, with dlib's recogniser as the instrument:
   the share whose nearest held-out person (centroid of their real photos) is a (identity from z, should be high)
   or b (from s, should be low). Also the protocol's probe (MLP) on the codes: identity among the held-out people
   from z mean and from s (half of each person's photos train the probe, the other half test it).
3. **Transfer to UTKFace** (never trained on): aligned grey UTKFace faces rendered with every expression's mean
   s, z kept (``core.expressions.expression_renders``). Same person as the source? dlib distance of each render to
   its source photo and the share within 0.6, beside the real photos' own spread: two photos of one held-out
   person with different expressions (what a real change of expression costs) and two different UTKFace people
   (the false-match floor), and the model's own reconstruction of the source (its ceiling). Does it show the
   expression? The classifier's accuracy naming the rendered expression (chance 1/E).

Writes ``<out>/transfer.json`` and ``<out>/transfer.md`` (hardware, CPU seconds), ``<out>/utkface_renders.png``
(generated faces only: rows UTKFace faces, columns expressions; no photo) and, with --look, framed grids with the
source crops for looking at (never commit those: they hold dataset crops). Exit status 2: bad options or data.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core import align
from core.checkpoint import CheckpointError, load_latents, load_model
from core.data import DataError, ImageSet, load_dataset
from core.data.expressions import IDENTITY, load_aligned_utkface
from core.evaluation import PROTOCOL, probe_accuracy
from core.evaluation.identity import hwc
from core.explore import decode, decode_grid, encode_all, framed_grid, tile
from core.models.classifier import ClassifierConfig, IdentityClassifier, augment
from train.cli import command_parser, hardware, parse_command

SAME_PERSON = align.SAME_PERSON_DISTANCE


def train_classifier(train: ImageSet, *, steps: int, seed: int, width: int = 32, batch: int = 64,
                     lr: float = 2e-3) -> IdentityClassifier:
    """The project's classifier on the label of ``train`` (here: the expression), a fixed number of steps (no early
    stopping: the held-out people are the test, not a validation set)."""
    torch.manual_seed(seed)
    net = IdentityClassifier(ClassifierConfig(image_shape=tuple(train.image_shape), class_names=list(train.class_names),
                                              width=width, dataset=train.name))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        index = torch.randint(len(train), (batch,), generator=g)
        x = augment(train.images[index].float().div(255), g)
        loss = torch.nn.functional.cross_entropy(net(x), train.labels[index], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    return net.eval()


@torch.no_grad()
def predict(net: IdentityClassifier, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Labels the classifier gives (N, C, H, W) uint8 or [0, 1] float images."""
    net.eval()
    x = images.float().div(255) if images.dtype == torch.uint8 else images.float()
    return torch.cat([net(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)]) if len(x) else torch.empty(0)


def pct(mask) -> float:
    return round(100 * float(np.mean(np.asarray(mask, dtype=float))), 2) if np.size(mask) else float("nan")


def swap_pairs(data: ImageSet, max_pairs: int, seed: int) -> np.ndarray:
    """(P, 2) ordered pairs (a, b) of photos of different people with different labels, a seeded sample."""
    ident, labels = data.factors[IDENTITY].numpy(), data.labels.numpy()
    a, b = np.nonzero((ident[:, None] != ident[None, :]) & (labels[:, None] != labels[None, :]))
    pairs = np.stack([a, b], 1)
    if len(pairs) > max_pairs:
        pairs = pairs[np.sort(np.random.default_rng(seed).permutation(len(pairs))[:max_pairs])]
    return pairs


def centroids(embeddings: np.ndarray, ident: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(people present, their mean embeddings (P, 128))."""
    people = np.unique(ident)
    return people, np.stack([embeddings[ident == p].mean(0) for p in people])


@torch.no_grad()
def swap_test(model, test: ImageSet, classifier, recogniser, *, max_pairs: int, seed: int) -> dict:
    """Part 2 of the module docstring on the held-out people of ``test``."""
    pairs = swap_pairs(test, max_pairs, seed)
    enc = encode_all(model, test.images)
    swapped = decode(model, enc.z_mu[pairs[:, 0]], enc.s[pairs[:, 1]])  # person of a, expression of b
    own = decode(model, enc.z_mu, enc.s)
    named = predict(classifier, swapped).numpy()
    labels, ident = test.labels.numpy(), test.factors[IDENTITY].numpy()
    real_emb = recogniser.embed_aligned(hwc(test.images))
    people, cents = centroids(real_emb, ident)
    nearest = people[np.linalg.norm(recogniser.embed_aligned(hwc(swapped))[:, None] - cents[None], axis=2).argmin(1)]
    rec_nearest = people[np.linalg.norm(recogniser.embed_aligned(hwc(own))[:, None] - cents[None], axis=2).argmin(1)]
    real_nearest = people[np.linalg.norm(real_emb[:, None] - cents[None], axis=2).argmin(1)]
    return {
        "pairs": len(pairs), "people": len(people), "identity_chance": round(100 / len(people), 2),
        "expression_chance": round(100 / len(test.class_names), 2),
        "expression_from_s": pct(named == labels[pairs[:, 1]]), "expression_from_z": pct(named == labels[pairs[:, 0]]),
        "identity_from_z_dlib": pct(nearest == ident[pairs[:, 0]]),
        "identity_from_s_dlib": pct(nearest == ident[pairs[:, 1]]),
        "dlib_on_reconstructions": pct(rec_nearest == ident), "dlib_on_photos": pct(real_nearest == ident),
        "classifier_on_reconstructions": pct(predict(classifier, own).numpy() == labels),
    }


def identity_probes(model, test: ImageSet, *, seed: int) -> dict:
    """The protocol's probe: identity among the held-out people from z mean and from s, half of each person's photos
    to train it, the other half to test it."""
    ident = test.factors[IDENTITY]
    g = np.random.default_rng(seed)
    first = torch.zeros(len(test), dtype=torch.bool)
    for p in torch.unique(ident):
        idx = torch.nonzero(ident == p).flatten().numpy()
        first[g.permutation(idx)[: len(idx) // 2]] = True
    enc = encode_all(model, test.images)
    remap = {int(p): k for k, p in enumerate(torch.unique(ident))}
    y = torch.tensor([remap[int(p)] for p in ident])
    out = {"chance": round(100 / len(remap), 2), "photos": len(test)}
    for name, codes in (("z_mean", enc.z_mu), ("s", enc.s)):
        r = probe_accuracy(codes[first], y[first], codes[~first], y[~first], protocol=PROTOCOL, num_classes=len(remap),
                           seed=seed, name=f"identity from {name}")
        out[name] = round(100 * r.test, 2)
    return out


def pairwise_spread(embeddings: np.ndarray, ident: np.ndarray, labels: np.ndarray) -> dict:
    """dlib distances between real photos of one person with different expressions."""
    d = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
    mask = (ident[:, None] == ident[None]) & (labels[:, None] != labels[None])
    values = d[np.triu(mask, 1)]
    return {"pairs": int(values.size), "mean_distance": round(float(values.mean()), 4),
            "within_0.6": pct(values <= SAME_PERSON)}


@torch.no_grad()
def transfer(model, faces: ImageSet, means: torch.Tensor, names: list[str], classifier, recogniser,
             test: ImageSet, test_emb: np.ndarray, *, seed: int) -> tuple[dict, torch.Tensor]:
    """Part 3 of the module docstring: (result, renders (N, E, C, H, W))."""
    enc = encode_all(model, faces.images)
    renders = decode_grid(model, enc.z_mu, means, limit=None)  # (N, E, C, H, W)
    n, e = renders.shape[:2]
    source = recogniser.embed_aligned(hwc(faces.images))
    rendered = recogniser.embed_aligned(hwc(renders.flatten(0, 1))).reshape(n, e, -1)
    dist = np.linalg.norm(rendered - source[:, None], axis=2)  # (N, E)
    rebuilt = recogniser.embed_aligned(hwc(decode(model, enc.z_mu, enc.s)))
    rec_dist = np.linalg.norm(rebuilt - source, axis=1)
    other = np.roll(np.arange(n), 1 + int(np.random.default_rng(seed).integers(n - 1))) if n > 1 else np.arange(n)
    strangers = np.linalg.norm(source - source[other], axis=1)
    named = predict(classifier, renders.flatten(0, 1)).numpy().reshape(n, e)
    target = np.broadcast_to(np.arange(e), (n, e))
    real = pairwise_spread(test_emb, test.factors[IDENTITY].numpy(), test.labels.numpy())
    per_expression = {names[k]: {"named": pct(named[:, k] == k), "same_person": pct(dist[:, k] <= SAME_PERSON),
                                 "mean_distance": round(float(dist[:, k].mean()), 4)} for k in range(e)}
    source_named = np.bincount(predict(classifier, faces.images).numpy(), minlength=e)
    result = {
        "faces": n, "expressions": names, "renders": int(n * e), "chance": round(100 / e, 2),
        "same_person": pct(dist <= SAME_PERSON), "mean_distance": round(float(dist.mean()), 4),
        "reconstruction_same_person": pct(rec_dist <= SAME_PERSON),
        "reconstruction_mean_distance": round(float(rec_dist.mean()), 4),
        "real_same_person_other_expression": real,
        "real_strangers": {"pairs": int(n), "mean_distance": round(float(strangers.mean()), 4),
                           "within_0.6": pct(strangers <= SAME_PERSON)},
        "classifier_names_rendered_expression": pct(named == target),
        "classifier_on_sources": {names[k]: int(c) for k, c in enumerate(source_named)},
        "per_expression": per_expression,
    }
    return result, renders


def markdown(r: dict) -> str:
    c, s, t, p = r["classifier"], r["swap_test"], r["transfer"], r["identity_probes"]
    lines = [f"# Expression model: swap test and transfer to UTKFace (`{r['checkpoint']}`)", "",
             f"{r['hardware']}; {r['cpu_seconds']:.0f} CPU seconds; {r['date']}; seed {r['seed']}.", "",
             f"Expression classifier (the project's `IdentityClassifier` on expressions, {c['steps']} steps on "
             f"{c['train_photos']} photos of the training people, never in a loss): {c['train_accuracy']:.1f}% on them, "
             f"**{c['heldout_accuracy']:.1f}%** on {c['heldout_photos']} real photos of the {s['people']} held-out people "
             f"(chance {s['expression_chance']:.1f}%).", "",
             f"## Swap test on the held-out people ({s['pairs']} ordered pairs: Dec(z_a, s_b), a and b different people "
             "with different expressions)", "",
             "| reading | from s (b) | from z (a) | chance |", "|---|---|---|---|",
             f"| classifier names the expression of | {s['expression_from_s']:.1f}% | {s['expression_from_z']:.1f}% | "
             f"{s['expression_chance']:.1f}% |",
             f"| dlib's nearest held-out person is | {s['identity_from_s_dlib']:.1f}% | {s['identity_from_z_dlib']:.1f}% | "
             f"{s['identity_chance']:.1f}% |",
             f"| protocol probe (MLP) names the person from the code | {p['s']:.1f}% | {p['z_mean']:.1f}% (z mean) | "
             f"{p['chance']:.1f}% |", "",
             f"Ceilings: dlib names {s['dlib_on_photos']:.1f}% of the real photos and {s['dlib_on_reconstructions']:.1f}% of "
             f"the model's reconstructions right; the classifier names {s['classifier_on_reconstructions']:.1f}% of the "
             "reconstructions' expressions right.", "",
             f"## Transfer to UTKFace ({t['faces']} aligned grey faces x {len(t['expressions'])} expressions = "
             f"{t['renders']} renders; never trained on)", "",
             "| reading | value |", "|---|---|",
             f"| renders within dlib 0.6 of their source photo (same person) | **{t['same_person']:.1f}%** "
             f"(mean distance {t['mean_distance']:.3f}) |",
             f"| the model's reconstruction of the source within 0.6 (its ceiling) | {t['reconstruction_same_person']:.1f}% "
             f"({t['reconstruction_mean_distance']:.3f}) |",
             f"| real photos, one held-out person, two expressions, within 0.6 | "
             f"{t['real_same_person_other_expression']['within_0.6']:.1f}% "
             f"({t['real_same_person_other_expression']['mean_distance']:.3f}, "
             f"{t['real_same_person_other_expression']['pairs']} pairs) |",
             f"| real photos, two different UTKFace people, within 0.6 (false matches) | "
             f"{t['real_strangers']['within_0.6']:.1f}% ({t['real_strangers']['mean_distance']:.3f}) |",
             f"| classifier names the rendered expression | **{t['classifier_names_rendered_expression']:.1f}%** "
             f"(chance {t['chance']:.1f}%; on real held-out photos {c['heldout_accuracy']:.1f}%) |", "",
             "| expression | classifier names it | same person (<= 0.6) | mean dlib distance |", "|---|---|---|---|"]
    for name, e in t["per_expression"].items():
        lines.append(f"| {name} | {e['named']:.1f}% | {e['same_person']:.1f}% | {e['mean_distance']:.3f} |")
    lines += ["", f"What the classifier calls the UTKFace source photos themselves: {t['classifier_on_sources']}."]
    return "\n".join(lines) + "\n"


def look_grids(out: Path, model, test: ImageSet, faces: ImageSet, renders: torch.Tensor) -> None:
    """Framed grids with the source crops, for looking at only (they hold dataset crops: never commit them)."""
    out.mkdir(parents=True, exist_ok=True)
    ident = test.factors[IDENTITY]
    rows = torch.stack([torch.nonzero(ident == p).flatten()[0] for p in torch.unique(ident)])
    cols = torch.stack([torch.nonzero((test.labels == k) & (ident == torch.unique(ident)[k % len(torch.unique(ident))]))
                        .flatten()[0] if ((test.labels == k) & (ident == torch.unique(ident)[k % len(torch.unique(ident))])).any()
                        else torch.nonzero(test.labels == k).flatten()[0] for k in range(len(test.class_names))])
    xr, xc = test.floats(rows), test.floats(cols)
    enc_r, enc_c = encode_all(model, xr), encode_all(model, xc)
    cells = decode_grid(model, enc_r.z_mu, enc_c.s, limit=None)
    Image.fromarray(framed_grid(cells, xr, xc)).save(out / "swap_heldout_framed.png")
    k = min(12, len(faces))
    Image.fromarray(framed_grid(renders[:k], faces.floats(slice(0, k)), renders[0])).save(out / "utkface_framed.png")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.expression_transfer", __doc__, threads=1,
                            dry_run="12 UTKFace faces, 30 pairs, a 30-step classifier (a smoke test)")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-dir", default="", help="folder holding the model's dataset (default: $CCVAE_DATA_DIR)")
    parser.add_argument("--utkface-dir", default="", help="UTKFace folder (default: <data-dir>/utkface)")
    parser.add_argument("--faces", type=int, default=200, help="UTKFace faces to render (a seeded sample)")
    parser.add_argument("--ages", type=int, nargs=2, default=[20, 60], help="UTKFace ages taken, [from, to)")
    parser.add_argument("--pairs", type=int, default=2000, help="most swap pairs among the held-out people")
    parser.add_argument("--classifier-steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for transfer.json, transfer.md, the figure")
    parser.add_argument("--look", type=Path, default=None, help="also write framed grids with the source crops here "
                        "(for looking at; they hold dataset crops, never commit them)")
    args = parse_command(parser, argv)
    if not align.available():
        print("error: this measure needs dlib-bin and face_recognition_models (pip install -r requirements.txt)",
              file=sys.stderr)
        return 2
    faces_n, pairs_n, steps = (12, 30, 30) if args.dry_run else (args.faces, args.pairs, args.classifier_steps)
    if min(faces_n, pairs_n, steps) < 1:
        print("error: --faces, --pairs and --classifier-steps must be at least 1", file=sys.stderr)
        return 2
    cpu0, t0 = time.process_time(), time.time()
    try:
        model = load_model(args.checkpoint).eval()
        latents = load_latents(args.checkpoint)
        if "class_mean_s" not in latents:
            raise CheckpointError(f"{args.checkpoint} has no per-expression mean s (latents.safetensors)")
        c, h, _ = model.config.image_shape
        kw = dict(image_size=h, channels=c)
        train, test = (load_dataset(model.config.dataset, args.data_dir or None, split, **kw) for split in ("train", "test"))
        if IDENTITY not in test.factors or list(train.class_names) != list(model.config.class_names):
            raise DataError(f"{model.config.dataset} is not an expression set this model was trained on (its labels "
                            f"are {train.class_names}, the model's {model.config.class_names}; it needs an identity factor)")
        faces = load_aligned_utkface(args.utkface_dir or Path(args.data_dir or ".") / "utkface", size=h, limit=faces_n,
                                     seed=args.seed, ages=tuple(args.ages))
    except (CheckpointError, DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    classifier = train_classifier(train, steps=steps, seed=args.seed)
    recogniser = align.FaceRecogniser()
    names = list(model.config.class_names)
    result = {"checkpoint": str(args.checkpoint), "dataset": model.config.dataset, "seed": args.seed,
              "dry_run": args.dry_run, "hardware": hardware(), "date": date.today().isoformat(),
              "classifier": {"steps": steps, "train_photos": len(train), "heldout_photos": len(test),
                             "train_accuracy": pct(predict(classifier, train.images).numpy() == train.labels.numpy()),
                             "heldout_accuracy": pct(predict(classifier, test.images).numpy() == test.labels.numpy())}}
    result["swap_test"] = swap_test(model, test, classifier, recogniser, max_pairs=pairs_n, seed=args.seed)
    result["identity_probes"] = identity_probes(model, test, seed=args.seed)
    test_emb = recogniser.embed_aligned(hwc(test.images))
    result["transfer"], renders = transfer(model, faces, latents["class_mean_s"].float(), names, classifier, recogniser,
                                           test, test_emb, seed=args.seed)
    result["transfer"]["ages"] = list(args.ages)
    result["cpu_seconds"] = round(time.process_time() - cpu0, 1)
    result["wall_seconds"] = round(time.time() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "transfer.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "transfer.md").write_text(markdown(result))
    k = min(16, len(faces))
    Image.fromarray(tile(renders[:k].flatten(0, 1), nrow=renders.shape[1])).save(args.out / "utkface_renders.png")
    if args.look:
        look_grids(args.look, model, test, faces, renders)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
